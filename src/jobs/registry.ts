// Reading jobs from the vault, from any process on any host: getJob, listJobs, cancelJob.
// A job that is INIT or RUNNING on record but whose process is gone is reported FAIL, with
// the reason, by whoever reads it first (and that reader writes the verdict back). Gone means
// one of:
//   - same host, and its pid no longer exists;
//   - its heartbeat is older than the lease TTL (no live job goes that long without one);
//   - its volume's lease is not held by its host and pid, and its heartbeat is older than
//     three heartbeat periods (it started or ended without us seeing the end).
// Finished records expire after keepFinishedMs (default 7 days), swept by listJobs and gc.
import os from 'node:os';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { DEFAULT_LEASE_TTL_MS, processAlive, type LeaseRecord } from '../vault/lease.js';
import type { Vault } from '../vault/vault.js';
import { DEFAULT_HEARTBEAT_MS } from './job.js';
import { JobKeys } from './keys.js';
import { recordStore, type RecordStore } from './record-store.js';
import { JobRecordSchema, parseRecord, type JobRecord, type JobStatus, type JobType } from './schemas.js';

export const DEFAULT_KEEP_FINISHED_MS = 7 * 86_400_000;

export interface ReadJobOptions {
  /** A heartbeat older than this marks a job dead (default: the lease TTL, 120 s). */
  staleAfterMs?: number;
  /** The heartbeat period of records that do not say theirs (default 2 s). */
  heartbeatMs?: number;
}

export interface ListJobsOptions extends ReadJobOptions {
  status?: JobStatus;
  type?: JobType;
  volumeId?: string;
  /** Finished records older than this are deleted while listing (default 7 days; 0 keeps all). */
  keepFinishedMs?: number;
}


async function readLease(records: RecordStore, scope: string): Promise<LeaseRecord | undefined> {
  const body = await records.get(JobKeys.leaseKey(scope));
  if (!body) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as LeaseRecord;
  } catch {
    return undefined;
  }
}

/** Why a job on record as INIT/RUNNING is dead, or undefined while it lives. */
async function staleReason(records: RecordStore, rec: JobRecord, opts: ReadJobOptions): Promise<string | undefined> {
  if (rec.status !== 'INIT' && rec.status !== 'RUNNING') return undefined;
  const age = Date.now() - Date.parse(rec.heartbeat_at);
  const where = `${rec.host} (pid ${rec.pid})`;
  if (rec.host === os.hostname() && rec.pid !== process.pid && !processAlive(rec.pid)) {
    return `the job's process ${where} exited without finishing it (last heartbeat ${rec.heartbeat_at})`;
  }
  const ttl = opts.staleAfterMs ?? DEFAULT_LEASE_TTL_MS;
  if (age > ttl) return `the job's process ${where} stopped: last heartbeat ${rec.heartbeat_at}, older than the lease TTL of ${ttl} ms`;
  if (rec.status === 'RUNNING' && rec.lease_scope && age > 3 * (rec.heartbeat_ms ?? opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS)) {
    const lease = await readLease(records, rec.lease_scope);
    if (!lease || lease.host !== rec.host || lease.pid !== rec.pid) {
      return `the job's process ${where} no longer holds the lease on ${rec.lease_scope} and its last heartbeat was ${rec.heartbeat_at}`;
    }
  }
  return undefined;
}

function failedAsStale(rec: JobRecord, reason: string): JobRecord {
  const t = new Date().toISOString();
  return {
    ...rec,
    status: 'FAIL',
    operation_status: 'failed',
    phase: 'done',
    eta_seconds: null,
    end_time: t,
    updated_at: t,
    // The job did not report a cause; the service's "job failed" code for its operation.
    error_code: rec.job_type === 'restore' ? 'VolumeBackup.0200' : rec.job_type === 'delete' || rec.job_type === 'prune' ? 'VolumeBackup.0125' : 'VolumeBackup.0027',
    cbr_error_code: 'BackupService.9910',
    engine_code: 'BV.JobStale',
    fail_reason: reason,
  };
}

/** Reads one record by key, applying the staleness verdict (and writing it back). */
async function readRecord(records: RecordStore, key: string, opts: ReadJobOptions): Promise<JobRecord | undefined> {
  const body = await records.get(key);
  if (!body) return undefined;
  const parsed = parseRecord(JobRecordSchema, body);
  if (!parsed.ok) {
    throw new BlockvaultError(ErrorCodes.vaultDamaged, `job record ${key} is damaged: ${parsed.problem}`, {
      hint: 'delete that object; the job it described cannot be reported',
      details: { object: key },
    });
  }
  const rec = parsed.value;
  const stale = await staleReason(records, rec, opts);
  if (!stale) return rec;
  // Write the verdict only over the record judged: a job that ended (or beat) meanwhile wins.
  const again = await records.get(key);
  const now = again ? parseRecord(JobRecordSchema, again) : undefined;
  if (now?.ok && (now.value.status !== rec.status || now.value.heartbeat_at !== rec.heartbeat_at)) return readRecord(records, key, opts);
  const failed = failedAsStale(rec, stale);
  await records.put(key, Buffer.from(JSON.stringify(failed))).catch(() => {});
  return failed;
}

