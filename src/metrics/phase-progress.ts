// Progress for operations made of named phases (gc, verify, stats, delete, prune): the same
// ProgressEvent as backup and restore, with `phase` {name, done, total}. An event at the start
// and end of every phase, and in between at most every intervalMs.
import { DEFAULT_PROGRESS_MS, type ProgressEvent, type ProgressOp, type ProgressOptions } from './progress.js';

export class PhaseProgress {
  readonly #op: ProgressOp;
  readonly #ids: { volumeId: string; backupId: string };
  readonly #listener: ((e: ProgressEvent) => void) | undefined;
  readonly #intervalMs: number;
  readonly #counters: () => Record<string, number>;
  readonly #started = Date.now();
  #phase = '';
  #done = 0;
  #total = 0;
  #last = 0;

  constructor(op: ProgressOp, opts: ProgressOptions, ids: { volumeId?: string; backupId?: string } = {}, counters: () => object = () => ({})) {
    this.#op = op;
    this.#ids = { volumeId: ids.volumeId ?? '', backupId: ids.backupId ?? '' };
    this.#listener = opts.onProgress;
    this.#intervalMs = opts.intervalMs ?? DEFAULT_PROGRESS_MS;
    this.#counters = counters as () => Record<string, number>;
  }

  /** A phase begins with `total` items (0 when unknown yet). */
  start(phase: string, total = 0): void {
    this.#phase = phase;
    this.#done = 0;
    this.#total = total;
    this.#emit();
  }

  /** The phase's total became known (or grew). */
  setTotal(total: number): void {
    this.#total = total;
  }

  advance(n = 1): void {
    this.#done += n;
    if (this.#listener && Date.now() - this.#last >= this.#intervalMs) this.#emit();
  }

  /** The phase is over: one last event with done = total. */
  end(): void {
    if (this.#total < this.#done) this.#total = this.#done;
    this.#done = this.#total;
    this.#emit();
  }

  /** Runs fn as phase `name` (start, then end once it resolves). */
  async run<T>(name: string, total: number, fn: () => Promise<T>): Promise<T> {
    this.start(name, total);
    const out = await fn();
    this.end();
    return out;
  }

  #emit(): void {
    if (!this.#listener) return;
    this.#last = Date.now();
    const elapsedMs = this.#last - this.#started;
    this.#listener({
      event: 'progress',
      op: this.#op,
      ...this.#ids,
      phase: { name: this.#phase, done: this.#done, total: this.#total },
      bytesDone: this.#done,
      bytesTotal: this.#total,
      progress: this.#total > 0 ? Math.min(100, Math.floor((this.#done / this.#total) * 100)) : 0,
      elapsedMs,
      throughputMBps: 0,
      counters: { ...this.#counters() },
    });
  }
}
