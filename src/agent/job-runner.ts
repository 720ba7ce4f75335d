// The jobs this agent runs: started through the job model, at most maxJobs at once (more are
// refused with 429, not queued: a control plane retries, and nothing waits unseen), each on
// its own Vault object (a vault object's index batching belongs to one backup at a time),
// followed for metrics and logs, and cancelled cleanly when the agent stops.
import type { Logger } from 'pino';
import { ErrorCodes } from '../errors.js';
import type { Job } from '../jobs/job.js';
import type { JobRecord } from '../jobs/schemas.js';
import type { StartJobOptions } from '../jobs/start.js';
import type { BlockvaultMetrics } from '../metrics/prometheus.js';
import type { Vault } from '../vault/vault.js';
import { HttpError, errorBody } from './http-errors.js';

export interface JobRunnerOptions {
  openVault(): Promise<Vault>;
  maxJobs: number;
  heartbeatMs?: number;
  log: Logger;
  metrics: BlockvaultMetrics;
  /** Adjusts a job's start options just before it starts (fixed site options; tests: a gated source). */
  prepareJob?: (start: StartJobOptions) => StartJobOptions;
}

interface Running {
  job: Job;
  vault: Vault;
  ended: Promise<void>;
}

export class JobRunner {
  readonly #opts: JobRunnerOptions;
  readonly #running = new Map<string, Running>();
  #reserved = 0;
  #closing: string | undefined;

  constructor(opts: JobRunnerOptions) {
    this.#opts = opts;
  }

  /** Jobs started here and not yet ended. */
  get active(): number {
    return this.#running.size;
  }

  /** The live record of a job running here, fresher than the vault's (written every heartbeat). */
  live(jobId: string): JobRecord | undefined {
    return this.#running.get(jobId)?.job.record;
  }

  liveRecords(): JobRecord[] {
    return [...this.#running.values()].map((r) => r.job.record);
  }

  /** Starts a job; refuses when the agent is full (429) or stopping (503). */
  async start(start: StartJobOptions): Promise<JobRecord> {
    if (this.#closing) {
      throw new HttpError(503, errorBody('VolumeBackup.p.0014', 'BackupService.9910', `the agent is stopping (${this.#closing}); no new jobs`, { engine_code: ErrorCodes.submitFailed }));
    }
    if (this.#running.size + this.#reserved >= this.#opts.maxJobs) {
      throw new HttpError(
        429,
        errorBody('VolumeBackup.p.0014', 'BackupService.9910', `${this.#opts.maxJobs} jobs are running, the most this agent runs at once`, {
          engine_code: ErrorCodes.submitFailed,
          hint: 'retry when one has ended (Retry-After), or start the agent with a higher --max-jobs',
          max_jobs: this.#opts.maxJobs,
        }),
      );
    }
    this.#reserved++; // held across the awaits below, so two requests cannot both take the last slot
    let vault: Vault | undefined;
    try {
      vault = await this.#opts.openVault();
      const { startJob } = await import('../jobs/start.js');
      const prepared = this.#opts.prepareJob ? this.#opts.prepareJob(start) : start;
      const opts = { ...prepared, ...(this.#opts.heartbeatMs ? { heartbeatMs: this.#opts.heartbeatMs } : {}) } as StartJobOptions;
      const v = vault;
      const job = await (async () => startJob(v, opts))(); // a synchronous throw (a bad volume id) becomes a rejection
      this.#follow(job, vault);
      if (this.#closing) job.cancel(this.#closing); // stop() began while this one was starting
      return job.record;
    } catch (e) {
      await vault?.close().catch(() => {});
      throw e;
    } finally {
      this.#reserved--;
    }
  }

  #follow(job: Job, vault: Vault): void {
    const { log, metrics } = this.#opts;
    const first = job.record;
    const started = Date.now();
    metrics.jobState(job.type, undefined, first.status);
    log.info({ job_id: job.id, job_type: job.type, entities: first.entities }, 'job started');
    job.on('progress', (e: { counters: Record<string, number> }) => metrics.progress(job.id, job.type, e.counters));
    const ended = job.done.then(async (rec) => {
      metrics.progress(job.id, job.type, rec.counters); // the end's counters, past the last progress event
      metrics.jobEnded(job.id, job.type, first.status, rec.status, Date.now() - started, rec.error_code);
      const fields = { job_id: rec.job_id, job_type: rec.job_type, status: rec.status, entities: rec.entities, duration_ms: Date.now() - started };
      if (rec.status === 'SUCCESS') log.info(fields, 'job succeeded');
      else log.warn({ ...fields, error_code: rec.error_code, cbr_error_code: rec.cbr_error_code, fail_reason: rec.fail_reason }, 'job failed');
      this.#running.delete(job.id);
      await vault.close().catch(() => {});
    });
    this.#running.set(job.id, { job, vault, ended });
  }

  /** Stops a job running here; false when it is not running here. */
  cancel(jobId: string, reason: string): boolean {
    const r = this.#running.get(jobId);
    if (!r) return false;
    this.#opts.log.info({ job_id: jobId, reason }, 'job cancel requested');
    r.job.cancel(reason);
    return true;
  }

  /**
   * Refuses new jobs, cancels the running ones with `reason` (each ends FAIL on record, with the
   * reason in fail_reason) and waits for them to end, at most timeoutMs.
   */
  async stop(reason: string, timeoutMs: number): Promise<{ cancelled: number; unfinished: number }> {
    this.#closing = reason;
    const all = [...this.#running.values()];
    for (const r of all) r.job.cancel(reason);
    if (all.length) this.#opts.log.warn({ jobs: all.map((r) => r.job.id), reason }, 'cancelling running jobs');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    await Promise.race([Promise.all(all.map((r) => r.ended)), timeout]);
    clearTimeout(timer);
    const unfinished = this.#running.size;
    if (unfinished) this.#opts.log.error({ jobs: [...this.#running.keys()] }, `jobs still running after ${timeoutMs} ms; their records will be found stale`);
    return { cancelled: all.length, unfinished };
  }
}
