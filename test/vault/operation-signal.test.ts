// Every store call an operation makes carries the operation's signal (issue 9.3): a store
// that records, for each call, the signal it would honour (its own, else the operation's).
// Each operation of the library runs once with an AbortController's signal; a call with no
// signal of its own must see that signal as the operation's, except a lease's release, which
// runs under a short bound of its own (it must still happen after a cancel).
import { PassThrough } from 'node:stream';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Vault,
  backup,
  copyBackups,
  deleteBackup,
  exportBackup,
  gc,
  importArchive,
  listBackups,
  prune,
  restore,
  showBackup,
  startBackup,
  vaultStats,
  verify,
} from '../../src/index.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { CallOptions, GetOptions, ObjectInfo, ObjectStore, PutOptions } from '../../src/store/object-store.js';
import { operationSignal, withOperationSignal } from '../../src/store/operation-signal.js';
import { StoreDecorator } from '../../src/store/store-decorator.js';
import { makeImage, tempDir } from '../helpers/images.js';

interface Call {
  op: string;
  key: string;
  own: boolean;
  ambient: AbortSignal | undefined;
}

/** Delegates to a memory store and notes, per call, its own signal and the operation's. */
class RecordingStore extends StoreDecorator {
  calls: Call[] = [];
  #note(op: string, key: string, opts?: CallOptions) {
    this.calls.push({ op, key, own: opts?.signal !== undefined, ambient: operationSignal() });
  }
  override get(key: string, opts?: GetOptions) {
    this.#note('get', key, opts);
    return this.inner.get(key, opts);
  }
  override getRange(key: string, offset: number, length: number, opts?: GetOptions) {
    this.#note('getRange', key, opts);
    return this.inner.getRange(key, offset, length, opts);
  }
  override put(key: string, body: Buffer, opts?: PutOptions) {
    this.#note('put', key, opts);
    return this.inner.put(key, body, opts);
  }
  override head(key: string, opts?: CallOptions) {
    this.#note('head', key, opts);
    return this.inner.head(key, opts);
  }
  override list(prefix: string, opts?: CallOptions): AsyncIterable<ObjectInfo> {
    this.#note('list', prefix, opts);
    return this.inner.list(prefix, opts);
  }
  override delete(key: string, opts?: CallOptions) {
    this.#note('delete', key, opts);
    return this.inner.delete(key, opts);
  }
  override deleteMany(keys: string[], opts?: CallOptions) {
    this.#note('deleteMany', keys[0] ?? '', opts);
    return this.inner.deleteMany(keys, opts);
  }
}

const BS = 64 * 1024;
let dir = '';
let img = '';
let n = 0;

