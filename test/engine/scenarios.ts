// The core end-to-end scenarios, written once and run against every kind of vault: the local
// suite (backup-restore.test.ts) and the S3 suite (s3-vault.test.ts) both call coreScenarios()
// inside a describe, with a factory that makes a fresh, empty vault of 64 KiB blocks.
// Everything goes through the library API and the vault's own ObjectStore, so nothing here
// knows whether the vault is a directory or a bucket.
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { expect, it } from 'vitest';
import { backup, listBackups, restore, showBackup, type Vault } from '../../src/index.js';
import { BlockvaultError } from '../../src/errors.js';
import { makeImage, overwrite, prng, sha256File, textLike, type Kind } from '../helpers/images.js';

export const SCENARIO_BS = 64 * 1024;
const BS = SCENARIO_BS;

export interface ScenarioContext {
  /** A fresh, empty vault with 64 KiB blocks, unique to `name`. */
  makeVault(name: string): Promise<Vault>;
  /** A scratch directory for images and restore targets (ready when the tests run). */
  dir(): string;
}

/** Registers the core scenarios as `it` blocks in the caller's describe. */
export function coreScenarios(ctx: ScenarioContext): void {
  const file = (name: string) => path.join(ctx.dir(), name);

  it('round trip of a mixed image is bit-exact; zero blocks not stored, each distinct block once', async () => {
    const blocks: Kind[] = ['random', 'hole', 'text', 'zeros', 'repeat', 'random', 'repeat', 'text', 'hole', 'random'];
    const img = file('sc-mixed.img');
    await makeImage(img, { blocks, blockSize: BS, seed: 10, shortBy: 777 });
    const vault = await ctx.makeVault('sc-mixed');
    try {
      const b = await backup(vault, { source: img, volumeId: 'mixed' });
      expect(b.type).toBe('full');
      expect(b.newChunkCount).toBe(5);
      expect(b.chunkCount).toBe(5);
      expect(b.counters.blocksZero).toBe(3);
      expect(b.counters.blocksDeduplicated).toBe(2);
      expect(b.counters.bytesCompressedOut).toBeLessThan(b.counters.bytesCompressedIn);
      const out = file('sc-mixed.out');
      await restore(vault, { backupId: b.backupId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(img));
      expect((await fs.stat(out)).size).toBe(10 * BS - 777);
    } finally {
      await vault.close();
    }
  });

  it('a 5-backup incremental chain restores every point bit-exact', async () => {
    const img = file('sc-chain.img');
    const blocks: Kind[] = Array.from({ length: 32 }, (_, i) => (['random', 'text', 'hole', 'random'] as Kind[])[i % 4]!);
    await makeImage(img, { blocks, blockSize: BS, seed: 5 });
    const vault = await ctx.makeVault('sc-chain');
    try {
      const rnd = prng(99);
      const points: { id: string; sha: string }[] = [];
      for (let n = 0; n < 5; n++) {
        if (n > 0) {
          await overwrite(img, rnd.int(32) * BS + 100, Buffer.from(`change ${n}`));
          await overwrite(img, ((n * 7) % 32) * BS, textLike(BS, rnd));
        }
        const b = await backup(vault, { source: img, volumeId: 'chain' });
        if (n === 0) expect(b.type).toBe('full');
        else {
          expect(b.type).toBe('incremental');
          expect(b.parentId).toBe(points[n - 1]!.id);
          expect(b.newChunkCount).toBeLessThanOrEqual(2);
        }
        points.push({ id: b.backupId, sha: await sha256File(img) });
      }
      expect((await listBackups(vault, { volumeId: 'chain' })).map((b) => b.backupId)).toEqual(points.map((p) => p.id));
      for (const [i, p] of points.entries()) {
        const out = file(`sc-chain-${i}.out`);
        await restore(vault, { backupId: p.id, target: out });
        expect(await sha256File(out), `point ${i}`).toBe(p.sha);
      }
    } finally {
      await vault.close();
    }
  });

  it('deduplicates across volumes of one vault', async () => {
    const img = file('sc-clone.img');
    await makeImage(img, { blocks: ['random', 'text', 'random'], blockSize: BS, seed: 77 });
    const vault = await ctx.makeVault('sc-clones');
    try {
      const a = await backup(vault, { source: img, volumeId: 'vol-a' });
      const b = await backup(vault, { source: img, volumeId: 'vol-b' });
      expect(a.newChunkCount).toBe(3);
      expect(b.newChunkCount).toBe(0);
      expect(b.type).toBe('full');
      expect(b.counters.bytesDeduplicated).toBe(3 * BS);
      const out = file('sc-clone.out');
      await restore(vault, { backupId: b.backupId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(img));
    } finally {
      await vault.close();
    }
  });

  it('a flipped byte in a stored chunk is detected, naming the backup, block and offset', async () => {
    const img = file('sc-damage.img');
    await makeImage(img, { blocks: ['random', 'random', 'random'], blockSize: BS, seed: 11 });
    const vault = await ctx.makeVault('sc-damage');
    try {
      const b = await backup(vault, { source: img, volumeId: 'd' });
      const keys: string[] = [];
      for await (const o of vault.meta.list('chunks/')) keys.push(o.key);
      expect(keys).toHaveLength(3);
      const victim = keys.sort()[0]!;
      const bad = Buffer.from((await vault.meta.get(victim))!);
      bad[bad.length - 100]! ^= 0x04;
      await vault.meta.put(victim, bad); // overwrite in place, as bit rot would
      const out = file('sc-damage.out');
      const err = await restore(vault, { backupId: b.backupId, target: out }).catch((e) => e);
      expect(err).toBeInstanceOf(BlockvaultError);
      expect(err.code).toBe('BV.CorruptChunk');
      expect(err.message).toMatch(new RegExp(`block \\d+ \\(offset \\d+\\) of backup ${b.backupId}`));
      expect(err.details.object).toBe(victim);
      expect(err.details.offset).toBe(err.details.blockIndex * BS);
      await expect(fs.stat(out)).rejects.toThrow(); // nothing half-written became visible
    } finally {
      await vault.close();
    }
  });

  it('a cancelled backup leaves no backup, and the next run reuses its chunks', async () => {
    const img = file('sc-cancel.img');
    await makeImage(img, { blocks: Array.from({ length: 400 }, () => 'random' as Kind), blockSize: BS, seed: 12 });
    const vault = await ctx.makeVault('sc-cancel');
    try {
      const ac = new AbortController();
      const err = await backup(vault, {
        source: img,
        volumeId: 'c',
        signal: ac.signal,
        everyBytes: 1,
        onProgress: (e) => {
          if (e.counters.chunksWritten! >= 300) ac.abort(new Error('test cancel'));
        },
      }).catch((e) => e);
      expect(err.code).toBe('BV.Aborted');
      expect(await listBackups(vault)).toEqual([]);
      const manifests: string[] = [];
      for await (const o of vault.meta.list('manifests/')) manifests.push(o.key);
      expect(manifests).toEqual([]);
      const b = await backup(vault, { source: img, volumeId: 'c' });
      expect(b.counters.blocksDeduplicated).toBeGreaterThanOrEqual(256); // one index segment at least
      expect(b.newChunkCount).toBeLessThan(400 - 256 + 1);
      const out = file('sc-cancel.out');
      await restore(vault, { backupId: b.backupId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(img));
    } finally {
      await vault.close();
    }
  });

  it('maps the result to the service fields', async () => {
    const img = file('sc-metrics.img');
    const blocks: Kind[] = Array.from({ length: 48 }, (_, i) => (['random', 'text', 'hole', 'zeros'] as Kind[])[i % 4]!);
    const size = await makeImage(img, { blocks, blockSize: BS, seed: 21 });
    const vault = await ctx.makeVault('sc-metrics');
    try {
      const b = await backup(vault, { source: img, volumeId: 'm', snapshotId: 'snap-42', bootable: true });
      const md = JSON.parse(b.service_metadata);
      for (const k of ['AT', 'SS', 'CS', 'DL', 'Type', 'BackupSize', 'progress', 'backupurl', 'snap_id', 'bootable']) {
        expect(md, k).toHaveProperty(k);
      }
      expect(md.Type).toBe(0);
      expect(md.progress).toBe(100);
      expect(md.snap_id).toBe('snap-42');
      expect(md.backupurl).toBe(b.backupId);
      const MB = 1024 * 1024;
      expect(md.CS).toBe(Math.ceil(b.storedBytes / MB));
      expect(md.SS).toBe(Math.floor((1 - b.newStoredBytes / size) * 100));
      expect(b.object_count).toBe(b.chunkCount + 1);
      expect(b.size).toBe(1);
      expect(b.is_incremental).toBe(false);
      await overwrite(img, 0, Buffer.from('x'));
      const inc = await backup(vault, { source: img, volumeId: 'm' });
      expect(JSON.parse(inc.service_metadata).Type).toBe(1);
      expect(inc.is_incremental).toBe(true);
      const shown = await showBackup(vault, inc.backupId);
      expect(shown.chain).toEqual([inc.backupId, b.backupId]);
      expect((await showBackup(vault, b.backupId)).has_dependent_backups).toBe(true);
    } finally {
      await vault.close();
    }
  });
}
