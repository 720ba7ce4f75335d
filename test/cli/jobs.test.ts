// The job model on the command line: jobs (filters, --json), job show, job cancel of a job
// running in another process, list --status; and --metrics-listen of a one-shot backup.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, finish, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { makeImage, tempDir, type Kind } from '../helpers/images.js';
import { freePort } from '../helpers/net.js';

const BS = 64 * 1024;
let dir: string;
let img: string;
let vault: string;

beforeAll(async () => {
  dir = await tempDir('cli-jobs');
  img = path.join(dir, 'disk.img');
  await makeImage(img, { blocks: Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 'hole' : 'random') as Kind), blockSize: BS, seed: 3 });
  vault = path.join(dir, 'v');
  const r = await runCli(['backup', img, '--vault', vault, '--volume', 'vol-1', '--block-size', '64KiB', '--backup-id', 'bk-done', '--json']);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('jobs, job show, job cancel, list --status', () => {
  it('lists a job running in another process, shows it, cancels it; it ends FAIL and its backup is listed as error', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'test/cli/slow-job.mjs'), vault, 'vol-1', img, 'job-slow', 'bk-slow'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ended = finish(child);
    await waitForLine(child, /^READING/);

    const table = await runCli(['jobs', '--vault', vault]);
    expect(table.code, table.stderr).toBe(0);
    const [head, row] = table.stdout.split('\n');
    expect(head).toMatch(/^JOB +TYPE +STATUS +PROGRESS +VOLUME +BACKUP +BEGAN \(UTC\) +PHASE \/ FAILURE$/);
    expect(row).toMatch(/^job-slow +backup +RUNNING +\d+% +vol-1 +bk-slow /);

    const running = await runCli(['jobs', '--vault', vault, '--status', 'running', '--json']);
    expect(running.events.at(-1)!.jobs.map((j: any) => j.job_id)).toEqual(['job-slow']);
    const none = await runCli(['jobs', '--vault', vault, '--type', 'restore']);
    expect(none.stdout.trim()).toBe('(no jobs)');
    const bad = await runCli(['jobs', '--vault', vault, '--status', 'DONE']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/INIT, RUNNING, SUCCESS, FAIL/);

    const show = await runCli(['job', 'show', 'job-slow', '--vault', vault, '--json']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.events.at(-1)).toMatchObject({ job_id: 'job-slow', job_type: 'backup', status: 'RUNNING', entities: { backup_id: 'bk-slow', volume_id: 'vol-1' } });
    const human = await runCli(['job', 'show', 'job-slow', '--vault', vault]);
    expect(human.stdout).toMatch(/^status +RUNNING \(running\)$/m);

    const creating = await runCli(['list', '--vault', vault, '--status', 'creating', '--json']);
    expect(creating.events.at(-1)!.backups.map((b: any) => b.backupId)).toEqual(['bk-slow']);

    const cancel = await runCli(['job', 'cancel', 'job-slow', '--vault', vault, '--reason', 'operator said so']);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(/asked job job-slow \(backup, RUNNING\) to stop/);
    const out = await ended;
    expect(out.stdout).toMatch(/DONE FAIL/);

    const failed = await runCli(['job', 'show', 'job-slow', '--vault', vault, '--json']);
    const rec = failed.events.at(-1)!;
    expect(rec).toMatchObject({ status: 'FAIL', error_code: 'VolumeBackup.0027' });
    expect(rec.fail_reason).toMatch(/operator said so/);
    const again = await runCli(['job', 'cancel', 'job-slow', '--vault', vault]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already ended FAIL/);
    const failedList = await runCli(['jobs', '--vault', vault, '--status', 'FAIL']);
    expect(failedList.stdout).toMatch(/job-slow +backup +FAIL +- .*VolumeBackup\.0027: .*operator said so/);

    const errors = await runCli(['list', '--vault', vault, '--status', 'error']);
    expect(errors.code).toBe(0);
    expect(errors.stdout).toMatch(/^bk-slow +vol-1 +error +- +- /m);
    expect(errors.stdout).toMatch(/failed:\n {2}bk-slow: .*operator said so/);
    const available = await runCli(['list', '--vault', vault, '--status', 'available', '--json']);
    expect(available.events.at(-1)!.backups.map((b: any) => b.backupId)).toEqual(['bk-done']);
    const all = await runCli(['list', '--vault', vault]);
    expect(all.stdout).toMatch(/^bk-done +vol-1 +available +full /m);
    const wrong = await runCli(['list', '--vault', vault, '--status', 'broken']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/creating, available, error, restoring, deleting/);
    const unknown = await runCli(['job', 'show', 'no-such', '--vault', vault]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/common\.0011.*job no-such not found/);
  });
});

describe('--metrics-listen', () => {
  it('a backup serves /metrics while it runs: its store requests and bytes by stage', async () => {
    const big = path.join(dir, 'big.img');
    await makeImage(big, { blocks: Array.from({ length: 192 }, () => 'random' as Kind), blockSize: BS, seed: 9 });
    const port = await freePort();
    const child = startCli(['backup', big, '--vault', path.join(dir, 'v2'), '--volume', 'vol-m', '--block-size', '64KiB', '--concurrency', '1', '--metrics-listen', `127.0.0.1:${port}`, '--json'], {
      env: { BLOCKVAULT_WORKERS: '0', BLOCKVAULT_PROGRESS_BYTES: String(BS) },
    });
    const done = finish(child);
    // The first progress line says the backup runs; scrape while it does.
    await waitForLine(child, /"event":"progress"/);
    let scrape: string | undefined;
    for (let i = 0; i < 200 && !scrape; i++) {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => (r.ok ? r.text() : undefined), () => undefined);
      if (text && /blockvault_bytes_total\{op="backup",stage="read"\} [1-9]/.test(text)) scrape = text;
    }
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(scrape, 'a scrape during the run').toBeDefined();
    expect(scrape).toMatch(/^blockvault_store_requests_total\{operation="get",result="not_found"\} [1-9]/m); // the new vault's config
    expect(scrape).toMatch(/^blockvault_store_requests_total\{operation="putIfAbsent",result="ok"\} [1-9]/m);
    expect(scrape).toMatch(/^blockvault_bytes_total\{op="backup",stage="scanned"\} [1-9]/m);
    expect(scrape).toMatch(/^blockvault_jobs\{type="backup",status="RUNNING"\} 1$/m);
    const taken = await runCli(['backup', img, '--vault', path.join(dir, 'v3'), '--volume', 'vol-1', '--metrics-listen', 'nowhere']);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(/--metrics-listen.*HOST:PORT/);
  });
});