/** A job's record as it stands, from any process or host; common.0011 when there is none. */
export async function getJob(vault: Vault, jobId: string, opts: ReadJobOptions = {}): Promise<JobRecord> {
  const rec = await readRecord(recordStore(vault), JobKeys.jobKey(jobId), opts);
  if (!rec) {
    throw new BlockvaultError(ErrorCodes.jobNotFound, `job ${jobId} not found in ${vault.url}`, {
      hint: 'list the jobs with `blockvault jobs --vault …`; finished jobs expire after a while',
      details: { jobId },
    });
  }
  return rec;
}

/** The jobs on record, newest first, filtered; sweeps expired finished records on the way. */
export async function listJobs(vault: Vault, opts: ListJobsOptions = {}): Promise<JobRecord[]> {
  const records = recordStore(vault);
  const keep = opts.keepFinishedMs ?? DEFAULT_KEEP_FINISHED_MS;
  const out: JobRecord[] = [];
  const keys: string[] = [];
  for await (const o of records.list(JobKeys.jobPrefix)) if (JobKeys.jobIdFromKey(o.key)) keys.push(o.key);
  for (const key of keys) {
    let rec: JobRecord | undefined;
    try {
      rec = await readRecord(records, key, opts);
    } catch (e) {
      if (e instanceof BlockvaultError && e.code === ErrorCodes.vaultDamaged) continue; // reported by getJob
      throw e;
    }
    if (!rec) continue;
    if (keep > 0 && rec.end_time && Date.now() - Date.parse(rec.end_time) > keep) {
      await records.delete(key);
      await records.delete(JobKeys.cancelKey(rec.job_id));
      continue;
    }
    if (opts.status && rec.status !== opts.status) continue;
    if (opts.type && rec.job_type !== opts.type) continue;
    if (opts.volumeId && rec.entities.volume_id !== opts.volumeId) continue;
    out.push(rec);
  }
  return out.sort((a, b) => b.begin_time.localeCompare(a.begin_time) || a.job_id.localeCompare(b.job_id));
}

/** Deletes finished job records older than keepFinishedMs; returns how many. */
export async function sweepJobs(vault: Vault, opts: { keepFinishedMs?: number } = {}): Promise<number> {
  const before = await countJobKeys(vault);
  await listJobs(vault, { keepFinishedMs: opts.keepFinishedMs ?? DEFAULT_KEEP_FINISHED_MS });
  return before - (await countJobKeys(vault));
}

async function countJobKeys(vault: Vault): Promise<number> {
  let n = 0;
  for await (const o of recordStore(vault).list(JobKeys.jobPrefix)) if (JobKeys.jobIdFromKey(o.key)) n++;
  return n;
}

/**
 * Asks a job to stop, from any process or host: writes its cancellation request, which the
 * running job finds at its next heartbeat (within seconds) and aborts on. Returns the record
 * as it stands; a finished job is left as it is.
 */
export async function cancelJob(vault: Vault, jobId: string, opts: { reason?: string } & ReadJobOptions = {}): Promise<JobRecord> {
  const rec = await getJob(vault, jobId, opts);
  if (rec.status === 'SUCCESS' || rec.status === 'FAIL') return rec;
  const body = { job_id: jobId, reason: opts.reason ?? 'cancel requested', requested_at: new Date().toISOString(), host: os.hostname() };
  await recordStore(vault).put(JobKeys.cancelKey(jobId), Buffer.from(JSON.stringify(body)));
  return rec;
}

/** Whether a job on record is still alive (INIT/RUNNING and not stale). */
export async function jobIsLive(vault: Vault, jobId: string, opts: ReadJobOptions = {}): Promise<JobRecord | undefined> {
  const rec = await readRecord(recordStore(vault), JobKeys.jobKey(jobId), opts);
  return rec && (rec.status === 'INIT' || rec.status === 'RUNNING') ? rec : undefined;
}

export async function readJobRecord(vault: Vault, jobId: string, opts: ReadJobOptions = {}): Promise<JobRecord | undefined> {
  return readRecord(recordStore(vault), JobKeys.jobKey(jobId), opts);
}
