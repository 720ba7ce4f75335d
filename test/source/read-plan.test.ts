// The planned read a worker thread does by itself: data ranges read, holes zeroed, and a
// failure that crosses threads as data the source turns into its own error.
import { constants, openSync, closeSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageFileSource } from '../../src/source/image-source.js';
import { PlannedReadError, readPlanned } from '../../src/source/read-plan.js';
import { alignedBuffer, directIoAvailable } from '../../src/native/direct-io.js';
import { prng, tempDir } from '../helpers/images.js';

const KiB = 1024;
let dir: string;

beforeAll(async () => {
  dir = await tempDir('read-plan');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A 256 KiB sparse file: data at [16, 48) KiB and [200, 256) KiB, holes elsewhere. */
async function sparseFile(name: string): Promise<{ file: string; bytes: Buffer }> {
  const file = path.join(dir, name);
  const bytes = Buffer.alloc(256 * KiB);
  const rnd = prng(7);
  for (const [a, b] of [
    [16, 48],
    [200, 256],
  ] as const) {
    rnd.fill(bytes.subarray(a * KiB, b * KiB));
  }
  const fh = await fs.open(file, 'w');
  await fh.write(bytes, 16 * KiB, 32 * KiB, 16 * KiB);
  await fh.write(bytes, 200 * KiB, 56 * KiB, 200 * KiB);
  await fh.truncate(256 * KiB);
  await fh.close();
  return { file, bytes };
}

describe('planned reads', () => {
  it('reads the data ranges and zeroes the holes, whatever the buffer held before', async () => {
    const { file, bytes } = await sparseFile('sparse.img');
    const src = await ImageFileSource.open(file);
    try {
      for (const [start, end] of [
        [0, 128 * KiB],
        [128 * KiB, 256 * KiB],
        [40 * KiB, 210 * KiB],
      ] as const) {
        const buf = Buffer.alloc(end - start, 0xee); // stale bytes must not survive
        const plan = src.planned!.readPlan(start, end);
        const { dataBytes, directBytes } = readPlanned(plan, start, end, buf);
        expect(directBytes).toBe(0); // an image file is read through the page cache
        expect(buf.equals(bytes.subarray(start, end))).toBe(true);
        // What the main thread's read() says for the same block.
        const viaRead = await src.read(start, end, Buffer.alloc(end - start));
        expect(dataBytes).toBe(viaRead.dataBytes);
      }
    } finally {
      await src.close();
    }
  });

  it.runIf(directIoAvailable)('reads through the O_DIRECT handle where memory, offset and length are aligned, else through the cache', async () => {
    const { file, bytes } = await sparseFile('direct.img');
    const plain = openSync(file, 'r');
    const direct = openSync(file, constants.O_RDONLY | constants.O_DIRECT);
    try {
      const plan = { fd: plain, ranges: [[0, 256 * KiB]] as Array<[number, number]>, direct: { fd: direct, sector: 512 } };
      const aligned = alignedBuffer(256 * KiB);
      expect(readPlanned(plan, 0, 256 * KiB, aligned)).toEqual({ dataBytes: 256 * KiB, directBytes: 256 * KiB, directRefused: false });
      expect(aligned.equals(bytes)).toBe(true);
      const unaligned = Buffer.alloc(256 * KiB + 1).subarray(1); // off any 512-byte boundary
      expect(readPlanned(plan, 0, 256 * KiB, unaligned)).toEqual({ dataBytes: 256 * KiB, directBytes: 0, directRefused: false });
      expect(unaligned.equals(bytes)).toBe(true);
    } finally {
      closeSync(direct);
      closeSync(plain);
    }
  });

  it('a file that ended early is the input changing: the source says where', async () => {
    const { file } = await sparseFile('shrunk.img');
    const src = await ImageFileSource.open(file);
    try {
      const plan = src.planned!.readPlan(128 * KiB, 256 * KiB);
      await fs.truncate(file, 220 * KiB);
      const e = (() => {
        try {
          readPlanned(plan, 128 * KiB, 256 * KiB, Buffer.alloc(128 * KiB));
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(PlannedReadError);
      expect((e as PlannedReadError).failure).toEqual({ endedAt: 220 * KiB });
      const mapped = src.readFailed((e as PlannedReadError).failure) as Error & { code: string };
      expect(mapped.code).toBe('BV.InputChanged');
      expect(mapped.message).toContain(`it ended at offset ${220 * KiB}, before its size at open (${256 * KiB})`);
    } finally {
      await src.close();
    }
  });

  it('a failing read keeps its errno code across the thread boundary', async () => {
    const file = path.join(dir, 'closed.img');
    await fs.writeFile(file, Buffer.alloc(8 * KiB, 1));
    const fd = openSync(file, 'r');
    closeSync(fd);
    const e = (() => {
      try {
        readPlanned({ fd, ranges: [[0, 8 * KiB]] }, 0, 8 * KiB, Buffer.alloc(8 * KiB));
      } catch (err) {
        return err;
      }
    })() as PlannedReadError;
    expect(e).toBeInstanceOf(PlannedReadError);
    expect(e.failure.code).toBe('EBADF');
    // The failure is plain data: it survives structured clone (postMessage) unchanged.
    expect(structuredClone(e.failure)).toEqual(e.failure);
  });
});
