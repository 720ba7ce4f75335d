// A block's read described for another thread: the file descriptor and the byte ranges that
// hold data (the rest of the block is holes, read as zeros). A worker thread that has the plan
// reads the block itself, synchronously, and hashes it while the bytes are still in its cache:
// no hop through the main thread's event loop and the libuv pool, no block buffer sent back
// and forth. Only plain, synchronous steps here: this runs inside a worker.
import { readSync } from 'node:fs';
import { directAligned } from '../native/direct-io.js';
import type { Ranges } from './data-extents.js';

export interface ReadPlan {
  fd: number;
  /** Absolute [start, end) data ranges inside the block, sorted; the gaps are zeros. */
  ranges: Ranges;
  /** An O_DIRECT handle of the same input (a block device: reading a volume must not push
   *  the host's page cache out), used where the memory, position and length are aligned to
   *  `sector`; anything else, or a kernel that refuses it (EINVAL), goes through `fd`. */
  direct?: { fd: number; sector: number };
}

/** What a planned read did. */
export interface PlannedRead {
  /** Bytes read (the rest of the block were holes). */
  dataBytes: number;
  /** Of those, bytes read through the O_DIRECT handle. */
  directBytes: number;
  /** The kernel refused O_DIRECT (EINVAL): the source should stop offering it. */
  directRefused: boolean;
}

/** Why a planned read failed, in a form that crosses threads (an Error does not keep its code). */
export type ReadFailure =
  /** The file ended before its size at open: it changed during the backup. */
  | { endedAt: number; code?: undefined; message?: undefined }
  /** The read itself failed (EIO, EBADF…). */
  | { endedAt?: undefined; code: string | undefined; message: string };

/** Thrown by readPlanned; `failure` says what happened. */
export class PlannedReadError extends Error {
  constructor(readonly failure: ReadFailure) {
    super(failure.message ?? `input ended at offset ${failure.endedAt}`);
  }
}

/** A source whose blocks another thread can read from a plan (image files, block devices). */
export interface PlannedReads {
  readPlan(start: number, end: number): ReadPlan;
  /** Told of each planned read that succeeded (direct bytes, a refused O_DIRECT). */
  readDone?(read: PlannedRead): void;
  /** The error the source's own read() would have thrown for this failure. */
  readFailed(failure: ReadFailure): Error;
}

/**
 * Fills buf[0, end-start) with the block [start, end): the plan's data ranges read, the gaps
 * zeroed. Throws PlannedReadError.
 */
export function readPlanned(plan: ReadPlan, start: number, end: number, buf: Buffer): PlannedRead {
  const done: PlannedRead = { dataBytes: 0, directBytes: 0, directRefused: false };
  let cursor = start;
  for (const [a, b] of plan.ranges) {
    if (a > cursor) buf.fill(0, cursor - start, a - start);
    for (let pos = a; pos < b; ) {
      const n = readAt(plan, buf.subarray(pos - start, b - start), pos, done);
      if (n === 0) throw new PlannedReadError({ endedAt: pos });
      pos += n;
    }
    done.dataBytes += b - a;
    cursor = b;
  }
  if (cursor < end) buf.fill(0, cursor - start, end - start);
  return done;
}

/** One read into `into` at `pos`: direct where the plan offers it and everything is aligned. */
function readAt(plan: ReadPlan, into: Buffer, pos: number, done: PlannedRead): number {
  try {
    if (plan.direct && !done.directRefused && directAligned(into, pos, plan.direct.sector)) {
      try {
        const n = readSync(plan.direct.fd, into, 0, into.length, pos);
        done.directBytes += n;
        return n;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        done.directRefused = true; // refused after all: through the page cache from now on
      }
    }
    return readSync(plan.fd, into, 0, into.length, pos);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new PlannedReadError({ code: err.code, message: err.message });
  }
}
