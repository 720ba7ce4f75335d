// A job: one long operation run in this process, on record in the vault so any process on
// any host can read its state and ask it to stop. The record is written atomically (one
// whole-object put) when the job is made, when it starts, every heartbeat while it runs
// and when it ends. Each heartbeat also looks for a cancellation request and for a reader
// having declared the job dead; either aborts the operation through its AbortSignal.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { BlockvaultError, ErrorCodes, abortError, isAbort, isBusy, serviceCodes, type ServiceOp } from '../errors.js';
import type { ProgressEvent } from '../metrics/progress.js';
import { cleanupAfter, withOperationSignal } from '../vault/operation.js';
import type { Vault } from '../vault/vault.js';
import { JobKeys, isValidJobId } from './keys.js';
import { recordStore, type RecordStore } from './record-store.js';
import {
  CancelRequestSchema,
  JobRecordSchema,
  parseRecord,
  type JobRecord,
  type JobStatus,
  type JobType,
  type OperationStatus,
} from './schemas.js';

export const DEFAULT_HEARTBEAT_MS = 2000;

export interface JobOptions {
  /** The control plane's job id; a UUID is made when absent. */
  jobId?: string;
  /** How often the record is rewritten and the cancel request looked for (ms). */
  heartbeatMs?: number;
  /** A run longer than this that still succeeds reports operation status `timeout` (CBR). */
  deadlineMs?: number;
}

/** What a job emits on 'progress' and yields from events(). */
export interface JobProgress {
  event: 'progress';
  job_id: string;
  job_type: JobType;
  progress: number;
  phase: string;
  eta_seconds: number | null;
  counters: Record<string, number>;
}

export interface JobDone {
  event: 'done';
  record: JobRecord;
}

/** What a job's operation gets: a signal, a progress sink, and a way to name entities. */
export interface JobContext {
  readonly signal: AbortSignal;
  readonly jobId: string;
  onProgress(e: ProgressEvent): void;
  setPhase(phase: string): void;
  setEntities(entities: Record<string, string>): void;
  setLeaseScope(scope: string): void;
}

export interface JobSpec<R> {
  type: JobType;
  entities: Record<string, string>;
  leaseScope: string | null;
  run(ctx: JobContext): Promise<R>;
}

const now = () => new Date().toISOString();

export class Job extends EventEmitter {
  readonly id: string;
  readonly type: JobType;
  /** Resolves with the final record when the job ends, whether it succeeded or failed. */
  readonly done: Promise<JobRecord>;
  /** The operation's error when it failed. */
  error: unknown;
  #record: JobRecord;
  readonly #records: RecordStore;
  readonly #abort = new AbortController();
  readonly #heartbeatMs: number;
  readonly #deadlineMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<unknown> = Promise.resolve();
  #finished = false;
  #ending = false;
  #resolveDone!: (r: JobRecord) => void;
  #started = Date.now();

