// A token bucket that may go into debt: a caller takes what it needs at once and the next one
// waits until the debt is paid, so a whole object or block goes through in one piece and the
// average rate still holds. The burst is an eighth of a second of rate, so an idle bucket
// cannot save up a large burst. Used for the store's upload/download limits and the source's
// read limit (it sits in the lowest layer so both can use it).
import { abortError } from '../errors.js';

export class TokenBucket {
  readonly bytesPerSec: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  constructor(bytesPerSec: number) {
    if (!(bytesPerSec > 0 && Number.isFinite(bytesPerSec))) throw new RangeError(`rate ${bytesPerSec} is not a positive number of bytes per second`);
    this.bytesPerSec = bytesPerSec;
    this.burst = bytesPerSec / 8;
    this.#tokens = this.burst;
    this.#at = performance.now();
  }

  /** How long (ms) the caller must wait before moving `bytes`; books them at once. */
  reserve(bytes: number): number {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.bytesPerSec);
    this.#at = now;
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.bytesPerSec) * 1000;
  }

  /** Waits until `bytes` may move (rejects if the signal aborts first). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const ms = this.reserve(bytes);
    if (ms > 0) await sleep(ms, signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal?.reason));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

