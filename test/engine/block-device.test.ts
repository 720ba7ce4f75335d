// Backups from and restores to block devices, on real loop devices (root). Skipped, with the
// reason, where loop devices cannot be used; CI runs as root, where they must run.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { backup, openVault, restore, type Vault } from '../../src/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { nativeAvailable, nativeUnavailableReason } from '../../src/native/block-device.js';
import { BlockDeviceSource, deviceNumber } from '../../src/source/block-device-source.js';
import { alignedBuffer } from '../../src/native/direct-io.js';
import { makeImage, prng, sha256File, tempDir, type Kind } from '../helpers/images.js';
import { loopUnavailableReason } from '../helpers/loop.js';

const BS = 65536;
const BLOCKS = 128;
const SIZE = BLOCKS * BS; // 8 MiB
const MiB = 1024 * 1024;

const reason = loopUnavailableReason();
if (reason) console.warn(`[skip] block-device engine tests skipped: ${reason}`);

describe.skipIf(reason !== undefined)('backup from and restore to block devices (loop devices)', () => {
  let dir: string;
  let vault: Vault;
  const devices: string[] = [];
  let src: string;
  let srcFile: string;

  function attach(file: string): string {
    const dev = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
    devices.push(dev);
    return dev;
  }

  /** A backing file of `size` bytes: sparse, or filled with a byte (to prove restores overwrite it). */
  async function backing(name: string, size: number, fill?: number): Promise<string> {
    const file = path.join(dir, name);
    await fs.writeFile(file, '');
    await fs.truncate(file, size);
    if (fill !== undefined) await fs.writeFile(file, Buffer.alloc(size, fill));
    return file;
  }

  async function writeDevice(dev: string, offset: number, data: Buffer): Promise<void> {
    const fh = await fs.open(dev, 'r+');
    try {
      await fh.write(data, 0, data.length, offset);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async function hashPrefix(dev: string, len: number): Promise<string> {
    const fh = await fs.open(dev, 'r');
    try {
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, 0);
      return (await import('node:crypto')).createHash('sha256').update(buf).digest('hex');
    } finally {
      await fh.close();
    }
  }

  beforeAll(async () => {
    dir = await tempDir('blockdev');
    srcFile = path.join(dir, 'src.img');
    const kinds: Kind[] = Array.from({ length: BLOCKS }, (_, i) => (['random', 'text', 'hole', 'zeros', 'repeat'] as Kind[])[i % 5]!);
    await makeImage(srcFile, { blocks: kinds, blockSize: BS, seed: 3 });
    src = attach(srcFile);
    vault = await openVault(path.join(dir, 'vault'), { create: true, blockSize: BS });
  });

  afterAll(async () => {
    await vault?.close().catch(() => {});
    for (const dev of devices) {
      const r = spawnSync('losetup', ['-d', dev], { encoding: 'utf8' });
      if (r.status !== 0) console.warn(`could not detach ${dev}: ${r.stderr}`);
    }
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  let fullId: string;

  it('a full backup from a loop device records it as a block device and restores bit-exact to a file', async () => {
    // The workers read the device themselves (source/read-plan.ts), O_DIRECT into their memory.
    const mainThreadReads = vi.spyOn(BlockDeviceSource.prototype, 'read');
    const r = await backup(vault, { source: src, volumeId: 'vol-dev', snapshotId: 'snap-1' });
    expect(mainThreadReads).not.toHaveBeenCalled();
    mainThreadReads.mockRestore();
    fullId = r.backupId;
    expect(r.type).toBe('full');
    expect(r.volumeSize).toBe(SIZE);
    expect(r.counters.bytesRead).toBe(SIZE); // no SEEK_DATA on a device: every block is read
    expect(r.counters.bytesReadDirect).toBe(SIZE); // straight from the device, not the page cache
    const h = await vault.header(r.backupId);
    expect(h.source).toEqual({ path: src, kind: 'block-device', size: SIZE, identity: deviceNumber(statSync(src).rdev) });
    expect(h.source.identity).toMatch(/^7:\d+$/); // the loop driver's major
    const out = path.join(dir, 'full.img');
    await restore(vault, { backupId: r.backupId, target: out });
    expect(await sha256File(out)).toBe(await sha256File(src));
  });

  it('reads aligned buffers straight from the device and others through the page cache, the same bytes', async () => {
    const dev = await BlockDeviceSource.open(src);
    try {
      const aligned = alignedBuffer(BS);
      await dev.read(3 * BS, 4 * BS, aligned);
      expect(dev.bytesDirect).toBe(BS);
      const raw = Buffer.alloc(BS + 16);
      const unaligned = raw.subarray(16); // not on a 4 KiB boundary: O_DIRECT would refuse it
      await dev.read(3 * BS, 4 * BS, unaligned);
      expect(dev.bytesDirect).toBe(BS);
      expect(unaligned.equals(aligned)).toBe(true);
      const file = await fs.open(srcFile, 'r');
      const want = Buffer.alloc(BS);
      await file.read(want, 0, BS, 3 * BS);
      await file.close();
      expect(aligned.equals(want)).toBe(true);
    } finally {
      await dev.close();
    }
  });

  it('restores to another loop device, zeroing what the backup has as zero', async () => {
    const dev = attach(await backing('junk.img', SIZE, 0xa5));
    const r = await restore(vault, { backupId: fullId, target: dev });
    expect(r.counters.bytesZeroedOut).toBeGreaterThan(0);
    expect(r.counters.bytesZeroedOut! + r.counters.bytesZeroWritten!).toBe(r.counters.bytesZero);
    expect(await sha256File(dev)).toBe(await sha256File(src));
  });

  it('an incremental from the device after writes to it restores bit-exact to a device and a file', async () => {
    const data = Buffer.alloc(3 * BS + 4096);
    prng(11).fill(data);
    await writeDevice(src, 5 * BS + 512, data);
    await writeDevice(src, 60 * BS, Buffer.alloc(BS)); // a data block becomes zero
    const r = await backup(vault, { source: src, volumeId: 'vol-dev', snapshotId: 'snap-2' });
    expect(r.type).toBe('incremental');
    expect(r.parentId).toBe(fullId);
    const want = await sha256File(src);
    const dev = attach(await backing('junk2.img', SIZE, 0x3c));
    await restore(vault, { backupId: r.backupId, target: dev });
    expect(await sha256File(dev)).toBe(want);
    const out = path.join(dir, 'inc.img');
    await restore(vault, { backupId: r.backupId, target: out });
    expect(await sha256File(out)).toBe(want);
  });

  it('an incremental from the device with a changed-extent list reads only the touched blocks', async () => {
    const data = Buffer.alloc(BS);
    prng(12).fill(data);
    await writeDevice(src, 100 * BS, data);
    await writeDevice(src, 101 * BS + 4096, data.subarray(0, 8192));
    const list = path.join(dir, 'changed.json');
    await fs.writeFile(list, JSON.stringify([
      { offset: 100 * BS, length: BS, exists: 'true' },
      { offset: 101 * BS + 4096, length: 8192, exists: 'true' },
    ]));
    const r = await backup(vault, { source: src, volumeId: 'vol-dev', changedExtents: list, verifyUnchanged: 5 });
    expect(r.type).toBe('incremental');
    expect(r.counters.bytesRead).toBe(2 * BS);
    expect(r.counters.bytesSkippedByExtents).toBe(SIZE - 2 * BS);
    expect(r.counters.verifyMismatches).toBe(0);
    expect(r.counters.bytesVerifiedUnchanged).toBeGreaterThan(0);
    const out = path.join(dir, 'inc2.img');
    await restore(vault, { backupId: r.backupId, target: out });
    expect(await sha256File(out)).toBe(await sha256File(src));
  });

  it('--target-is-zeroed leaves zero blocks alone on a fresh device', async () => {
    const dev = attach(await backing('fresh.img', SIZE));
    const r = await restore(vault, { backupId: fullId, target: dev, targetIsZeroed: true });
    expect(r.counters.bytesZeroedOut).toBe(0);
    expect(r.counters.bytesZeroWritten).toBe(0);
    expect(await sha256File(dev)).toBe(await sha256File(path.join(dir, 'full.img')));
  });

  it('a larger device: the volume is restored, the bytes past its end are left alone', async () => {
    const file = await backing('big.img', SIZE + MiB, 0xee);
    const dev = attach(file);
    await restore(vault, { backupId: fullId, target: dev });
    expect(await hashPrefix(dev, SIZE)).toBe(await sha256File(path.join(dir, 'full.img')));
    const fh = await fs.open(dev, 'r');
    const tail = Buffer.alloc(MiB);
    await fh.read(tail, 0, MiB, SIZE);
    await fh.close();
    expect(tail.every((b) => b === 0xee)).toBe(true);
  });

  it('a too-small device is refused with VolumeBackup.0209 and nothing is written', async () => {
    const dev = attach(await backing('small.img', SIZE - MiB, 0x77));
    const before = await sha256File(dev);
    await expect(restore(vault, { backupId: fullId, target: dev })).rejects.toMatchObject({
      code: ErrorCodes.targetTooSmall,
      message: expect.stringMatching(/smaller than backup/),
    });
    expect(await sha256File(dev)).toBe(before);
  });

  it('a device that shrinks mid-backup fails with BV.InputChanged and nothing is made visible', async () => {
    const file = path.join(dir, 'shrink.img');
    await fs.copyFile(srcFile, file);
    const dev = attach(file);
    let cut = false;
    const p = backup(vault, {
      source: dev,
      volumeId: 'vol-shrink',
      concurrency: 1,
      everyBytes: BS,
      onProgress: () => {
        if (cut) return;
        cut = true;
        execFileSync('truncate', ['-s', String(SIZE / 2), file]);
        execFileSync('losetup', ['-c', dev]);
      },
    });
    await expect(p).rejects.toMatchObject({ code: ErrorCodes.inputChanged });
    expect(cut).toBe(true);
    expect(await vault.listBackups({ volumeId: 'vol-shrink' })).toHaveLength(0);
  });
});
