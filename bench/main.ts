// npm run bench  /  npx blockvault bench [--size 2GiB] [--runs 3] [--scenarios LIST] [--vaults local,s3]
//                                        [--peers restic,borg|none] [--seed 1] [--fraction 0.01]
//                                        [--image mixed|sparse|ext4] [--json] [--out FILE]
//                                        [--write-results] [--dir DIR] [--encrypt]
//
// --encrypt (or BLOCKVAULT_BENCH_ENCRYPT=1): our vaults are encrypted (AES-256-GCM, a key
// file, so no passphrase KDF is timed); compare with a plain run of the same arguments.
//
// Every performance claim of the project is made here, as ratios measured side by side in one
// run: blockvault against restic and borg on the same bytes and the same mutation, and against
// the machine's own ceilings (sequential read, keyed BLAKE3 and LZ4 over two workers). Each
// operation runs as its own process under GNU time, so CPU seconds and peak RSS are its own.
// The machines are shared and noisy: each figure is the median of --runs runs.
// MB = 2^20 bytes throughout.
//
// Scenarios: full, incremental (1 % changed, no list), incremental-extents (another 1 %, with
// --changed-extents), restore (the latest), restore-mid (the first incremental: a mid-chain
// point), device (full backup from a loop device over the image; root only). Opt-in:
// large-vault (bench/large-vault.ts; --vault-chunks N, default 10 M), only when listed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CeilingLab, median, readMBps } from './ceilings.js';
import { formatSize, makeExt4Image, makeMixedImage, makeSparseImage, mutateImage, parseSize } from './inputs.js';
import { PEER_NAMES, isMissing, runMeasured, type Missing, type PeerName, type PeerRound } from './peers.js';
import { runPeerRound } from './peers.js';
import { measureS3Ratios, removeBucket, type S3RatioResult } from './s3-ratio.js';
import { runLargeVault } from './large-vault.js';
import { newKeyFile } from '../src/crypto/key-file.js';
import { openVault } from '../src/index.js';
import { formatMachine, formatTable, machineInfo, projectRoot, writeJson } from './report.js';

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
      case '--encrypt': a.encrypt = true; break;
      case '-h':
      case '--help':
        process.stdout.write(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 14).join('\n') + '\n');
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
}

