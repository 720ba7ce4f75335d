// npm run bench  /  npx blockvault bench [--size 2GiB] [--runs 3] [--scenarios LIST] [--vaults local,s3]
//                                        [--peers restic,borg|none] [--seed 1] [--fraction 0.01]
//                                        [--image mixed|sparse|ext4] [--json] [--out FILE]
//                                        [--write-results] [--dir DIR] [--encrypt [pair]]
//
// --encrypt (or BLOCKVAULT_BENCH_ENCRYPT=1): our vaults are encrypted (AES-256-GCM, a key
// file, so no passphrase KDF is timed). --encrypt pair: every round runs our scenarios twice,
// plain and encrypted (order rotated with the round), and reports encryption's throughput cost
// paired per round (bench/encryption-cost.ts); the main table stays the plain run.
//
// Every performance claim of the project is made here, as ratios measured side by side: in each
// round blockvault, restic and borg run one after the other on the same bytes and the same
// mutation (the order rotated per round: A B C, B C A, C A B), and the machine's floors are
// measured in that round too (2-core CPU floor of read + BLAKE3 + LZ4, read + BLAKE3, durable
// write of the stored and of the restored bytes, start-up; bench/floors.ts). Ratios are taken
// per round, then the median over rounds (issue 13's targets: bench/targets.ts). Each operation
// runs as its own process under GNU time, so CPU seconds and peak RSS are its own.
// Output: bench/out/results.json and bench/out/results.svg; --write-results also rewrites
// bench/RESULTS.md and bench/results.svg. MB = 2^20 bytes throughout.
// Quick smoke run: --size 64MiB --runs 1 --peers none --vaults local.
//
// Scenarios: full, incremental (1 % changed, no list), incremental-extents (another 1 %, with
// --changed-extents), restore (the latest), restore-mid (the first incremental: a mid-chain
// point), device (full backup from a loop device over the image; root only). Opt-in:
// large-vault (bench/large-vault.ts; --vault-chunks N, default 10 M), only when listed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BLOCK, CeilingLab, median, nonZeroBlocks, readMBps } from './ceilings.js';
import { renderChart, type ChartGroup } from './chart.js';
import { cpuFloors, durableWriteSeconds, startupSeconds, type RoundFloors, type Startup } from './floors.js';
import { evaluateTargets, formatTargets, type ExtraInputs } from './targets.js';
import { formatSize, makeExt4Image, makeMixedImage, makeSparseImage, mutateImage, parseSize } from './inputs.js';
import { PEER_NAMES, isMissing, runMeasured, type Missing, type PeerName, type PeerRound } from './peers.js';
import { runPeerRound } from './peers.js';
import { measureS3Ratios, removeBucket, type S3RatioResult } from './s3-ratio.js';
import { runLargeVault } from './large-vault.js';
import { encryptionCost, encryptionResultsPage, formatEncryptionCost, type CostRound } from './encryption-cost.js';
import { newKeyFile } from '../src/crypto/key-file.js';
import { nativeLz4 } from '../src/native/lz4-block.js';
import { openVault } from '../src/index.js';
import { formatMachine, formatTable, machineInfo, projectRoot, writeJson } from './report.js';
import { cliArgv } from './our-cli.js';

const MiB = 1024 * 1024;
const ALL_SCENARIOS = ['full', 'incremental', 'incremental-extents', 'restore', 'restore-mid', 'device'] as const;
type Scenario = (typeof ALL_SCENARIOS)[number];
type VaultKind = 'local' | 's3';

type ImageKind = 'mixed' | 'sparse' | 'ext4';

