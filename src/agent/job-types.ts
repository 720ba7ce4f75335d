// What `POST /v1/jobs` accepts: one entry per job type, each a valibot schema of its body (in
// the service's snake_case) and the mapping to the job model's start options. A new type
// (copy, export) is one entry here; the routes do not change.
import * as v from 'valibot';
import type { StartJobOptions } from '../jobs/start.js';
import type { JobType } from '../jobs/schemas.js';

/** Ids as the job model and the vault take them (letters, digits, . _ : -; at most 128). */
const Id = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1–128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit'));
const Path = v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(4096));
const Count = v.pipe(v.number(), v.integer(), v.minValue(-1), v.maxValue(99999));
const Common = { type: v.string(), job_id: v.optional(Id) };
/** Blocks in flight of a backup or restore. */
const Concurrency = v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(256)));

export interface JobTypeEntry {
  /** The whole body, `type` included; unknown fields are refused. */
  schema: v.GenericSchema;
  toStart(body: Record<string, unknown>, jobId: string | undefined): StartJobOptions;
}

type Body = Record<string, any>;

const backup: JobTypeEntry = {
  schema: v.strictObject({
    ...Common,
    source: Path,
    volume_id: Id,
    backup_id: v.optional(Id),
    snapshot_id: v.optional(Id),
    snapshot_time: v.optional(v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 timestamp with a zone'))),
    full: v.optional(v.boolean()),
    bootable: v.optional(v.boolean()),
    automatic: v.optional(v.boolean()),
    description: v.optional(v.pipe(v.string(), v.maxLength(255))),
    full_backup_interval: v.optional(v.pipe(v.number(), v.integer(), v.minValue(-1), v.maxValue(100))),
    changed_extents: v.optional(Path),
    allocated_extents: v.optional(Path),
    concurrency: Concurrency,
  }),
  toStart: (b: Body, jobId) => ({
    type: 'backup',
    jobId,
    source: b.source,
    volumeId: b.volume_id,
    backupId: b.backup_id,
    snapshotId: b.snapshot_id,
    snapshotTime: b.snapshot_time,
    full: b.full,
    bootable: b.bootable,
    automatic: b.automatic,
    description: b.description,
    fullBackupInterval: b.full_backup_interval,
    changedExtents: b.changed_extents,
    allocatedExtents: b.allocated_extents,
    concurrency: b.concurrency,
  }),
};

const restore: JobTypeEntry = {
  schema: v.strictObject({
    ...Common,
    backup_id: Id,
    target: Path,
    force: v.optional(v.boolean()),
    target_is_zeroed: v.optional(v.boolean()),
    concurrency: Concurrency,
  }),
  toStart: (b: Body, jobId) => ({
    type: 'restore',
    jobId,
    backupId: b.backup_id,
    target: b.target,
    force: b.force,
    targetIsZeroed: b.target_is_zeroed,
    concurrency: b.concurrency,
  }),
};

const del: JobTypeEntry = {
  schema: v.strictObject({ ...Common, backup_id: Id }),
  toStart: (b: Body, jobId) => ({ type: 'delete', jobId, backupId: b.backup_id }),
};

const prune: JobTypeEntry = {
  schema: v.strictObject({
    ...Common,
    volume_id: Id,
    dry_run: v.optional(v.boolean()),
    keep_last: v.optional(Count),
    keep_daily: v.optional(Count),
    keep_weekly: v.optional(Count),
    keep_monthly: v.optional(Count),
    keep_yearly: v.optional(Count),
    keep_within: v.optional(v.pipe(v.string(), v.regex(/^\d+[hdwmy]$/, 'must be a duration such as 30d, 12h, 4w, 6m, 1y'))),
    max_backups: v.optional(Count),
    retention_duration_days: v.optional(Count),
    day_backups: v.optional(Count),
    week_backups: v.optional(Count),
    month_backups: v.optional(Count),
    year_backups: v.optional(Count),
    remain_first_backup_of_curMonth: v.optional(v.boolean()),
    timezone: v.optional(v.pipe(v.string(), v.maxLength(64))),
  }),
  toStart: (b: Body, jobId) => ({
    type: 'prune',
    jobId,
    volumeId: b.volume_id,
    dryRun: b.dry_run,
    policy: {
      keepLast: b.keep_last,
      keepDaily: b.keep_daily,
      keepWeekly: b.keep_weekly,
      keepMonthly: b.keep_monthly,
      keepYearly: b.keep_yearly,
      keepWithin: b.keep_within,
      maxBackups: b.max_backups,
      retentionDays: b.retention_duration_days,
      dayBackups: b.day_backups,
      weekBackups: b.week_backups,
      monthBackups: b.month_backups,
      yearBackups: b.year_backups,
      remainFirstBackupOfCurMonth: b.remain_first_backup_of_curMonth,
      timezone: b.timezone,
    },
  }),
};

const gc: JobTypeEntry = {
  schema: v.strictObject({ ...Common, dry_run: v.optional(v.boolean()) }),
  toStart: (b: Body, jobId) => ({ type: 'gc', jobId, dryRun: b.dry_run }),
};

const verify: JobTypeEntry = {
  schema: v.strictObject({
    ...Common,
    volume_id: v.optional(Id),
    deep: v.optional(v.boolean()),
    sample_percent: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(100))),
  }),
  toStart: (b: Body, jobId) => ({ type: 'verify', jobId, volumeId: b.volume_id, deep: b.deep, samplePercent: b.sample_percent }),
};

/** The job types the agent takes, by the `type` field. */
export const JOB_TYPE_TABLE: Partial<Record<string, JobTypeEntry>> = { backup, restore, delete: del, prune, gc, verify };

export type BodyCheck = { ok: true; type: JobType; start: StartJobOptions } | { ok: false; field: string; message: string };

/** Checks a POST /v1/jobs body against its type's schema; names the first field that is wrong. */
export function checkJobBody(body: unknown, table: Partial<Record<string, JobTypeEntry>> = JOB_TYPE_TABLE): BodyCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, field: '(body)', message: 'the body must be a JSON object' };
  const type = (body as { type?: unknown }).type;
  const known = Object.keys(table);
  if (typeof type !== 'string') return { ok: false, field: 'type', message: `is required: one of ${known.join(', ')}` };
  const entry = table[type];
  if (!entry) return { ok: false, field: 'type', message: `${JSON.stringify(type)} is not a job type this agent runs (${known.join(', ')})` };
  const r = v.safeParse(entry.schema, body);
  if (!r.success) {
    const issue = r.issues[0];
    const field = v.getDotPath(issue) ?? '(body)';
    const message = issue.kind === 'schema' && issue.input === undefined ? 'is required' : issue.type === 'strict_object' ? 'is not a field of this job type' : issue.message;
    return { ok: false, field, message };
  }
  const out = r.output as Record<string, unknown>;
  const start = entry.toStart(out, out.job_id as string | undefined);
  // undefined options stay out, so the engine's defaults hold.
  return { ok: true, type: type as JobType, start: dropUndefined(start) };
}

function dropUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(o)) {
    if (val === undefined) continue;
    out[k] = val && typeof val === 'object' && !Array.isArray(val) ? dropUndefined(val) : val;
  }
  return out as T;
}
