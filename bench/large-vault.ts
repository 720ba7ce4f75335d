// The large-vault scenario (`--scenarios large-vault`, opt-in): a local vault that holds
// --vault-chunks synthetic chunks (default 10 M, as index segments of 1 M records in the real
// BVIX format; the chunks themselves are not written, only their index records), then:
//   1. a 64 MiB backup on a host that has never seen the vault (empty index cache): it fetches
//      the segments and merges them into its local copy;
//   2. the same host's index load alone (library, one process), warm: what every later
//      backup pays on the index;
//   3. a 64 MiB backup of new data on that host (local copy current but for the new segment).
// Each runs as its own process under GNU time (peak RSS, CPU). Reported per chunk: the local
// copy's bytes on disk, the index's bytes in memory, and the RSS the load adds.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { runMeasured, type ChildMeasure } from './peers.js';
import { cliArgv } from './our-cli.js';
import { formatTable, projectRoot } from './report.js';

const MiB = 1024 * 1024;
const SEGMENT_RECORDS = 1_000_000;
const PROBE = path.join(projectRoot(), 'dist', 'bench', 'large-vault-probe.js');

export interface LargeVaultOptions {
  work: string;
  chunks: number;
  runs: number;
  log: (s: string) => void;
}

/** A BVIX segment of `n` random records (stored lengths 1–4 MiB). */
function syntheticSegment(n: number): Buffer {
  const out = Buffer.alloc(12 + n * 36 + 8);
  out.write('BVIX', 0, 'ascii');
  out[4] = 1;
  out.writeUInt32LE(n, 8);
  randomBytes(n * 36).copy(out, 12);
  for (let i = 0; i < n; i++) out.writeUInt32LE(MiB + (out.readUInt32LE(12 + i * 36 + 32) % (3 * MiB)), 12 + i * 36 + 32);
  const end = 12 + n * 36;
  out.writeBigUInt64LE(xxh64(out.subarray(0, end)), end);
  return out;
}

function randomImage(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < bytes; off += 4 * MiB) fs.writeSync(fd, randomBytes(Math.min(4 * MiB, bytes - off)), 0, undefined, off);
  } finally {
    fs.closeSync(fd);
  }
}

function treeBytes(p: string): number {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, name) => n + treeBytes(path.join(p, name)), 0);
}

interface Row {
  step: string;
  wall: number;
  cpu: number;
  rssMiB: number | undefined;
}

const row = (step: string, m: ChildMeasure): Row => ({ step, wall: m.wallSeconds, cpu: m.userSeconds + m.sysSeconds, rssMiB: m.maxRssKiB === undefined ? undefined : m.maxRssKiB / 1024 });

export async function runLargeVault(o: LargeVaultOptions): Promise<{ text: string; json: Record<string, unknown> }> {
  const results: Record<string, unknown>[] = [];
  const rows: Row[] = [];
  for (let run = 0; run < o.runs; run++) {
    const dir = path.join(o.work, `large-vault-${run}`);
    const vault = path.join(dir, 'vault');
    const cache = path.join(dir, 'cache');
    const img = path.join(dir, 'img');
    fs.mkdirSync(dir, { recursive: true });
    try {
      const env = { BLOCKVAULT_CACHE_DIR: path.join(dir, 'cache-setup') };
      randomImage(img, 4 * MiB);
      await runMeasured(process.execPath, cliArgv(['backup', img, '--vault', vault, '--volume', 'lv', '--json']), { tmpDir: dir, env });
      let written = 0;
      for (let s = 0; written < o.chunks; s++) {
        const n = Math.min(SEGMENT_RECORDS, o.chunks - written);
        fs.writeFileSync(path.join(vault, 'index', `synthetic-${String(s).padStart(4, '0')}.idx`), syntheticSegment(n));
        written += n;
      }
      const segBytes = fs.readdirSync(path.join(vault, 'index')).reduce((n, f) => n + fs.statSync(path.join(vault, 'index', f)).size, 0);
      o.log(`  large-vault ${run + 1}/${o.runs}: ${o.chunks} synthetic chunks in ${Math.ceil(o.chunks / SEGMENT_RECORDS)} segments (${(segBytes / MiB).toFixed(1)} MiB)`);
      const hostEnv = { BLOCKVAULT_CACHE_DIR: cache };
      const backupOnce = async (step: string) => {
        randomImage(img, 64 * MiB);
        const m = await runMeasured(process.execPath, cliArgv(['backup', img, '--vault', vault, '--volume', 'lv', '--json']), { tmpDir: dir, env: hostEnv });
        rows.push(row(step, m));
        o.log(`    ${step}: ${m.wallSeconds.toFixed(2)} s, peak RSS ${((m.maxRssKiB ?? 0) / 1024).toFixed(1)} MiB`);
        return m;
      };
      await backupOnce('64 MiB backup, host new to the vault');
      const probe = await runMeasured(process.execPath, [PROBE, vault], { tmpDir: dir, env: hostEnv });
      const p = JSON.parse(probe.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
      rows.push(row('index load alone, local copy current', probe));
      o.log(`    index load alone: ${p.loadMs!.toFixed(0)} ms in process, ${p.size} chunks, ${p.memoryBytes} B held`);
      await backupOnce('64 MiB backup, local copy current');
      const diskBytes = treeBytes(cache);
      results.push({
        chunks: p.size,
        segmentBytes: segBytes,
        localCopyBytes: diskBytes,
        localCopyBytesPerChunk: diskBytes / p.size!,
        indexMemoryBytes: p.memoryBytes,
        indexMemoryBytesPerChunk: p.memoryBytes! / p.size!,
        loadRssGrowthBytes: p.rssGrowth,
        loadMsWarm: p.loadMs,
        lookupsPerSecondAbsent: p.absentPerSec,
        lookupsPerSecondPresent: p.presentPerSec,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const r0 = results[0] ?? {};
  const fmt = (x: unknown, d = 1) => (typeof x === 'number' ? x.toFixed(d) : 'n/a');
  const text = [
    `large vault: ${o.chunks} chunks in the index (synthetic segments, real format); ${o.runs} run(s)`,
    formatTable(['step', 'wall s', 'CPU s', 'peak RSS MiB'], rows.map((r) => [r.step, r.wall, r.cpu, r.rssMiB])),
    `index per chunk: ${fmt(r0.localCopyBytesPerChunk)} B on disk (local copy ${fmt((r0.localCopyBytes as number) / MiB)} MiB; the store's segments ${fmt((r0.segmentBytes as number) / MiB)} MiB), ` +
      `${fmt(r0.indexMemoryBytesPerChunk, 2)} B held in memory (fences + filter + delta), load adds ${fmt((r0.loadRssGrowthBytes as number) / MiB)} MiB RSS; ` +
      `warm load ${fmt(r0.loadMsWarm, 0)} ms; lookups ${fmt(r0.lookupsPerSecondAbsent, 0)}/s absent, ${fmt(r0.lookupsPerSecondPresent, 0)}/s present`,
  ].join('\n');
  return { text, json: { chunks: o.chunks, runs: o.runs, steps: rows, perRun: results } };
}
