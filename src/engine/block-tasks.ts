// The plumbing every restore shares: bounded parallel work per block, a progress ticker over
// the bytes done, the caller's AbortSignal, and the rule that the first failure stops the rest
// and is the one reported.
import pLimit, { type LimitFunction } from 'p-limit';
import { abortError, firstFailure } from '../errors.js';
import { newRestoreCounters, type RestoreCounters } from '../metrics/counters.js';
import { ProgressTicker, type ProgressOptions } from '../metrics/progress.js';
import { mbPerSecond } from '../metrics/units.js';

export interface BlockTasksOptions extends ProgressOptions<'restore'> {
  backupId: string;
  signal?: AbortSignal;
}

export class BlockTasks {
  readonly counters: RestoreCounters = newRestoreCounters();
  readonly ticker: ProgressTicker;
  readonly #stop = new AbortController();
  readonly #limit: LimitFunction;
  readonly #tasks: Promise<void>[] = [];
  readonly #opts: BlockTasksOptions;
  readonly #onAbort: () => void;
  /** Logical bytes of the volume finished (written, zeroed, or left as they are). */
  done = 0;

  constructor(opts: BlockTasksOptions, target: { volumeId: string; volumeSize: number; blockCount: number }, inFlight: number) {
    this.#opts = opts;
    this.counters.blocksTotal = target.blockCount;
    this.#limit = pLimit(Math.max(1, inFlight));
    this.#onAbort = () => this.#stop.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.ticker = new ProgressTicker(
      { op: 'restore', volumeId: target.volumeId, backupId: opts.backupId, bytesTotal: target.volumeSize },
      this.counters,
      () => this.done,
      opts,
    );
  }

  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Queues work, at most inFlight at once. */
  add(work: () => Promise<void>): void {
    this.#track(
      this.#limit(async () => {
        if (this.#stop.signal.aborted) throw abortError(this.#stop.signal.reason);
        await work();
      }),
    );
  }

  /** Runs work beside the queue (it paces itself). */
  addUnbounded(work: Promise<void>): void {
    this.#track(work);
  }

  #track(p: Promise<void>): void {
    this.#tasks.push(
      p.catch((e) => {
        this.#stop.abort(e);
        throw e;
      }),
    );
  }

  /** Waits for every task; throws the first real failure. Returns the elapsed time and rate. */
  async finish(volumeSize: number): Promise<{ elapsedMs: number; throughputMBps: number }> {
    try {
      const failed = firstFailure(await Promise.allSettled(this.#tasks));
      if (failed) {
        if (this.#opts.signal?.aborted) throw abortError(this.#opts.signal.reason);
        throw failed.reason;
      }
      this.ticker.emit();
      const elapsedMs = Math.max(1, this.ticker.elapsedMs);
      return { elapsedMs, throughputMBps: mbPerSecond(volumeSize, elapsedMs) };
    } finally {
      this.#limit.clearQueue();
      this.ticker.stop();
      this.#opts.signal?.removeEventListener('abort', this.#onAbort);
    }
  }
}
