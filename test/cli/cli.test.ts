// The CLI as an operator uses it: separate processes, signals, exit codes, NDJSON.
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, finish, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { makeImage, sha256File, tempDir, type Kind } from '../helpers/images.js';

const BS = 64 * 1024;
let dir: string;
let img: string;

beforeAll(async () => {
  dir = await tempDir('cli');
  img = path.join(dir, 'disk.img');
  // 48 MiB of random data in 64 KiB blocks: big enough to interrupt, small enough to be quick.
  await makeImage(img, { blocks: Array.from({ length: 768 }, (_, i) => (i % 5 === 4 ? 'hole' : 'random') as Kind), blockSize: BS, seed: 3 });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const vaultArgs = (name: string) => ['--vault', path.join(dir, name)];

describe('blockvault CLI', () => {
  it('backs up, lists, shows and restores with NDJSON output', async () => {
    const b = await runCli(['backup', img, ...vaultArgs('v1'), '--volume', 'vol-1', '--block-size', '64KiB', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const last = b.events.at(-1)!;
    expect(last.event).toBe('result');
    expect(last.type).toBe('full');
    expect(b.events.filter((e) => e.event === 'progress').length).toBeGreaterThanOrEqual(1);
    expect(typeof last.service_metadata).toBe('string');
    expect(JSON.parse(last.service_metadata).Type).toBe(0);

    const list = await runCli(['list', ...vaultArgs('v1'), '--json']);
    expect(list.events[0]!.backups.map((x: { backupId: string }) => x.backupId)).toEqual([last.backupId]);
    const show = await runCli(['show', last.backupId, ...vaultArgs('v1'), '--json']);
    // each field once: the service's snake_case names, not a camelCase copy beside them
    expect(show.events[0]!.service_metadata).toBe(last.service_metadata);
    expect(show.events[0]).not.toHaveProperty('serviceMetadata');
    expect(show.events[0]).not.toHaveProperty('snapshotId');
    expect(show.events[0]!.has_dependent_backups).toBe(false);

    const out = path.join(dir, 'out.img');
    const r = await runCli(['restore', last.backupId, out, ...vaultArgs('v1')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/chunks verified/);
    expect(await sha256File(out)).toBe(await sha256File(img));
    const again = await runCli(['restore', last.backupId, out, ...vaultArgs('v1'), '--json']);
    expect(again.code).toBe(2);
    expect(again.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.TargetExists' });
    expect(again.stderr).toMatch(/--force/);
    // Straight to disk by default; --no-direct-io writes through the page cache, same bytes.
    const direct = await runCli(['restore', last.backupId, out, ...vaultArgs('v1'), '--force', '--json']);
    expect(direct.events.at(-1)!.counters.bytesDirect).toBeGreaterThan(0);
    const cached = await runCli(['restore', last.backupId, out, ...vaultArgs('v1'), '--force', '--no-direct-io', '--json']);
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.events.at(-1)!.counters.bytesDirect).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(img));
  });

  it('fails bad input with a clear message and a non-zero exit code', async () => {
    const missing = await runCli(['backup', path.join(dir, 'nope.img'), ...vaultArgs('v2'), '--volume', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/input .*nope\.img does not exist/);
    const usage = await runCli(['backup', img, ...vaultArgs('v2')]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing --volume/);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    const badFlag = await runCli(['list', '--vault', dir, '--bogus']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/bogus/);
    await fs.writeFile(path.join(dir, 'afile'), 'x');
    const fileVault = await runCli(['backup', img, '--vault', path.join(dir, 'afile'), '--volume', 'x']);
    expect(fileVault.code).toBe(2);
    expect(fileVault.stderr).toMatch(/is a file, not a directory/);
    const badVolume = await runCli(['backup', img, ...vaultArgs('v2'), '--volume', '../etc']);
    expect(badVolume.code).toBe(2);
    expect(badVolume.stderr).toMatch(/volume id/);
  });

  it('holds one operation per volume across processes (VolumeBackup.0013), and takes over after a crash', async () => {
    await runCli(['init', ...vaultArgs('lock'), '--block-size', '64KiB']);
    const holder = spawn(process.execPath, [path.join(ROOT, 'test/cli/lease-holder.mjs'), path.join(dir, 'lock'), 'vol-l'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    await waitForLine(holder, /^held /);
    const busy = await runCli(['backup', img, ...vaultArgs('lock'), '--volume', 'vol-l', '--json']);
    expect(busy.code).toBe(75);
    expect(busy.events.at(-1)).toMatchObject({ event: 'error', code: 'VolumeBackup.0013' });
    expect(busy.stderr).toMatch(/volume vol-l is busy: a backup started .* \(pid \d+\)/);
    const restoreBusy = await runCli(['restore', 'whatever', path.join(dir, 'x.img'), ...vaultArgs('lock')]);
    expect(restoreBusy.code).toBe(2); // unknown backup: checked before the lease
    // another volume is not blocked
    const other = await runCli(['backup', img, ...vaultArgs('lock'), '--volume', 'vol-other']);
    expect(other.code, other.stderr).toBe(0);
    // the holder dies without releasing: its lease is stale (same host, process gone)
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('close', r));
    const after = await runCli(['backup', img, ...vaultArgs('lock'), '--volume', 'vol-l']);
    expect(after.code, after.stderr).toBe(0);
  });

  it('Ctrl-C cancels a backup: exit 130, no backup visible, and the next run completes', async () => {
    const child = startCli(['backup', img, ...vaultArgs('sigint'), '--volume', 'vol-s', '--block-size', '64KiB', '--json', '--concurrency', '1'], {
      env: { BLOCKVAULT_WORKERS: '0', BLOCKVAULT_PROGRESS_BYTES: String(1024 * 1024) },
    });
    const run = finish(child);
    await waitForLine(child, /"event":"progress"/);
    child.kill('SIGINT');
    const r = await run;
    expect(r.code).toBe(130);
    expect(r.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.Aborted' });
    const list = await runCli(['list', ...vaultArgs('sigint'), '--json']);
    expect(list.events[0]!.backups).toEqual([]);
    const next = await runCli(['backup', img, ...vaultArgs('sigint'), '--volume', 'vol-s', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const out = path.join(dir, 'sigint.img');
    expect((await runCli(['restore', next.events.at(-1)!.backupId, out, ...vaultArgs('sigint')])).code).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(img));
  });

  it('after kill -9 mid-backup, the next run takes the lease over, reuses stored chunks and completes', async () => {
    const child = startCli(['backup', img, ...vaultArgs('kill9'), '--volume', 'vol-k', '--block-size', '64KiB', '--json', '--concurrency', '1'], {
      env: { BLOCKVAULT_WORKERS: '0', BLOCKVAULT_PROGRESS_BYTES: String(1024 * 1024) },
    });
    const run = finish(child);
    // wait until at least one index segment (256 chunks) is out, then kill
    await waitForLine(child, /"chunksWritten":(2[6-9]\d|[3-9]\d\d)/);
    // the segment lands once the chunks it names are on disk (the local store syncs them first)
    for (let t = 0; t < 2000; t++) {
      const idx = await fs.readdir(path.join(dir, 'kill9', 'index')).catch(() => [] as string[]);
      if (idx.some((n) => n.endsWith('.idx'))) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    const r = await run;
    expect(r.signal).toBe('SIGKILL');
    const next = await runCli(['backup', img, ...vaultArgs('kill9'), '--volume', 'vol-k', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const res = next.events.at(-1)!;
    expect(res.type).toBe('full');
    expect(res.counters.blocksDeduplicated).toBeGreaterThanOrEqual(256);
    const out = path.join(dir, 'kill9.img');
    expect((await runCli(['restore', res.backupId, out, ...vaultArgs('kill9')])).code).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(img));
  });
});

// A full disk needs a small filesystem: a tmpfs, which only root can mount.
const isRoot = process.getuid?.() === 0;
const canMount = isRoot && spawnSync('mount', ['--version']).status === 0;
if (!canMount) console.warn('[skip] disk-full tests need root to mount a small tmpfs');

describe.skipIf(!canMount)('disk full', () => {
  let mnt: string;
  beforeAll(async () => {
    mnt = await tempDir('full');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    if (m.status !== 0) throw new Error(`mount tmpfs failed: ${m.stderr}`);
  });
  afterAll(async () => {
    spawnSync('umount', [mnt]);
    await fs.rm(mnt, { recursive: true, force: true });
  });

  it('a backup into a full vault fails clearly and leaves no backup', async () => {
    try {
      const r = await runCli(['backup', img, '--vault', path.join(mnt, 'vault'), '--volume', 'vol-f', '--block-size', '64KiB', '--json']);
      expect(r.code).toBe(1);
      expect(r.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.NoSpace' });
      expect(r.stderr).toMatch(/disk full/);
      const list = await runCli(['list', '--vault', path.join(mnt, 'vault'), '--json']);
      expect(list.events[0]!.backups).toEqual([]);
    } finally {
      await fs.rm(path.join(mnt, 'vault'), { recursive: true, force: true });
    }
  });

  it('a restore onto a full disk fails clearly and leaves no partial file', async () => {
    const b = await runCli(['backup', img, ...vaultArgs('full-src'), '--volume', 'vol-f', '--block-size', '64KiB', '--json']);
    const target = path.join(mnt, 'restored.img');
    const r = await runCli(['restore', b.events.at(-1)!.backupId, target, ...vaultArgs('full-src'), '--json']);
    expect(r.code).not.toBe(0);
    expect(r.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.NoSpace' });
    expect((await fs.readdir(mnt)).filter((f) => f.includes('restored'))).toEqual([]);
  });
});
