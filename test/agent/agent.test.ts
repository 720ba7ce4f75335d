// The HTTP agent over real sockets on 127.0.0.1: auth, a backup job from POST to SUCCESS with
// its progress visible while it runs, cancel, bad bodies, unknown jobs, restart, refusal to
// listen without a token, the concurrency limit, and /metrics.
import { afterAll, describe, expect, it } from 'vitest';
import { checkAuthConfig, startAgent } from '../../src/agent/index.js';
import { openVault, getJob } from '../../src/index.js';
import { BS, TOKEN, agentOn, call, cleanup, fixture, gatedSource, jobReaches, until } from './helpers.js';

afterAll(cleanup);

describe('auth', () => {
  it('refuses a request without the token or with a wrong one (401, both codes); accepts the right one; /healthz is open', async () => {
    const f = await fixture('agent-auth');
    const agent = await agentOn(f);
    try {
      const none = await call(agent, 'GET', '/v1/jobs', { token: null });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(none.body.error.message).toMatch(/no bearer token/);
      expect(none.body.error_code).toBe('BackupService.9998');
      const wrong = await call(agent, 'GET', '/v1/jobs', { token: TOKEN.replace(/.$/, 'x') });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error.message).toMatch(/not the agent's/);
      const basic = await call(agent, 'GET', '/v1/jobs', { token: null, headers: { authorization: `Basic ${TOKEN}` } });
      expect(basic.status).toBe(401);
      const ok = await call(agent, 'GET', '/v1/jobs');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ jobs: [], count: 0 });
      const metrics = await call(agent, 'GET', '/metrics', { token: null });
      expect(metrics.status).toBe(401);
      const health = await call(agent, 'GET', '/healthz', { token: null });
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('ok');
    } finally {
      await agent.close();
    }
  });

  it('will not listen off loopback without a token, nor on loopback without one unless --no-auth', async () => {
    const f = await fixture('agent-noauth');
    await expect(startAgent({ vault: f.vaultDir, listen: '0.0.0.0:0' })).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 without a token/);
    await expect(startAgent({ vault: f.vaultDir, listen: '0.0.0.0:0', noAuth: true })).rejects.toThrow(/without a token/);
    await expect(startAgent({ vault: f.vaultDir, listen: '127.0.0.1:0' })).rejects.toThrow(/needs a token, even on a loopback address/);
    expect(() => checkAuthConfig('[::1]', undefined, true)).not.toThrow();
    expect(() => checkAuthConfig('10.0.0.5', undefined, true)).toThrow(/without a token/);
    expect(() => checkAuthConfig('10.0.0.5', TOKEN, false)).not.toThrow();
    const open = await startAgent({ vault: f.vaultDir, listen: '127.0.0.1:0', noAuth: true, logger: (await import('pino')).pino({ level: 'silent' }) });
    try {
      expect((await call(open, 'GET', '/v1/jobs', { token: null })).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('jobs over HTTP', () => {
  it('a backup job: 202 with its id, RUNNING with progress while it runs, then SUCCESS; the backup is listed with the service fields', async () => {
    const f = await fixture('agent-backup');
    const gate = await gatedSource(f.image, { gateAfterReads: 2 });
    const agent = await agentOn(f, { gate });
    try {
      const post = await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: f.image, volume_id: 'vol-1', job_id: 'job-1', backup_id: 'bk-1', snapshot_id: 'snap-1' } });
      expect(post.status).toBe(202);
      expect(post.body).toMatchObject({ job_id: 'job-1', job_type: 'backup', entities: { backup_id: 'bk-1', volume_id: 'vol-1', snapshot_id: 'snap-1' } });
      expect(post.headers.get('location')).toBe('/v1/jobs/job-1');
      await gate.reached;
      const running = await until('progress above 0', async () => {
        const r = await call(agent, 'GET', '/v1/jobs/job-1');
        return r.body.status === 'RUNNING' && r.body.progress > 0 ? r.body : undefined;
      });
      expect(running.progress).toBeLessThan(100);
      expect(running.counters.bytesScanned).toBeGreaterThan(0);
      expect(running).toMatchObject({ job_type: 'backup', error_code: null, fail_reason: null, end_time: null });
      const creating = await call(agent, 'GET', '/v1/backups?volume_id=vol-1');
      expect(creating.body.backups).toEqual([expect.objectContaining({ id: 'bk-1', status: 'creating', job_id: 'job-1', size: null })]);
      const listed = await call(agent, 'GET', '/v1/jobs?status=RUNNING&type=backup');
      expect(listed.body.jobs.map((j: any) => j.job_id)).toEqual(['job-1']);
      gate.release();
      const done = await jobReaches(agent, 'job-1', 'SUCCESS', 'FAIL');
      expect(done).toMatchObject({ status: 'SUCCESS', operation_status: 'success', progress: 100, error_code: null });
      expect(done.end_time).toMatch(/Z$/);
      const backups = await call(agent, 'GET', '/v1/backups?volume_id=vol-1');
      expect(backups.status).toBe(200);
      const [b] = backups.body.backups;
      expect(b).toMatchObject({ id: 'bk-1', status: 'available', volume_id: 'vol-1', snapshot_id: 'snap-1', is_incremental: false, fail_reason: null });
      expect(typeof b.service_metadata).toBe('string');
      expect(JSON.parse(b.service_metadata)).toMatchObject({ Type: 0, backupurl: 'bk-1' });
      expect(b.object_count).toBeGreaterThan(0);
      expect(b.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      const one = await call(agent, 'GET', '/v1/backups/bk-1');
      expect(one.body).toMatchObject({ id: 'bk-1', status: 'available' });
      const missing = await call(agent, 'GET', '/v1/backups/nope');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ error: { code: 'VolumeBackup.0111' }, error_code: 'BackupService.6200' });
      const none = await call(agent, 'GET', '/v1/backups?volume_id=vol-2');
      expect(none.body).toEqual({ backups: [], count: 0, total: 0 });
    } finally {
      gate.release();
      await agent.close();
      await gate.close();
    }
  });

  it('DELETE cancels a running job: 202, then FAIL on record with the reason; a finished job answers 409', async () => {
    const f = await fixture('agent-cancel');
    const gate = await gatedSource(f.image, { gateAfterReads: 2 });
    const agent = await agentOn(f, { gate });
    try {
      await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: f.image, volume_id: 'vol-1', job_id: 'job-c', backup_id: 'bk-c' } });
      await gate.reached;
      const del = await call(agent, 'DELETE', '/v1/jobs/job-c');
      expect(del.status).toBe(202);
      expect(del.body).toMatchObject({ job_id: 'job-c', cancel_requested: true });
      gate.release();
      const failed = await jobReaches(agent, 'job-c', 'FAIL', 'SUCCESS');
      expect(failed.status).toBe('FAIL');
      expect(failed.fail_reason).toMatch(/cancelled through the agent's API/);
      expect(failed.error_code).toBe('VolumeBackup.0027');
      // On record in the vault, as another host reads it.
      const other = await openVault(f.vaultDir);
      expect((await getJob(other, 'job-c')).status).toBe('FAIL');
      await other.close();
      const again = await call(agent, 'DELETE', '/v1/jobs/job-c');
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ engine_code: 'BV.JobFinished', job_status: 'FAIL' });
      const listed = await call(agent, 'GET', '/v1/backups?status=error');
      expect(listed.body.backups).toEqual([expect.objectContaining({ id: 'bk-c', status: 'error', fail_reason: expect.stringMatching(/cancelled/) })]);
    } finally {
      gate.release();
      await agent.close();
      await gate.close();
    }
  });

  it('a bad body is 400 naming the field, with the service codes; an unknown job is 404', async () => {
    const f = await fixture('agent-400');
    const agent = await agentOn(f);
    try {
      const cases: Array<[unknown, string, string]> = [
        [{ type: 'backup', source: f.image }, 'volume_id', 'VolumeBackup.0010'],
        [{ type: 'backup', source: f.image, volume_id: 'bad id!' }, 'volume_id', 'VolumeBackup.0011'],
        [{ type: 'backup', source: 42, volume_id: 'vol-1' }, 'source', 'VolumeBackup.0002'],
        [{ type: 'backup', source: f.image, volume_id: 'vol-1', colour: 'red' }, 'colour', 'VolumeBackup.0002'],
        [{ type: 'restore', target: '/tmp/x' }, 'backup_id', 'VolumeBackup.0203'],
        [{ type: 'teleport' }, 'type', 'VolumeBackup.0002'],
        [{ source: f.image }, 'type', 'VolumeBackup.0002'],
        [{ type: 'prune', volume_id: 'vol-1', keep_last: 'three' }, 'keep_last', 'VolumeBackup.0002'],
        [[1, 2], '(body)', 'VolumeBackup.0210'],
      ];
      for (const [body, field, code] of cases) {
        const r = await call(agent, 'POST', '/v1/jobs', { body });
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.error.field, JSON.stringify(body)).toBe(field);
        expect(r.body.error.code, JSON.stringify(body)).toBe(code);
        expect(r.body.error_code).toBe('BackupService.9900');
        if (field !== '(body)') expect(r.body.error.message).toContain(field);
      }
      const notJson = await call(agent, 'POST', '/v1/jobs', { raw: '{"type":' });
      expect(notJson.status).toBe(400);
      expect(notJson.body.error.field).toBe('(body)');
      const badQuery = await call(agent, 'GET', '/v1/jobs?status=DONE');
      expect(badQuery.status).toBe(400);
      expect(badQuery.body.error.field).toBe('status');
      const unknown = await call(agent, 'GET', '/v1/jobs/no-such-job');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ error: { code: 'common.0011', engine_code: 'common.0011' }, error_code: 'BackupService.6501' });
      expect((await call(agent, 'DELETE', '/v1/jobs/no-such-job')).status).toBe(404);
      const traversal = await call(agent, 'GET', '/v1/jobs/..%2Fconfig');
      expect(traversal.status).toBe(400);
      expect(traversal.body.error.field).toBe('job_id');
      // Nothing was started by any of these.
      expect((await call(agent, 'GET', '/v1/jobs')).body.count).toBe(0);
    } finally {
      await agent.close();
    }
  });

  it('a job that fails in the engine ends FAIL with its codes: a missing source is VolumeBackup.0021', async () => {
    const f = await fixture('agent-fail');
    const agent = await agentOn(f);
    try {
      const r = await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: `${f.dir}/missing.img`, volume_id: 'vol-1', job_id: 'job-m' } });
      expect(r.status).toBe(202);
      const done = await jobReaches(agent, 'job-m', 'FAIL', 'SUCCESS');
      expect(done).toMatchObject({ status: 'FAIL', error_code: 'VolumeBackup.0021', cbr_error_code: 'BackupService.7000' });
      expect(done.fail_reason).toMatch(/missing\.img does not exist/);
      const dup = await call(agent, 'POST', '/v1/jobs', { body: { type: 'gc', job_id: 'job-m' } });
      expect(dup.status).toBe(409);
      expect(dup.body.error.field).toBe('job_id');
    } finally {
      await agent.close();
    }
  });

  it('every job type of the table runs over HTTP: backup, restore (bit-exact), verify, prune, delete, gc', async () => {
    const f = await fixture('agent-types');
    const agent = await agentOn(f);
    const run = async (body: Record<string, unknown>) => {
      const r = await call(agent, 'POST', '/v1/jobs', { body });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const done = await jobReaches(agent, r.body.job_id, 'SUCCESS', 'FAIL');
      expect(done.status, `${body.type}: ${done.fail_reason}`).toBe('SUCCESS');
      return done;
    };
    try {
      await run({ type: 'backup', source: f.image, volume_id: 'vol-1', backup_id: 'bk-1' });
      await run({ type: 'backup', source: f.image, volume_id: 'vol-1', backup_id: 'bk-2', full: true, description: 'second' });
      const target = `${f.dir}/restored.img`;
      const restored = await run({ type: 'restore', backup_id: 'bk-2', target });
      expect(restored.entities).toMatchObject({ backup_id: 'bk-2', volume_id: 'vol-1', target });
      const { sha256File } = await import('../helpers/images.js');
      expect(await sha256File(target)).toBe(await sha256File(f.image));
      const verified = await run({ type: 'verify', volume_id: 'vol-1', deep: true });
      expect(verified.result.ok).toBe(true);
      const dry = await run({ type: 'prune', volume_id: 'vol-1', keep_last: 1, dry_run: true });
      expect(dry.result.removed.map((d: any) => d.id)).toEqual(['bk-1']);
      await run({ type: 'delete', backup_id: 'bk-1' });
      const gced = await run({ type: 'gc' });
      expect(gced.job_type).toBe('gc');
      const left = await call(agent, 'GET', '/v1/backups');
      expect(left.body.backups.map((b: any) => b.id)).toEqual(['bk-2']);
      await run({ type: 'backup', source: f.image, volume_id: 'vol-1', backup_id: 'bk-3' });
      const page = await call(agent, 'GET', '/v1/backups?limit=1&offset=1');
      expect(page.body).toMatchObject({ count: 1, total: 2, backups: [expect.objectContaining({ id: 'bk-3' })] });
      const badPage = await call(agent, 'GET', '/v1/backups?limit=5000');
      expect(badPage.status).toBe(400);
      expect(badPage.body.error).toMatchObject({ field: 'limit', message: 'limit: must be at most 1000' });
      expect(JSON.parse(left.body.backups[0].description)).toMatchObject({ DESC: 'second', INC: 0 });
      expect(page.body.backups[0].is_incremental).toBe(true);
    } finally {
      await agent.close();
    }
  });

  it('after a restart the agent reports the jobs it had, from the vault', async () => {
    const f = await fixture('agent-restart');
    const first = await agentOn(f);
    await call(first, 'POST', '/v1/jobs', { body: { type: 'backup', source: f.image, volume_id: 'vol-1', job_id: 'job-r1', backup_id: 'bk-r1' } });
    await jobReaches(first, 'job-r1', 'SUCCESS');
    await call(first, 'POST', '/v1/jobs', { body: { type: 'verify', job_id: 'job-r2' } });
    await jobReaches(first, 'job-r2', 'SUCCESS');
    await first.close();
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();
    const second = await agentOn(f);
    try {
      const list = await call(second, 'GET', '/v1/jobs');
      expect(list.body.jobs.map((j: any) => `${j.job_id}:${j.status}`).sort()).toEqual(['job-r1:SUCCESS', 'job-r2:SUCCESS']);
      const one = await call(second, 'GET', '/v1/jobs/job-r1');
      expect(one.body).toMatchObject({ status: 'SUCCESS', entities: { backup_id: 'bk-r1' } });
      expect((await call(second, 'GET', '/v1/jobs?type=verify')).body.jobs.map((j: any) => j.job_id)).toEqual(['job-r2']);
    } finally {
      await second.close();
    }
  });

  it('runs at most --max-jobs at once: one more is 429 with Retry-After; accepted again once one ends', async () => {
    const f = await fixture('agent-limit');
    const gate = await gatedSource(f.image, { gateAfterReads: 2 });
    const agent = await agentOn(f, { gate, maxJobs: 1 });
    try {
      expect((await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: f.image, volume_id: 'vol-1', job_id: 'job-l1' } })).status).toBe(202);
      await gate.reached;
      const full = await call(agent, 'POST', '/v1/jobs', { body: { type: 'verify', job_id: 'job-l2' } });
      expect(full.status).toBe(429);
      expect(full.headers.get('retry-after')).toBe('5');
      expect(full.body).toMatchObject({ error: { code: 'VolumeBackup.p.0014', max_jobs: 1 }, error_code: 'BackupService.9910' });
      expect((await call(agent, 'GET', '/v1/jobs/job-l2')).status).toBe(404); // refused, not queued
      gate.release();
      await jobReaches(agent, 'job-l1', 'SUCCESS');
      await until('the slot to free', async () => ((await call(agent, 'GET', '/healthz')).body.jobs_running === 0 ? true : undefined));
      expect((await call(agent, 'POST', '/v1/jobs', { body: { type: 'verify', job_id: 'job-l3' } })).status).toBe(202);
      await jobReaches(agent, 'job-l3', 'SUCCESS');
    } finally {
      gate.release();
      await agent.close();
      await gate.close();
    }
  });

  it('close() cancels running jobs: each ends FAIL on record with the reason', async () => {
    const f = await fixture('agent-close');
    const gate = await gatedSource(f.image, { gateAfterReads: 2 });
    const agent = await agentOn(f, { gate });
    await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: f.image, volume_id: 'vol-1', job_id: 'job-s' } });
    await gate.reached;
    const closing = agent.close('agent stopped by SIGTERM');
    gate.release();
    await closing;
    const v = await openVault(f.vaultDir);
    const rec = await getJob(v, 'job-s');
    await v.close();
    await gate.close();
    expect(rec.status).toBe('FAIL');
    expect(rec.fail_reason).toMatch(/^agent stopped by SIGTERM/);
  });
});

