// node dist/bench/peers-main.js [--size 2GiB] [--runs 3] [--seed 1] [--fraction 0.01]
//                               [--dir DIR] [--out bench/out/peers.json] [--peers restic,borg]
//                               [--no-verify] [--keep]
//
// Makes the mixed image, measures the machine's ceilings on it and runs the peers (full backup,
// incremental after a clustered 1% mutation, restore of the latest), `runs` times; prints the
// medians as a table and writes every sample plus the medians to JSON. Each run regenerates the
// image from the seed, so every run starts from the same bytes; the mutation seed varies per run.
// MB = 2^20 bytes throughout.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CeilingLab, median, readMBps, type CpuCeiling } from './ceilings.js';
import { formatSize, makeMixedImage, mutateImage, parseSize, type ImageDescription, type MutateResult } from './inputs.js';
import { PEER_NAMES, isMissing, type Missing, type OpMeasure, type PeerName, type PeerRound } from './peers.js';
import { runPeerRound } from './peers.js';
import { formatMachine, formatTable, humanBytes, machineInfo, projectRoot, toMiB, writeJson } from './report.js';

interface Args {
  size: number;
  runs: number;
  seed: number;
  fraction: number;
  dir: string | undefined;
  out: string;
  peers: PeerName[];
  verify: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    size: 2 * 1024 ** 3,
    runs: 3,
    seed: 1,
    fraction: 0.01,
    dir: undefined,
    out: path.join(projectRoot(), 'bench', 'out', 'peers.json'),
    peers: [...PEER_NAMES],
    verify: true,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    switch (k) {
      case '--size': a.size = parseSize(v()); break;
      case '--runs': a.runs = Math.max(1, Number(v())); break;
      case '--seed': a.seed = Number(v()); break;
      case '--fraction': a.fraction = Number(v()); break;
      case '--dir': a.dir = v(); break;
      case '--out': a.out = path.resolve(v()); break;
      case '--peers': a.peers = v().split(',').filter(Boolean) as PeerName[]; break;
      case '--no-verify': a.verify = false; break;
      case '--keep': a.keep = true; break;
      case '-h':
      case '--help':
        process.stdout.write(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 3).join('\n').replace(/^\/\/ ?/gm, '') + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${k}`);
    }
  }
  return a;
}

const OPS = ['full', 'incremental', 'restore'] as const;
type OpName = (typeof OPS)[number];
const METRICS = ['wallSeconds', 'mbps', 'cpuSeconds', 'userSeconds', 'sysSeconds', 'maxRssKiB', 'repoGrowthBytes', 'repoAllocGrowthBytes', 'repoBytes'] as const;
type Metric = (typeof METRICS)[number];
type MedianOp = Record<Metric, number>;

function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = args.dir ? fs.mkdtempSync(path.join(path.resolve(args.dir), 'bvbench-')) : fs.mkdtempSync(path.join(os.tmpdir(), 'bvbench-'));
  const image = path.join(work, 'mixed.img');
  const machine = machineInfo({ dir: work });
  log(formatMachine(machine).replace(/\n/g, '\n           '));
  log(`image ${formatSize(args.size)} in ${work}; ${args.runs} run(s)`);

  const ceilingSamples = { read: [] as number[], blake3: [] as CpuCeiling[], lz4: [] as CpuCeiling[] };
  const rounds: Record<string, PeerRound | Missing>[] = [];
  const mutations: Omit<MutateResult, 'extents'>[] = [];
  // Other work on the machine lowers every number: keep the load next to each run's samples.
  const loadavgAtRunStart: number[][] = [];
  let desc: ImageDescription | undefined;
  try {
    for (let r = 0; r < args.runs; r++) {
      loadavgAtRunStart.push(os.loadavg().map((x) => Math.round(x * 100) / 100));
      log(`run ${r + 1}/${args.runs}: generating image (seed ${args.seed}); load average ${loadavgAtRunStart[r]?.join(' ')}…`);
      desc = await makeMixedImage(image, { size: args.size, seed: args.seed });
      log(`  ${desc.generateMBps.toFixed(0)} MB/s; data ${humanBytes(desc.dataBytes)}, ${desc.mixedBlocks} mixed / ${desc.zeroBlocks} zero / ${desc.repeatedBlocks.length} repeated blocks`);

      const read = await readMBps(image);
      ceilingSamples.read.push(read);
      const lab = await CeilingLab.open(image, { workers: 2 });
      try {
        const b = await lab.blake3();
        const l = await lab.lz4();
        ceilingSamples.blake3.push(b);
        ceilingSamples.lz4.push(l);
        log(`  ceilings: read ${read.toFixed(0)}, BLAKE3×2 ${b.mbps.toFixed(0)} (${b.cpuMBps.toFixed(0)} on own CPU), LZ4×2 ${l.mbps.toFixed(0)} (${l.cpuMBps.toFixed(0)}) MB/s (ratio ${l.ratio?.toFixed(3)}) over ${humanBytes(lab.loadedBytes)}`);
      } finally {
        await lab.close();
      }

      const round = await runPeerRound({
        peers: args.peers,
        image,
        size: args.size,
        workDir: work,
        verify: args.verify,
        order: r % 2 === 0 ? 'forward' : 'reverse',
        log: (l) => log(`  ${l}`),
        mutate: async () => {
          const m = await mutateImage(image, { fraction: args.fraction, seed: args.seed * 1000 + r + 1, extentsFile: path.join(work, `changed-${r + 1}.txt`) });
          mutations.push({ bytes: m.bytes, seconds: m.seconds });
          log(`  mutated ${humanBytes(m.bytes)} in ${m.extents.length} extents`);
          return m;
        },
      });
      rounds.push(round);
    }
  } finally {
    if (!args.keep) fs.rmSync(work, { recursive: true, force: true });
  }

  // Medians
  const ceilings = {
    readMBps: median(ceilingSamples.read),
    blake3x2MBps: median(ceilingSamples.blake3.map((c) => c.mbps)),
    lz4x2MBps: median(ceilingSamples.lz4.map((c) => c.mbps)),
    lz4Ratio: median(ceilingSamples.lz4.map((c) => c.ratio ?? NaN)),
    blake3x2CpuMBps: median(ceilingSamples.blake3.map((c) => c.cpuMBps)),
    lz4x2CpuMBps: median(ceilingSamples.lz4.map((c) => c.cpuMBps)),
  };
  const peerMedians: Record<string, Record<OpName, MedianOp> | Missing> = {};
  for (const n of args.peers) {
    const got = rounds.map((rd) => rd[n]).filter((x): x is PeerRound => x !== undefined && !isMissing(x));
    if (got.length === 0) {
      const m = rounds.map((rd) => rd[n]).find((x): x is Missing => isMissing(x));
      peerMedians[n] = m ?? { missing: `${n} did not run` };
      continue;
    }
    const ops = {} as Record<OpName, MedianOp>;
    for (const op of OPS) {
      const ms = got.map((g) => g[op] as OpMeasure);
      ops[op] = Object.fromEntries(METRICS.map((k) => [k, median(ms.map((m) => m[k] ?? NaN))])) as MedianOp;
    }
    peerMedians[n] = ops;
  }

  // Table
  const ceilingTable = formatTable(
    ['ceiling (same image, same run)', 'MB/s', 'on own CPU time', 'samples (MB/s)'],
    [
      ['sequential read, whole file, warm cache', ceilings.readMBps, undefined, ceilingSamples.read.map((x) => x.toFixed(0)).join(' ')],
      ['keyed BLAKE3, 2 workers', ceilings.blake3x2MBps, ceilings.blake3x2CpuMBps, ceilingSamples.blake3.map((x) => x.mbps.toFixed(0)).join(' ')],
      [`LZ4 compress, 2 workers (ratio ${ceilings.lz4Ratio.toFixed(3)})`, ceilings.lz4x2MBps, ceilings.lz4x2CpuMBps, ceilingSamples.lz4.map((x) => x.mbps.toFixed(0)).join(' ')],
    ],
    { digits: 0, title: `Ceilings, medians of ${args.runs} (MB = 2^20 bytes; "on own CPU time" = bytes / the worker threads' CPU seconds, what 2 idle cores would do)` },
  );
  const rows: (string | number | undefined)[][] = [];
  for (const n of args.peers) {
    const pm = peerMedians[n];
    if (!pm || isMissing(pm)) {
      rows.push([n, pm?.missing ?? 'missing']);
      continue;
    }
    for (const op of OPS) {
      const m = pm[op];
      rows.push([n, op, m.wallSeconds, m.mbps, m.cpuSeconds, m.userSeconds, m.sysSeconds, Number.isFinite(m.maxRssKiB) ? m.maxRssKiB / 1024 : undefined, toMiB(m.repoGrowthBytes), m.mbps / ceilings.readMBps]);
    }
  }
  const peerTable = formatTable(
    ['peer', 'op', 'wall s', 'MB/s', 'CPU s', 'user s', 'sys s', 'peak RSS MiB', 'repo growth MiB', '× read ceiling'],
    rows,
    {
      digitsBy: [undefined, undefined, 2, 1, 2, 2, 2, 0, 1, 3],
      title: `Peers on the ${formatSize(args.size)} mixed image (data ${desc ? humanBytes(desc.dataBytes) : '?'}), ${(args.fraction * 100).toFixed(1)}% clustered mutation, medians of ${args.runs}; MB/s = image size / wall`,
    },
  );
  process.stdout.write(`\n${ceilingTable}\n\n${peerTable}\n\n`);

  const { regions, ...imageInfo } = desc ?? ({ regions: [] } as unknown as ImageDescription);
  writeJson(args.out, {
    kind: 'blockvault-bench/peers',
    generatedAt: new Date().toISOString(),
    units: { MB: 2 ** 20, note: 'MB/s = bytes / 2^20 / seconds; peer MB/s uses the image logical size' },
    machine,
    loadavgAtRunStart,
    loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    args: { ...args, out: path.relative(projectRoot(), args.out) },
    image: { ...imageInfo, regionCount: regions.length },
    mutations,
    ceilings: { medians: ceilings, samples: ceilingSamples },
    peers: { medians: peerMedians, runs: rounds },
  });
  log(`wrote ${args.out}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
