// The ObjectStore contract, written once and run against every store (restic's backend test
// suite, kopia's VerifyStorage): each store's test file is a few lines calling storeContract.
// It checks each guarantee listed on the interface in src/store/object-store.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { StoreError, StoreNotFoundError, type ObjectInfo, type ObjectStore } from '../../src/store/object-store.js';
import { rejection } from '../helpers/rejections.js';

export interface ContractSuite {
  /** Opens the store under test; called more than once, every call must see the same objects. */
  open(): Promise<ObjectStore>;
  /** After the suite (remove the directory, the bucket…). */
  cleanup?(): Promise<void>;
  /** Keys to list past a page (S3 pages by 1000; default 1100). */
  manyKeys?: number;
  /** Why the suite cannot run here (no server); skipped with that reason. */
  skip?: string | undefined;
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

function expectNotFound(e: unknown, key: string): void {
  expect(e).toBeInstanceOf(StoreNotFoundError);
  const err = e as StoreNotFoundError;
  expect(err.category).toBe('notFound');
  expect(err.retryable).toBe(false);
  expect(err.code).toBe(ErrorCodes.store);
  expect(err.key).toBe(key);
}

export function storeContract(name: string, suite: ContractSuite): void {
  describe.skipIf(!!suite.skip)(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    beforeAll(async () => {
      store = await suite.open();
    });
    afterAll(async () => {
      await store?.close();
      await suite.cleanup?.();
    });

    it('puts and gets whole objects, empty ones included; a missing key is notFound, not retryable', async () => {
      const data = randomBytes(300_001);
      expect(await store.put('c/obj', data)).toBe(true);
      expect((await store.get('c/obj')).equals(data)).toBe(true);
      expect(await store.put('c/empty', Buffer.alloc(0))).toBe(true);
      expect((await store.get('c/empty')).length).toBe(0);
      expectNotFound(await rejection(store.get('c/none')), 'c/none');
    });

    it('get with a reusable buffer: the same bytes, whether the object fits it or not', async () => {
      const data = randomBytes(300_001);
      await store.put('c/into', data);
      const big = Buffer.alloc(400_000, 0xee);
      const got = await store.get('c/into', { into: big });
      expect(got.equals(data)).toBe(true);
      const small = Buffer.alloc(1000);
      expect((await store.get('c/into', { into: small })).equals(data)).toBe(true);
      expectNotFound(await rejection(store.get('c/none', { into: big })), 'c/none');
    });

    it('reads ranges: inside, short at the end, empty past the end and for length 0; notFound when absent', async () => {
      const data = randomBytes(10_000);
      await store.put('r/obj', data);
      expect((await store.getRange('r/obj', 100, 200)).equals(data.subarray(100, 300))).toBe(true);
      expect((await store.getRange('r/obj', 0, 10_000)).equals(data)).toBe(true);
      expect((await store.getRange('r/obj', 9_990, 100)).equals(data.subarray(9_990))).toBe(true);
      expect((await store.getRange('r/obj', 10_000, 100)).length).toBe(0);
      expect((await store.getRange('r/obj', 20_000, 100)).length).toBe(0);
      expect((await store.getRange('r/obj', 7, 0)).length).toBe(0);
      expectNotFound(await rejection(store.getRange('r/none', 0, 10)), 'r/none');
      expectNotFound(await rejection(store.getRange('r/none', 0, 0)), 'r/none');
      const bad = await rejection(store.getRange('r/obj', -1, 10));
      expect(bad).toBeInstanceOf(StoreError);
      expect((bad as StoreError).category).toBe('badRequest');
    });

    it('a replacing put is atomic: readers during it see the whole old or the whole new object', async () => {
      const a = Buffer.alloc(2 * 1024 * 1024, 0xaa);
      const b = Buffer.alloc(2 * 1024 * 1024 + 5, 0xbb);
      await store.put('atomic/obj', a);
      const reads: Promise<Buffer>[] = [];
      const writing = store.put('atomic/obj', b);
      for (let i = 0; i < 6; i++) reads.push(store.get('atomic/obj'));
      expect(await writing).toBe(true);
      for (const r of await Promise.all(reads)) expect(r.equals(a) || r.equals(b)).toBe(true);
      expect((await store.get('atomic/obj')).equals(b)).toBe(true);
    });

    it('put-if-absent creates once, then answers false and keeps the first object', async () => {
      expect(await store.put('once/m', Buffer.from('first'), { ifAbsent: true })).toBe(true);
      expect(await store.put('once/m', Buffer.from('second'), { ifAbsent: true })).toBe(false);
      expect((await store.get('once/m')).toString()).toBe('first');
    });

    it('of N concurrent creators of one key, through separate opens, exactly one wins and its object stays', async () => {
      const others = await Promise.all([suite.open(), suite.open()]);
      const stores = [store, ...others];
      try {
        for (let round = 0; round < 3; round++) {
          const key = `race/k${round}`;
          const results = await Promise.all(
            Array.from({ length: 9 }, (_, i) => stores[i % stores.length]!.put(key, Buffer.from(`writer ${i}`), { ifAbsent: true })),
          );
          expect(results.filter(Boolean)).toHaveLength(1);
          expect((await store.get(key)).toString()).toBe(`writer ${results.indexOf(true)}`);
        }
      } finally {
        await Promise.all(others.map((s) => s.close()));
      }
    });

    it('head gives size and time, undefined when absent', async () => {
      await store.put('h/obj', Buffer.alloc(1234, 1));
      const h = await store.head('h/obj');
      expect(h?.key).toBe('h/obj');
      expect(h?.size).toBe(1234);
      expect(h?.lastModified).toBeInstanceOf(Date);
      expect(await store.head('h/none')).toBeUndefined();
    });

    it('lists every key under a prefix exactly once, past 1000 keys, and nothing outside it', async () => {
      const n = suite.manyKeys ?? 1100;
      const keys = Array.from({ length: n }, (_, i) => `many/d${i % 7}/k${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 64) await Promise.all(keys.slice(i, i + 64).map((k) => store.put(k, Buffer.from(k))));
      await store.put('manyother/x', Buffer.from('x'));
      await store.put('man', Buffer.from('x'));
      const listed = await collect(store.list('many/'));
      expect(listed.map((o) => o.key).sort()).toEqual([...keys].sort());
      expect(listed.find((o) => o.key === keys[3])?.size).toBe(keys[3]!.length);
      expect((await collect(store.list('many/d3/'))).length).toBe(keys.filter((k) => k.startsWith('many/d3/')).length);
      expect((await collect(store.list('many/d3/k0001'))).map((o) => o.key).sort()).toEqual(keys.filter((k) => k.startsWith('many/d3/k0001')).sort());
      expect(await collect(store.list('nothing-here/'))).toEqual([]);
      // deleteMany past a batch of 1000, absent keys included, is complete and idempotent
      await store.deleteMany([...keys, 'many/absent']);
      expect(await collect(store.list('many/'))).toEqual([]);
      expect((await collect(store.list('manyother/'))).map((o) => o.key)).toEqual(['manyother/x']);
      await store.deleteMany([]);
    });

    it('delete is idempotent', async () => {
      await store.put('del/obj', Buffer.from('x'));
      await store.delete('del/obj');
      expect(await store.head('del/obj')).toBeUndefined();
      await store.delete('del/obj');
      await store.delete('del/never-was');
      expectNotFound(await rejection(store.get('del/obj')), 'del/obj');
    });

    it('sync makes deferred puts readable by a fresh open; reads are fresh copies', async () => {
      const body = randomBytes(5000);
      await store.put('sync/chunk', body, { ifAbsent: true, deferSync: true });
      await store.sync();
      const again = await suite.open();
      try {
        expect((await again.get('sync/chunk')).equals(body)).toBe(true);
      } finally {
        await again.close();
      }
      const first = await store.get('sync/chunk');
      first.fill(0);
      expect((await store.get('sync/chunk')).equals(body)).toBe(true);
    });

    it('refuses keys that are not relative object paths, as badRequest', async () => {
      for (const bad of ['', '/abs', 'a/../b', 'a//b', './a']) {
        const e = await rejection(store.put(bad, Buffer.from('x')));
        expect(e, bad).toBeInstanceOf(StoreError);
        expect((e as StoreError).category).toBe('badRequest');
      }
    });

    it('an aborted signal ends a call as "aborted"', async () => {
      await store.put('abort/obj', Buffer.from('x'));
      const ac = new AbortController();
      ac.abort(new Error('test stop'));
      for (const call of [
        () => store.get('abort/obj', { signal: ac.signal }),
        () => store.getRange('abort/obj', 0, 1, { signal: ac.signal }),
        () => store.put('abort/other', Buffer.from('y'), { signal: ac.signal }),
        () => store.head('abort/obj', { signal: ac.signal }),
        () => store.list('abort/', { signal: ac.signal })[Symbol.asyncIterator]().next(),
        () => store.delete('abort/obj', { signal: ac.signal }),
        () => store.deleteMany(['abort/obj'], { signal: ac.signal }),
      ]) {
        const e = await rejection(call());
        expect((e as { code?: string }).code).toBe(ErrorCodes.aborted);
      }
      expect(await store.head('abort/obj')).toBeDefined(); // nothing was done
      expect(await store.head('abort/other')).toBeUndefined();
    });
  });
}
