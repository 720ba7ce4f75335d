// The chunk index's local copy: answers against a brute-force set, incremental merges of new
// segments, segments deleted by GC's rewrite or consolidation, a damaged copy rebuilt.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { ChunkIndex, INDEX_PREFIX, encodeSegment, type IndexRecord } from '../../src/vault/chunk-index.js';
import { clearIndexCache, indexCacheInfo } from '../../src/vault/index-cache.js';
import { consolidateIndex } from '../../src/vault/index-loader.js';
import { PAGE } from '../../src/vault/index-run.js';
import { tempDir } from '../helpers/images.js';

let root = '';
beforeAll(async () => {
  root = await tempDir('index');
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const hex = (id: Buffer) => id.toString('hex');
const recs = (n: number, lenBase = 1000): IndexRecord[] => Array.from({ length: n }, (_, i) => ({ id: randomBytes(32), storedLength: lenBase + (i % 5000) }));

async function fresh(name: string): Promise<{ store: ObjectStore; cache: string }> {
  const store = await openStore(path.join(root, name, 'vault'), { create: true });
  return { store, cache: path.join(root, name, 'cache') };
}

async function putSegment(store: ObjectStore, name: string, r: IndexRecord[]): Promise<void> {
  await store.put(`${INDEX_PREFIX}${name}.idx`, encodeSegment(r));
}

/** Every id of `present` answers its length; `absent` ids answer undefined. */
async function expectAnswers(index: ChunkIndex, present: Map<string, number>, absent: Buffer[]): Promise<void> {
  let wrong = 0;
  for (const [h, len] of present) if ((await index.lookup(Buffer.from(h, 'hex'))) !== len) wrong++;
  for (const id of absent) if ((await index.lookup(id)) !== undefined) wrong++;
  expect(wrong).toBe(0);
}

const tuning = { deltaMax: 5000, bucketRecords: 4000 }; // small levels: both paths, spilled buckets

describe('chunk index: local copy', () => {
  it('answers like a brute-force set, in the delta and in the base, and merges new segments only', async () => {
    const { store, cache } = await fresh('brute');
    const truth = new Map<string, number>();
    const add = async (name: string, r: IndexRecord[]) => {
      await putSegment(store, name, r);
      for (const x of r) if (!truth.has(hex(x.id))) truth.set(hex(x.id), x.storedLength);
    };
    // duplicates across segments keep one answer (all copies carry the same length)
    const first = recs(30_000);
    await add('a', first);
    await add('b', [...recs(2000), ...first.slice(0, 500)]);
    const absent = Array.from({ length: 3000 }, () => randomBytes(32));

    const i1 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect(i1.rebuilt).toBe(true); // 32 000 records > deltaMax: a base run
    expect(i1.fetchedSegments).toBe(2);
    expect(i1.size).toBe(truth.size);
    await expectAnswers(i1, truth, absent);
    // absent ids mostly stop at the filter: far fewer page reads than lookups
    const before = i1.pageReads;
    for (const id of absent) await i1.lookup(id);
    expect(i1.pageReads - before).toBeLessThan(absent.length * 0.05);
    expect(i1.memoryBytes).toBeLessThan(truth.size * 4); // fences + filter, not the records
    await i1.close();

    // current copy: nothing fetched, nothing rebuilt
    const i2 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect([i2.fetchedSegments, i2.cachedSegments, i2.rebuilt]).toEqual([0, 2, false]);
    await i2.close();

    // a small new segment goes into the delta; only it is fetched
    await add('c', recs(300));
    const i3 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect([i3.fetchedSegments, i3.cachedSegments, i3.rebuilt]).toEqual([1, 2, false]);
    expect(i3.size).toBe(truth.size);
    await expectAnswers(i3, truth, absent);
    await i3.close();

    // past deltaMax the delta and the new segments are merged into a new base
    await add('d', recs(6000));
    const i4 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect([i4.fetchedSegments, i4.rebuilt]).toEqual([1, true]);
    expect(i4.size).toBe(truth.size);
    await expectAnswers(i4, truth, absent);
    await i4.close();
    const files = (await fs.readdir(cache)).sort();
    expect(files.filter((f) => f.startsWith('base-'))).toHaveLength(1); // the old base is gone
  });

  it('forgets what GC rewrote away and what consolidation merged, and never answers a deleted segment', async () => {
    const { store, cache } = await fresh('gc');
    const big = recs(12_000);
    const small = recs(200);
    await putSegment(store, 'big', big);
    const i1 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect(i1.rebuilt).toBe(true);
    await i1.close();
    await putSegment(store, 'small', small);
    const i2 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect(i2.rebuilt).toBe(false); // small one in the delta
    await i2.close();

    // GC's rewrite: one segment of what survives (a sample of both), then the old ones deleted
    const survivors = [...big.slice(0, 3000), ...small.slice(0, 50)];
    await putSegment(store, 'gc-run1', survivors);
    await store.deleteMany([`${INDEX_PREFIX}big.idx`, `${INDEX_PREFIX}small.idx`]);
    const i3 = await ChunkIndex.load(store, { dir: cache, tuning });
    const live = new Map(survivors.map((r) => [hex(r.id), r.storedLength]));
    const dead = [...big.slice(3000, 6000), ...small.slice(50)].map((r) => r.id);
    await expectAnswers(i3, live, dead);
    expect(i3.size).toBe(live.size);
    await i3.close();

    // consolidation of small segments: the merged one answers, the sources' records stay known
    const parts = [recs(100), recs(100), recs(100)];
    for (const [n, p] of parts.entries()) await putSegment(store, `p${n}`, p);
    const i4 = await ChunkIndex.load(store, { dir: cache, tuning });
    const r = await consolidateIndex(store, i4, { olderThan: Date.now() + 60_000, maxRecords: 1000 });
    await i4.close();
    expect(r?.merged.sort()).toEqual(['p0', 'p1', 'p2'].map((n) => `${INDEX_PREFIX}${n}.idx`));
    const i5 = await ChunkIndex.load(store, { dir: cache, tuning });
    for (const p of parts) for (const rec of p) live.set(hex(rec.id), rec.storedLength);
    await expectAnswers(i5, live, dead);
    await i5.close();
    // and once the merged segment is gone too, its records are no longer answered
    await store.delete(r!.into);
    const i6 = await ChunkIndex.load(store, { dir: cache, tuning });
    await expectAnswers(i6, new Map(survivors.map((x) => [hex(x.id), x.storedLength])), parts.flat().map((x) => x.id));
    await i6.close();
  });

  it('a deleted segment whose records sit in the base stops answering at once, without a rebuild', async () => {
    const { store, cache } = await fresh('retire');
    const a = recs(20_000);
    const b = recs(2000);
    await putSegment(store, 'a', a);
    await putSegment(store, 'b', [...b, ...a.slice(0, 10)]);
    const i1 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect(i1.rebuilt).toBe(true);
    await i1.close();
    await store.delete(`${INDEX_PREFIX}b.idx`);
    const i2 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect([i2.rebuilt, i2.fetchedSegments]).toEqual([false, 0]);
    // b's own ids are gone; the 10 ids b shared with a may be forgotten too (safe), but a's others stay
    await expectAnswers(i2, new Map(a.slice(10).map((x) => [hex(x.id), x.storedLength])), b.map((x) => x.id));
    await i2.close();
  });

  it('rebuilds a damaged or foreign local copy from the store, never trusting it', async () => {
    const { store, cache } = await fresh('damage');
    const r = recs(20_000);
    await putSegment(store, 's', r);
    const truth = new Map(r.map((x) => [hex(x.id), x.storedLength]));
    (await ChunkIndex.load(store, { dir: cache, tuning })).close();
    const baseFile = async () => path.join(cache, (JSON.parse(await fs.readFile(path.join(cache, 'state.json'), 'utf8')) as { base: string }).base);

    // a flipped byte in a page: the lookup that reads it answers "unknown", the next load rebuilds
    const f = await baseFile();
    const buf = await fs.readFile(f);
    const id0 = buf.subarray(PAGE, PAGE + 32);
    const victim = Buffer.from(id0);
    buf[PAGE + 50]! ^= 0x40;
    await fs.writeFile(f, buf);
    const i1 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect(i1.rebuilt).toBe(false); // pages are checked when read, not at open
    expect(await i1.lookup(victim)).toBeUndefined();
    await i1.close();
    const i2 = await ChunkIndex.load(store, { dir: cache, tuning });
    expect([i2.rebuilt, i2.fetchedSegments]).toEqual([true, 1]);
    expect((await fs.readdir(cache)).filter((n) => n.startsWith('base-'))).toHaveLength(1); // the damaged one went
    await expectAnswers(i2, truth, []);
    await i2.close();

    // damaged fences/filter (checked at open), a truncated file, a garbage state file
    const damage: ((file: string) => Promise<void>)[] = [
      async (file) => {
        const b = await fs.readFile(file);
        b[b.length - 3]! ^= 1;
        await fs.writeFile(file, b);
      },
      async (file) => fs.truncate(file, (await fs.stat(file)).size - 100),
      async () => fs.writeFile(path.join(cache, 'state.json'), '{"format":"blockvault-local-index","version":1,"segments":7'),
    ];
    // a state naming a file outside its directory is foreign: rebuilt, and that file left alone
    const outside = path.join(root, 'damage', 'precious');
    await fs.writeFile(outside, 'keep me');
    damage.push(async () => {
      const st = JSON.parse(await fs.readFile(path.join(cache, 'state.json'), 'utf8')) as Record<string, unknown>;
      await fs.writeFile(path.join(cache, 'state.json'), JSON.stringify({ ...st, base: '../precious' }));
    });
    for (const d of damage) {
      await d(await baseFile());
      const i = await ChunkIndex.load(store, { dir: cache, tuning });
      expect([i.rebuilt, i.fetchedSegments]).toEqual([true, 1]);
      await expectAnswers(i, truth, []);
      await i.close();
    }
    expect(await fs.readFile(outside, 'utf8')).toBe('keep me');
  });

  it('streams a large segment in pieces, and drops all of one whose checksum fails at its end', async () => {
    const { store, cache } = await fresh('large');
    const good = recs(70_000); // 2.5 MB: read in ranged pieces
    const bad = recs(70_000);
    await putSegment(store, 'good', good);
    const body = encodeSegment(bad);
    body[body.length - 9]! ^= 1; // last record's length byte: only the final checksum can tell
    await store.put(`${INDEX_PREFIX}bad.idx`, body);
    const i = await ChunkIndex.load(store, { dir: cache, tuning });
    expect(i.rebuilt).toBe(true);
    expect(i.size).toBe(good.length);
    await expectAnswers(i, new Map(good.map((x) => [hex(x.id), x.storedLength])), bad.slice(0, 2000).map((x) => x.id));
    await i.close();
  });

  it('without a cache directory it still works (a private temporary copy)', async () => {
    const { store } = await fresh('nocache');
    const r = recs(500);
    await putSegment(store, 'x', r);
    const i = await ChunkIndex.load(store);
    await expectAnswers(i, new Map(r.map((x) => [hex(x.id), x.storedLength])), [randomBytes(32)]);
    await i.close();
  });

  it('indexCacheInfo and clearIndexCache see and remove per-vault copies', async () => {
    const cacheRoot = path.join(root, 'info-cache');
    const ids = ['0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210'];
    for (const id of ids) {
      const { store } = await fresh(`info-${id.slice(0, 4)}`);
      await putSegment(store, 'a', recs(100));
      await putSegment(store, 'b', recs(100));
      (await ChunkIndex.load(store, { dir: path.join(cacheRoot, id, 'index') })).close();
    }
    const info = await indexCacheInfo({ dir: cacheRoot });
    expect(info.dir).toBe(cacheRoot);
    expect(info.vaults.map((v) => [v.id, v.segments])).toEqual(ids.map((id) => [id, 2]));
    expect(info.vaults.every((v) => v.bytes > 200 * 40)).toBe(true);
    expect(info.bytes).toBe(info.vaults[0]!.bytes + info.vaults[1]!.bytes);
    const gone = await clearIndexCache({ dir: cacheRoot, vaultId: ids[0]! });
    expect(gone.vaults).toEqual([ids[0]]);
    expect((await indexCacheInfo({ dir: cacheRoot })).vaults.map((v) => v.id)).toEqual([ids[1]]);
    await expect(clearIndexCache({ dir: cacheRoot, vaultId: '../etc' })).rejects.toThrow(/not a vault cache id/);
    await clearIndexCache({ dir: cacheRoot });
    expect((await indexCacheInfo({ dir: cacheRoot })).vaults).toEqual([]);
  });
});
