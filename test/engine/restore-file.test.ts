// A restore's file: aligned pieces go straight to disk, the rest through the page cache, and a
// file system that refuses O_DIRECT mid-way loses nothing: that write and every later one are
// cached instead.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreFile } from '../../src/engine/restore-file.js';
import { DIRECT_ALIGN, alignedBuffer, alignedMemoryAvailable, directAligned } from '../../src/native/direct-io.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bv-restore-file-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function pattern(n: number, seed: number): Buffer {
  const b = alignedBuffer(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('RestoreFile', () => {
  it('the addon gives aligned memory (CI builds it), and an unaligned view is not direct-writable', () => {
    expect(alignedMemoryAvailable).toBe(true);
    const b = alignedBuffer(2 * DIRECT_ALIGN);
    expect(directAligned(b, 0)).toBe(true);
    expect(directAligned(b, 512)).toBe(false); // file offset
    expect(directAligned(b.subarray(16, 16 + DIRECT_ALIGN), 0)).toBe(false); // memory
    expect(directAligned(b.subarray(0, 100), 0)).toBe(false); // length
  });

  it('writes aligned heads straight to disk and unaligned tails cached; the file reads back whole', async () => {
    const file = path.join(dir, 'a.img');
    const f = await RestoreFile.create(file, 3 * DIRECT_ALIGN + 100, true);
    expect(f.direct).toBe(true);
    const a = pattern(2 * DIRECT_ALIGN, 1);
    const b = pattern(DIRECT_ALIGN + 100, 2);
    await f.write(a, 0, a.length, 0);
    await f.write(b, 0, b.length, 2 * DIRECT_ALIGN);
    await f.sync();
    await f.close();
    expect(f.bytesDirect).toBe(3 * DIRECT_ALIGN);
    expect(await fs.readFile(file)).toEqual(Buffer.concat([a, b]));
  });

  it('falls back to the page cache for good when a direct write is refused (EINVAL)', async () => {
    const file = path.join(dir, 'b.img');
    const fh = await fs.open(file, 'w');
    await fh.truncate(4 * DIRECT_ALIGN);
    let directWrites = 0;
    const refusing = {
      write: async () => {
        directWrites++;
        throw Object.assign(new Error('Invalid argument'), { code: 'EINVAL' });
      },
      datasync: async () => {},
      sync: async () => {},
      close: async () => {},
    } as unknown as fs.FileHandle;
    const f = new RestoreFile(fh, refusing);
    const a = pattern(2 * DIRECT_ALIGN, 3);
    const b = pattern(2 * DIRECT_ALIGN, 4);
    await f.write(a, 0, a.length, 0);
    expect(f.direct).toBe(false);
    await f.write(b, 0, b.length, 2 * DIRECT_ALIGN);
    await f.sync();
    await f.close();
    expect(directWrites).toBe(1);
    expect(f.bytesDirect).toBe(0);
    expect(await fs.readFile(file)).toEqual(Buffer.concat([a, b]));
  });

  it('passes other write errors on (a full disk is not a reason to retry elsewhere)', async () => {
    const fh = await fs.open(path.join(dir, 'c.img'), 'w');
    const full = {
      write: async () => {
        throw Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
      },
      close: async () => {},
    } as unknown as fs.FileHandle;
    const f = new RestoreFile(fh, full);
    const a = pattern(DIRECT_ALIGN, 5);
    await expect(f.write(a, 0, a.length, 0)).rejects.toMatchObject({ code: 'ENOSPC' });
    await f.close();
  });
});
