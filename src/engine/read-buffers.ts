// The blocks a backup has read on the main thread but not yet hashed and compressed: only for
// sources a worker cannot read by itself (a read limit, an allocated-extent list, a caller's
// own BlockSource; image files and devices are read in the workers, source/read-plan.ts).
// A lane holds a read buffer only from its read until the worker hands the block back; the
// object it then stores lives in the lane's own output buffer. So a backup needs read buffers
// for the blocks being hashed (one per worker) and one being read, not one per lane: with 4
// lanes and 2 workers that is 3 of 4 MiB instead of 4, and with S3's 8 lanes (most of them
// waiting on a PUT) 3 instead of 8. Each starts on a direct-I/O boundary (its `offset` into
// its ArrayBuffer), so a block device can be read straight from the disk into it.
import { abortError } from '../errors.js';
import { alignedArrayBuffer } from '../native/direct-io.js';

/** A read buffer: blockSize bytes of `ab` from `offset` (the ArrayBuffer travels to a worker). */
export interface ReadBuffer {
  ab: ArrayBuffer;
  offset: number;
}

/** Read buffers shared by a backup's lanes; take() waits while all are out. */
export class ReadBuffers {
  readonly #free: ReadBuffer[] = [];
  readonly #waiting: ((b: ReadBuffer) => void)[] = [];
  #made = 0;

  constructor(
    readonly blockSize: number,
    readonly count: number,
  ) {}

  /** How many a backup with `lanes` lanes and `workers` hashing threads needs. */
  static countFor(lanes: number, workers: number): number {
    return Math.max(1, Math.min(lanes, workers + 1));
  }

  /** A free buffer, or the next one given back. Rejects when `signal` aborts: the lane that
   *  failed may never give its buffer back (it went to a worker), and it stops the others. */
  take(signal: AbortSignal): Promise<ReadBuffer> {
    if (signal.aborted) return Promise.reject(abortError(signal.reason));
    const b = this.#free.pop();
    if (b) return Promise.resolve(b);
    if (this.#made < this.count) {
      this.#made++;
      return Promise.resolve(alignedArrayBuffer(this.blockSize));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiting.splice(this.#waiting.indexOf(got), 1);
        reject(abortError(signal.reason));
      };
      const got = (buf: ReadBuffer) => {
        signal.removeEventListener('abort', onAbort);
        resolve(buf);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(got);
    });
  }

  give(b: ReadBuffer): void {
    const next = this.#waiting.shift();
    if (next) next(b);
    else this.#free.push(b);
  }
}
