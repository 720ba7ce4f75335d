// The floors the targets are read against (issue 13), measured in the same round as the runs
// they judge, so a noisy machine moves both:
//
// - cpuFloorSeconds: the 2-core CPU floor of a full backup: reading the whole image (one pass,
//   warm cache, counted on one core of two) + keyed BLAKE3 + LZ4 of its non-zero blocks over
//   two workers (CeilingLab's rates per CPU-second of the worker threads, summed: what two whole
//   cores do, so other work on the machine does not inflate the floor; on a quiet machine they
//   equal the wall rates). Perfect overlap assumed: a floor, not a goal.
// - readHashFloorSeconds: the same without LZ4: what an incremental without a list must do.
// - durableWriteSeconds(bytes): writing that many bytes (taken from the image, 4 MiB writes)
//   into a fresh file next to the vault, then one fdatasync. Used with the full backup's stored
//   bytes and with the restore's allocated output bytes.
// - startupSeconds: `blockvault --version` as its own process (and `node -e 0` beside it).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { median } from './ceilings.js';
import { runMeasured } from './peers.js';

const MiB = 1024 * 1024;
const PIECE = 4 * MiB;

export interface CpuRates {
  /** Sequential read of the whole file, MB/s (one thread). */
  readMBps: number;
  /** Keyed BLAKE3 and LZ4, aggregate MB/s of two workers. */
  blake3x2MBps: number;
  lz4x2MBps: number;
}

export interface RoundFloors {
  cpuFloorSeconds: number;
  readHashFloorSeconds: number;
  /** Durable write of the full backup's stored bytes. */
  storedWriteSeconds?: number;
  /** Durable write of the restore's output bytes (allocated, the holes stay holes). */
  restoredWriteSeconds?: number;
  storedBytes?: number;
  restoredBytes?: number;
}

/** The CPU floors of one image from the round's rates. `dataBytes`: its non-zero blocks. */
export function cpuFloors(imageBytes: number, dataBytes: number, r: CpuRates): Pick<RoundFloors, 'cpuFloorSeconds' | 'readHashFloorSeconds'> {
  const read = imageBytes / MiB / r.readMBps / 2;
  const hash = dataBytes / MiB / r.blake3x2MBps;
  const lz4 = dataBytes / MiB / r.lz4x2MBps;
  return { cpuFloorSeconds: read + hash + lz4, readHashFloorSeconds: read + hash };
}

/** Seconds to write `bytes` (copied from `source`, cycling) into a new file in `dir` and fdatasync it. */
export function durableWriteSeconds(dir: string, bytes: number, source: string): number {
  const file = path.join(dir, `floor-${process.pid}-${Date.now()}.bin`);
  const buf = Buffer.allocUnsafeSlow(PIECE);
  const src = fs.openSync(source, 'r');
  const srcSize = fs.fstatSync(src).size;
  spawnSync('sync'); // nothing dirty from before is flushed inside the timed part
  const fd = fs.openSync(file, 'w');
  try {
    const t0 = performance.now();
    let srcPos = 0;
    for (let done = 0; done < bytes; ) {
      const n = Math.min(PIECE, bytes - done);
      if (srcPos + n > srcSize) srcPos = 0;
      fs.readSync(src, buf, 0, n, srcPos);
      srcPos += n;
      fs.writeSync(fd, buf, 0, n);
      done += n;
    }
    fs.fdatasyncSync(fd);
    return (performance.now() - t0) / 1000;
  } finally {
    fs.closeSync(fd);
    fs.closeSync(src);
    fs.rmSync(file, { force: true });
  }
}

export interface Startup {
  /** Median wall seconds of `blockvault --version` as its own process. */
  cliSeconds: number;
  /** Median wall seconds of `node -e 0`: the part no project change can remove. */
  nodeSeconds: number;
  samples: number[];
}

/** `blockvault --version` (node's argv for it: `cliVersion`) and `node -e 0`, `runs` times each, interleaved. */
export async function startupSeconds(cliVersion: string[], tmpDir: string, runs = 5): Promise<Startup> {
  const cliS: number[] = [];
  const nodeS: number[] = [];
  for (let i = 0; i < runs; i++) {
    cliS.push((await runMeasured(process.execPath, cliVersion, { tmpDir })).wallSeconds);
    nodeS.push((await runMeasured(process.execPath, ['-e', '0'], { tmpDir })).wallSeconds);
  }
  return { cliSeconds: median(cliS), nodeSeconds: median(nodeS), samples: cliS };
}
