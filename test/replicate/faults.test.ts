// Bad input and failures as a user meets them, in child processes: export to stdout piped
// into import from stdin; a truncated, a flipped and a crafted archive on stdin (exit 3, 3,
// 2, the vault unchanged); a destination disk that fills mid-copy (6129, non-zero exit, the
// vault still verifies once space is freed, and a rerun completes); and the bandwidth limit.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyBackups, initReplica } from '../../src/engine/copy.js';
import { TokenBucket } from '../../src/engine/copy-transfer.js';
import { ErrorCodes } from '../../src/errors.js';
import { restore, verify, type Vault } from '../../src/index.js';
import { sha256File } from '../helpers/images.js';
import { chainFixture } from './chain-fixture.js';
import { packRaw } from './archive-fixture.js';
import { startReplicate, type Running } from './run.js';

const sh = promisify(execFile);
const fx = chainFixture('replicate-faults', 5, { seed: 5 });
const { opened } = fx;
const open = fx.open;

function feed(r: Running, bytes: Buffer) {
  r.child.stdin!.on('error', () => {}); // the importer may stop reading early: that is the point
  r.child.stdin!.end(bytes);
}

describe('archives through stdout and stdin', () => {
  let archive: Buffer;

  it('export to stdout | import from stdin, then a bit-exact restore', async () => {
    const dstDir = path.join(fx.chain.dir, 'piped');
    await open(dstDir, true);
    const id = fx.chain.ids[3]!;
    const ex = startReplicate(['export', fx.chain.vaultDir, id, '-o', '-'], {}, { eventsOn: 'stderr' });
    const im = startReplicate(['import', dstDir, '-'], {}, { stdin: 'pipe' });
    ex.child.stdout!.pipe(im.child.stdin!);
    const [e, i] = await Promise.all([ex.done, im.done]);
    expect(e.code, e.stderr).toBe(0);
    expect(i.code, i.stderr + JSON.stringify(i.events)).toBe(0);
    expect(i.events.at(-1)).toMatchObject({ event: 'done', backupId: id, alreadyPresent: false });
    archive = e.stdout;
    const v = await open(dstDir);
    const out = path.join(fx.chain.dir, 'piped.img');
    await restore(v, { backupId: id, target: out });
    expect(await sha256File(out)).toBe(fx.chain.sha.get(id));
  });

  const cases: [string, () => Promise<Buffer>, number, string][] = [
    ['a truncated archive', async () => archive.subarray(0, Math.floor(archive.length * 0.6)), 3, ErrorCodes.corruptChunk],
    ['a flipped byte', async () => {
      const b = Buffer.from(archive);
      b[Math.floor(b.length * 0.5)] ^= 0x01;
      return b;
    }, 3, ErrorCodes.corruptChunk],
    ['a crafted entry leaving the archive', async () => packRaw([{ name: '../../../../tmp/pwned', body: Buffer.from('x') }]), 2, ErrorCodes.badInput],
  ];
  for (const [what, make, exit, code] of cases) {
    it(`${what} on stdin: exit ${exit}, a clear error, the vault unchanged and verifying`, async () => {
      const dstDir = path.join(fx.chain.dir, `refuse-${exit}-${code}`);
      const v = await open(dstDir, true);
      const im = startReplicate(['import', dstDir, '-'], {}, { stdin: 'pipe' });
      feed(im, await make());
      const r = await im.done;
      expect(r.code, r.stderr).toBe(exit);
      expect(r.events.at(-1)).toMatchObject({ event: 'error', code });
      expect(r.events.at(-1)!.message).toMatch(/archive (damaged|entry)/);
      v.refresh();
      expect(await v.listBackups()).toEqual([]);
      expect((await verify(v, { deep: true })).ok).toBe(true);
    });
  }
});

describe('a destination disk that fills mid-copy', () => {
  let mnt = '';
  let mounted = false;

  beforeAll(async () => {
    mnt = path.join(fx.chain.dir, 'small-disk');
    await fs.mkdir(mnt);
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=320k', 'tmpfs', mnt]);
    mounted = true;
  });
  afterAll(async () => {
    if (mounted) await sh('umount', [mnt]).catch(() => {});
  });

  it('fails with a clear no-space error and 6129; after space is freed the vault verifies and a rerun completes', async () => {
    const src = await open(fx.chain.vaultDir);
    const dstDir = path.join(mnt, 'vault');
    const init = await initReplica(src, dstDir);
    await init.close();
    const run = startReplicate(['copy', fx.chain.vaultDir, dstDir, '--all']);
    const r = await run.done;
    expect(r.code, r.stderr).not.toBe(0);
    const err = r.events.at(-1)!;
    expect(err).toMatchObject({ event: 'error', code: ErrorCodes.noSpace });
    expect(err.message).toMatch(/disk full/);
    const failed = (err.details.replicationRecords as any[]).find((x) => x.status === 'failed');
    expect(failed.extra_info.fail_code).toBe('BackupService.6129');
    const done = (err.details.copied as string[]).length;
    expect(done).toBeLessThan(fx.chain.ids.length);

    await sh('mount', ['-o', 'remount,size=8m', mnt]); // the operator frees space
    const dst = await open(dstDir);
    expect((await dst.listBackups()).map((h) => h.backupId)).toEqual(fx.chain.ids.slice(0, done));
    expect((await verify(dst, { deep: true })).ok).toBe(true);
    const rerun = await copyBackups(src, dst, { all: true });
    expect(rerun.copied).toEqual(fx.chain.ids.slice(done));
    expect((await verify(dst, { deep: true })).ok).toBe(true);
  });
});

describe('bandwidth limit', () => {
  it('the token bucket keeps the average rate and allows one burst', async () => {
    let now = 0;
    const slept: number[] = [];
    const tb = new TokenBucket(1000, { now: () => now, sleep: async (ms) => void slept.push(ms) });
    await tb.take(1000); // the burst: no wait
    expect(slept).toEqual([]);
    await tb.take(500); // half a second ahead of the rate
    expect(slept).toEqual([500]);
    now = 10_000; // idle long enough: the debt is gone, one burst again
    await tb.take(1000);
    expect(slept).toEqual([500]);
    for (let i = 0; i < 4; i++) await tb.take(250);
    expect(slept.slice(1)).toEqual([250, 500, 750, 1000]);
    expect(() => new TokenBucket(0)).toThrow(RangeError);
  });

  it('a copy with limitBytesPerSec takes at least bytes/rate beyond its burst', async () => {
    const src = await open(fx.chain.vaultDir);
    const dst = await initReplica(src, path.join(fx.chain.dir, 'limited'));
    opened.push(dst);
    const rate = 96 * 1024;
    const t0 = Date.now();
    const r = await copyBackups(src, dst, { backupIds: [fx.chain.ids[0]!], limitBytesPerSec: rate, concurrency: 4 });
    const elapsed = Date.now() - t0;
    expect(r.counters.bytesSent).toBeGreaterThan(2 * rate);
    // A loaded machine only makes it slower: this lower bound holds whatever the load.
    expect(elapsed).toBeGreaterThanOrEqual(((r.counters.bytesSent - rate) / rate) * 1000 - 50);
  });
});
