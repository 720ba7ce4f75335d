// The agent's routes: the job model over HTTP (/v1/jobs), the backups with the service's
// fields (/v1/backups), /healthz and /metrics. Bodies and queries go through valibot
// schemas; a wrong one is 400 naming the field.
import type { FastifyInstance } from 'fastify';
import * as v from 'valibot';
import { BlockvaultError } from '../errors.js';
import { isValidJobId } from '../jobs/keys.js';
import { BACKUP_STATES, JOB_STATUSES, JOB_TYPES, type JobRecord } from '../jobs/schemas.js';
import type { BlockvaultMetrics } from '../metrics/prometheus.js';
import type { Vault } from '../vault/vault.js';
import { backupView, backupViews } from './backup-view.js';
import { HttpError, badField, errorBody, toHttpError } from './http-errors.js';
import { checkJobBody, type JobTypeEntry } from './job-types.js';
import type { JobRunner } from './job-runner.js';

export interface RouteContext {
  vault: Vault;
  runner: JobRunner;
  metrics: BlockvaultMetrics;
  jobTypes: Partial<Record<string, JobTypeEntry>>;
  version: string;
}

const JobQuery = v.strictObject({
  status: v.optional(v.picklist(JOB_STATUSES, `must be one of ${JOB_STATUSES.join(', ')}`)),
  type: v.optional(v.picklist(JOB_TYPES, `must be one of ${JOB_TYPES.join(', ')}`)),
  volume_id: v.optional(v.string()),
});

const PageNumber = (min: number, max: number) =>
  v.pipe(v.string(), v.regex(/^\d{1,7}$/, 'must be a whole number'), v.transform(Number), v.minValue(min, `must be at least ${min}`), v.maxValue(max, `must be at most ${max}`));

const BackupQuery = v.strictObject({
  volume_id: v.optional(v.string()),
  status: v.optional(v.picklist(BACKUP_STATES, `must be one of ${BACKUP_STATES.join(', ')}`)),
  limit: v.optional(PageNumber(1, 1000)),
  offset: v.optional(PageNumber(0, 9_999_999)),
});

function parseQuery<S extends v.GenericSchema>(schema: S, query: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, query ?? {});
  if (r.success) return r.output;
  const issue = r.issues[0];
  throw badField(v.getDotPath(issue) ?? '(query)', issue.type === 'strict_object' ? 'is not a query parameter here' : issue.message);
}

function checkJobId(id: string): void {
  if (!isValidJobId(id)) throw badField('job_id', 'must be 1–128 letters, digits, ".", "_", ":" or "-"');
}

const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { vault, runner } = ctx;

  app.get('/healthz', async () => ({ status: 'ok', version: ctx.version, jobs_running: runner.active }));

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.text();
  });

  app.post('/v1/jobs', async (req, reply) => {
    const checked = checkJobBody(req.body, ctx.jobTypes);
    if (!checked.ok) throw badField(checked.field, checked.message);
    let rec: JobRecord;
    try {
      rec = await runner.start(checked.start);
    } catch (e) {
      if (e instanceof BlockvaultError && /^job .* already exists$/.test(e.message)) {
        throw new HttpError(409, errorBody('VolumeBackup.p.0014', 'BackupService.9900', e.message, { engine_code: e.code, hint: e.hint, field: 'job_id' }));
      }
      if (e instanceof HttpError && e.statusCode === 429) reply.header('retry-after', '5');
      throw toHttpError(e, checked.type);
    }
    reply.code(202).header('location', `/v1/jobs/${rec.job_id}`);
    return { job_id: rec.job_id, job_type: rec.job_type, status: rec.status, entities: rec.entities };
  });

  app.get('/v1/jobs', async (req) => {
    const q = parseQuery(JobQuery, req.query);
    const { listJobs } = await import('../jobs/registry.js');
    const stored = await listJobs(vault, { status: q.status, type: q.type, volumeId: q.volume_id });
    const live = new Map(runner.liveRecords().map((r) => [r.job_id, r]));
    const jobs = stored.map((r) => live.get(r.job_id) ?? r).filter((r) => (!q.status || r.status === q.status) && (!q.type || r.job_type === q.type));
    return { jobs, count: jobs.length };
  });

  app.get<{ Params: { job_id: string } }>('/v1/jobs/:job_id', async (req) => {
    checkJobId(req.params.job_id);
    const live = runner.live(req.params.job_id);
    if (live) return live; // this agent runs it: its live record, fresher than the last heartbeat's
    const { getJob } = await import('../jobs/registry.js');
    return getJob(vault, req.params.job_id);
  });

  app.delete<{ Params: { job_id: string } }>('/v1/jobs/:job_id', async (req, reply) => {
    const id = req.params.job_id;
    checkJobId(id);
    const reason = `cancelled through the agent's API by ${req.ip}`;
    const { cancelJob, getJob } = await import('../jobs/registry.js');
    const before = runner.live(id) ?? (await getJob(vault, id));
    if (before.status === 'SUCCESS' || before.status === 'FAIL') {
      throw new HttpError(
        409,
        errorBody('VolumeBackup.p.0014', 'BackupService.9900', `job ${id} already ended ${before.status}; there is nothing to cancel`, {
          engine_code: 'BV.JobFinished',
          job_status: before.status,
          job_error_code: before.error_code,
        }),
      );
    }
    // Here: stop it at once. Elsewhere (another agent or host): a cancel request on record,
    // which its job notices at its next heartbeat.
    if (!runner.cancel(id, reason)) await cancelJob(vault, id, { reason });
    reply.code(202);
    return { job_id: id, status: before.status, cancel_requested: true };
  });

  app.get('/v1/backups', async (req) => {
    const q = parseQuery(BackupQuery, req.query);
    const { backups, total } = await backupViews(vault, { volumeId: q.volume_id, status: q.status, limit: q.limit, offset: q.offset });
    return { backups, count: backups.length, total };
  });

  app.get<{ Params: { backup_id: string } }>('/v1/backups/:backup_id', async (req) => {
    if (!BACKUP_ID.test(req.params.backup_id)) throw badField('backup_id', 'must be 1–128 letters, digits, ".", "_", ":" or "-"');
    return backupView(vault, req.params.backup_id);
  });
}
