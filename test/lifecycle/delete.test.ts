import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteBackup, openVault, showBackup, verify } from '../../src/index.js';
import { buildChain, restoreAll } from './fixture.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('delete any backup of a chain', () => {
  for (const [label, pos] of [
    ['first (the full)', 0],
    ['second', 1],
    ['middle', 3],
    ['second newest', 4],
    ['last (newest)', 5],
  ] as const) {
    it(`deletes the ${label} of 6 and every other backup restores bit-exact`, async () => {
      const chain = await buildChain(`del-${pos}`);
      dirs.push(chain.dir);
      const vault = await openVault(chain.vaultDir);
      try {
        const victim = chain.ids[pos]!;
        const r = await deleteBackup(vault, victim);
        expect(r.mergedInto).toEqual(pos < 5 ? [chain.ids[pos + 1]] : []);
        vault.refresh();
        const left = (await vault.listBackups()).map((h) => h.backupId);
        expect(left).toEqual(chain.ids.filter((id) => id !== victim));
        if (pos === 0) {
          const h = await vault.header(chain.ids[1]!);
          expect(h.type).toBe('full');
          expect(h.parentId).toBeNull();
          expect(r.promotedToFull).toEqual([chain.ids[1]]);
        } else if (pos < 5) {
          expect((await vault.header(chain.ids[pos + 1]!)).parentId).toBe(chain.ids[pos - 1]);
        }
        // has_dependent_backups follows the new links
        for (const id of left) {
          const rec = await showBackup(vault, id);
          expect(rec.has_dependent_backups).toBe(id !== left[left.length - 1]);
        }
        const restored = await restoreAll(vault, chain, (id, ok) => expect(ok, `restore of ${id}`).toBe(true));
        expect(restored.length).toBe(5);
        expect((await verify(vault, { deep: true })).ok).toBe(true);
      } finally {
        await vault.close();
      }
    });
  }

  it('deletes backups one by one down to the last, every step restorable', async () => {
    const chain = await buildChain('del-all', 6, { seed: 3 });
    dirs.push(chain.dir);
    const vault = await openVault(chain.vaultDir);
    try {
      for (const victim of [chain.ids[2]!, chain.ids[0]!, chain.ids[5]!, chain.ids[3]!, chain.ids[1]!]) {
        await deleteBackup(vault, victim);
        await restoreAll(vault, chain, (id, ok) => expect(ok, `restore of ${id} after deleting ${victim}`).toBe(true));
      }
      vault.refresh();
      const left = await vault.listBackups();
      expect(left.map((h) => h.backupId)).toEqual([chain.ids[4]]);
      expect(left[0]!.type).toBe('full');
      // a full lists only non-zero blocks
      const m = await vault.readManifest(chain.ids[4]!);
      expect(m.entries.length / 48).toBe(left[0]!.chunkCount === 0 ? 0 : m.header.entryCount);
    } finally {
      await vault.close();
    }
  });

  it('refuses a missing backup and a volume busy with a backup', async () => {
    const chain = await buildChain('del-busy', 2);
    dirs.push(chain.dir);
    const vault = await openVault(chain.vaultDir);
    try {
      await expect(deleteBackup(vault, 'nope')).rejects.toMatchObject({ code: 'VolumeBackup.0111' });
      const lease = await vault.lease('vol-1', 'backup');
      try {
        await expect(deleteBackup(vault, chain.ids[0]!)).rejects.toMatchObject({ code: 'VolumeBackup.0013' });
      } finally {
        await lease.release();
      }
      expect(await fs.stat(path.join(chain.vaultDir, 'manifests/vol-1', `${chain.ids[0]}.bvm`))).toBeTruthy();
    } finally {
      await vault.close();
    }
  });
});
