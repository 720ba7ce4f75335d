// The service fields this wave fixed, each against hand-counted values.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup, deleteBackup, isPendingBackup, openVault, showBackup, type BackupRecord, type Vault } from '../../src/index.js';
import { chainFacts, containerOf, serviceTime } from '../../src/metrics/service-fields.js';
import { makeImage, overwrite, prng, tempDir } from '../helpers/images.js';

const BS = 65536;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function show(vault: Vault, id: string): Promise<BackupRecord> {
  const r = await showBackup(vault, id);
  if (isPendingBackup(r)) throw new Error(`${id} is ${r.status}`);
  return r;
}
const md = (r: BackupRecord) => JSON.parse(r.service_metadata) as Record<string, number | string | boolean>;

describe('service fields', () => {
  it('object_count counts what the restore point needs; CS counts each chunk of the chain once; as-made values survive a merge', async () => {
    const dir = await tempDir('fields');
    dirs.push(dir);
    const image = path.join(dir, 'disk.img');
    // 4 distinct random blocks + one repeat of block 0 + a hole: 4 distinct chunks.
    await makeImage(image, { blockSize: BS, seed: 4, blocks: ['random', 'random', 'random', 'random', 'hole'] });
    const a = Buffer.alloc(BS);
    prng(77).fill(a);
    await overwrite(image, 4 * BS, (await fs.readFile(image)).subarray(0, BS)); // block 4 = block 0
    const vault = await openVault(path.join(dir, 'vault'), { create: true, blockSize: BS });
    const full = await backup(vault, { source: image, volumeId: 'v', backupId: 'full', workers: 0 });
    expect(full.object_count).toBe(4 + 1); // 4 distinct chunks + its manifest
    expect(full.bootable === undefined).toBe(true); // not a result field; in service_metadata:
    expect(JSON.parse(full.service_metadata).bootable).toBe(false);
    expect(full.fullReason).toBe('first backup of the volume');
    expect(full.full_reason).toBe('first backup of the volume');

    // The incremental changes block 1 to new data and block 3 to a copy of block 2.
    await overwrite(image, 1 * BS, a);
    await overwrite(image, 3 * BS, (await fs.readFile(image)).subarray(2 * BS, 3 * BS));
    const inc = await backup(vault, { source: image, volumeId: 'v', backupId: 'inc', workers: 0 });
    expect(inc.type).toBe('incremental');
    expect(inc.fullReason).toBeUndefined();
    // The restore point needs: block0/4 chunk, new block 1, block 2 (also block 3) = 3 chunks, + 2 manifests.
    expect(inc.object_count).toBe(3 + 2);
    expect(inc.chunkCount).toBe(2); // its own manifest names 2 chunks (new block 1, block 3's = block 2's)
    const sFull = await show(vault, 'full');
    const sInc = await show(vault, 'inc');
    expect(sInc.object_count).toBe(5);
    expect(sFull.object_count).toBe(5); // unchanged by a descendant
    // CS: the chain's distinct chunks, each once: 4 of the full + 1 new = 5 chunks' stored bytes.
    expect(md(sInc).CS).toBe(Math.ceil((sFull.storedBytes + (sInc.newStoredBytes)) / 2 ** 20));
    expect(md(sFull).CS).toBe(md(sInc).CS);
    // In bytes (CS rounds to MB): each chunk once, although both manifests name block 2's chunk.
    const facts = await chainFacts(vault, 'inc');
    expect(facts.chainChunkBytes).toBe(sFull.storedBytes + sInc.newStoredBytes);
    expect(facts.chainChunkBytes).toBeLessThan(sFull.storedBytes + sInc.storedBytes);
    expect(facts).toMatchObject({ restorePointChunks: 3, restorePointManifests: 2 });
    expect(sInc.as_made).toEqual({ Type: 1, SS: md(sInc).SS, AT: md(sInc).AT, BackupSize: md(sInc).BackupSize });

    // Deleting the full promotes the incremental: Type and BackupSize change, as_made keeps what was made.
    const before = md(sInc);
    await deleteBackup(vault, 'full');
    const after = await show(vault, 'inc');
    expect(md(after).Type).toBe(0);
    expect(after.is_incremental).toBe(false);
    expect(after.as_made).toEqual({ Type: 1, SS: before.SS, AT: before.AT, BackupSize: before.BackupSize });
    expect(after.object_count).toBe(3 + 1); // now one manifest
    expect(after.updated_at > after.created_at).toBe(true);
    expect(after.updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000$/);
    await vault.close();
  });

  it('bootable is false when not given and carried by incrementals; INC is the request; data_timestamp is the snapshot time', async () => {
    const dir = await tempDir('fields-boot');
    dirs.push(dir);
    const image = path.join(dir, 'disk.img');
    await makeImage(image, { blockSize: BS, seed: 9, blocks: ['random', 'random'] });
    const vault = await openVault(path.join(dir, 'vault'), { create: true, blockSize: BS });
    const f = await backup(vault, { source: image, volumeId: 'boot', bootable: true, workers: 0 });
    const i = await backup(vault, { source: image, volumeId: 'boot', workers: 0 });
    expect(JSON.parse(i.service_metadata).bootable).toBe(true);
    expect(i.extend_info.bootable).toBe(true);
    const other = await backup(vault, { source: image, volumeId: 'plain', full: true, snapshotTime: new Date('2026-01-02T03:04:05.678Z'), workers: 0 });
    expect(JSON.parse(other.service_metadata).bootable).toBe(false);
    expect(other.data_timestamp).toBe('2026-01-02T03:04:05.678000');
    expect(JSON.parse(other.description)).toEqual({ INC: 0 });
    expect(other.fullReason).toBe('a full backup was requested');
    // The first backup was asked as incremental (INC 1) and made as a full (Type 0).
    expect(JSON.parse(f.description)).toEqual({ INC: 1 });
    expect(JSON.parse(f.service_metadata).Type).toBe(0);
    expect(f.data_timestamp).toBe(serviceTime(f.createdAt));
    expect(f.extend_info.auto_trigger).toBe(false);
    await vault.close();
  });

  it('container and the service time format', () => {
    expect(containerOf('s3://volumebackups/tenant-a/')).toBe('volumebackups');
    expect(containerOf('file:///var/lib/vault%20one')).toBe('/var/lib/vault one');
    expect(serviceTime('2013-06-27T08:48:03.000Z')).toBe('2013-06-27T08:48:03.000000');
  });
});
