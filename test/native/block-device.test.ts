import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeSync, fsyncSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockvaultError, ErrorCodes } from '../../src/errors.js';
import {
  blockDeviceSize,
  deviceInfo,
  deviceInfoFromFd,
  discard,
  logicalSectorSize,
  nativeAvailable,
  nativeUnavailableReason,
  physicalSectorSize,
  zeroOut,
} from '../../src/native/block-device.js';
import { loopUnavailableReason } from '../helpers/loop.js';

const MiB = 1024 * 1024;

const loopReason = loopUnavailableReason();
const canUseLoop = loopReason === undefined;
if (!canUseLoop) console.warn(`[skip] loop-device tests skipped: ${loopReason}`);

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

function isAll(buf: Buffer, byte: number): boolean {
  for (const b of buf) if (b !== byte) return false;
  return true;
}

describe('native loader on regular files', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bv-native-'));
    file = join(dir, 'plain.img');
    const fd = openSync(file, 'w');
    writeSync(fd, Buffer.alloc(12345, 7));
    closeSync(fd);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('deviceInfo on a regular file: fstat size and 512/4096 defaults', async () => {
    expect(await deviceInfo(file)).toEqual({
      isBlockDevice: false,
      size: 12345,
      logicalSectorSize: 512,
      physicalSectorSize: 4096,
    });
  });

  it('deviceInfo refuses a directory and a missing path clearly', async () => {
    await expect(deviceInfo(dir)).rejects.toMatchObject({ code: ErrorCodes.badInput, message: expect.stringContaining('is a directory') });
    await expect(deviceInfo(join(dir, 'nope'))).rejects.toMatchObject({
      code: ErrorCodes.badInput,
      message: expect.stringContaining('does not exist'),
    });
  });

  it.skipIf(!nativeAvailable())('an ioctl on a regular file fails with ENOTTY and says it is not a block device', () => {
    const fd = openSync(file, 'r');
    try {
      for (const fn of [() => blockDeviceSize(fd), () => logicalSectorSize(fd), () => physicalSectorSize(fd), () => zeroOut(fd, 0, 512), () => discard(fd, 0, 512)]) {
        let caught: unknown;
        try {
          fn();
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(Error);
        expect(caught).toMatchObject({ code: 'ENOTTY', syscall: 'ioctl', errno: -25 });
        expect((caught as Error).message).toMatch(/not a block device/);
        expect((caught as Error).message).toMatch(/BLK[A-Z0-9]+/);
      }
    } finally {
      closeSync(fd);
    }
  });

  it.skipIf(!nativeAvailable())('bad arguments are refused before any ioctl', () => {
    expect(() => blockDeviceSize(-1)).toThrow(/fd must be a non-negative integer/);
    expect(() => blockDeviceSize('3' as unknown as number)).toThrow(/fd must be a number/);
    expect(() => zeroOut(0, 1.5, 512)).toThrow(/offset must be a non-negative safe integer/);
    expect(() => zeroOut(0, 0, -512)).toThrow(/length must be a non-negative safe integer/);
  });

  it('without the addon every function throws BlockvaultError(unsupported) with a rebuild hint', async () => {
    vi.resetModules();
    vi.doMock('node:module', async (importOriginal) => {
      const real = await importOriginal<typeof import('node:module')>();
      return {
        ...real,
        createRequire: () => () => {
          throw Object.assign(new Error("Cannot find module '@blockvault/native'"), { code: 'MODULE_NOT_FOUND' });
        },
      };
    });
    try {
      const mod = await import('../../src/native/block-device.js');
      // After resetModules the loader sees a fresh copy of errors.js: compare with that one.
      const errors = await import('../../src/errors.js');
      expect(mod.nativeAvailable()).toBe(false);
      expect(mod.nativeUnavailableReason()).toMatch(/not built or failed to load/);
      let caught: unknown;
      try {
        mod.blockDeviceSize(0);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(errors.BlockvaultError);
      const e = caught as BlockvaultError;
      expect(e.code).toBe(ErrorCodes.unsupported);
      expect(e.message).toMatch(/native block-device addon/);
      expect(e.hint).toMatch(/npm rebuild blockvault/);
      expect(e.hint).toMatch(/Linux/);
      // Image files still work without it.
      expect((await mod.deviceInfo(file)).size).toBe(12345);
    } finally {
      vi.doUnmock('node:module');
      vi.resetModules();
    }
  });
});

describe.skipIf(!canUseLoop)('block devices (loop devices, root)', () => {
  let dir: string;
  const devices: string[] = [];
  let backing512: string;
  let backing4k: string;
  let dev512: string;
  let dev4k: string;

  function attach(file: string, extra: string[] = []): string {
    const dev = execFileSync('losetup', ['--find', '--show', ...extra, file], { encoding: 'utf8' }).trim();
    devices.push(dev);
    return dev;
  }

  function sparseFile(name: string, size: number): string {
    const path = join(dir, name);
    const fd = openSync(path, 'w');
    closeSync(fd);
    execFileSync('truncate', ['-s', String(size), path]);
    return path;
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bv-loop-'));
    backing512 = sparseFile('disk512.img', 64 * MiB);
    backing4k = sparseFile('disk4k.img', 64 * MiB);
    dev512 = attach(backing512);
    dev4k = attach(backing4k, ['--sector-size', '4096']);
  });

  afterAll(() => {
    for (const dev of devices) {
      const r = spawnSync('losetup', ['-d', dev], { encoding: 'utf8' });
      if (r.status !== 0) console.warn(`could not detach ${dev}: ${r.stderr}`);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('size and sector sizes of a 512-byte-sector loop device', async () => {
    const info = await deviceInfo(dev512);
    expect(info.isBlockDevice).toBe(true);
    expect(info.size).toBe(64 * MiB);
    expect(info.logicalSectorSize).toBe(512);
    expect(info.physicalSectorSize).toBeGreaterThanOrEqual(512);
    expect(Number.isInteger(Math.log2(info.physicalSectorSize))).toBe(true);
    console.info(`${dev512}: ${JSON.stringify(info)}`);
  });

  it('size and sector sizes with losetup --sector-size 4096', () => {
    const fd = openSync(dev4k, 'r');
    try {
      expect(fstatSync(fd).isBlockDevice()).toBe(true);
      expect(blockDeviceSize(fd)).toBe(64 * MiB);
      expect(logicalSectorSize(fd)).toBe(4096);
      expect(physicalSectorSize(fd)).toBe(4096);
      expect(deviceInfoFromFd(fd, dev4k)).toEqual({
        isBlockDevice: true,
        size: 64 * MiB,
        logicalSectorSize: 4096,
        physicalSectorSize: 4096,
      });
    } finally {
      closeSync(fd);
    }
  });

  it('zeroOut makes a written range read back as zeros, and leaves its neighbours alone', () => {
    const fd = openSync(dev512, 'r+');
    try {
      writeSync(fd, Buffer.alloc(256 * 1024, 0xab), 0, 256 * 1024, 1 * MiB);
      fsyncSync(fd);
      expect(isAll(readAt(fd, 1 * MiB, 256 * 1024), 0xab)).toBe(true);

      zeroOut(fd, 1 * MiB + 64 * 1024, 128 * 1024);

      expect(isAll(readAt(fd, 1 * MiB, 64 * 1024), 0xab)).toBe(true);
      expect(isAll(readAt(fd, 1 * MiB + 64 * 1024, 128 * 1024), 0)).toBe(true);
      expect(isAll(readAt(fd, 1 * MiB + 192 * 1024, 64 * 1024), 0xab)).toBe(true);
      // bigint arguments work too; a zero length is a no-op.
      zeroOut(fd, 1 * MiB + 192 * 1024, 0);
      (zeroOut as (fd: number, o: number | bigint, l: number | bigint) => void)(fd, BigInt(1 * MiB), 512n);
      expect(isAll(readAt(fd, 1 * MiB, 512), 0)).toBe(true);
      expect(isAll(readAt(fd, 1 * MiB + 512, 512), 0xab)).toBe(true);
    } finally {
      closeSync(fd);
    }
    // The backing file saw it too.
    const bfd = openSync(backing512, 'r');
    try {
      expect(isAll(readAt(bfd, 1 * MiB + 64 * 1024, 128 * 1024), 0)).toBe(true);
      expect(isAll(readAt(bfd, 1 * MiB + 192 * 1024, 64 * 1024), 0xab)).toBe(true);
    } finally {
      closeSync(bfd);
    }
  });

  it('discard releases a range (the loop device punches a hole in its backing file)', () => {
    const fd = openSync(dev512, 'r+');
    try {
      writeSync(fd, Buffer.alloc(4 * MiB, 0x5a), 0, 4 * MiB, 8 * MiB);
      fsyncSync(fd);
      const blocksBefore = statSync(backing512).blocks;
      try {
        discard(fd, 8 * MiB, 4 * MiB);
      } catch (err) {
        // A backing filesystem without hole punching: the addon must say so by name.
        expect((err as { code?: string }).code).toBe('EOPNOTSUPP');
        console.warn(`discard not supported here: ${(err as Error).message}`);
        return;
      }
      expect(isAll(readAt(fd, 8 * MiB, 4 * MiB), 0)).toBe(true);
      fsyncSync(fd);
      const blocksAfter = statSync(backing512).blocks;
      expect(blocksBefore - blocksAfter).toBeGreaterThanOrEqual((4 * MiB) / 512 - 8);
    } finally {
      closeSync(fd);
    }
  });

  it('misaligned or out-of-range ranges fail with EINVAL, a read-only fd with EBADF', () => {
    const rw = openSync(dev512, 'r+');
    const ro = openSync(dev512, 'r');
    const rw4k = openSync(dev4k, 'r+');
    try {
      expect(() => zeroOut(rw, 100, 512)).toThrow(expect.objectContaining({ code: 'EINVAL', request: 'BLKZEROOUT' }));
      expect(() => zeroOut(rw, 60 * MiB, 8 * MiB)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      // 512-aligned but not aligned to the 4096-byte logical sectors.
      expect(() => zeroOut(rw4k, 512, 4096)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => discard(rw4k, 4096, 512)).toThrow(expect.objectContaining({ code: 'EINVAL', request: 'BLKDISCARD' }));
      zeroOut(rw4k, 4096, 8192);
      expect(() => zeroOut(ro, 0, 4096)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      try {
        zeroOut(rw, 100, 512);
      } catch (err) {
        expect((err as Error).message).toMatch(/zero-out: offset and length must be multiples of the logical sector size/);
      }
    } finally {
      closeSync(rw);
      closeSync(ro);
      closeSync(rw4k);
    }
  });
});
