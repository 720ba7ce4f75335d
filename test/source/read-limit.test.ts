// The read limit on the input: a backup reads at most the given data bytes per second on
// average (holes are free), so it does not starve the disk it backs up.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup, openVault } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, tempDir, type Kind } from '../helpers/images.js';

const BS = 64 * 1024;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('read limit', () => {
  it('a 4 MiB image at 2 MiB/s takes at least 1.5 s; its 4 MiB of holes cost nothing', async () => {
    const dir = await tempDir('read-limit');
    dirs.push(dir);
    const img = path.join(dir, 'disk.img');
    // 64 blocks of data, then 64 of holes
    await makeImage(img, { blockSize: BS, seed: 4, blocks: [...Array.from({ length: 64 }, () => 'random' as Kind), ...Array.from({ length: 64 }, () => 'hole' as Kind)] });
    const vault = await openVault(path.join(dir, 'vault'), { create: true, blockSize: BS });
    try {
      const t0 = performance.now();
      const b = await backup(vault, { source: img, volumeId: 'v', limitReadBytesPerSec: 2 * 1024 * 1024 });
      const ms = performance.now() - t0;
      expect(b.counters.bytesRead).toBe(4 * 1024 * 1024);
      expect(ms).toBeGreaterThanOrEqual(1500);
      // without the limit the same read is far quicker than the limit allows (a loose bound)
      const t1 = performance.now();
      await backup(vault, { source: img, volumeId: 'w' });
      expect(performance.now() - t1).toBeLessThan(ms);
    } finally {
      await vault.close();
    }
  });

  it('the CLI takes --limit-read with units and refuses a bad rate (exit 2)', async () => {
    const dir = await tempDir('read-limit-cli');
    dirs.push(dir);
    const img = path.join(dir, 'disk.img');
    await makeImage(img, { blockSize: BS, seed: 5, blocks: Array.from({ length: 32 }, () => 'random' as Kind) });
    const bad = await runCli(['backup', img, '--vault', path.join(dir, 'v'), '--volume', 'v', '--limit-read', 'fast']);
    expect(bad.code).toBe(2);
    const t0 = performance.now();
    const ok = await runCli(['backup', img, '--vault', path.join(dir, 'v'), '--volume', 'v', '--limit-read', '1MiB', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1500); // 2 MiB at 1 MiB/s
  });
});
