// Progress events, both every N ms and every N bytes, whichever comes first: a slow
// store still shows movement, and a fast one does not flood the listener.
import { mbPerSecond } from './units.js';

export type ProgressOp = 'backup' | 'restore' | 'gc' | 'verify' | 'stats' | 'delete' | 'prune';

export interface ProgressEvent {
  event: 'progress';
  op: ProgressOp;
  /** '' where the operation is vault-wide (gc, verify, stats). */
  volumeId: string;
  backupId: string;
  /** Operations made of named phases (gc, verify, stats, delete, prune): the phase running
   *  and its own done/total (items: manifests, chunks, segments…); bytes* then mirror them. */
  phase?: { name: string; done: number; total: number };
  /** Logical bytes done and in all. */
  bytesDone: number;
  bytesTotal: number;
  /** Integer 0–100, as the service's progress field. */
  progress: number;
  elapsedMs: number;
  /** Average MB/s so far (the service's AT). */
  throughputMBps: number;
  counters: Record<string, number>;
}

export interface ProgressOptions {
  onProgress?: (e: ProgressEvent) => void;
  intervalMs?: number;
  everyBytes?: number;
}

export const DEFAULT_PROGRESS_MS = 500;
export const DEFAULT_PROGRESS_BYTES = 64 * 1024 * 1024;

export class ProgressTicker {
  readonly #base: Pick<ProgressEvent, 'op' | 'volumeId' | 'backupId' | 'bytesTotal'>;
  readonly #counters: Record<string, number>;
  readonly #done: () => number;
  readonly #listener: ((e: ProgressEvent) => void) | undefined;
  readonly #everyBytes: number;
  readonly #started = Date.now();
  #lastBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    base: Pick<ProgressEvent, 'op' | 'volumeId' | 'backupId' | 'bytesTotal'>,
    counters: object,
    done: () => number,
    opts: ProgressOptions,
  ) {
    this.#base = base;
    this.#counters = counters as Record<string, number>;
    this.#done = done;
    this.#listener = opts.onProgress;
    this.#everyBytes = opts.everyBytes ?? DEFAULT_PROGRESS_BYTES;
    if (this.#listener) {
      this.#timer = setInterval(() => this.emit(), opts.intervalMs ?? DEFAULT_PROGRESS_MS);
      this.#timer.unref();
    }
  }

  get elapsedMs(): number {
    return Date.now() - this.#started;
  }

  /** Call after each unit of work: emits when another everyBytes have passed. */
  advanced(): void {
    if (this.#listener && this.#done() - this.#lastBytes >= this.#everyBytes) this.emit();
  }

  emit(): void {
    if (!this.#listener) return;
    const done = this.#done();
    this.#lastBytes = done;
    const total = this.#base.bytesTotal;
    const elapsedMs = this.elapsedMs;
    this.#listener({
      event: 'progress',
      ...this.#base,
      bytesDone: done,
      progress: total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100,
      elapsedMs,
      throughputMBps: mbPerSecond(done, elapsedMs),
      counters: { ...this.#counters },
    });
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
