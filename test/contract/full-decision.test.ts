// When a full is made instead of an incremental, and the reason given.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup, openVault } from '../../src/index.js';
import { makeImage, overwrite, tempDir } from '../helpers/images.js';

const BS = 65536;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('full decision', () => {
  it('a size change, the chain cap and a damaged parent each force a full, with the reason', async () => {
    const dir = await tempDir('full-decision');
    dirs.push(dir);
    const image = path.join(dir, 'disk.img');
    await makeImage(image, { blockSize: BS, seed: 2, blocks: ['random', 'text', 'random'] });
    const vaultDir = path.join(dir, 'vault');
    const vault = await openVault(vaultDir, { create: true, blockSize: BS });
    const b = (extra: object = {}) => backup(vault, { source: image, volumeId: 'v', workers: 0, ...extra });
    expect((await b()).fullReason).toBe('first backup of the volume');
    const i1 = await b({ fullBackupInterval: 2 });
    expect(i1.type).toBe('incremental');
    expect((await b({ fullBackupInterval: 2 })).type).toBe('incremental');
    const capped = await b({ fullBackupInterval: 2 });
    expect(capped.type).toBe('full');
    expect(capped.parentId).toBeNull();
    expect(capped.fullReason).toBe('the chain holds 2 incremental backup(s): full backup interval 2 reached');
    expect((await b({ fullBackupInterval: -1 })).type).toBe('incremental');
    const every = await b({ fullBackupInterval: 0 });
    expect(every.fullReason).toMatch(/interval 0 reached/);
    await expect(b({ fullBackupInterval: 101 })).rejects.toMatchObject({ code: 'BV.BadInput', details: { cbrCode: 'BackupService.9900' } });

    // The volume grows by a block: a full, and the restore point's size is the new one.
    await overwrite(image, 3 * BS, Buffer.alloc(BS, 5));
    const grown = await b();
    expect(grown.type).toBe('full');
    expect(grown.fullReason).toMatch(/^the volume size changed from 196608 to 262144 bytes since backup /);

    // The newest backup's manifest is damaged: the next backup does not build on it.
    const inc = await b();
    expect(inc.type).toBe('incremental');
    const key = path.join(vaultDir, 'manifests', 'v', `${inc.backupId}.bvm`);
    const buf = await fs.readFile(key);
    buf[buf.length - 20]! ^= 0xff; // inside the entries: the checksum no longer matches
    await fs.writeFile(key, buf);
    const next = await b();
    expect(next.type).toBe('full');
    expect(next.fullReason).toMatch(new RegExp(`^the parent backup ${inc.backupId} is damaged or unreadable: .*checksum`));
    await vault.close();
  });
});
