// The machine's own ceilings, measured on the same image in the same run as the thing compared
// against them, so results are read as ratios ("backup ran at 0.62× the read ceiling").
//
// Units: every rate here is MB/s with MB = 2^20 bytes (MiB/s), over the bytes processed.
//
// - readMBps: sequential read of the WHOLE file (holes included, read as zeros), page cache warm
//   (one untimed pass first), fs read into one reused 4 MiB buffer.
// - hashMBps / lz4MBps (through CeilingLab): keyed BLAKE3 and LZ4 block compression over N worker
//   threads (default 2), each worker holding its share of the image's non-zero 4 MiB blocks in
//   memory (holes inside a block are zeros, as the engine sees them; all-zero blocks are left out,
//   as the engine never hashes or compresses them). Each worker makes whole passes over its blocks
//   until at least minSeconds have passed; the ceiling is the sum of the workers' own rates.
//   Each result also carries cpuMBps, the same over the worker threads' own CPU time: on a busy
//   machine mbps drops with the share of the cores we get, cpuMBps does not. LZ4 is the fastest
//   the machine has, as the engine uses it: the system's liblz4 through the addon where it is
//   there (1.7× lz4-napi on text), else lz4-napi; a floor measured with a slower library than
//   the engine's would flatter the engine.
//
// This file is also the worker's entry (same module, started with workerData.bvCeiling).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const MiB = 1024 * 1024;
export const BLOCK = 4 * MiB;

/** Median of numbers (mean of the two middle ones for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}

/** Runs fn `runs` times (sequentially) and returns all results and their median. */
export async function medianOf(runs: number, fn: (i: number) => Promise<number> | number): Promise<{ median: number; samples: number[] }> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await fn(i));
  return { median: median(samples), samples };
}

export interface ReadOptions {
  /** Read buffer size (default 4 MiB). */
  bufferSize?: number;
  /** Do one untimed pass first so the timed pass reads from the page cache (default true). */
  warm?: boolean;
}

/** Sequential read MB/s of the whole file (holes are read too), one reused buffer. */
export async function readMBps(path: string, opts: ReadOptions = {}): Promise<number> {
  const buf = Buffer.allocUnsafeSlow(opts.bufferSize ?? BLOCK);
  const pass = async (): Promise<{ bytes: number; seconds: number }> => {
    const fh = await fs.promises.open(path, 'r');
    try {
      const t0 = performance.now();
      let pos = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
      }
      return { bytes: pos, seconds: (performance.now() - t0) / 1000 };
    } finally {
      await fh.close();
    }
  };
  if (opts.warm ?? true) await pass();
  const r = await pass();
  return r.bytes / MiB / r.seconds;
}

export interface LabOptions {
  /** Worker threads (default 2). */
  workers?: number;
  /** Most bytes of blocks each worker keeps in memory (default 1 GiB); blocks are sampled evenly. */
  maxBytesPerWorker?: number;
  /** Each measurement runs at least this long (default 1 s). */
  minSeconds?: number;
}

export interface CpuCeiling {
  /** Aggregate MB/s over all workers (MB = 2^20 bytes): the sum of each worker's rate. */
  mbps: number;
  bytes: number;
  /** Wall seconds from "go" to the last worker's "done". */
  seconds: number;
  workers: number;
  /**
   * Σ over workers of bytes / the worker thread's own CPU seconds (user+sys from
   * /proc/thread-self/stat, 10 ms ticks): what the workers do with a core each, whatever else
   * runs on the machine. Equal to mbps on an idle machine; NaN where /proc is missing.
   */
  cpuMBps: number;
  /** CPU seconds of all worker threads together. */
  cpuSeconds: number;
  /** LZ4 only: compressed bytes / input bytes. */
  ratio?: number;
}

type Op = 'blake3' | 'lz4';

interface WorkerInit {
  bvCeiling: true;
  path: string;
  blocks: number[]; // block offsets this worker loads
  blockSize: number;
  key: Uint8Array;
  clockTicks: number;
}

interface Loaded {
  type: 'loaded';
  bytes: number;
  blocks: number;
}
interface Done {
  type: 'done';
  op: Op;
  bytes: number;
  outBytes: number;
  seconds: number;
  cpuSeconds: number;
}
interface Failed {
  type: 'error';
  message: string;
}

/**
 * Loads the image's non-zero blocks into N workers once, then measures keyed BLAKE3 and LZ4 as
 * often as asked. Close it when done (it holds up to workers × maxBytesPerWorker of memory).
 */