describe('/metrics', () => {
  it('Prometheus text: bytes by stage, jobs by type and status, store requests and latency, HTTP requests', async () => {
    const f = await fixture('agent-metrics');
    const agent = await agentOn(f);
    try {
      await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: f.image, volume_id: 'vol-1', job_id: 'job-x' } });
      await jobReaches(agent, 'job-x', 'SUCCESS');
      await call(agent, 'POST', '/v1/jobs', { body: { type: 'backup', source: `${f.dir}/gone.img`, volume_id: 'vol-1', job_id: 'job-y' } });
      await jobReaches(agent, 'job-y', 'FAIL');
      await until('job-y to leave the runner', async () => ((await call(agent, 'GET', '/healthz')).body.jobs_running === 0 ? true : undefined));
      const r = await call(agent, 'GET', '/metrics');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const value = (name: string, labels: string) => {
        const line = r.text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
        return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
      };
      const v = await openVault(f.vaultDir);
      const job = await getJob(v, 'job-x');
      await v.close();
      expect(value('blockvault_bytes_total', 'op="backup",stage="scanned"')).toBe(job.counters.bytesScanned);
      expect(value('blockvault_bytes_total', 'op="backup",stage="read"')).toBe(job.counters.bytesRead);
      expect(value('blockvault_bytes_total', 'op="backup",stage="zero"')).toBe(job.counters.bytesZero);
      expect(value('blockvault_bytes_total', 'op="backup",stage="written"')).toBe(job.counters.bytesWritten);
      expect(job.counters.bytesScanned).toBe(8 * BS);
      expect(value('blockvault_jobs_finished_total', 'type="backup",status="SUCCESS"')).toBe(1);
      expect(value('blockvault_jobs_finished_total', 'type="backup",status="FAIL"')).toBe(1);
      expect(value('blockvault_job_errors_total', 'type="backup",error_code="VolumeBackup.0021"')).toBe(1);
      expect(value('blockvault_jobs', 'type="backup",status="RUNNING"')).toBe(0);
      expect(value('blockvault_store_requests_total', 'operation="putIfAbsent",result="ok"')).toBeGreaterThan(0);
      expect(value('blockvault_store_request_duration_seconds_count', 'operation="get"')).toBeGreaterThan(0);
      expect(r.text).toMatch(/^blockvault_throughput_bytes_per_second\{op="backup"\} 0$/m);
      expect(value('blockvault_http_requests_total', 'method="POST",route="/v1/jobs",status_code="202"')).toBe(2);
      expect(value('blockvault_http_request_duration_seconds_count', 'method="GET",route="/v1/jobs/:job_id"')).toBeGreaterThan(0);
      expect(r.text).toMatch(/^# TYPE blockvault_store_retries_total counter$/m);
    } finally {
      await agent.close();
    }
  });
});
