import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  backup,
  cancelJob,
  getJob,
  listBackups,
  listJobs,
  openVault,
  serviceCodes,
  showBackup,
  startBackup,
  startDelete,
  startGc,
  startJob,
  startPrune,
  startRestore,
  startVerify,
  sweepJobs,
  type JobRecord,
  type Vault,
} from '../../src/index.js';
import { recordStore } from '../../src/jobs/record-store.js';
import { JobKeys } from '../../src/jobs/keys.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';
import { gatedSource } from './gated-source.js';

const BS = 65536;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function setup(name: string): Promise<{ dir: string; vaultDir: string; image: string; vault: Vault; other: Vault }> {
  const dir = await tempDir(name);
  dirs.push(dir);
  const vaultDir = path.join(dir, 'vault');
  const image = path.join(dir, 'disk.img');
  await makeImage(image, { blockSize: BS, seed: 5, blocks: ['random', 'text', 'hole', 'random', 'repeat', 'random', 'zeros', 'text'] });
  const vault = await openVault(vaultDir, { create: true, blockSize: BS });
  // Another handle on the same vault: what another process or host sees.
  const other = await openVault(vaultDir);
  return { dir, vaultDir, image, vault, other };
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const fast = { heartbeatMs: 100, concurrency: 1, workers: 0 } as const;

describe('jobs on record in the vault', () => {
  it('a backup job returns at once, runs visibly to another handle, and ends SUCCESS on record', async () => {
    const { vault, other, image } = await setup('jobs-run');
    const g = await gatedSource(image, { gateAfterReads: 2 });
    const progress: number[] = [];
    const job = await startBackup(vault, { ...fast, source: image, openedSource: g.source, volumeId: 'vol-1', jobId: 'job-a', backupId: 'bk-a', snapshotId: 'snap-1', intervalMs: 10, everyBytes: 1 });
    job.on('progress', (e) => progress.push(e.progress));
    const events = (async () => {
      const out: string[] = [];
      for await (const e of job.events()) out.push(e.event);
      return out;
    })();
    await g.reached;
    const running = await getJob(other, 'job-a');
    expect(running).toMatchObject({
      job_id: 'job-a',
      job_type: 'backup',
      status: 'RUNNING',
      operation_status: 'running',
      entities: { backup_id: 'bk-a', volume_id: 'vol-1', snapshot_id: 'snap-1' },
      error_code: null,
      fail_reason: null,
      end_time: null,
      host: os.hostname(),
      pid: process.pid,
    });
    // The running backup is listed as creating, and show finds it.
    const listed = await listBackups(other);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ backupId: 'bk-a', volumeId: 'vol-1', status: 'creating', jobId: 'job-a', fail_reason: null });
    expect(await showBackup(other, 'bk-a')).toMatchObject({ status: 'creating', backupId: 'bk-a' });
    expect(await listBackups(other, { status: 'available' })).toEqual([]);
    // The record is rewritten while it runs (heartbeat).
    const hb = running.heartbeat_at;
    await until('a heartbeat', async () => (await getJob(other, 'job-a')).heartbeat_at > hb);

    g.release();
    const done = await job.done;
    await g.close();
    expect(done).toMatchObject({ status: 'SUCCESS', operation_status: 'success', progress: 100, phase: 'done', eta_seconds: 0 });
    expect(done.end_time! >= done.begin_time).toBe(true);
    expect(done.begin_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((done.result as { backupId: string }).backupId).toBe('bk-a');
    expect(done.counters.bytesScanned).toBe(8 * BS);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => Number.isInteger(p) && p >= 0 && p <= 100)).toBe(true);
    const ev = await events;
    expect(ev.at(-1)).toBe('done');
    expect(ev.filter((e) => e === 'progress').length).toBeGreaterThan(0);

    expect(await getJob(other, 'job-a')).toMatchObject({ status: 'SUCCESS', result: { backupId: 'bk-a' } });
    expect((await listBackups(other)).map((b) => [b.backupId, b.status])).toEqual([['bk-a', 'available']]);
    expect(await recordStore(other).get(JobKeys.backupRecordKey('vol-1', 'bk-a'))).toBeUndefined();
    expect((await listJobs(other, { status: 'SUCCESS' })).map((j) => j.job_id)).toEqual(['job-a']);
    expect(await listJobs(other, { type: 'restore' })).toEqual([]);
    expect(await listJobs(other, { volumeId: 'vol-x' })).toEqual([]);
    expect((await listJobs(other, { volumeId: 'vol-1' })).length).toBe(1);

    // A restore job ends with the backup available again, and the data bit-exact.
    const target = path.join(path.dirname(image), 'out.img');
    const r = await startRestore(vault, { backupId: 'bk-a', target, heartbeatMs: 100 });
    expect((await r.done).status).toBe('SUCCESS');
    expect((await getJob(other, r.id)).entities).toMatchObject({ backup_id: 'bk-a', volume_id: 'vol-1', target });
    expect(await sha256File(target)).toBe(await sha256File(image));
    expect((await listBackups(other))[0]!.status).toBe('available');

    // A job id is used once.
    await expect(startBackup(vault, { source: image, volumeId: 'vol-1', jobId: 'job-a' })).rejects.toMatchObject({ code: 'BV.BadInput' });
    await vault.close();
    await other.close();
  });

  it('cancelJob from another handle stops a running backup within seconds; it is listed as error and its chunks are reused', async () => {
    const { vault, other, image } = await setup('jobs-cancel');
    const g = await gatedSource(image, { gateAfterReads: 4 });
    const job = await startBackup(vault, { ...fast, source: image, openedSource: g.source, volumeId: 'vol-1', jobId: 'job-c', backupId: 'bk-c' });
    await g.reached;
    const asked = await cancelJob(other, 'job-c', { reason: 'operator asked' });
    expect(asked.status).toBe('RUNNING');
    // The job finds the request at a heartbeat (100 ms here) and aborts its signal.
    await until('the job to notice the cancel request', () => job.signal.aborted, 3000);
    g.release();
    const done = await job.done;
    await g.close();
    expect(done).toMatchObject({
      status: 'FAIL',
      operation_status: 'failed',
      error_code: 'VolumeBackup.0027',
      cbr_error_code: 'BackupService.9910',
      engine_code: 'BV.Aborted',
    });
    expect(done.fail_reason).toMatch(/cancelled by .* \(operator asked\)/);
    expect(await recordStore(other).get(JobKeys.cancelKey('job-c'))).toBeUndefined();
    expect(await getJob(other, 'job-c')).toMatchObject({ status: 'FAIL' });

    const listed = await listBackups(other);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ backupId: 'bk-c', status: 'error', error_code: 'VolumeBackup.0027', cbr_error_code: 'BackupService.9910' });
    expect(listed[0]!.fail_reason).toMatch(/cancelled/);
    expect(await listBackups(other, { status: 'error' })).toHaveLength(1);
    expect(await listBackups(other, { status: 'creating' })).toHaveLength(0);

    // A failed backup cannot be restored: VolumeBackup.0089 / BackupService.2005.
    const r = await startRestore(vault, { backupId: 'bk-c', target: path.join(path.dirname(image), 'never.img') });
    expect(await r.done).toMatchObject({ status: 'FAIL', error_code: 'VolumeBackup.0089', cbr_error_code: 'BackupService.2005' });

    // The next run reuses the chunks the cancelled one stored.
    const next = await backup(vault, { source: image, volumeId: 'vol-1', backupId: 'bk-next', workers: 0 });
    expect(next.counters.blocksDeduplicated).toBeGreaterThan(0);

    // Deleting the failed backup removes its record.
    const d = await startDelete(vault, { backupId: 'bk-c' });
    expect(await d.done).toMatchObject({ status: 'SUCCESS', result: { removedFailedBackup: true } });
    expect((await listBackups(other)).map((b) => [b.backupId, b.status])).toEqual([['bk-next', 'available']]);
    // Cancelling a finished job leaves it as it is.
    expect((await cancelJob(other, 'job-c')).status).toBe('FAIL');
    expect(await recordStore(other).get(JobKeys.cancelKey('job-c'))).toBeUndefined();
    await vault.close();
    await other.close();
  });

  it('a job whose process was killed is reported FAIL by whoever reads it, and its backup as error', async () => {
    const { vault, vaultDir, image } = await setup('jobs-dead');
    const child = spawn(process.execPath, [path.join(HERE, 'job-runner.mjs'), vaultDir, 'vol-2', image, 'job-d', 'bk-d'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await until('the child to start reading', () => out.includes('READING'), 20000);
    const rec = await getJob(vault, 'job-d');
    expect(rec).toMatchObject({ status: 'RUNNING', pid: child.pid });
    expect((await listBackups(vault))[0]).toMatchObject({ backupId: 'bk-d', status: 'creating' });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const dead = await getJob(vault, 'job-d');
    expect(dead).toMatchObject({ status: 'FAIL', operation_status: 'failed', engine_code: 'BV.JobStale', error_code: 'VolumeBackup.0027', cbr_error_code: 'BackupService.9910' });
    expect(dead.fail_reason).toMatch(new RegExp(`process .* \\(pid ${child.pid}\\) exited without finishing`));
    expect(dead.end_time).not.toBeNull();
    // The verdict is on record for every later reader.
    const raw = JSON.parse((await recordStore(vault).get(JobKeys.jobKey('job-d')))!.toString()) as JobRecord;
    expect(raw.status).toBe('FAIL');
    const listed = (await listBackups(vault))[0]!;
    expect(listed).toMatchObject({ backupId: 'bk-d', status: 'error' });
    expect(listed.fail_reason).toMatch(/exited without finishing/);
    // Its lease died with it: the next backup of the volume runs.
    const b = await backup(vault, { source: image, volumeId: 'vol-2', workers: 0 });
    expect(b.type).toBe('full');
    await vault.close();
  });

  it('finds stale jobs by heartbeat age and by the lease, and expires finished records', async () => {
    const { vault } = await setup('jobs-stale');
    const rs = recordStore(vault);
    const old = new Date(Date.now() - 10_000).toISOString();
    const base: JobRecord = {
      job_id: 'x',
      job_type: 'backup',
      status: 'RUNNING',
      operation_status: 'running',
      entities: { volume_id: 'vol-9' },
      error_code: null,
      cbr_error_code: null,
      engine_code: null,
      fail_reason: null,
      begin_time: old,
      end_time: null,
      updated_at: old,
      progress: 40,
      phase: 'transfer',
      eta_seconds: 10,
      counters: {},
      host: 'another-host',
      pid: 1,
      heartbeat_at: old,
      lease_scope: 'vol-9',
    };
    const put = (r: JobRecord) => rs.put(JobKeys.jobKey(r.job_id), Buffer.from(JSON.stringify(r)));
    await put({ ...base, job_id: 'far', lease_scope: null });
    expect((await getJob(vault, 'far')).status).toBe('RUNNING'); // 10 s < the 120 s TTL
    const far = await getJob(vault, 'far', { staleAfterMs: 5000 });
    expect(far.status).toBe('FAIL');
    expect(far.fail_reason).toMatch(/another-host \(pid 1\) stopped: last heartbeat .* older than the lease TTL of 5000 ms/);
    // Same host, this (live) process, but the lease it claims is not held: stale after 3 heartbeats.
    await put({ ...base, job_id: 'nolease', host: os.hostname(), pid: process.pid });
    const nolease = await getJob(vault, 'nolease', { heartbeatMs: 100 });
    expect(nolease.status).toBe('FAIL');
    expect(nolease.fail_reason).toMatch(/no longer holds the lease on vol-9/);
    // Holding the lease keeps it alive.
    const lease = await vault.lease('vol-9', 'backup');
    await put({ ...base, job_id: 'leased', host: os.hostname(), pid: process.pid });
    expect((await getJob(vault, 'leased', { heartbeatMs: 100 })).status).toBe('RUNNING');
    await lease.release();

    // A damaged record is reported with its key.
    await rs.put(JobKeys.jobKey('torn'), Buffer.from('{"job_id": 3}'));
    await expect(getJob(vault, 'torn')).rejects.toMatchObject({ code: 'BV.VaultDamaged', details: { object: 'jobs/torn.json' } });

    // Finished records older than keepFinishedMs are swept by listJobs (and sweepJobs, which gc jobs run).
    const twoDays = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await put({ ...base, job_id: 'old-done', status: 'SUCCESS', operation_status: 'success', end_time: twoDays });
    await put({ ...base, job_id: 'new-done', status: 'SUCCESS', operation_status: 'success', end_time: new Date().toISOString() });
    const listed = (await listJobs(vault, { keepFinishedMs: 86_400_000 })).map((j) => j.job_id);
    expect(listed).toContain('new-done');
    expect(listed).not.toContain('old-done');
    expect(await rs.get(JobKeys.jobKey('old-done'))).toBeUndefined();
    await put({ ...base, job_id: 'old-2', status: 'FAIL', operation_status: 'failed', end_time: twoDays });
    expect(await sweepJobs(vault, { keepFinishedMs: 86_400_000 })).toBe(1);

    // An unknown job: common.0011 / BackupService.6501.
    const err = await getJob(vault, 'nope').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'common.0011' });
    expect(serviceCodes(err)).toEqual({ vbsCode: 'common.0011', cbrCode: 'BackupService.6501' });
    await vault.close();
  });

  it('every operation runs as a job; a busy volume skips it with the right codes; a late success is a timeout', async () => {
    const { vault, image } = await setup('jobs-all');
    const b = await startJob(vault, { type: 'backup', source: image, volumeId: 'vol-1', backupId: 'b1', deadlineMs: 0, workers: 0 });
    const bd = await b.done;
    expect(bd).toMatchObject({ status: 'SUCCESS', operation_status: 'timeout' });
    expect((await (await startJob(vault, { type: 'verify', deep: true })).done).result).toMatchObject({ ok: true });
    const lease = await vault.lease('vol-1', 'backup');
    try {
      const busy = await (await startBackup(vault, { source: image, volumeId: 'vol-1', backupId: 'b2', workers: 0 })).done;
      expect(busy).toMatchObject({ status: 'FAIL', operation_status: 'skipped', error_code: 'VolumeBackup.0013', cbr_error_code: 'BackupService.0002' });
      expect((await listBackups(vault)).map((x) => x.backupId)).toEqual(['b1']); // a skipped backup leaves no record
      const del = await (await startDelete(vault, { backupId: 'b1' })).done;
      expect(del).toMatchObject({ status: 'FAIL', operation_status: 'skipped', error_code: 'VolumeBackup.0013', cbr_error_code: 'BackupService.6125' });
    } finally {
      await lease.release();
    }
    const restoring = await vault.lease('vol-1', 'restore');
    try {
      const del = await (await startDelete(vault, { backupId: 'b1' })).done;
      expect(del).toMatchObject({ status: 'FAIL', error_code: 'VolumeBackup.0125', cbr_error_code: 'BackupService.6216' });
      const pr = await (await startPrune(vault, { volumeId: 'vol-1', policy: { keepLast: 1 } })).done;
      expect(pr).toMatchObject({ status: 'FAIL', error_code: 'VolumeBackup.0125', cbr_error_code: 'BackupService.6216' });
    } finally {
      await restoring.release();
    }
    expect((await listBackups(vault))[0]!.status).toBe('available'); // the refused delete left no `deleting`
    await backup(vault, { source: image, volumeId: 'vol-1', backupId: 'b3', workers: 0 });
    // Watch the state records the prune writes: the backup it removes is `deleting` meanwhile.
    const states: string[] = [];
    const meta = vault.meta as { put: typeof vault.meta.put };
    const put = meta.put;
    meta.put = (key, body, o) => {
      if (key.startsWith('records/')) states.push(`${key} ${(JSON.parse(body.toString()) as { status: string }).status}`);
      return put(key, body, o);
    };
    const pr = await (await startPrune(vault, { volumeId: 'vol-1', policy: { keepLast: 1 } })).done;
    meta.put = put;
    expect(pr).toMatchObject({ status: 'SUCCESS', entities: { volume_id: 'vol-1' } });
    expect((pr.result as { deleted: unknown[] }).deleted).toHaveLength(1);
    expect(states).toEqual(['records/vol-1/b1.json deleting']);
    expect((await listBackups(vault)).map((x) => [x.backupId, x.status])).toEqual([['b3', 'available']]);
    const g = await (await startGc(vault)).done;
    expect(g).toMatchObject({ status: 'SUCCESS', job_type: 'gc' });
    expect(g.result).toHaveProperty('jobRecordsExpired', 0);
    await expect(startJob(vault, { type: 'copy' })).rejects.toMatchObject({ code: 'VolumeBackup.p.0014' });
    expect((await listJobs(vault)).length).toBe(8); // backup, verify, busy backup, 2 deletes, 2 prunes, gc
    await vault.close();
  });

  it('a backup marked restoring or deleting by a live job shows that state; once the job ends it is available', async () => {
    const { vault, image } = await setup('jobs-states');
    await backup(vault, { source: image, volumeId: 'vol-1', backupId: 'b1', workers: 0 });
    const rs = recordStore(vault);
    const t = new Date().toISOString();
    const job: JobRecord = {
      job_id: 'live', job_type: 'restore', status: 'RUNNING', operation_status: 'running', entities: {}, error_code: null, cbr_error_code: null,
      engine_code: null, fail_reason: null, begin_time: t, end_time: null, updated_at: t, progress: 5, phase: 'transfer', eta_seconds: null,
      counters: {}, host: os.hostname(), pid: process.pid, heartbeat_at: t, lease_scope: null,
    };
    await rs.put(JobKeys.jobKey('live'), Buffer.from(JSON.stringify(job)));
    const state = { backup_id: 'b1', volume_id: 'vol-1', status: 'restoring', job_id: 'live', fail_reason: null, error_code: null, cbr_error_code: null, created_at: t, updated_at: t, snapshot_id: null };
    await rs.put(JobKeys.backupRecordKey('vol-1', 'b1'), Buffer.from(JSON.stringify(state)));
    expect((await listBackups(vault))[0]).toMatchObject({ status: 'restoring', jobId: 'live' });
    expect(await showBackup(vault, 'b1')).toMatchObject({ status: 'restoring', object_count: expect.any(Number) });
    expect(await listBackups(vault, { status: 'restoring' })).toHaveLength(1);
    await rs.put(JobKeys.backupRecordKey('vol-1', 'b1'), Buffer.from(JSON.stringify({ ...state, status: 'deleting' })));
    expect((await listBackups(vault))[0]!.status).toBe('deleting');
    await rs.put(JobKeys.jobKey('live'), Buffer.from(JSON.stringify({ ...job, status: 'SUCCESS', end_time: t })));
    expect((await listBackups(vault))[0]!.status).toBe('available');
    await vault.close();
  });
});