export class CeilingLab {
  private constructor(
    private readonly workers: Worker[],
    readonly loadedBytes: number,
    readonly loadedBlocks: number,
    private readonly minSeconds: number,
  ) {}

  static async open(path: string, opts: LabOptions = {}): Promise<CeilingLab> {
    const n = Math.max(1, opts.workers ?? 2);
    const maxPer = opts.maxBytesPerWorker ?? 1024 * MiB;
    const blocks = nonZeroBlocks(path);
    // Evenly strided sample if the image is larger than what the workers may hold.
    const cap = Math.max(1, Math.floor((maxPer * n) / BLOCK));
    const chosen = blocks.length <= cap ? blocks : Array.from({ length: cap }, (_, i) => blocks[Math.floor((i * blocks.length) / cap)] as number);
    const key = randomBytes(32);
    const workers: Worker[] = [];
    const loaded = await Promise.all(
      Array.from({ length: n }, (_, w) => {
        const init: WorkerInit = { bvCeiling: true, path, blocks: chosen.filter((_, i) => i % n === w), blockSize: BLOCK, key, clockTicks: clockTicks() };
        const worker = new Worker(new URL(import.meta.url), { workerData: init });
        workers.push(worker);
        return reply<Loaded>(worker);
      }),
    ).catch(async (e: unknown) => {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    });
    return new CeilingLab(
      workers,
      loaded.reduce((a, l) => a + l.bytes, 0),
      loaded.reduce((a, l) => a + l.blocks, 0),
      opts.minSeconds ?? 1,
    );
  }

  private async run(op: Op): Promise<CpuCeiling> {
    const replies = this.workers.map((w) => reply<Done>(w));
    const t0 = performance.now();
    for (const w of this.workers) w.postMessage({ op, minSeconds: this.minSeconds });
    const done = await Promise.all(replies);
    const seconds = (performance.now() - t0) / 1000;
    const bytes = done.reduce((a, d) => a + d.bytes, 0);
    const out = done.reduce((a, d) => a + d.outBytes, 0);
    // Sum of each worker's own rate: every worker makes whole passes over its blocks, so they end
    // up to one pass apart; dividing by the wall time would count that tail as idle.
    const mbps = done.reduce((a, d) => a + (d.seconds > 0 ? d.bytes / MiB / d.seconds : 0), 0);
    const cpuMBps = done.reduce((a, d) => a + (d.cpuSeconds > 0 ? d.bytes / MiB / d.cpuSeconds : NaN), 0);
    const cpuSeconds = done.reduce((a, d) => a + d.cpuSeconds, 0);
    const r: CpuCeiling = { mbps, bytes, seconds, workers: this.workers.length, cpuMBps, cpuSeconds };
    if (op === 'lz4') r.ratio = out / bytes;
    return r;
  }

  /** Keyed BLAKE3 (@napi-rs/blake-hash), one digest per 4 MiB block. */
  blake3(): Promise<CpuCeiling> {
    return this.run('blake3');
  }

  /** LZ4 block compression, one call per 4 MiB block (liblz4 through the addon, else lz4-napi). */
  lz4(): Promise<CpuCeiling> {
    return this.run('lz4');
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function reply<T extends { type: string }>(w: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMsg = (m: T | Failed): void => {
      cleanup();
      if (m.type === 'error') reject(new Error(`ceiling worker: ${(m as Failed).message}`));
      else resolve(m as T);
    };
    const onErr = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`ceiling worker exited (${code})`));
    };
    const cleanup = (): void => {
      w.off('message', onMsg);
      w.off('error', onErr);
      w.off('exit', onExit);
    };
    w.on('message', onMsg);
    w.on('error', onErr);
    w.on('exit', onExit);
  });
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const v = Number(r.stdout?.trim());
    ticks = r.status === 0 && v > 0 ? v : 100;
  }
  return ticks;
}