beforeAll(async () => {
  dir = await tempDir('opsignal');
  process.env.BLOCKVAULT_CACHE_DIR = path.join(dir, 'cache');
  img = path.join(dir, 'a.img');
  await makeImage(img, { blocks: ['random', 'text', 'hole', 'random', 'zeros', 'random'], blockSize: BS, seed: 7 });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function vaultOn(): Promise<{ vault: Vault; store: RecordingStore }> {
  const store = new RecordingStore(MemoryStore.open(`opsig-${process.pid}-${n++}`));
  const vault = await Vault.onStore(store, { create: true, blockSize: BS, indexCacheDir: 'off' });
  return { vault, store };
}

/** Calls made while `run` ran that did not carry `signal` (their own or as the operation's). */
async function uncovered(store: RecordingStore, run: (signal: AbortSignal) => Promise<unknown>): Promise<Call[]> {
  const ac = new AbortController();
  store.calls = [];
  await run(ac.signal);
  expect(store.calls.length).toBeGreaterThan(0);
  const releases = (c: Call) => (c.op === 'get' || c.op === 'delete') && c.key.startsWith('leases/') && c.ambient !== undefined && !c.ambient.aborted;
  return store.calls.filter((c) => !c.own && c.ambient !== ac.signal && !releases(c));
}

describe("every store call of an operation carries the operation's signal", () => {
  it('backup, list, show, stats, verify, restore', async () => {
    const { vault, store } = await vaultOn();
    let id = '';
    expect(await uncovered(store, async (signal) => (id = (await backup(vault, { source: img, volumeId: 'v', signal, workers: 0 })).backupId))).toEqual([]);
    expect(await uncovered(store, (signal) => backup(vault, { source: img, volumeId: 'v', signal, workers: 0 }))).toEqual([]);
    expect(await uncovered(store, (signal) => listBackups(vault, { signal }))).toEqual([]);
    expect(await uncovered(store, (signal) => showBackup(vault, id, { signal }))).toEqual([]);
    expect(await uncovered(store, (signal) => vaultStats(vault, { signal }))).toEqual([]);
    expect(await uncovered(store, (signal) => verify(vault, { deep: true, signal }))).toEqual([]);
    expect(await uncovered(store, (signal) => restore(vault, { backupId: id, target: path.join(dir, `r${n}.img`), signal }))).toEqual([]);
    await vault.close();
  });

  it('delete, prune, gc', async () => {
    const { vault, store } = await vaultOn();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await backup(vault, { source: img, volumeId: 'v', full: true, workers: 0 })).backupId);
    expect(await uncovered(store, (signal) => deleteBackup(vault, ids[0]!, { signal }))).toEqual([]);
    expect(await uncovered(store, (signal) => prune(vault, { volumeId: 'v', policy: { keepLast: 1 }, signal }))).toEqual([]);
    expect(await uncovered(store, (signal) => gc(vault, { signal }))).toEqual([]);
    await vault.close();
  });

  it('copy, export, import, and a job', async () => {
    const a = await vaultOn();
    const b = await vaultOn();
    const id = (await backup(a.vault, { source: img, volumeId: 'v', workers: 0 })).backupId;
    a.store.calls = [];
    expect(await uncovered(b.store, (signal) => copyBackups(a.vault, b.vault, { all: true, signal }))).toEqual([]);
    expect(a.store.calls.filter((c) => !c.own && c.ambient === undefined)).toEqual([]);
    const chunks: Buffer[] = [];
    const out = new PassThrough();
    out.on('data', (c: Buffer) => chunks.push(c));
    expect(await uncovered(a.store, (signal) => exportBackup(a.vault, id, { out, signal }))).toEqual([]);
    const c = await vaultOn();
    expect(await uncovered(c.store, (signal) => importArchive(c.vault, PassThrough.from(Buffer.concat(chunks)) as never, { signal }))).toEqual([]);
    // A job: its records, heartbeats and its operation run under the job's own signal, which
    // the caller's aborts.
    const ac = new AbortController();
    a.store.calls = [];
    const job = await withOperationSignal(undefined, () => startBackup(a.vault, { source: img, volumeId: 'w', signal: ac.signal, workers: 0, heartbeatMs: 50 }));
    await job.done;
    expect(job.record.status).toBe('SUCCESS');
    const inJob = a.store.calls.filter((x) => x.ambient !== undefined);
    expect(inJob.length).toBeGreaterThan(0);
    // Only the INIT record is written before the job runs (the caller's context: none here).
    expect(a.store.calls.filter((x) => !x.own && x.ambient === undefined).map((x) => x.key)).toEqual([`jobs/${job.id}.json`]);
    for (const v of [a, b, c]) await v.vault.close();
  });

  it('a call that gives its own signal keeps it; withOperationSignal(undefined) keeps the outer one', async () => {
    const outer = new AbortController();
    const own = new AbortController();
    const { store } = await vaultOn();
    await withOperationSignal(outer.signal, () =>
      withOperationSignal(undefined, async () => {
        await store.head('x', { signal: own.signal });
        await store.head('y');
      }),
    );
    const [first, second] = store.calls.slice(-2);
    expect(first).toMatchObject({ key: 'x', own: true });
    expect(second).toMatchObject({ key: 'y', own: false, ambient: outer.signal });
  });
});
