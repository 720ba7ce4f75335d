// A block's read described for another thread: the file descriptor and the byte ranges that
// hold data (the rest of the block is holes, read as zeros). A worker thread that has the plan
// reads the block itself, synchronously, and hashes it while the bytes are still in its cache:
// no hop through the main thread's event loop and the libuv pool, no block buffer sent back
// and forth. Only plain, synchronous steps here: this runs inside a worker.
import { readSync } from 'node:fs';
import type { Ranges } from './data-extents.js';

export interface ReadPlan {
  fd: number;
  /** Absolute [start, end) data ranges inside the block, sorted; the gaps are zeros. */
  ranges: Ranges;
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

/** A source whose blocks another thread can read from a plan (image files). */
export interface PlannedReads {
  readPlan(start: number, end: number): ReadPlan;
  /** The error the source's own read() would have thrown for this failure. */
  readFailed(failure: ReadFailure): Error;
}

/**
 * Fills buf[0, end-start) with the block [start, end): the plan's data ranges read, the gaps
 * zeroed. Returns the bytes read. Throws PlannedReadError.
 */
export function readPlanned(plan: ReadPlan, start: number, end: number, buf: Buffer): number {
  let cursor = start;
  let dataBytes = 0;
  for (const [a, b] of plan.ranges) {
    if (a > cursor) buf.fill(0, cursor - start, a - start);
    for (let pos = a; pos < b; ) {
      let n: number;
      try {
        n = readSync(plan.fd, buf, pos - start, b - pos, pos);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new PlannedReadError({ code: err.code, message: err.message });
      }
      if (n === 0) throw new PlannedReadError({ endedAt: pos });
      pos += n;
    }
    dataBytes += b - a;
    cursor = b;
  }
  if (cursor < end) buf.fill(0, cursor - start, end - start);
  return dataBytes;
}
