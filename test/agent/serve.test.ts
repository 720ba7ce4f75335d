// The agent as its own process: SIGTERM stops it gracefully (the running job ends FAIL on
// record with the reason, exit 0), and `blockvault serve` itself: refusal without a token
// off loopback (exit 2, nothing listening), a token file, /healthz, SIGTERM.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getJob, openVault } from '../../src/index.js';
import { finish, runCli, startCli, waitForLine, ROOT } from '../helpers/cli.js';
import { TOKEN, call, cleanup, fixture, until } from './helpers.js';

afterAll(cleanup);

describe('serve as a process', () => {
  it('SIGTERM cancels the running job cleanly: FAIL on record with the signal in fail_reason, exit 0', async () => {
    const f = await fixture('serve-sigterm');
    const child = spawn(process.execPath, [path.join(ROOT, 'test/agent/serve-runner.mjs'), f.vaultDir, f.image, TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
    const done = finish(child);
    const url = (await waitForLine(child, /^URL /)).slice(4).trim();
    const post = await call(url, 'POST', '/v1/jobs', { body: { type: 'backup', source: f.image, volume_id: 'vol-1', job_id: 'job-t', backup_id: 'bk-t' } });
    expect(post.status).toBe(202);
    await waitForLine(child, /^READING/);
    expect((await call(url, 'GET', '/v1/jobs/job-t')).body.status).toBe('RUNNING');
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/STOPPED SIGTERM/);
    const logs = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(logs.find((l) => l.msg === 'job failed')).toMatchObject({ job_id: 'job-t', level: 40, error_code: 'VolumeBackup.0027' });
    expect(logs.find((l) => l.msg === 'agent stopped')).toMatchObject({ cancelled: 1, unfinished: 0 });
    const v = await openVault(f.vaultDir);
    const rec = await getJob(v, 'job-t');
    const { listBackups } = await import('../../src/index.js');
    const backups = await listBackups(v, { volumeId: 'vol-1' });
    await v.close();
    expect(rec).toMatchObject({ status: 'FAIL', operation_status: 'failed' });
    expect(rec.fail_reason).toMatch(/^agent stopped by SIGTERM/);
    expect(backups).toEqual([expect.objectContaining({ backupId: 'bk-t', status: 'error' })]);
  });

  it('blockvault serve: refuses 0.0.0.0 without a token (exit 2); serves with a token file; SIGTERM exits 0', async () => {
    const f = await fixture('serve-cli');
    const refused = await runCli(['serve', '--vault', f.vaultDir, '--listen', '0.0.0.0:0'], { env: { BLOCKVAULT_TOKEN: '' } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
    const loopback = await runCli(['serve', '--vault', f.vaultDir, '--listen', '127.0.0.1:0'], { env: { BLOCKVAULT_TOKEN: '' } });
    expect(loopback.code).toBe(2);
    expect(loopback.stderr).toMatch(/--no-auth/);
    const short = await runCli(['serve', '--vault', f.vaultDir], { env: { BLOCKVAULT_TOKEN: 'short' } });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 16/);
    const tokenFile = path.join(f.dir, 'token');
    await fs.writeFile(tokenFile, `${TOKEN}\n`);
    const child = startCli(['serve', '--vault', f.vaultDir, '--listen', '127.0.0.1:0', '--token-file', tokenFile], { env: { BLOCKVAULT_TOKEN: '' } });
    const done = finish(child);
    const url = (await waitForLine(child, /listening on /)).replace(/^.*listening on /, '').trim();
    expect((await call(url, 'GET', '/healthz', { token: null })).body.status).toBe('ok');
    expect((await call(url, 'GET', '/v1/jobs', { token: null })).status).toBe(401);
    expect((await call(url, 'GET', '/v1/jobs')).status).toBe(200);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(0);
    const logs = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(logs.some((l) => l.msg === 'request completed' && l.level === 30)).toBe(true);
    expect(logs.find((l) => l.msg === 'agent stopping')).toMatchObject({ reason: 'agent stopped by SIGTERM' });
    expect(r.stderr).not.toContain(TOKEN);
    await until('the port to close', async () => (await fetch(`${url}/healthz`).then(() => false, () => true)) || undefined);
  });
});
