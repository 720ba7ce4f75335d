// The block pool: workers started early are adopted and given the vault's settings; a worker
// reads a planned block itself and hands back the same verdict as a block sent to it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockPool, prestartBlockWorkers } from '../../src/chunk/block-pool.js';
import { objectCapacity } from '../../src/chunk/block-work.js';
import { ChunkHasher } from '../../src/chunk/identity.js';
import { takeBlockWorker } from '../../src/chunk/worker-start.js';
import { ImageFileSource } from '../../src/source/image-source.js';
import { PlannedReadError } from '../../src/source/read-plan.js';
import { prng, tempDir, textLike } from '../helpers/images.js';

const BS = 256 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await tempDir('block-pool');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function keyOf(n: number): Buffer {
  return Buffer.alloc(32, n);
}

describe('block pool', () => {
  it('adopts workers started before the vault was open, and hashes with the key it gives them', async () => {
    prestartBlockWorkers(2);
    const rnd = prng(3);
    const block = textLike(BS, rnd);
    // Two vaults, two keys: a worker must use the key of the pool that adopted it.
    for (const k of [1, 2]) {
      const hasher = new ChunkHasher(keyOf(k));
      const pool = new BlockPool({ hasher, hashKey: keyOf(k), compression: 'lz4', workers: 2 });
      try {
        const results = await Promise.all(
          [0, 1, 2, 3].map(() => {
            const ab = new ArrayBuffer(BS);
            Buffer.from(ab).set(block);
            return pool.process(ab, new ArrayBuffer(objectCapacity(BS)), BS, undefined);
          }),
        );
        for (const r of results) {
          expect(r.verdict.kind).toBe('changed');
          expect((r.verdict as { id: Buffer }).id.equals(hasher.id(block))).toBe(true);
        }
      } finally {
        await pool.close();
      }
    }
  });

  it('a worker reads a planned block itself: same verdict and bytes as a block sent to it', async () => {
    const file = path.join(dir, 'img');
    const rnd = prng(5);
    const img = Buffer.concat([textLike(BS, rnd), Buffer.alloc(BS), textLike(BS / 2, rnd)]);
    await fs.writeFile(file, img);
    // A hole in the middle of the first block: zeros that are never read.
    const fh = await fs.open(file, 'r+');
    await fh.write(Buffer.alloc(64 * 1024), 0, 64 * 1024, 64 * 1024);
    await fh.close();
    const bytes = await fs.readFile(file);
    const src = await ImageFileSource.open(file);
    const hasher = new ChunkHasher(keyOf(9));
    for (const workers of [2, 0]) {
      const pool = new BlockPool({ hasher, hashKey: keyOf(9), compression: 'lz4', workers });
      try {
        for (const [start, end] of [
          [0, BS],
          [BS, 2 * BS],
          [2 * BS, 2 * BS + BS / 2],
        ] as const) {
          const len = end - start;
          const planned = await pool.readAndProcess(src.readPlan(start, end), start, len, new ArrayBuffer(objectCapacity(BS)), undefined);
          const ab = new ArrayBuffer(BS);
          Buffer.from(ab).set(bytes.subarray(start, end));
          const sent = await pool.process(ab, new ArrayBuffer(objectCapacity(BS)), len, undefined);
          expect(planned.verdict, `workers ${workers}, block at ${start}`).toEqual(sent.verdict);
          if (sent.verdict.kind === 'changed') {
            const n = sent.verdict.objectLength;
            expect(Buffer.from(planned.out, 0, n).equals(Buffer.from(sent.out, 0, n))).toBe(true);
          }
        }
        // Unchanged against its parent: the parent's id comes back, nothing is compressed.
        const id = hasher.id(bytes.subarray(0, BS));
        const same = await pool.readAndProcess(src.readPlan(0, BS), 0, BS, new ArrayBuffer(objectCapacity(BS)), id);
        expect(same.verdict).toEqual({ kind: 'unchanged', id });
        expect(same.read.dataBytes).toBe(BS);
        // A read past the end of the file is the input changing, as data the source explains.
        const past = await pool
          .readAndProcess({ fd: src.readPlan(0, BS).fd, ranges: [[3 * BS, 4 * BS]] }, 3 * BS, BS, new ArrayBuffer(objectCapacity(BS)), undefined)
          .catch((e) => e);
        expect(past).toBeInstanceOf(PlannedReadError);
        expect(past.failure).toEqual({ endedAt: 3 * BS });
      } finally {
        await pool.close();
      }
    }
    await src.close();
  });

  it('a started worker that ends before a pool takes it is recorded as failed (a pool taking it fails), not thrown', async () => {
    const started = takeBlockWorker();
    await started.worker.terminate();
    expect(started.failure?.message).toMatch(/block worker exited with code \d/);
  });
});
