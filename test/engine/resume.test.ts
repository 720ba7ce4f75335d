// Issue 9.9: a backup killed with kill -9 leaves at most a bounded amount stored but not
// indexed; the next run re-uploads only that (counted as chunksRewritten: objects found
// present but not in the index).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, openVault } from '../../src/index.js';
import { makeImage, tempDir, type Kind } from '../helpers/images.js';

const BS = 65536;
const HERE = path.dirname(fileURLToPath(import.meta.url));
let dir: string;
beforeAll(async () => {
  dir = await tempDir('resume');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Runs the slow backup and kill -9s it once it has written `killAt` chunks; returns that count. */
async function killMidway(vaultDir: string, image: string, killAt: number, flushBytes: number, flushMs: number, delayMs: number): Promise<number> {
  const child = spawn(process.execPath, [path.join(HERE, 'resume-backup.mjs'), vaultDir, 'vol-r', image, String(flushBytes), String(flushMs), String(delayMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let written = 0;
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_c, s) => resolve(s)));
  child.stdout.on('data', (d: Buffer) => {
    for (const m of d.toString().matchAll(/WRITTEN (\d+)/g)) written = Math.max(written, Number(m[1]));
    if (written >= killAt) child.kill('SIGKILL');
  });
  const signal = await done;
  expect(signal, err).toBe('SIGKILL');
  return written;
}

describe('resume after kill -9', () => {
  it('re-uploads at most two index intervals of new chunk bytes (plus the blocks in flight)', async () => {
    const vaultDir = path.join(dir, 'bytes-vault');
    const image = path.join(dir, 'bytes.img');
    await makeImage(image, { blockSize: BS, seed: 21, blocks: Array.from({ length: 240 }, () => 'random' as Kind) });
    (await openVault(vaultDir, { create: true, blockSize: BS })).close();
    // a segment every 1 MiB (16 chunks of 64 KiB); the timer is out of reach
    const killed = await killMidway(vaultDir, image, 150, 1024 * 1024, 600_000, 2);
    expect(killed).toBeGreaterThanOrEqual(150);
    const vault = await openVault(vaultDir);
    try {
      const r = await backup(vault, { source: image, volumeId: 'vol-r' });
      // The segment of one interval may still be on its way (it waits for its chunks' data to
      // be durable) while the next interval fills: two intervals, the blocks in flight, and
      // the lag of the child's progress lines.
      expect(r.counters.chunksRewritten).toBeLessThanOrEqual(2 * 16 + 2 + 2);
      expect(r.counters.blocksDeduplicated).toBeGreaterThanOrEqual(killed - (2 * 16 + 4));
    } finally {
      await vault.close();
    }
  });

  it('and at most what was stored in the last INDEX_FLUSH_MS when the bytes bound is far', async () => {
    const vaultDir = path.join(dir, 'time-vault');
    const image = path.join(dir, 'time.img');
    await makeImage(image, { blockSize: BS, seed: 22, blocks: Array.from({ length: 240 }, () => 'random' as Kind) });
    (await openVault(vaultDir, { create: true, blockSize: BS })).close();
    // about 100 chunks/s with 2 lanes of 20 ms reads; a segment at most 300 ms after a chunk
    const killed = await killMidway(vaultDir, image, 150, 1024 ** 3, 300, 20);
    const vault = await openVault(vaultDir);
    try {
      const r = await backup(vault, { source: image, volumeId: 'vol-r' });
      expect(r.counters.chunksRewritten).toBeLessThan(killed / 2);
      expect(r.counters.blocksDeduplicated).toBeGreaterThan(killed / 2);
    } finally {
      await vault.close();
    }
  });
});
