// Requests in flight, adapted to the server: 503 SlowDown halves the limit (at most once per
// backoff window, so one burst of refusals counts once), and every `limit` successes add one
// back, up to the configured maximum (additive increase, multiplicative decrease: what TCP
// and the SDK's adaptive mode do with rates, here with slots).
import { abortError } from '../../errors.js';

const DECREASE_EVERY_MS = 500;

export class AdaptiveLimit {
  readonly max: number;
  #limit: number;
  #inFlight = 0;
  #lastDecrease = 0;
  #lowest: number;
  readonly #waiting: Array<() => void> = [];

  constructor(max: number) {
    this.max = Math.max(1, Math.floor(max));
    this.#limit = this.max;
    this.#lowest = this.max;
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  /** The lowest the limit has been (for tests and metrics). */
  get lowest(): number {
    return this.#lowest;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Waits for a slot; the returned function gives it back (call it exactly once). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortError(signal.reason);
    if (this.#inFlight < this.limit) {
      this.#inFlight++;
    } else {
      // #pump hands the slot over (counts it) before it wakes us.
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.#waiting.indexOf(go);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(abortError(signal?.reason));
        };
        this.#waiting.push(go);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      this.#pump();
    };
  }

  onThrottle(): void {
    const now = Date.now();
    if (now - this.#lastDecrease < DECREASE_EVERY_MS) return;
    this.#lastDecrease = now;
    this.#limit = Math.max(1, this.#limit / 2);
    this.#lowest = Math.min(this.#lowest, this.limit);
  }

  onSuccess(): void {
    if (this.#limit >= this.max) return;
    this.#limit = Math.min(this.max, this.#limit + 1 / Math.max(1, this.limit));
    this.#pump();
  }

  #pump(): void {
    while (this.#waiting.length && this.#inFlight < this.limit) {
      this.#inFlight++;
      this.#waiting.shift()!();
    }
  }
}
