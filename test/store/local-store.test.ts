import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalStore, STALE_TMP_MS, TMP_DIR } from '../../src/store/local-store.js';
import { DIRECT_ALIGN, alignedBuffer } from '../../src/native/direct-io.js';
import { openStore } from '../../src/store/open-store.js';
import { storeContract } from './contract.js';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bv-local-store-'));
afterAll(() => fs.rm(root, { recursive: true, force: true }));

storeContract('local directory', { open: () => openStore(path.join(root, 'contract'), { create: true }) });

describe('LocalStore durability and leftovers', () => {
  it('defers the fdatasync of deferred creates; a durable put and sync() cover every one of them', async () => {
    const s = await LocalStore.open(path.join(root, 'defer'), { create: true, deferSyncPrefixes: ['chunks/'], backgroundSync: false });
    for (let i = 0; i < 20; i++) await s.put(`chunks/${i % 3}/c${i}`, Buffer.alloc(100, i), { ifAbsent: true });
    await s.put('misc/explicit', Buffer.from('x'), { deferSync: true });
    await s.put('misc/plain-create', Buffer.from('x'), { ifAbsent: true }); // outside the prefix: durable, a barrier
    expect(s.pendingSync).toBe(0);
    for (let i = 20; i < 40; i++) await s.put(`chunks/${i % 3}/c${i}`, Buffer.alloc(100, i), { ifAbsent: true });
    expect(s.pendingSync).toBe(20); // owed, nothing synced them
    await s.delete('chunks/0/c21'); // deleted before sync: nothing left to make durable
    expect(s.pendingSync).toBe(19);
    // a replacing put under the prefix is not deferred (it could tear an object already named),
    // and like every durable put it is a barrier: everything deferred before it is now durable
    await s.put('chunks/1/c1', Buffer.alloc(100, 1));
    expect(s.pendingSync).toBe(0);
    await s.put('chunks/x/a', Buffer.from('y'), { ifAbsent: true });
    await s.put('chunks/x/b', Buffer.from('y'), { ifAbsent: true });
    expect(s.pendingSync).toBe(2);
    await s.put('index/seg.idx', Buffer.from('names a and b')); // a segment naming them: after them
    expect(s.pendingSync).toBe(0);
    await s.put('chunks/x/c', Buffer.from('y'), { ifAbsent: true });
    const [p1, p2] = [s.sync(), s.sync()]; // concurrent syncs: the second covers all the first took
    await p2;
    expect(s.pendingSync).toBe(0);
    await p1;
    await s.put('chunks/x/d', Buffer.from('y'), { ifAbsent: true });
    expect(s.pendingSync).toBe(1);
    await s.close(); // close syncs too
    expect(s.pendingSync).toBe(0);
  });

  it('syncs owed files in the background, without any put waiting for it', async () => {
    const s = await LocalStore.open(path.join(root, 'drain'), { create: true, deferSyncPrefixes: ['chunks/'] });
    for (let i = 0; i < 200; i++) await s.put(`chunks/${i % 16}/c${i}`, Buffer.alloc(4096, i), { ifAbsent: true });
    for (let t = 0; t < 200 && s.pendingSync > 0; t++) await new Promise((r) => setTimeout(r, 25));
    expect(s.pendingSync).toBe(0); // no sync() called: the drain did it
    await s.sync();
    await s.close();
  });

  it('removes crash leftovers in .tmp older than the lease TTL when opened for writing, and only those', async () => {
    const dir = path.join(root, 'leftovers');
    await (await LocalStore.open(dir, { create: true })).close();
    const tmp = path.join(dir, TMP_DIR);
    const old = new Date(Date.now() - STALE_TMP_MS - 60_000);
    for (const n of ['a.tmp', 'b.tmp']) {
      await fs.writeFile(path.join(tmp, n), 'partial');
      await fs.utimes(path.join(tmp, n), old, old);
    }
    await fs.writeFile(path.join(tmp, 'fresh.tmp'), 'a live writer');
    const ro = await LocalStore.open(dir, { readOnly: true });
    expect(ro.removedLeftovers).toBe(0);
    expect((await fs.readdir(tmp)).sort()).toEqual(['a.tmp', 'b.tmp', 'fresh.tmp']);
    const rw = await LocalStore.open(dir);
    expect(rw.removedLeftovers).toBe(2);
    expect(await fs.readdir(tmp)).toEqual(['fresh.tmp']);
  });
});