/** CPU seconds (user + sys) of the calling thread, from /proc/thread-self/stat; NaN without /proc. */
export function threadCpuSeconds(clockTicksPerSecond = 100): number {
  try {
    const stat = fs.readFileSync('/proc/thread-self/stat', 'utf8');
    // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}

/** Offsets of the 4 MiB blocks that hold any non-zero byte (reads the whole file). */
export function nonZeroBlocks(path: string, blockSize = BLOCK): number[] {
  const fd = fs.openSync(path, 'r');
  const buf = Buffer.allocUnsafeSlow(blockSize);
  const out: number[] = [];
  try {
    const size = fs.fstatSync(fd).size;
    for (let pos = 0; pos < size; pos += blockSize) {
      const n = fs.readSync(fd, buf, 0, Math.min(blockSize, size - pos), pos);
      if (!isZero(buf.subarray(0, n))) out.push(pos);
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function isZero(b: Buffer): boolean {
  const words = b.length >>> 3;
  if ((b.byteOffset & 7) === 0 && words > 0) {
    const u = new BigUint64Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (u[i] !== 0n) return false;
  } else {
    for (let i = 0; i < words * 8; i++) if (b[i] !== 0) return false;
  }
  for (let i = words * 8; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** One-shot: BLAKE3 and LZ4 ceilings, each the median of `runs`. */
export async function cpuCeilings(path: string, runs = 3, opts: LabOptions = {}): Promise<{ blake3: CpuCeiling; lz4: CpuCeiling; samples: { blake3: number[]; lz4: number[] } }> {
  const lab = await CeilingLab.open(path, opts);
  try {
    const b: CpuCeiling[] = [];
    const l: CpuCeiling[] = [];
    for (let i = 0; i < runs; i++) {
      b.push(await lab.blake3());
      l.push(await lab.lz4());
    }
    const pickMedian = (xs: CpuCeiling[]): CpuCeiling => {
      const m = median(xs.map((x) => x.mbps));
      return { ...xs.reduce((best, x) => (Math.abs(x.mbps - m) < Math.abs(best.mbps - m) ? x : best)), mbps: m };
    };
    return { blake3: pickMedian(b), lz4: pickMedian(l), samples: { blake3: b.map((x) => x.mbps), lz4: l.map((x) => x.mbps) } };
  } finally {
    await lab.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Worker side

async function workerMain(init: WorkerInit): Promise<void> {
  const port = parentPort;
  if (!port) return;
  try {
    const { Blake3Hasher } = await import('@napi-rs/blake-hash');
    const { compressSync } = await import('lz4-napi');
    const { nativeLz4 } = await import('../src/native/lz4-block.js');
    const native = nativeLz4();
    const scratch = Buffer.allocUnsafe(init.blockSize + (init.blockSize >> 7) + 64); // LZ4_compressBound + prefix
    const lz4 = native ? (b: Buffer) => native.compress(b, scratch, 0, scratch.length) : (b: Buffer) => compressSync(b).length;
    const key = Buffer.from(init.key);
    const fd = fs.openSync(init.path, 'r');
    const bufs: Buffer[] = [];
    let bytes = 0;
    try {
      for (const off of init.blocks) {
        const b = Buffer.allocUnsafeSlow(init.blockSize);
        const n = fs.readSync(fd, b, 0, b.length, off);
        bufs.push(n === b.length ? b : b.subarray(0, n));
        bytes += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    port.postMessage({ type: 'loaded', bytes, blocks: bufs.length } satisfies Loaded);
    port.on('message', (m: { op: Op; minSeconds: number }) => {
      try {
        let done = 0;
        let out = 0;
        const t0 = performance.now();
        const c0 = threadCpuSeconds(init.clockTicks);
        let elapsed = 0;
        if (bufs.length > 0) {
          for (let i = 0; ; i = (i + 1) % bufs.length) {
            const b = bufs[i] as Buffer;
            if (m.op === 'blake3') out += Blake3Hasher.newKeyed(key).update(b).digestBuffer().length;
            else out += lz4(b);
            done += b.length;
            elapsed = (performance.now() - t0) / 1000;
            if (i === bufs.length - 1 && elapsed >= m.minSeconds) break;
            if (elapsed >= m.minSeconds * 4) break; // huge sample: no need for a full cycle
          }
        }
        const cpuSeconds = threadCpuSeconds(init.clockTicks) - c0;
        port.postMessage({ type: 'done', op: m.op, bytes: done, outBytes: out, seconds: elapsed, cpuSeconds } satisfies Done);
      } catch (e) {
        port.postMessage({ type: 'error', message: (e as Error).message } satisfies Failed);
      }
    });
  } catch (e) {
    port.postMessage({ type: 'error', message: (e as Error).message } satisfies Failed);
  }
}

if (!isMainThread && (workerData as Partial<WorkerInit> | null)?.bvCeiling === true) {
  void workerMain(workerData as WorkerInit);
}
