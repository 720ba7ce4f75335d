import { describe, expect, it } from 'vitest';
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