describe('LocalStore listing', () => {
  const fill = async (dir: string) => {
    const s = await LocalStore.open(path.join(root, dir), { create: true });
    const names = Array.from({ length: 150 }, (_, i) => `chunks/aa/k${String(i).padStart(3, '0')}`);
    for (const [i, k] of names.entries()) await s.put(k, Buffer.alloc(i + 1));
    await s.put('chunks/bb/other', Buffer.alloc(7));
    return { s, names };
  };

  it('lists every file of a directory holding more than one batch of stats, with its size', async () => {
    const { s, names } = await fill('many');
    const seen = new Map<string, number>();
    for await (const o of s.list('chunks/')) seen.set(o.key, o.size);
    expect(seen.size).toBe(151);
    for (const [i, k] of names.entries()) expect(seen.get(k)).toBe(i + 1);
    expect(seen.get('chunks/bb/other')).toBe(7);
  });

  it('skips files gone while it lists, without failing', async () => {
    const { s, names } = await fill('going');
    const seen = new Map<string, number>();
    for await (const o of s.list('chunks/')) {
      // After the first object, every file not listed yet goes: those of a later batch of
      // stats (or of a directory not read yet) must be skipped.
      if (seen.size === 0) for (const k of names) if (k !== o.key) await fs.rm(path.join(root, 'going', k), { force: true });
      seen.set(o.key, o.size);
    }
    expect(seen.size).toBeGreaterThanOrEqual(1);
    expect(seen.size).toBeLessThan(100); // at most the first batch and 'other' were statted before
    for (const [k, size] of seen) expect(size).toBe(k === 'chunks/bb/other' ? 7 : names.indexOf(k) + 1);
  });
});

describe('LocalStore reads', () => {
  it('reads a whole object in one go, into the caller\'s buffer when it fits, else into its own', async () => {
    const s = await LocalStore.open(path.join(root, 'into'), { create: true });
    const body = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 31) & 0xff));
    await s.put('chunks/ab/obj', body);
    const into = Buffer.alloc(4 * 1024 * 1024);
    const got = await s.get('chunks/ab/obj', { into });
    expect(got.equals(body)).toBe(true);
    expect(got.buffer).toBe(into.buffer); // a view of the caller's buffer, no allocation
    const small = Buffer.alloc(1024);
    const own = await s.get('chunks/ab/obj', { into: small });
    expect(own.equals(body)).toBe(true);
    expect(own.buffer).not.toBe(small.buffer);
    expect(small.equals(Buffer.alloc(1024))).toBe(true); // untouched
    expect((await s.get('chunks/ab/obj')).equals(body)).toBe(true);
    await expect(s.get('chunks/ab/none', { into })).rejects.toMatchObject({ name: 'StoreNotFoundError' });
    const ac = new AbortController();
    ac.abort();
    await expect(s.get('chunks/ab/obj', { signal: ac.signal })).rejects.toMatchObject({ code: 'BV.Aborted' });
  });
});

describe('LocalStore writes aligned objects straight to disk', () => {
  const body = (n: number, seed: number) => {
    const b = alignedBuffer(n);
    for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
    return b;
  };

  it('the aligned head with O_DIRECT, the tail and unaligned bodies plainly; every object reads back whole', async () => {
    const s = await LocalStore.open(path.join(root, 'direct'), { create: true, deferSyncPrefixes: ['chunks/'] });
    const chunk = body(3 * DIRECT_ALIGN + 123, 1); // a chunk object: aligned memory, odd length
    await s.put('chunks/ab/c1', chunk, { ifAbsent: true });
    expect(s.directBytesWritten).toBe(3 * DIRECT_ALIGN);
    const unaligned = Buffer.concat([Buffer.alloc(1), chunk]).subarray(1); // same bytes, not on a boundary
    await s.put('chunks/ab/c2', unaligned, { ifAbsent: true });
    await s.put('misc/small', Buffer.from('manifest-sized'));
    expect(s.directBytesWritten).toBe(3 * DIRECT_ALIGN);
    await s.sync();
    expect(await s.get('chunks/ab/c1')).toEqual(chunk);
    expect(await s.get('chunks/ab/c2')).toEqual(chunk);
    expect((await s.get('misc/small')).toString()).toBe('manifest-sized');
    await s.close();
  });

  it('writes everything through the page cache with directIo: false', async () => {
    const s = await LocalStore.open(path.join(root, 'cached'), { create: true, directIo: false });
    const chunk = body(2 * DIRECT_ALIGN, 2);
    await s.put('chunks/ab/c1', chunk);
    expect(s.directBytesWritten).toBe(0);
    expect(await s.get('chunks/ab/c1')).toEqual(chunk);
    await s.close();
  });
});
