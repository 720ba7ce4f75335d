// Entry checks of the operations (issue 9.7, 9.8, 9.10): ids refused before any work,
// stale restore temp files cleared, and an idempotent delete.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, deleteBackup, listBackups, openVault, restore, type BlockvaultError, type Vault } from '../../src/index.js';
import { exitCodeFor } from '../../src/errors.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';

const BS = 65536;
let dir: string;
let vault: Vault;
let image: string;
const rejected = async (p: Promise<unknown>) => (await p.then(() => undefined, (e) => e)) as BlockvaultError | undefined;

beforeAll(async () => {
  dir = await tempDir('entry-edges');
  image = path.join(dir, 'disk.img');
  await makeImage(image, { blockSize: BS, blocks: ['text', 'random', 'hole', 'random'], seed: 5 });
  vault = await openVault(path.join(dir, 'vault'), { create: true, blockSize: BS });
});
afterAll(async () => {
  await vault.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('backup ids', () => {
  it("'' . .. a/b ../x x.bvm unicode and 300 characters are refused (exit 2) before anything is stored", async () => {
    const bad = ['', '.', '..', 'a/b', '../x', '../../x', 'x.bvm', 'bäckup', '备份', 'x'.repeat(300), '-lead', 'sp ace'];
    for (const backupId of bad) {
      const err = await rejected(backup(vault, { source: image, volumeId: 'vol-1', backupId }));
      expect(err?.code, JSON.stringify(backupId)).toBe('BV.BadInput');
      expect(err?.details.field).toBe('backupId');
      expect(exitCodeFor(err)).toBe(2);
      // the same rule where an id is looked up
      expect((await rejected(restore(vault, { backupId, target: path.join(dir, 'x.out') })))?.code).toBe('BV.BadInput');
      expect((await rejected(deleteBackup(vault, backupId)))?.code).toBe('BV.BadInput');
    }
    expect(await listBackups(vault)).toEqual([]);
    const chunks = await fs.readdir(path.join(dir, 'vault', 'chunks')).catch(() => []);
    expect(chunks).toEqual([]); // refused before any chunk was uploaded
    // a long snapshot id is refused, a free-text one of sane length is fine
    expect((await rejected(backup(vault, { source: image, volumeId: 'vol-1', snapshotId: 's'.repeat(5000) })))?.code).toBe('BV.BadInput');
    const ok = await backup(vault, { source: image, volumeId: 'vol-1', backupId: 'b-1.2_3:4', snapshotId: 'snap of 1 Dec, 18:00 (UTC)' });
    expect(ok.backupId).toBe('b-1.2_3:4');
  });
});

describe('restore leftovers', () => {
  it('a restore removes stale .<target>.blockvault-* files beside its target, and keeps young ones', async () => {
    const b = await backup(vault, { source: image, volumeId: 'vol-2' });
    const target = path.join(dir, 'out', 'disk.img');
    await fs.mkdir(path.dirname(target), { recursive: true });
    const stale = path.join(dir, 'out', '.disk.img.blockvault-0a1b2c3d');
    const young = path.join(dir, 'out', '.disk.img.blockvault-deadbeef');
    const otherTarget = path.join(dir, 'out', '.other.img.blockvault-0a1b2c3d');
    const notOurs = path.join(dir, 'out', '.disk.img.blockvault-notes');
    for (const f of [stale, young, otherTarget, notOurs]) await fs.writeFile(f, Buffer.alloc(4096, 1));
    const old = new Date(Date.now() - 10 * 60_000); // older than the lease TTL (120 s)
    for (const f of [stale, otherTarget, notOurs]) await fs.utimes(f, old, old);

    await restore(vault, { backupId: b.backupId, target });
    expect(await sha256File(target)).toBe(await sha256File(image));
    const left = (await fs.readdir(path.join(dir, 'out'))).sort();
    expect(left).toEqual(['.disk.img.blockvault-deadbeef', '.disk.img.blockvault-notes', '.other.img.blockvault-0a1b2c3d', 'disk.img']);
  });
});

describe('idempotent delete', () => {
  it('deleting a backup that is gone: 0111 by default, a no-op that says so with ifExists', async () => {
    const b = await backup(vault, { source: image, volumeId: 'vol-3' });
    const first = await deleteBackup(vault, b.backupId, { ifExists: true });
    expect(first.alreadyGone).toBeUndefined();
    expect(first.volumeId).toBe('vol-3');
    const again = await deleteBackup(vault, b.backupId, { ifExists: true });
    expect(again).toEqual({ backupId: b.backupId, volumeId: null, alreadyGone: true, mergedInto: [], promotedToFull: [] });
    const err = await rejected(deleteBackup(vault, b.backupId));
    expect(err?.code).toBe('VolumeBackup.0111');
  });
});
