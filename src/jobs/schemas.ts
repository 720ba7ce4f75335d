// The job model's records as they are stored, with the schemas every read goes through:
// a record written by another version or torn by hand is reported, not trusted.
import * as v from 'valibot';

/** VBS job status (VBS:1377). */
export const JOB_STATUSES = ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** CBR operation-log status (CBR25:2786-2801), reported beside the VBS status. */
export const OPERATION_STATUSES = ['waiting', 'running', 'success', 'failed', 'timeout', 'skipped'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const JOB_TYPES = ['backup', 'restore', 'delete', 'prune', 'gc', 'verify', 'copy', 'export'] as const;
export type JobType = (typeof JOB_TYPES)[number];

/** Backup states beside `available` (VBS:887, 1019), kept as records while they hold. */
export const BACKUP_STATES = ['creating', 'available', 'error', 'restoring', 'deleting'] as const;
export type BackupStatus = (typeof BACKUP_STATES)[number];

const nullableString = v.nullable(v.string());

export const JobRecordSchema = v.object({
  job_id: v.string(),
  job_type: v.picklist(JOB_TYPES),
  status: v.picklist(JOB_STATUSES),
  /** CBR operation-log status. */
  operation_status: v.picklist(OPERATION_STATUSES),
  /** backup_id, volume_id, snapshot_id…: the ids the job works on or made. */
  entities: v.record(v.string(), v.string()),
  /** The VBS code on failure (null otherwise); cbr_error_code is the CBR one. */
  error_code: nullableString,
  cbr_error_code: nullableString,
  /** The engine's own code (BV.*, or the service code it threw). */
  engine_code: nullableString,
  fail_reason: nullableString,
  /** UTC, ISO 8601 with milliseconds and Z (e.g. 2016-01-28T16:14:09.466Z, the VBS job format). */
  begin_time: v.string(),
  end_time: nullableString,
  updated_at: v.string(),
  /** Integer 0–100. */
  progress: v.number(),
  /** What the job is doing now (backup: reading, storing, writing-manifest…). */
  phase: v.string(),
  /** Seconds left at the current rate; null when unknown. */
  eta_seconds: v.nullable(v.number()),
  counters: v.record(v.string(), v.number()),
  /** The node that runs it (the VBS OMID) and its process. */
  host: v.string(),
  pid: v.number(),
  /** Written every heartbeat; older than the lease TTL means the process died. */
  heartbeat_at: v.string(),
  /** The heartbeat period the job runs with (ms); readers allow three of them. */
  heartbeat_ms: v.optional(v.number()),
  /** The lease scope the operation holds (a volume id, or vault-gc). */
  lease_scope: nullableString,
  /** The operation's result on success (the library's result object). */
  result: v.optional(v.unknown()),
});
export type JobRecord = v.InferOutput<typeof JobRecordSchema>;

export const CancelRequestSchema = v.object({
  job_id: v.string(),
  reason: v.string(),
  requested_at: v.string(),
  host: v.string(),
});
export type CancelRequest = v.InferOutput<typeof CancelRequestSchema>;

export const BackupStateRecordSchema = v.object({
  backup_id: v.string(),
  volume_id: v.string(),
  status: v.picklist(BACKUP_STATES),
  /** The job that set this state; its liveness decides whether the state still holds. */
  job_id: v.string(),
  fail_reason: nullableString,
  error_code: nullableString,
  cbr_error_code: nullableString,
  created_at: v.string(),
  updated_at: v.string(),
  snapshot_id: nullableString,
});
export type BackupStateRecord = v.InferOutput<typeof BackupStateRecordSchema>;

/** Parses a stored record; undefined (and the reason) when it does not fit the schema. */
export function parseRecord<S extends v.GenericSchema>(
  schema: S,
  body: Buffer,
): { ok: true; value: v.InferOutput<S> } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, problem: 'not valid JSON' };
  }
  const r = v.safeParse(schema, json);
  if (r.success) return { ok: true, value: r.output };
  return { ok: false, problem: r.issues.map((i) => `${v.getDotPath(i) ?? '(root)'}: ${i.message}`).join('; ') };
}