  constructor(vault: Vault, type: JobType, entities: Record<string, string>, opts: JobOptions, leaseScope: string | null) {
    super();
    this.id = opts.jobId ?? randomUUID();
    if (!isValidJobId(this.id)) {
      throw new BlockvaultError(ErrorCodes.badInput, `job id ${JSON.stringify(this.id)} is not valid`, {
        hint: 'use 1–128 letters, digits, ".", "_", ":" or "-" (a UUID or 32 hex digits work)',
      });
    }
    this.type = type;
    this.#records = recordStore(vault);
    this.#heartbeatMs = Math.max(50, opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.#deadlineMs = opts.deadlineMs;
    const t = now();
    this.#record = {
      job_id: this.id,
      job_type: type,
      status: 'INIT',
      operation_status: 'waiting',
      entities,
      error_code: null,
      cbr_error_code: null,
      engine_code: null,
      fail_reason: null,
      begin_time: t,
      end_time: null,
      updated_at: t,
      progress: 0,
      phase: 'init',
      eta_seconds: null,
      counters: {},
      host: os.hostname(),
      pid: process.pid,
      heartbeat_at: t,
      heartbeat_ms: this.#heartbeatMs,
      lease_scope: leaseScope,
    };
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    // 'error' would throw without a listener; this model reports failures through the record.
    this.on('error', () => {});
  }

  get record(): JobRecord {
    return { ...this.#record, entities: { ...this.#record.entities }, counters: { ...this.#record.counters } };
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Stops the job from this process (cancelJob does it from anywhere). */
  cancel(reason = 'cancelled'): void {
    this.#abort.abort(new Error(reason));
  }

  /** Progress events, then the final record; ends when the job does. */
  async *events(): AsyncGenerator<JobProgress | JobDone> {
    const queue: (JobProgress | JobDone)[] = [];
    let wake: (() => void) | undefined;
    const push = (e: JobProgress | JobDone) => {
      queue.push(e);
      wake?.();
    };
    const onProgress = (e: JobProgress) => push(e);
    const onDone = (r: JobRecord) => push({ event: 'done', record: r });
    this.on('progress', onProgress);
    this.on('done', onDone);
    try {
      if (this.#finished) push({ event: 'done', record: this.record });
      for (;;) {
        while (queue.length) {
          const e = queue.shift()!;
          yield e;
          if (e.event === 'done') return;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.off('progress', onProgress);
      this.off('done', onDone);
    }
  }

  /** Writes the INIT record; a job id already on record is refused. */
  async create(): Promise<void> {
    const ok = await this.#records.put(JobKeys.jobKey(this.id), this.#encode(), { ifAbsent: true });
    if (!ok) {
      throw new BlockvaultError(ErrorCodes.badInput, `job ${this.id} already exists`, {
        hint: 'use a new job id (finished jobs are kept until their records expire)',
        details: { jobId: this.id },
      });
    }
  }

  /** Runs the operation to its end; never rejects (the outcome is the record). */
  async run<R>(spec: JobSpec<R>, outer?: AbortSignal): Promise<void> {
    const onOuter = () => this.#abort.abort(outer?.reason);
    if (outer?.aborted) onOuter();
    outer?.addEventListener('abort', onOuter, { once: true });
    // Heartbeats and the operation make their requests under the job's signal: a cancel ends
    // them at once, even on a server that hangs.
    const signal = this.#abort.signal;
    this.#timer = setInterval(() => void withOperationSignal(signal, () => this.#heartbeat()), this.#heartbeatMs);
    this.#timer.unref();
    let result: R | undefined;
    let error: unknown;
    try {
      result = await withOperationSignal(signal, async () => {
        this.#set({ status: 'RUNNING', operation_status: 'running', phase: 'starting' });
        await this.#flush();
        this.emit('progress', this.#progressEvent()); // the first event comes at once, at 0 %
        if (signal.aborted) throw abortError(signal.reason);
        return spec.run(this.#context());
      });
    } catch (e) {
      error = e;
    }
    clearInterval(this.#timer);
    outer?.removeEventListener('abort', onOuter);
    this.error = error;
    this.#ending = true;
    this.#finish(result, error);
    // The final record is written after a cancel too, under its own short bound then.
    const settle = (fn: () => Promise<unknown>) => withOperationSignal(signal, () => cleanupAfter(signal, fn)).catch(() => {});
    await settle(() => this.#flush());
    await settle(() => this.#records.delete(JobKeys.cancelKey(this.id)));
    this.#finished = true;
    const rec = this.record;
    this.emit('done', rec);
    this.#resolveDone(rec);
  }

  #context(): JobContext {
    const job = this;
    return {
      signal: this.#abort.signal,
      jobId: this.id,
      onProgress(e) {
        const elapsed = Math.max(1, e.elapsedMs);
        const rate = e.bytesDone / elapsed;
        const eta = rate > 0 && e.bytesTotal > e.bytesDone ? Math.ceil((e.bytesTotal - e.bytesDone) / rate / 1000) : e.progress >= 100 ? 0 : null;
        // Phased operations (gc, verify, …) name their phase; backup and restore are one transfer.
        job.#set({ progress: e.progress, phase: e.phase?.name ?? 'transfer', eta_seconds: eta, counters: { ...e.counters } });
        job.emit('progress', job.#progressEvent());
      },
      setPhase(phase) {
        job.#set({ phase });
        job.emit('progress', job.#progressEvent());
      },
      setEntities(entities) {
        job.#set({ entities: { ...job.#record.entities, ...entities } });
      },
      setLeaseScope(scope) {
        job.#set({ lease_scope: scope });
      },
    };
  }

  #progressEvent(): JobProgress {
    const r = this.#record;
    return {
      event: 'progress',
      job_id: r.job_id,
      job_type: r.job_type,
      progress: r.progress,
      phase: r.phase,
      eta_seconds: r.eta_seconds,
      counters: { ...r.counters },
    };
  }

  #finish(result: unknown, error: unknown): void {
    const t = now();
    if (error === undefined) {
      const late = this.#deadlineMs !== undefined && Date.now() - this.#started > this.#deadlineMs;
      this.#set({
        status: 'SUCCESS',
        operation_status: late ? 'timeout' : 'success',
        progress: 100,
        phase: 'done',
        eta_seconds: 0,
        end_time: t,
        ...(result !== undefined ? { result: JSON.parse(JSON.stringify(result)) as unknown } : {}),
      });
      return;
    }
    const codes = serviceCodes(error, this.type as ServiceOp);
    const cancelled = this.#abort.signal.aborted && isAbort(error);
    const why = cancelled ? reasonText(this.#abort.signal.reason) : undefined;
    const message = error instanceof Error ? error.message : String(error);
    this.#set({
      status: 'FAIL',
      // A pre-check that failed (the volume busy) skipped the job; anything else failed it.
      operation_status: isBusy(error) ? 'skipped' : 'failed',
      phase: 'done',
      eta_seconds: null,
      end_time: t,
      error_code: codes.vbsCode,
      cbr_error_code: codes.cbrCode,
      engine_code: error instanceof BlockvaultError ? error.code : null,
      fail_reason: why ? `${why}: ${message}` : message,
    });
  }

  #set(patch: Partial<JobRecord>): void {
    this.#record = { ...this.#record, ...patch, updated_at: now() };
  }

  #encode(): Buffer {
    return Buffer.from(JSON.stringify(this.#record));
  }

  /** Writes the record now (serialized with heartbeats, so the last write wins in order). */
  #flush(): Promise<unknown> {
    this.#record = { ...this.#record, heartbeat_at: now() };
    const body = this.#encode();
    this.#writing = this.#writing.catch(() => {}).then(() => this.#records.put(JobKeys.jobKey(this.id), body));
    return this.#writing;
  }

  async #heartbeat(): Promise<void> {
    if (this.#ending) return;
    try {
      const cancel = await this.#records.get(JobKeys.cancelKey(this.id));
      if (cancel && !this.#abort.signal.aborted) {
        const req = parseRecord(CancelRequestSchema, cancel);
        const by = req.ok ? `cancelled by ${req.value.host} at ${req.value.requested_at} (${req.value.reason})` : 'cancelled';
        this.#abort.abort(new Error(by));
      }
      const stored = await this.#records.get(JobKeys.jobKey(this.id));
      const parsed = stored ? parseRecord(JobRecordSchema, stored) : undefined;
      if (parsed?.ok && parsed.value.status === 'FAIL' && !this.#abort.signal.aborted) {
        // A reader found this job stale (its heartbeat was late) and failed it on record: stop,
        // since its lease may have been taken over.
        this.#abort.abort(new Error(`declared dead by a reader: ${parsed.value.fail_reason ?? 'stale'}`));
      }
      if (!this.#ending) await this.#flush();
    } catch {
      // A missed heartbeat is retried on the next tick; a reader allows several.
    }
  }
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : reason ? String(reason) : 'cancelled';
}

/** Makes a job, writes its INIT record, starts it, and returns it at once. */
export async function launch<R>(vault: Vault, spec: JobSpec<R>, opts: JobOptions & { signal?: AbortSignal }): Promise<Job> {
  const job = new Job(vault, spec.type, spec.entities, opts, spec.leaseScope);
  await job.create();
  void job.run(spec, opts.signal);
  return job;
}

export type { JobRecord, JobStatus, JobType, OperationStatus };
