import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup, openVault, restore } from '../../src/index.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openStore } from '../../src/store/open-store.js';
import { storeContract } from './contract.js';

storeContract('memory', { open: () => openStore('mem://contract'), cleanup: async () => MemoryStore.drop('contract') });

describe('MemoryStore', () => {
  it('is shared per name within a process, and apart between names', async () => {
    const a = await openStore('mem://shared-x');
    const b = await openStore('mem://shared-x');
    const c = await openStore('mem://shared-y');
    await a.put('k', Buffer.from('v'));
    await a.close();
    expect((await b.get('k')).toString()).toBe('v');
    expect(await c.head('k')).toBeUndefined();
    MemoryStore.drop('shared-x');
    expect(await (await openStore('mem://shared-x')).head('k')).toBeUndefined();
    expect(b.capabilities.remote).toBe(false);
  });
});

describe('a vault on mem://', () => {
  it('backs up and restores bit-exact, and a second open of the name sees the backup', async () => {
    const dir = await tempDir('memvault');
    try {
      const img = path.join(dir, 'in.img');
      await makeImage(img, { blocks: ['random', 'text', 'hole', 'random'], blockSize: 64 * 1024, seed: 9 });
      const v = await openVault('mem://vault-rt', { create: true, blockSize: 64 * 1024 });
      const b = await backup(v, { source: img, volumeId: 'm1' });
      await v.close();
      const again = await openVault('mem://vault-rt');
      const out = path.join(dir, 'out.img');
      await restore(again, { backupId: b.backupId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(img));
      await again.close();
    } finally {
      MemoryStore.drop('vault-rt');
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
