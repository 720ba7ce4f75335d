// The service contract's backup and retention options on the command line: backup --automatic,
// --snapshot-time, --description, --full-backup-interval; prune's --max-backups counting only
// automatic backups, --day/week/month/year-backups and --remain-first-backup-of-cur-month.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeImage, tempDir } from '../helpers/images.js';

let dir: string;
let img: string;

beforeAll(async () => {
  dir = await tempDir('cli-service-opts');
  img = path.join(dir, 'disk.img');
  await makeImage(img, { blocks: Array.from({ length: 8 }, () => 'random' as const), blockSize: 64 * 1024, seed: 9 });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function backup(vault: string, extra: string[]) {
  const r = await runCli(['backup', img, '--vault', vault, '--volume', 'vol-s', '--block-size', '64KiB', '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r.events.at(-1)!;
}

describe('backup options of the service', () => {
  it('--automatic, --snapshot-time and --description reach the service fields; --full-backup-interval forces the full', async () => {
    const v = path.join(dir, 'v');
    const first = await backup(v, ['--automatic', '--snapshot-time', '2026-11-30T02:00:00Z', '--description', 'nightly', '--full-backup-interval', '1']);
    expect(first.extend_info.auto_trigger).toBe(true);
    expect(first.data_timestamp).toBe('2026-11-30T02:00:00.000000');
    expect(JSON.parse(first.description)).toEqual({ DESC: 'nightly', INC: 1 });
    const second = await backup(v, ['--full-backup-interval', '1']);
    expect(second.type).toBe('incremental');
    expect(second.extend_info.auto_trigger).toBe(false);
    const third = await backup(v, ['--full-backup-interval', '1']);
    expect(third.type).toBe('full');
    expect(third.fullReason).toMatch(/full backup interval 1/);
    const shown = await runCli(['show', first.backupId, '--vault', v, '--json']);
    expect(shown.events[0]).toMatchObject({ data_timestamp: '2026-11-30T02:00:00.000000' });
  });

  it('bad values exit 2 and create no vault', async () => {
    const v = path.join(dir, 'never');
    for (const args of [
      ['--snapshot-time', 'yesterday'],
      ['--snapshot-time', '2026-13-45T00:00:00Z'],
      ['--full-backup-interval', '101'],
      ['--full-backup-interval', '-2'],
      ['--full-backup-interval', 'x'],
    ]) {
      const r = await runCli(['backup', img, '--vault', v, '--volume', 'x', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(args[0]);
    }
    expect(existsSync(v)).toBe(false);
  });
});

describe('prune: the service retention rules', () => {
  it('--max-backups counts only --automatic backups; --day-backups needs --timezone; --remain-first-backup-of-cur-month keeps the first', async () => {
    const v = path.join(dir, 'p');
    const a1 = await backup(v, ['--automatic']);
    const manual = await backup(v, []);
    const a2 = await backup(v, ['--automatic']);
    const a3 = await backup(v, ['--automatic']);

    const dry = await runCli(['prune', '--vault', v, '--volume', 'vol-s', '--max-backups', '2', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = dry.events.at(-1)!;
    expect(plan.removed.map((d: { id: string }) => d.id)).toEqual([a1.backupId]);
    expect(plan.kept.map((d: { id: string }) => d.id).sort()).toEqual([manual.backupId, a2.backupId, a3.backupId].sort());

    const keepFirst = await runCli(['prune', '--vault', v, '--volume', 'vol-s', '--max-backups', '2', '--remain-first-backup-of-cur-month', '--timezone', 'UTC', '--dry-run', '--json']);
    expect(keepFirst.code, keepFirst.stderr).toBe(0);
    expect(keepFirst.events.at(-1)!.removed).toEqual([]); // a1 is the month's first

    const noZone = await runCli(['prune', '--vault', v, '--volume', 'vol-s', '--day-backups', '1', '--json']);
    expect(noZone.code).toBe(2);
    expect(noZone.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.BadInput' });
    expect(noZone.stderr).toMatch(/time zone is mandatory/);

    const both = await runCli(['prune', '--vault', v, '--volume', 'vol-s', '--retention-days', '3', '--week-backups', '2', '--timezone', 'UTC', '--json']);
    expect(both.code).toBe(2);
    expect(both.events.at(-1)).toMatchObject({ vbsCode: 'AutoBackup.0108', cbrCode: 'BackupService.9900' });
    expect(both.stderr).toMatch(/cannot be applied together/);

    const daily = await runCli(['prune', '--vault', v, '--volume', 'vol-s', '--day-backups', '1', '--week-backups', '1', '--month-backups', '1', '--year-backups', '1', '--timezone', 'Asia/Shanghai', '--json']);
    expect(daily.code, daily.stderr).toBe(0);
    expect(daily.events.at(-1)!.kept.map((d: { id: string }) => d.id)).toContain(a3.backupId);
    const list = await runCli(['list', '--vault', v, '--json']);
    expect(list.events[0]!.backups.length).toBe(daily.events.at(-1)!.kept.length);
  });
});
