// Issue 9.1: a backup never names a chunk whose object is gone. Each case deletes a chunk
// object the index lists (a lost object, a lifecycle rule, a manual clean-up) and checks
// that the next backup that needs it stores it again, so its restore is bit-exact.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, openVault, restore, verify, type Vault } from '../../src/index.js';
import { Layout } from '../../src/vault/layout.js';
import { makeImage, overwrite, prng, sha256File, tempDir } from '../helpers/images.js';

const BS = 65536;
let dir: string;
beforeAll(async () => {
  dir = await tempDir('missing-chunks');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function chunkIdOfBlock(vault: Vault, backupId: string, block: number): Promise<Buffer> {
  const map = await vault.blockMap(backupId);
  expect(map.hasChunk(block)).toBe(true);
  return Buffer.from(map.idAt(block));
}

async function loseChunk(vaultDir: string, id: Buffer): Promise<void> {
  await fs.rm(path.join(vaultDir, Layout.chunkKey(id)));
}

async function restoresTo(vault: Vault, backupId: string, image: string): Promise<void> {
  const out = path.join(dir, `out-${backupId}.img`);
  await restore(vault, { backupId, target: out, force: true });
  expect(await sha256File(out)).toBe(await sha256File(image));
  await fs.rm(out);
}

async function setUp(name: string) {
  const vaultDir = path.join(dir, name);
  const image = path.join(dir, `${name}.img`);
  await makeImage(image, { blockSize: BS, seed: 3, blocks: ['random', 'text', 'random', 'random', 'text', 'random'] });
  const vault = await openVault(vaultDir, { create: true, blockSize: BS });
  const first = await backup(vault, { source: image, volumeId: 'vol-a' });
  return { vaultDir, image, vault, first };
}

describe('a chunk object the index lists is gone', () => {
  it('a backup of another volume that holds that block stores it again', async () => {
    const { vaultDir, image, vault, first } = await setUp('other-volume');
    try {
      await loseChunk(vaultDir, await chunkIdOfBlock(vault, first.backupId, 1));
      const copy = path.join(dir, 'other-volume-copy.img');
      await fs.copyFile(image, copy);
      const b = await backup(vault, { source: copy, volumeId: 'vol-b' });
      expect(b.counters.chunksRestored).toBe(1);
      expect(b.counters.chunksConfirmed).toBe(6); // every dedup hit, once
      await restoresTo(vault, b.backupId, copy);
      // the first backup names the same chunk: whole again too
      await restoresTo(vault, first.backupId, image);
      expect((await verify(vault, { deep: true })).ok).toBe(true);
    } finally {
      await vault.close();
    }
  });

  it("the same volume's next incremental stores an inherited (unchanged) block again", async () => {
    const { vaultDir, image, vault, first } = await setUp('same-volume');
    try {
      await loseChunk(vaultDir, await chunkIdOfBlock(vault, first.backupId, 2));
      const data = Buffer.alloc(BS);
      prng(99).fill(data);
      await overwrite(image, 4 * BS, data);
      const inc = await backup(vault, { source: image, volumeId: 'vol-a' });
      expect(inc.type).toBe('incremental');
      expect(inc.counters.chunksRestored).toBe(1);
      expect(inc.counters.chunksConfirmed).toBe(5); // the five inherited blocks
      await restoresTo(vault, inc.backupId, image);
    } finally {
      await vault.close();
    }
  });

  it('with few inherited chunks, each is confirmed with a HEAD (no listing) and a gone one stored again', async () => {
    const vaultDir = path.join(dir, 'heads');
    const image = path.join(dir, 'heads.img');
    await makeImage(image, { blockSize: BS, seed: 4, blocks: ['random', 'zeros', 'hole'] });
    const vault = await openVault(vaultDir, { create: true, blockSize: BS });
    try {
      const first = await backup(vault, { source: image, volumeId: 'h' });
      await loseChunk(vaultDir, await chunkIdOfBlock(vault, first.backupId, 0));
      const inc = await backup(vault, { source: image, volumeId: 'h' });
      expect(inc.counters.chunksConfirmed).toBe(1);
      expect(inc.counters.chunksRestored).toBe(1);
      await restoresTo(vault, inc.backupId, image);
    } finally {
      await vault.close();
    }
  });

  it('a block skipped through a changed-extent list is read again when its chunk is gone', async () => {
    const { vaultDir, image, vault, first } = await setUp('extents');
    try {
      await loseChunk(vaultDir, await chunkIdOfBlock(vault, first.backupId, 0));
      const data = Buffer.alloc(BS);
      prng(5).fill(data);
      await overwrite(image, 3 * BS, data);
      const inc = await backup(vault, { source: image, volumeId: 'vol-a', changedExtents: [{ offset: 3 * BS, length: BS, zero: false }] });
      expect(inc.counters.bytesSkippedByExtents).toBe(5 * BS); // block 0 among them
      expect(inc.counters.chunksRestored).toBe(1);
      await restoresTo(vault, inc.backupId, image);
    } finally {
      await vault.close();
    }
  });

  it('nothing is confirmed twice and nothing written in this run is confirmed', async () => {
    const vaultDir = path.join(dir, 'counts');
    const image = path.join(dir, 'counts.img');
    // blocks 0 and 3 are equal: one dedup hit against a chunk this run wrote
    await makeImage(image, { blockSize: BS, seed: 8, blocks: ['random', 'text', 'random', 'random'] });
    const head = Buffer.alloc(BS);
    const fh = await fs.open(image, 'r');
    await fh.read(head, 0, BS, 0);
    await fh.close();
    await overwrite(image, 3 * BS, head);
    const vault = await openVault(vaultDir, { create: true, blockSize: BS });
    try {
      const full = await backup(vault, { source: image, volumeId: 'c', workers: 0, concurrency: 1 });
      expect(full.counters.blocksDeduplicated).toBe(1);
      expect(full.counters.chunksConfirmed).toBe(0);
      const inc = await backup(vault, { source: image, volumeId: 'c' });
      expect(inc.counters.chunksConfirmed).toBe(3); // three distinct inherited chunks
      expect(inc.counters.chunksRestored).toBe(0);
    } finally {
      await vault.close();
    }
  });
});

describe('GC running when a backup starts', () => {
  it('dedup hits are confirmed only after that GC has ended, and a chunk it swept is stored again', async () => {
    const { vaultDir, image, vault, first } = await setUp('gc-window');
    try {
      const victim = await chunkIdOfBlock(vault, first.backupId, 3);
      // A GC holds the vault-wide lease as the second backup starts.
      const gcLease = await vault.lease(Layout.gcLeaseScope, 'gc');
      const copy = path.join(dir, 'gc-window-copy.img');
      await fs.copyFile(image, copy);
      let finished = false;
      const running = backup(vault, { source: copy, volumeId: 'vol-b' }).finally(() => (finished = true));
      await new Promise((r) => setTimeout(r, 1500));
      expect(finished).toBe(false); // it waits for the GC before trusting its dedup hits
      // ... which sweeps one of them (as the race in gc.ts would), then ends.
      await loseChunk(vaultDir, victim);
      await gcLease.release();
      const b = await running;
      expect(b.counters.chunksRestored).toBe(1);
      await restoresTo(vault, b.backupId, copy);
    } finally {
      await vault.close();
    }
  });
});

describe('how inherited chunks are confirmed, by store', () => {
  it('a directory vault stats each inherited chunk and never lists chunks/ (it would stat every file)', async () => {
    const { openStore } = await import('../../src/store/open-store.js');
    const { CountingStore } = await import('../../src/store/counting-store.js');
    const { Vault } = await import('../../src/vault/vault.js');
    const vaultDir = path.join(dir, 'dir-confirm');
    const image = path.join(dir, 'dir-confirm.img');
    await makeImage(image, { blockSize: BS, seed: 8, blocks: Array.from({ length: 12 }, () => 'random' as const) });
    const first = await openVault(vaultDir, { create: true, blockSize: BS });
    await backup(first, { source: image, volumeId: 'd' });
    await first.close();
    const counted = new CountingStore(await openStore(vaultDir));
    const vault = await Vault.onStore(counted);
    expect(vault.listPageKeys).toBe(1);
    try {
      const inc = await backup(vault, { source: image, volumeId: 'd' });
      expect(inc.type).toBe('incremental');
      expect(inc.counters.chunksConfirmed).toBe(12);
      expect(counted.listed.filter((p) => p.startsWith('chunks'))).toEqual([]);
      expect(counted.headed.filter((k) => k.startsWith('chunks/')).length).toBe(12);
    } finally {
      await vault.close();
    }
  });
});
