// A backup reads its own volume's manifests only: the other volumes of the vault cost it no
// listing and no read, so a tenant's thousandth volume backs up as fast as its first. The
// vault-wide views (list, show, chains) stay whole.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, deleteBackup, openVault, restore } from '../../src/index.js';
import { CountingStore } from '../../src/store/counting-store.js';
import { openStore } from '../../src/store/open-store.js';
import { Vault } from '../../src/vault/vault.js';
import { makeImage, overwrite, prng, sha256File, tempDir } from '../helpers/images.js';

const BS = 64 * 1024;
let dir: string;
let img: string;
let vaultDir: string;
const others: string[] = [];

beforeAll(async () => {
  dir = await tempDir('volume-catalog');
  img = path.join(dir, 'disk.img');
  vaultDir = path.join(dir, 'v');
  await makeImage(img, { blockSize: BS, seed: 5, blocks: ['random', 'random', 'text', 'hole'] });
  const v = await openVault(vaultDir, { create: true, blockSize: BS });
  for (const vol of ['other-1', 'other-2', 'other-3']) others.push((await backup(v, { source: img, volumeId: vol })).backupId);
  await backup(v, { source: img, volumeId: 'mine' });
  await v.close();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function counted(): Promise<{ vault: Vault; store: CountingStore }> {
  const store = new CountingStore(await openStore(vaultDir));
  return { vault: await Vault.onStore(store), store };
}

describe("a backup and its volume's catalog", () => {
  it("an incremental lists and reads only its volume's manifests, and its chain and fields are whole", async () => {
    const data = Buffer.alloc(BS);
    prng(11).fill(data);
    await overwrite(img, BS, data);
    const { vault, store } = await counted();
    try {
      const r = await backup(vault, { source: img, volumeId: 'mine' });
      expect(r.type).toBe('incremental');
      const manifestLists = store.listed.filter((p) => p.startsWith('manifests/'));
      expect(manifestLists).toEqual(['manifests/mine/']);
      expect(store.gotten.filter((k) => k.startsWith('manifests/') && !k.startsWith('manifests/mine/'))).toEqual([]);
      expect(r.is_incremental).toBe(true);
      expect(r.object_count).toBeGreaterThan(0);
      // the vault-wide view afterwards: every volume's backups, this one included
      const all = await vault.listBackups();
      expect(all.map((h) => h.volumeId).sort()).toEqual(['mine', 'mine', 'other-1', 'other-2', 'other-3']);
      expect(all.some((h) => h.backupId === r.backupId)).toBe(true);
      expect((await vault.chainOf(r.backupId)).map((h) => h.volumeId)).toEqual(['mine', 'mine']);
      const out = path.join(dir, 'out.img');
      await restore(vault, { backupId: r.backupId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(img));
    } finally {
      await vault.close();
    }
  });

  it('a volume listed alone follows deletes and new backups made through the same vault', async () => {
    const { vault } = await counted();
    try {
      const before = await vault.listBackups({ volumeId: 'mine' });
      expect(before.length).toBe(2);
      const third = await backup(vault, { source: img, volumeId: 'mine' });
      expect((await vault.listBackups({ volumeId: 'mine' })).map((h) => h.backupId)).toContain(third.backupId);
      await deleteBackup(vault, before[1]!.backupId); // merged into the third
      const after = await vault.listBackups({ volumeId: 'mine' });
      expect(after.map((h) => h.backupId)).toEqual([before[0]!.backupId, third.backupId]);
      expect((await vault.chain(third.backupId)).map((m) => m.header.backupId)).toEqual([third.backupId, before[0]!.backupId]);
      expect((await vault.header(others[0]!)).volumeId).toBe('other-1'); // another volume's, found on demand
    } finally {
      await vault.close();
    }
  });
});