const CLI = path.join(projectRoot(), 'dist', 'src', 'cli', 'main.js');

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
  const r = await runMeasured(process.execPath, [CLI, ...args, '--json'], { tmpDir: ctx.tmp, env: ctx.env });
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
    log(`  ${vault} full: ${full.m.wallSeconds.toFixed(2)} s, ${full.m.mbps.toFixed(0)} MB/s`);
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
      const r = await ours(['restore', id, target, ...vaultArgs], sc, vault, size, ctx);
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
  const samples: { ours: OurMeasure[]; peers: Record<string, PeerRound | Missing>; ceilings: Record<string, number> }[] = [];
  const machine = machineInfo({ dir: work });
  if (a.largeVault) {
    try {
      const lv = await runLargeVault({ work, chunks: a.vaultChunks, runs: a.runs, log });
      writeJson(path.join(path.dirname(a.out), 'large-vault.json'), { at: new Date().toISOString(), machine, ...lv.json });
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
      let peers: Record<string, PeerRound | Missing> = {};
      if (a.peers.length) {
        peers = await runPeerRound({
          peers: a.peers,
          image,
          workDir: work,
          order: run % 2 ? 'reverse' : 'forward',
          mutate: () => mutateImage(image, { fraction: a.fraction, seed: a.seed * 1000 + run + 1 }),
          log: (s) => log(`  ${s}`),
        });
        await makeInput(a, image, work); // the same bytes for us
      }
      const our: OurMeasure[] = [];
      for (const v of a.vaults) {
        our.push(...(await runOurs(a, image, work, v, run, log)));
        if (v !== a.vaults.at(-1)) await makeInput(a, image, work);
      }
      samples.push({ ours: our, peers, ceilings });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }

  // medians
  const ceil = (k: string) => med(samples.map((s) => s.ceilings[k]));
  const peerOp = (p: string, op: 'full' | 'incremental' | 'restore') =>
    med(samples.map((s) => (isMissing(s.peers[p]) || !s.peers[p] ? undefined : (s.peers[p] as PeerRound)[op].wallSeconds)));
  const peerGrowth = (p: string) => med(samples.map((s) => (s.peers[p] && !isMissing(s.peers[p]) ? (s.peers[p] as PeerRound).incremental.repoGrowthBytes : undefined)));
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
      const restic = peerFor[sc] ? peerOp('restic', peerFor[sc]!) : undefined;
      const borg = peerFor[sc] ? peerOp('borg', peerFor[sc]!) : undefined;
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
        vsRestic: restic ? restic / wall : undefined,
        vsBorg: borg ? borg / wall : undefined,
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
      : (['full', 'incremental', 'restore'] as const).map((op) => [p, op, peerOp(p, op), size / MiB / peerOp(p, op)!, op === 'incremental' ? (peerGrowth(p) ?? 0) / MiB : undefined]),
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
  const command = `npx blockvault bench ${argv.join(' ')}`.trim();
  const report = { command, at: new Date().toISOString(), machine, args: { ...a, size: formatSize(a.size) }, ceilings, results: summary, peers: peerRows, ratios, s3Ratios, samples };
  writeJson(a.out, report);

  const table = formatTable(
    ['vault', 'scenario', 'wall s', 'MB/s', 'CPU s', 'RSS MiB', 'stored MiB', 'stored/changed', 'AT', 'SS', '× restic', '× borg', 'of read'],
    rows,
  );
  const peerTable = formatTable(['peer', 'op', 'wall s', 'MB/s', 'repo growth MiB'], peerRows);
  const ceilTable = formatTable(
    ['ceiling (same image, same run)', 'MB/s', 'MB/s on own CPU'],
    [
      ['sequential read, warm cache', ceilings.readMBps, undefined],
      ['keyed BLAKE3, 2 workers', ceilings.blake3x2MBps, ceilings.blake3x2CpuMBps],
      ['LZ4, 2 workers', ceilings.lz4x2MBps, ceilings.lz4x2CpuMBps],
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
    `incremental with extent list / full: ${ratios.incrementalWithListOverFull?.toFixed(3) ?? 'n/a'}; ` +
      `device / file throughput: ${ratios.deviceOverFile?.toFixed(2) ?? 'n/a'}; ` +
      `incremental stored bytes per changed byte: restic ${ratios.resticIncrementalStoredPerChangedByte?.toFixed(2) ?? 'n/a'}, borg ${ratios.borgIncrementalStoredPerChangedByte?.toFixed(2) ?? 'n/a'}`,
    s3Ratios === undefined
      ? ''
      : isMissing(s3Ratios)
        ? `S3 ratios: ${s3Ratios.missing}`
        : `S3 (${formatSize(s3Ratios.imageBytes)} image, ${s3Ratios.concurrency} in flight): backup ${s3Ratios.median.backupStoredMBps.toFixed(0)} MB/s stored = ` +
          `${s3Ratios.median.backupRatio.toFixed(2)} of a plain PUT loop (${s3Ratios.median.putLoopMBps.toFixed(0)} MB/s); restore ${s3Ratios.median.restoreStoredMBps.toFixed(0)} MB/s = ` +
          `${s3Ratios.median.restoreRatio.toFixed(2)} of a plain GET loop (${s3Ratios.median.getLoopMBps.toFixed(0)} MB/s)`,
  ].join('\n');
  if (a.json) process.stdout.write(JSON.stringify(report) + '\n');
  else process.stdout.write(text + '\n');
  if (a.writeResults) {
    const md = path.join(projectRoot(), 'bench', 'RESULTS.md');
    fs.writeFileSync(
      md,
      `# Benchmark results\n\nThe latest full run, written by the harness itself. Produced by:\n\n    ${command}\n\n` +
        `at ${report.at}. Each figure is the median of ${a.runs} runs; ratios are measured side by side in the same run. ` +
        `"× restic" is restic's wall time over ours (above 1: we are faster). "of read" is our logical MB/s over the machine's sequential read ceiling. ` +
        `The machine is shared and noisy: read the ratios and CPU seconds before the absolute times.\n\n\`\`\`\n${text}\n\`\`\`\n\nFull samples: bench/out/results.json (not committed).\n`,
    );
    log(`wrote ${md}`);
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
