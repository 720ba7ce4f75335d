// A backup's state when it is not simply `available`: a small record beside its manifest,
// set by the job working on it. `creating` while a backup runs, `error` (with fail_reason)
// after it failed, `restoring`/`deleting` while those run. A manifest with no record is
// `available`. A record whose job is gone no longer holds: a `creating` backup whose job
// died is `error` with the job's reason; `restoring`/`deleting` fall back to `available`.
import type { Vault } from '../vault/vault.js';
import { JobKeys } from './keys.js';
import { recordStore } from './record-store.js';
import { readJobRecord, type ReadJobOptions } from './registry.js';
import { BackupStateRecordSchema, parseRecord, type BackupStateRecord, type BackupStatus, type JobRecord } from './schemas.js';

export async function putBackupState(
  vault: Vault,
  rec: Omit<BackupStateRecord, 'created_at' | 'updated_at' | 'fail_reason' | 'error_code' | 'cbr_error_code' | 'snapshot_id'> &
    Partial<BackupStateRecord>,
): Promise<void> {
  const t = new Date().toISOString();
  const full: BackupStateRecord = {
    fail_reason: null,
    error_code: null,
    cbr_error_code: null,
    snapshot_id: null,
    created_at: t,
    ...rec,
    updated_at: t,
  };
  await recordStore(vault).put(JobKeys.backupRecordKey(rec.volume_id, rec.backup_id), Buffer.from(JSON.stringify(full)));
}

export async function readBackupState(vault: Vault, volumeId: string, backupId: string): Promise<BackupStateRecord | undefined> {
  const body = await recordStore(vault).get(JobKeys.backupRecordKey(volumeId, backupId));
  if (!body) return undefined;
  const p = parseRecord(BackupStateRecordSchema, body);
  return p.ok ? p.value : undefined;
}

/** Removes the record, but only when the given job still owns it (another job may have taken over). */
export async function clearBackupState(vault: Vault, volumeId: string, backupId: string, jobId?: string): Promise<void> {
  if (jobId) {
    const cur = await readBackupState(vault, volumeId, backupId);
    if (cur && cur.job_id !== jobId) return;
  }
  await recordStore(vault).delete(JobKeys.backupRecordKey(volumeId, backupId));
}

export interface ResolvedBackupState {
  record: BackupStateRecord;
  /** The state as it holds now, given its job's liveness. */
  status: BackupStatus;
  fail_reason: string | null;
  job: JobRecord | undefined;
}

/** Every backup record (optionally one volume's), with the state that holds now. */
export async function backupStates(vault: Vault, filter: { volumeId?: string } = {}, opts: ReadJobOptions = {}): Promise<ResolvedBackupState[]> {
  const records = recordStore(vault);
  const prefix = filter.volumeId ? `${JobKeys.recordPrefix}${filter.volumeId}/` : JobKeys.recordPrefix;
  const out: ResolvedBackupState[] = [];
  for await (const o of records.list(prefix)) {
    if (!o.key.endsWith('.json')) continue;
    const body = await records.get(o.key);
    if (!body) continue;
    const p = parseRecord(BackupStateRecordSchema, body);
    if (!p.ok) continue;
    out.push(await resolve(vault, p.value, opts));
  }
  return out;
}

async function resolve(vault: Vault, record: BackupStateRecord, opts: ReadJobOptions): Promise<ResolvedBackupState> {
  if (record.status === 'error' || record.status === 'available') {
    return { record, status: record.status, fail_reason: record.fail_reason, job: undefined };
  }
  const job = await readJobRecord(vault, record.job_id, opts);
  const live = job && (job.status === 'INIT' || job.status === 'RUNNING');
  if (live) return { record, status: record.status, fail_reason: null, job };
  if (record.status === 'creating' && job?.status !== 'SUCCESS') {
    const reason = job?.fail_reason ?? `backup job ${record.job_id} ended without a result`;
    return { record, status: 'error', fail_reason: reason, job };
  }
  return { record, status: 'available', fail_reason: null, job };
}