interface Args {
  image: ImageKind;
  size: number;
  runs: number;
  seed: number;
  fraction: number;
  scenarios: Scenario[];
  vaults: VaultKind[];
  peers: PeerName[];
  json: boolean;
  out: string;
  writeResults: boolean;
  dir: string | undefined;
  largeVault: boolean;
  vaultChunks: number;
  encrypt: boolean;
  /** --encrypt pair: plain and encrypted in every round. */
  encryptPair: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = {
    image: 'mixed',
    size: 2 * 1024 ** 3,
    runs: 3,
    seed: 1,
    fraction: 0.01,
    scenarios: [...ALL_SCENARIOS],
    vaults: ['local', 's3'],
    peers: [...PEER_NAMES],
    json: false,
    out: path.join(projectRoot(), 'bench', 'out', 'results.json'),
    writeResults: false,
    dir: undefined,
    largeVault: false,
    vaultChunks: 10_000_000,
    encrypt: process.env.BLOCKVAULT_BENCH_ENCRYPT === '1',
    encryptPair: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    switch (k) {
      case '--size': a.size = parseSize(v()); break;
      case '--image': {
        const k = v();
        if (!['mixed', 'sparse', 'ext4'].includes(k)) throw new Error(`unknown image kind ${k}; known: mixed, sparse, ext4`);
        a.image = k as ImageKind;
        break;
      }
      case '--runs': a.runs = Math.max(1, Number(v())); break;
      case '--seed': a.seed = Number(v()); break;
      case '--fraction': a.fraction = Number(v()); break;
      case '--scenarios': {
        const list = v().split(',').filter(Boolean);
        a.largeVault = list.includes('large-vault');
        list.splice(0, list.length, ...list.filter((s) => s !== 'large-vault'));
        for (const s of list) if (!(ALL_SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}; known: ${ALL_SCENARIOS.join(',')}`);
        a.scenarios = list as Scenario[];
        break;
      }
      case '--vaults': a.vaults = v().split(',').filter(Boolean) as VaultKind[]; break;
      case '--peers': a.peers = v() === 'none' ? [] : (v().split(',').filter(Boolean) as PeerName[]); break;
      case '--json': a.json = true; break;
      case '--out': a.out = path.resolve(v()); break;
      case '--write-results': a.writeResults = true; break;
      case '--dir': a.dir = v(); break;
      case '--vault-chunks': a.vaultChunks = Math.max(1, Number(v())); break;
      case '--encrypt':
        if (argv[i + 1] === 'pair') {
          i++;
          a.encryptPair = true;
        } else a.encrypt = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 23).join('\n') + '\n');
        process.exit(0);
      default: throw new Error(`unknown option ${k}`);
    }
  }
  return a;
}

/** One measured operation of ours. */
interface OurMeasure {
  scenario: Scenario;
  vault: VaultKind;
  wallSeconds: number;
  cpuSeconds: number;
  maxRssMiB: number | undefined;
  /** Logical MB/s: the volume's size over wall time. */
  mbps: number;
  storedBytes?: number;
  objects?: number;
  changedBytes?: number;
  AT?: number;
  SS?: number;
  /** Restore scenarios: allocated bytes of the restored file (what the disk had to take). */
  restoredAllocBytes?: number;
}


function s3Env(): { env: NodeJS.ProcessEnv; endpoint: string } | Missing {
  let endpoint = process.env.S3_ENDPOINT;
  let key = process.env.S3_ACCESS_KEY;
  let secret = process.env.S3_SECRET_KEY;
  if (!endpoint) {
    const r = spawnSync('bash', [path.join(projectRoot(), 'scripts', 'ceph-s3.sh'), 'env'], { encoding: 'utf8' });
    const m = /S3_ENDPOINT=(\S+) S3_ACCESS_KEY=(\S+) S3_SECRET_KEY=(\S+)/.exec(r.stdout ?? '');
    if (r.status !== 0 || !m) return { missing: 'no S3 server (set S3_ENDPOINT, or run scripts/ceph-s3.sh start)' };
    [endpoint, key, secret] = [m[1]!, m[2]!, m[3]!];
  }
  return { endpoint, env: { AWS_ACCESS_KEY_ID: key, AWS_SECRET_ACCESS_KEY: secret, AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: 'us-east-1' } };
}

async function ours(
  args: string[],
  scenario: Scenario,
  vault: VaultKind,
  size: number,
  ctx: { tmp: string; env?: NodeJS.ProcessEnv },
): Promise<{ m: OurMeasure; result: Record<string, any> }> {
  const r = await runMeasured(process.execPath, cliArgv([...args, '--json']), { tmpDir: ctx.tmp, env: ctx.env });
  const last = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).at(-1) ?? {};
  const md = typeof last.service_metadata === 'string' ? JSON.parse(last.service_metadata) : undefined;
  return {
    result: last,
    m: {
      scenario,
      vault,
      wallSeconds: r.wallSeconds,
      cpuSeconds: r.userSeconds + r.sysSeconds,
      maxRssMiB: r.maxRssKiB === undefined ? undefined : r.maxRssKiB / 1024,
      mbps: size / MiB / r.wallSeconds,
      storedBytes: last.newStoredBytes,
      objects: last.counters?.objectsWritten,
      AT: md?.AT,
      SS: md?.SS,
    },
  };
}

/** Makes the vault encrypted before the first backup (untimed) and returns the environment
 *  that gives its key to the command line. */
async function createEncryptedVault(location: string, work: string, run: number, env: NodeJS.ProcessEnv | undefined): Promise<NodeJS.ProcessEnv> {
  const keyFile = path.join(work, `vault-${run}.key`);
  fs.writeFileSync(keyFile, newKeyFile(), { mode: 0o600 });
  if (env) Object.assign(process.env, env); // the library call below runs in this process
  const s3 = location.startsWith('s3://');
  const v = await openVault(location, { create: true, encrypt: { keyFile }, ...(s3 ? { endpoint: env?.AWS_ENDPOINT_URL_S3, createBucket: true } : {}) });
  await v.close();
  return { BLOCKVAULT_KEY_FILE: keyFile };
}

function loopAvailable(): boolean {
  return process.getuid?.() === 0 && spawnSync('losetup', ['--version']).status === 0;
}

/** Our scenarios on one vault, on the image as it is now (fresh from the seed). */
async function runOurs(a: Args, image: string, work: string, vault: VaultKind, run: number, log: (s: string) => void): Promise<OurMeasure[]> {
  const out: OurMeasure[] = [];
  const want = new Set(a.scenarios);
  let ctxEnv: NodeJS.ProcessEnv | undefined;
  let location: string;
  let cleanup = async () => fs.rmSync(location, { recursive: true, force: true });
  if (vault === 's3') {
    const s3 = s3Env();
    if (isMissing(s3)) {
      log(`  s3: ${s3.missing}`);
      return out;
    }
    ctxEnv = s3.env;
    const bucket = `bvbench-${process.pid}-${run}`;
    location = `s3://${bucket}/v`;
    cleanup = () => removeBucket({ endpoint: s3.endpoint, accessKeyId: s3.env.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY!, bucket });
  } else location = path.join(work, `vault-${run}`);
  const ctx = { tmp: work, env: ctxEnv };
  if (a.encrypt) ctx.env = { ...ctxEnv, ...(await createEncryptedVault(location, work, run, ctxEnv)) };
  const vaultArgs = ['--vault', location, ...(vault === 's3' ? ['--create-bucket'] : [])];
  const size = fs.statSync(image).size;
  try {
    const full = await ours(['backup', image, ...vaultArgs, '--volume', 'bench'], 'full', vault, size, ctx);
    if (want.has('full')) out.push(full.m);
    log(`  ${vault} full: ${full.m.wallSeconds.toFixed(2)} s, ${full.m.mbps.toFixed(0)} MB/s, ${full.m.cpuSeconds.toFixed(2)} CPU-s`);
    const m1 = await mutateImage(image, { fraction: a.fraction, seed: a.seed * 1000 + run + 1 });
    const inc = await ours(['backup', image, ...vaultArgs, '--volume', 'bench'], 'incremental', vault, size, ctx);
    inc.m.changedBytes = m1.bytes;
    if (want.has('incremental')) out.push(inc.m);
    log(`  ${vault} incremental: ${inc.m.wallSeconds.toFixed(2)} s`);
    const mid = inc.result.backupId as string;
    let latest = mid;
    if (want.has('incremental-extents')) {
      const list = path.join(work, `changed-${run}.txt`);
      const m2 = await mutateImage(image, { fraction: a.fraction, seed: a.seed * 2000 + run + 1, extentsFile: list });
      const ext = await ours(['backup', image, ...vaultArgs, '--volume', 'bench', '--changed-extents', list], 'incremental-extents', vault, size, ctx);
      ext.m.changedBytes = m2.bytes;
      out.push(ext.m);
      latest = ext.result.backupId;
      log(`  ${vault} incremental with extent list: ${ext.m.wallSeconds.toFixed(2)} s`);
    }
    for (const [sc, id] of [
      ['restore', latest],
      ['restore-mid', mid],
    ] as const) {
      if (!want.has(sc)) continue;
      const target = path.join(work, `restored-${run}.img`);
      const r = await ours(['restore', id, target, '--vault', location], sc, vault, size, ctx); // restore takes no --create-bucket
      r.m.restoredAllocBytes = fs.statSync(target).blocks * 512;
      out.push(r.m);
      log(`  ${vault} ${sc}: ${r.m.wallSeconds.toFixed(2)} s, ${r.m.mbps.toFixed(0)} MB/s`);
      fs.rmSync(target, { force: true });
    }
    if (vault === 'local' && want.has('device') && loopAvailable()) {
      const dev = spawnSync('losetup', ['--find', '--show', '--read-only', image], { encoding: 'utf8' }).stdout.trim();
      try {
        const d = await ours(['backup', dev, '--vault', path.join(work, `vault-dev-${run}`), '--volume', 'dev'], 'device', vault, size, ctx);
        out.push(d.m);
        log(`  device full: ${d.m.wallSeconds.toFixed(2)} s`);
      } finally {
        spawnSync('losetup', ['-d', dev]);
      }
    }
  } finally {
    await cleanup(); // a bench must not leave gigabytes behind (a full Ceph OSD blocks every write)
    fs.rmSync(path.join(work, `vault-dev-${run}`), { recursive: true, force: true });
  }
  return out;
}

function med(xs: (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length ? median(v) : undefined;
}

/** Writes back every dirty page before a contender starts: the image just made (1.2 GiB) and
 *  the vault just removed would otherwise be flushed during the next command. (It does not
 *  explain the first contender of a round running slower, whichever it is: that stayed.) */
function settle(): void {
  spawnSync('sync');
}

/** The input of a run, made anew from the seed: the same bytes every time. */
async function makeInput(a: Args, image: string, work: string): Promise<void> {
  fs.rmSync(image, { force: true });
  if (a.image === 'sparse') {
    await makeSparseImage(image, { size: a.size, dataBytes: Math.max(1, Math.floor(a.size / 64)), seed: a.seed });
  } else if (a.image === 'ext4') {
    const dir = path.join(work, 'ext4-src');
    fs.rmSync(dir, { recursive: true, force: true });
    const r = await makeExt4Image(image, { size: a.size, dir, seed: a.seed });
    if (isMissing(r)) throw new Error(`ext4 image: ${r.missing}`);
  } else {
    await makeMixedImage(image, { size: a.size, seed: a.seed });
  }
}

export async function runBench(argv: string[]): Promise<number> {
  const a = parse(argv);
  const log = (s: string) => process.stderr.write(s + '\n');
  const work = fs.mkdtempSync(path.join(a.dir ?? os.tmpdir(), 'bvbench-'));
  const image = path.join(work, 'mixed.img');
  const samples: { ours: OurMeasure[]; encrypted: OurMeasure[]; peers: Record<string, PeerRound | Missing>; ceilings: Record<string, number>; floors: RoundFloors; startup: Startup; order: string[] }[] = [];
  let largeVault: ExtraInputs['largeVault'];
  const machine = machineInfo({ dir: work });
  if (a.largeVault) {
    try {
      const lv = await runLargeVault({ work, chunks: a.vaultChunks, runs: a.runs, log });
      writeJson(path.join(path.dirname(a.out), 'large-vault.json'), { at: new Date().toISOString(), machine, ...lv.json });
      const steps = (lv.json.steps ?? []) as { step: string; rssMiB?: number }[];
      largeVault = {
        backupPeakRssMiB: steps.filter((r) => r.step.includes('backup') && r.rssMiB !== undefined).map((r) => r.rssMiB!),
        indexLoadSeconds: ((lv.json.perRun ?? []) as { loadMsWarm?: number }[]).flatMap((r) => (typeof r.loadMsWarm === 'number' ? [r.loadMsWarm / 1000] : [])),
      };
      process.stdout.write(lv.text + '\n');
    } finally {
      if (!a.scenarios.length) fs.rmSync(work, { recursive: true, force: true });
    }
    if (!a.scenarios.length) return 0;
  }
  try {
    for (let run = 0; run < a.runs; run++) {
      log(`run ${run + 1}/${a.runs}: ${formatSize(a.size)} ${a.image} image (seed ${a.seed})${a.encrypt ? ', encrypted vaults' : ''}`);
      await makeInput(a, image, work);
      const ceilings: Record<string, number> = { read: await readMBps(image) };
      const lab = await CeilingLab.open(image, { workers: 2 });
      try {
        const b = await lab.blake3();
        const l = await lab.lz4();
        Object.assign(ceilings, { blake3x2: b.mbps, blake3x2cpu: b.cpuMBps, lz4x2: l.mbps, lz4x2cpu: l.cpuMBps });
      } finally {
        await lab.close();
      }
      const dataBytes = nonZeroBlocks(image).length * BLOCK;
      // Rates per CPU-second of the two workers: what two whole cores do, whatever else runs.
      const perCpu = (cpu: number | undefined, wall: number) => (cpu !== undefined && Number.isFinite(cpu) ? cpu : wall);
      const floors: RoundFloors = cpuFloors(a.size, dataBytes, {
        readMBps: ceilings.read!,
        blake3x2MBps: perCpu(ceilings.blake3x2cpu, ceilings.blake3x2!),
        lz4x2MBps: perCpu(ceilings.lz4x2cpu, ceilings.lz4x2!),
      });
      // A, B, C rotated each round: no contender always runs first (or always after the others).
      const contenders: ('ours' | 'ours-encrypted' | PeerName)[] = ['ours', ...(a.encryptPair ? (['ours-encrypted'] as const) : []), ...a.peers];
      const order = contenders.map((_, i) => contenders[(i + run) % contenders.length]!);
      const peers: Record<string, PeerRound | Missing> = {};
      const our: OurMeasure[] = [];
      const encrypted: OurMeasure[] = [];
      let fresh = true; // the image holds the seed's bytes, not yet mutated
      for (const who of order) {
        if (!fresh) await makeInput(a, image, work);
        fresh = false;
        settle();
        if (who === 'ours-encrypted') {
          if (a.vaults.includes('local')) encrypted.push(...(await runOurs({ ...a, encrypt: true }, image, work, 'local', run, (l) => log(l.replace('local', 'local encrypted')))));
        } else if (who === 'ours') {
          if (!a.vaults.includes('local')) continue;
          our.push(...(await runOurs(a, image, work, 'local', run, log)));
          // The durable-write floors right after our run, in the same round.
          const full = our.find((m) => m.scenario === 'full');
          const rest = our.find((m) => m.scenario === 'restore');
          if (full?.storedBytes) Object.assign(floors, { storedBytes: full.storedBytes, storedWriteSeconds: durableWriteSeconds(work, full.storedBytes, image) });
          if (rest?.restoredAllocBytes) Object.assign(floors, { restoredBytes: rest.restoredAllocBytes, restoredWriteSeconds: durableWriteSeconds(work, rest.restoredAllocBytes, image) });
          log(`  floors: CPU ${floors.cpuFloorSeconds.toFixed(2)} s, read+hash ${floors.readHashFloorSeconds.toFixed(2)} s, durable write of stored ${floors.storedWriteSeconds?.toFixed(2) ?? 'n/a'} s, of restored ${floors.restoredWriteSeconds?.toFixed(2) ?? 'n/a'} s`);
        } else {
          Object.assign(
            peers,
            await runPeerRound({
              peers: [who],
              image,
              workDir: work,
              mutate: () => mutateImage(image, { fraction: a.fraction, seed: a.seed * 1000 + run + 1 }),
              log: (s) => log(`  ${s}`),
            }),
          );
        }
      }
      if (a.vaults.includes('s3')) {
        await makeInput(a, image, work);
        settle();
        our.push(...(await runOurs(a, image, work, 's3', run, log)));
      }
      const startup = await startupSeconds(cliArgv(['--version']), work);
      log(`  start-up: blockvault --version ${startup.cliSeconds.toFixed(3)} s, node -e 0 ${startup.nodeSeconds.toFixed(3)} s`);
      samples.push({ ours: our, encrypted, peers, ceilings, floors, startup, order: [...order] });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }

  // medians
  const ceil = (k: string) => med(samples.map((s) => s.ceilings[k]));
  const peerOp = (p: string, op: 'full' | 'incremental' | 'restore') =>
    med(samples.map((s) => (isMissing(s.peers[p]) || !s.peers[p] ? undefined : (s.peers[p] as PeerRound)[op].wallSeconds)));
  const peerGrowth = (p: string) => med(samples.map((s) => (s.peers[p] && !isMissing(s.peers[p]) ? (s.peers[p] as PeerRound).incremental.repoGrowthBytes : undefined)));
  const peerStat = (p: string, op: 'full' | 'incremental' | 'restore', f: (m: PeerRound['full']) => number) =>
    med(samples.map((s) => (isMissing(s.peers[p]) || !s.peers[p] ? undefined : f((s.peers[p] as PeerRound)[op]))));
  const peerMissing = a.peers.filter((p) => samples.every((s) => isMissing(s.peers[p])));
  const rows: (string | number | undefined)[][] = [];
  const summary: Record<string, unknown>[] = [];
  const size = a.size;
  const peerFor: Partial<Record<Scenario, 'full' | 'incremental' | 'restore'>> = { full: 'full', incremental: 'incremental', restore: 'restore' };
  for (const v of a.vaults) {
    for (const sc of ALL_SCENARIOS) {
      const ms = samples.map((s) => s.ours.find((m) => m.vault === v && m.scenario === sc)).filter((m): m is OurMeasure => !!m);
      if (!ms.length) continue;
      const wall = med(ms.map((m) => m.wallSeconds))!;
      const mbps = size / MiB / wall;
      // Peer over ours, per round (the same round, the same load), then the median.
      const pairedRatio = (p: string) =>
        peerFor[sc]
          ? med(samples.map((s) => {
              const mine = s.ours.find((m) => m.vault === v && m.scenario === sc);
              const theirs = s.peers[p] && !isMissing(s.peers[p]) ? (s.peers[p] as PeerRound)[peerFor[sc]!].wallSeconds : undefined;
              return mine && theirs !== undefined ? theirs / mine.wallSeconds : undefined;
            }))
          : undefined;
      const stored = med(ms.map((m) => m.storedBytes));
      const changed = med(ms.map((m) => m.changedBytes));
      const row = {
        vault: v,
        scenario: sc,
        wallSeconds: wall,
        mbps,
        cpuSeconds: med(ms.map((m) => m.cpuSeconds)),
        maxRssMiB: med(ms.map((m) => m.maxRssMiB)),
        storedMiB: stored === undefined ? undefined : stored / MiB,
        storedPerChangedByte: stored !== undefined && changed ? stored / changed : undefined,
        objects: med(ms.map((m) => m.objects)),
        AT: med(ms.map((m) => m.AT)),
        SS: med(ms.map((m) => m.SS)),
        vsRestic: pairedRatio('restic'),
        vsBorg: pairedRatio('borg'),
        ofReadCeiling: ceil('read') ? mbps / ceil('read')! : undefined,
        samples: ms.map((m) => m.wallSeconds),
      };
      summary.push(row);
      rows.push([v, sc, wall, mbps, row.cpuSeconds, row.maxRssMiB, row.storedMiB, row.storedPerChangedByte, row.AT, row.SS, row.vsRestic, row.vsBorg, row.ofReadCeiling]);
    }
  }
  const fullLocal = summary.find((r) => r.vault === 'local' && r.scenario === 'full');
  const extLocal = summary.find((r) => r.vault === 'local' && r.scenario === 'incremental-extents');
  const devLocal = summary.find((r) => r.vault === 'local' && r.scenario === 'device');
  const ratios = {
    incrementalWithListOverFull: fullLocal && extLocal ? (extLocal.wallSeconds as number) / (fullLocal.wallSeconds as number) : undefined,
    deviceOverFile: fullLocal && devLocal ? (fullLocal.wallSeconds as number) / (devLocal.wallSeconds as number) : undefined,
    resticIncrementalStoredPerChangedByte: med(samples.map((s, i) => {
      const g = s.peers.restic && !isMissing(s.peers.restic) ? (s.peers.restic as PeerRound).incremental.repoGrowthBytes : undefined;
      const c = s.ours.find((m) => m.scenario === 'incremental')?.changedBytes;
      return g !== undefined && c ? g / c : (void i, undefined);
    })),
    borgIncrementalStoredPerChangedByte: med(samples.map((s) => {
      const g = s.peers.borg && !isMissing(s.peers.borg) ? (s.peers.borg as PeerRound).incremental.repoGrowthBytes : undefined;
      const c = s.ours.find((m) => m.scenario === 'incremental')?.changedBytes;
      return g !== undefined && c ? g / c : undefined;
    })),
  };
  const peerRows = ['restic', 'borg'].flatMap((p) =>
    peerMissing.includes(p as PeerName) || !a.peers.includes(p as PeerName)
      ? [[p, a.peers.includes(p as PeerName) ? 'missing (not installed)' : 'not run', undefined, undefined, undefined]]
      : [
          ...(['full', 'incremental', 'restore'] as const).map((op) => [p, op, peerOp(p, op), size / MiB / peerOp(p, op)!, peerStat(p, op, (m) => m.cpuSeconds), peerStat(p, op, (m) => (m.maxRssKiB ?? NaN) / 1024), op === 'incremental' ? (peerGrowth(p) ?? 0) / MiB : undefined]),
          [p, 'restore + sync', peerStat(p, 'restore', (m) => m.wallSeconds + (m as PeerRound['restore']).syncSeconds), undefined, undefined, undefined, undefined],
        ],
  );
  const ceilings = { readMBps: ceil('read'), blake3x2MBps: ceil('blake3x2'), blake3x2CpuMBps: ceil('blake3x2cpu'), lz4x2MBps: ceil('lz4x2'), lz4x2CpuMBps: ceil('lz4x2cpu') };
  // Issue 3's yardstick: S3 backup and restore against plain PUT/GET loops of the same objects.
  let s3Ratios: S3RatioResult | Missing | undefined;
  if (a.vaults.includes('s3')) {
    const s3 = s3Env();
    if (isMissing(s3)) s3Ratios = s3;
    else {
      log('S3 backup/restore against plain PUT/GET loops…');
      s3Ratios = await measureS3Ratios({
        endpoint: s3.endpoint,
        accessKeyId: s3.env.AWS_ACCESS_KEY_ID,
        secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY,
        size: Math.min(a.size, 1024 ** 3),
        runs: a.runs,
        log: (l) => log(`  ${l}`),
      });
    }
  }
  const extra: ExtraInputs = { ...(largeVault ? { largeVault } : {}) };
  if (s3Ratios && !isMissing(s3Ratios)) {
    extra.s3 = { backupRatios: s3Ratios.runs.map((r) => r.putLoopSeconds / r.backupSeconds), restoreRatios: s3Ratios.runs.map((r) => r.getLoopSeconds / r.restoreSeconds) };
  }
  const targets = evaluateTargets(samples, extra);
  const floor = (f: (x: RoundFloors) => number | undefined) => med(samples.map((s) => f(s.floors)));
  const floors = {
    cpuFloorSeconds: floor((f) => f.cpuFloorSeconds),
    readHashFloorSeconds: floor((f) => f.readHashFloorSeconds),
    storedWriteSeconds: floor((f) => f.storedWriteSeconds),
    restoredWriteSeconds: floor((f) => f.restoredWriteSeconds),
    storedBytes: floor((f) => f.storedBytes),
    restoredBytes: floor((f) => f.restoredBytes),
    startupSeconds: med(samples.map((s) => s.startup.cliSeconds)),
    nodeStartupSeconds: med(samples.map((s) => s.startup.nodeSeconds)),
  };
  const costRounds: CostRound[] = samples.map((s) => ({ plain: s.ours.filter((m) => m.vault === 'local'), encrypted: s.encrypted, first: s.order.indexOf('ours') < s.order.indexOf('ours-encrypted') ? 'plain' : 'encrypted' }));
  const encryption = a.encryptPair ? encryptionCost(costRounds, ALL_SCENARIOS) : undefined;
  const command = `npx blockvault bench ${argv.join(' ')}`.trim();
  const report = { command, at: new Date().toISOString(), machine, args: { ...a, size: formatSize(a.size) }, ceilings, floors, targets, results: summary, peers: peerRows, ratios, s3Ratios, encryption, samples };
  writeJson(a.out, report);
  const wallOf = (sc: Scenario) => summary.find((r) => r.vault === 'local' && r.scenario === sc)?.wallSeconds as number | undefined;
  const groups: ChartGroup[] = [
    {
      title: 'full backup',
      bars: [
        { label: 'blockvault', seconds: wallOf('full'), kind: 'ours' },
        { label: 'restic', seconds: peerOp('restic', 'full'), kind: 'peer' },
        { label: 'borg', seconds: peerOp('borg', 'full'), kind: 'peer' },
        { label: '2-core CPU floor', seconds: floors.cpuFloorSeconds, kind: 'floor' },
        { label: 'durable write of stored bytes', seconds: floors.storedWriteSeconds, kind: 'floor' },
      ],
    },
    {
      title: `incremental (${(a.fraction * 100).toFixed(0)} % changed, no list)`,
      bars: [
        { label: 'blockvault', seconds: wallOf('incremental'), kind: 'ours' },
        { label: 'restic', seconds: peerOp('restic', 'incremental'), kind: 'peer' },
        { label: 'borg', seconds: peerOp('borg', 'incremental'), kind: 'peer' },
        { label: 'read + BLAKE3 floor', seconds: floors.readHashFloorSeconds, kind: 'floor' },
      ],
    },
    {
      title: 'restore (blockvault fsyncs)',
      bars: [
        { label: 'blockvault', seconds: wallOf('restore'), kind: 'ours' },
        { label: 'restic, no sync', seconds: peerOp('restic', 'restore'), kind: 'peer' },
        { label: 'restic + sync', seconds: peerStat('restic', 'restore', (m) => m.wallSeconds + (m as PeerRound['restore']).syncSeconds), kind: 'peer' },
        { label: 'borg, no sync', seconds: peerOp('borg', 'restore'), kind: 'peer' },
        { label: 'borg + sync', seconds: peerStat('borg', 'restore', (m) => m.wallSeconds + (m as PeerRound['restore']).syncSeconds), kind: 'peer' },
        { label: 'durable write of restored bytes', seconds: floors.restoredWriteSeconds, kind: 'floor' },
      ],
    },
    { title: 'start-up', bars: [{ label: 'blockvault --version', seconds: floors.startupSeconds, kind: 'ours' }, { label: 'node -e 0', seconds: floors.nodeStartupSeconds, kind: 'floor' }] },
  ];
  const svg = renderChart(`blockvault bench: ${formatSize(a.size)} ${a.image} image`, `wall seconds, medians of ${a.runs} round(s), shorter is better; ${report.at}`, groups);
  const outSvg = path.join(path.dirname(a.out), 'results.svg');
  fs.writeFileSync(outSvg, svg);

  const table = formatTable(
    ['vault', 'scenario', 'wall s', 'MB/s', 'CPU s', 'RSS MiB', 'stored MiB', 'stored/changed', 'AT', 'SS', '× restic', '× borg', 'of read'],
    rows,
  );
  const peerTable = formatTable(['peer', 'op', 'wall s', 'MB/s', 'CPU s', 'RSS MiB', 'repo growth MiB'], peerRows);
  const floorTable = formatTable(
    ['floor (same image, same round)', 'seconds'],
    [
      ['2-core CPU: read + BLAKE3 + LZ4', floors.cpuFloorSeconds],
      ['read + BLAKE3 (incremental)', floors.readHashFloorSeconds],
      [`durable write of the stored bytes (${((floors.storedBytes ?? NaN) / MiB).toFixed(0)} MiB)`, floors.storedWriteSeconds],
      [`durable write of the restored bytes (${((floors.restoredBytes ?? NaN) / MiB).toFixed(0)} MiB)`, floors.restoredWriteSeconds],
      ['start-up: blockvault --version', floors.startupSeconds],
      ['start-up: node -e 0', floors.nodeStartupSeconds],
    ],
    { digits: 3 },
  );
  const ceilTable = formatTable(
    ['ceiling (same image, same run)', 'MB/s', 'MB/s on own CPU'],
    [
      ['sequential read, warm cache', ceilings.readMBps, undefined],
      ['keyed BLAKE3, 2 workers', ceilings.blake3x2MBps, ceilings.blake3x2CpuMBps],
      [`LZ4 (${nativeLz4() ? 'liblz4' : 'lz4-napi'}), 2 workers`, ceilings.lz4x2MBps, ceilings.lz4x2CpuMBps],
    ],
  );
  const text = [
    `blockvault bench: ${formatSize(a.size)} ${a.image} image, medians of ${a.runs} run(s); MB = 2^20 bytes`,
    formatMachine(machine),
    '',
    table,
    '',
    peerTable,
    '',
    ceilTable,
    '',
    floorTable,
    '',
    `targets (issue 13; per-round ratios, medians; round order: ${samples.map((s) => s.order.join('-')).join(', ')})`,
    formatTargets(targets),
    '',
    ...(encryption ? ['encrypted against plain (issue 11; local vaults, AES-256-GCM with a key file; both in every round, order alternating; cost over pairs of rounds)', formatEncryptionCost(encryption), ''] : []),
    `incremental with extent list / full: ${ratios.incrementalWithListOverFull?.toFixed(3) ?? 'n/a'}; ` +
      `device / file throughput: ${ratios.deviceOverFile?.toFixed(2) ?? 'n/a'}; ` +
      `incremental stored bytes per changed byte: restic ${ratios.resticIncrementalStoredPerChangedByte?.toFixed(2) ?? 'n/a'}, borg ${ratios.borgIncrementalStoredPerChangedByte?.toFixed(2) ?? 'n/a'}`,
    s3Ratios === undefined
      ? ''
      : isMissing(s3Ratios)
        ? `S3 ratios: ${s3Ratios.missing}`
        : `S3 (${formatSize(s3Ratios.imageBytes)} image, ${s3Ratios.concurrency} in flight): backup ${s3Ratios.median.backupStoredMBps.toFixed(0)} MB/s stored = ` +
          `${s3Ratios.median.backupRatio.toFixed(2)} of a plain PUT loop (${s3Ratios.median.putLoopMBps.toFixed(0)} MB/s); restore ${s3Ratios.median.restoreStoredMBps.toFixed(0)} MB/s = ` +
          `${s3Ratios.median.restoreRatio.toFixed(2)} of a plain GET loop (${s3Ratios.median.getLoopMBps.toFixed(0)} MB/s)` +
          (s3Ratios.serverProcesses
            ? `\n  cores busy (client + server CPU / wall, of ${s3Ratios.cores}): backup ${s3Ratios.median.busyCores.backup.toFixed(2)}, PUT loop ${s3Ratios.median.busyCores.putLoop.toFixed(2)}, ` +
              `restore ${s3Ratios.median.busyCores.restore.toFixed(2)}, GET loop ${s3Ratios.median.busyCores.getLoop.toFixed(2)}; ` +
              `best ratios these CPU-seconds allow on ${s3Ratios.cores} cores: backup ${s3Ratios.median.backupCpuBound.toFixed(2)}, restore ${s3Ratios.median.restoreCpuBound.toFixed(2)}`
            : '\n  (the S3 server runs elsewhere: its CPU is not counted)'),
  ].join('\n');
  if (a.json) process.stdout.write(JSON.stringify(report) + '\n');
  else process.stdout.write(text + '\n');
  if (a.writeResults && encryption) {
    // A pair run answers issue 11 only: its own page, so the peers' run in RESULTS.md stays.
    const md = path.join(projectRoot(), 'bench', 'RESULTS-encryption.md');
    fs.writeFileSync(md, encryptionResultsPage({ command, at: report.at, machine: formatMachine(machine), rows: encryption, samples: path.relative(projectRoot(), a.out) }));
    log(`wrote ${md}`);
  } else if (a.writeResults) {
    const md = path.join(projectRoot(), 'bench', 'RESULTS.md');
    fs.writeFileSync(
      md,
      `# Benchmark results\n\nThe latest full run, written by the harness itself. Produced by:\n\n    ${command}\n\n` +
        `at ${report.at}. Each figure is the median of ${a.runs} rounds. In every round blockvault, restic and borg run one after ` +
        `the other on the same bytes (the order rotates per round), and the floors are measured in that round too; "× restic" and every ` +
        `target ratio is computed per round, then the median is taken. "× restic" is restic's wall time over ours (above 1: we are faster). ` +
        `"of read" is our logical MB/s over the machine's sequential read ceiling. Chart: [results.svg](results.svg).\n\n\`\`\`\n${text}\n\`\`\`\n\nFull samples: bench/out/results.json (not committed). Encrypted against plain (issue 11): [RESULTS-encryption.md](RESULTS-encryption.md), written by \`--encrypt pair --write-results\`.\n`,
    );
    fs.writeFileSync(path.join(projectRoot(), 'bench', 'results.svg'), svg);
    log(`wrote ${md} and bench/results.svg`);
  }
  return 0;
}

const invokedDirectly = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  runBench(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`bench failed: ${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
