// Progress events, both every N ms and every N bytes, whichever comes first: a slow
// store still shows movement, and a fast one does not flood the listener.
import type { BackupCounters, RestoreCounters } from './counters.js';
import { mbPerSecond } from './units.js';

/** The counters each operation reports. An operation that emits progress adds itself here. */
export interface OperationCounters {
  backup: BackupCounters;
  restore: RestoreCounters;
  gc: PhaseCounters;
  verify: PhaseCounters;
  stats: PhaseCounters;
  delete: PhaseCounters;
  prune: PhaseCounters;
}

/** Operations made of named phases report the numeric fields of their result so far
 *  (gc: chunks marked, swept…; verify: chunks checked, damaged…; delete: mergedInto…). */
export type PhaseCounters = Readonly<Record<string, number>>;

export type ProgressOp = keyof OperationCounters;

/** A progress event of one operation: its counters have that operation's type. */
export interface ProgressEventOf<O extends ProgressOp> {
  event: 'progress';
  op: O;
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
  /** A snapshot: later changes to the operation's counters do not show in it. */
  counters: OperationCounters[O];
}

/** Any operation's progress event; narrow on `op` to get its counters' type. */
export type ProgressEvent = { [O in ProgressOp]: ProgressEventOf<O> }[ProgressOp];

/** Progress settings of one operation; onProgress gets that operation's events. */
export interface ProgressOptions<O extends ProgressOp = ProgressOp> {
  onProgress?: (e: ProgressEventOf<O>) => void;
  intervalMs?: number;
  everyBytes?: number;
}

export const DEFAULT_PROGRESS_MS = 500;
export const DEFAULT_PROGRESS_BYTES = 64 * 1024 * 1024;

type TickerBase<O extends ProgressOp> = Pick<ProgressEventOf<O>, 'op' | 'volumeId' | 'backupId' | 'bytesTotal'>;

export class ProgressTicker<O extends ProgressOp = ProgressOp> {
  readonly #base: TickerBase<O>;
  readonly #counters: OperationCounters[O];
  readonly #done: () => number;
  /** Sends an event to the listener. A closure over the typed listener: no field takes O
   *  as a parameter, so a ticker of one operation is also a ProgressTicker of any. */
  readonly #send: (() => void) | undefined;
  readonly #everyBytes: number;
  readonly #started = Date.now();
  #lastBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(base: TickerBase<O>, counters: OperationCounters[O], done: () => number, opts: ProgressOptions<O>) {
    this.#base = base;
    this.#counters = counters;
    this.#done = done;
    const listener = opts.onProgress;
    this.#send = listener ? () => listener(this.#event()) : undefined;
    this.#everyBytes = opts.everyBytes ?? DEFAULT_PROGRESS_BYTES;
    if (this.#send) {
      this.#timer = setInterval(() => this.emit(), opts.intervalMs ?? DEFAULT_PROGRESS_MS);
      this.#timer.unref();
    }
  }

  get elapsedMs(): number {
    return Date.now() - this.#started;
  }

  /** Call after each unit of work: emits when another everyBytes have passed. */
  advanced(): void {
    if (this.#send && this.#done() - this.#lastBytes >= this.#everyBytes) this.emit();
  }

  emit(): void {
    this.#send?.();
  }

  #event(): ProgressEventOf<O> {
    const done = this.#done();
    this.#lastBytes = done;
    const total = this.#base.bytesTotal;
    const elapsedMs = this.elapsedMs;
    return {
      event: 'progress',
      ...this.#base,
      bytesDone: done,
      progress: total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100,
      elapsedMs,
      throughputMBps: mbPerSecond(done, elapsedMs),
      counters: { ...this.#counters },
    };
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
