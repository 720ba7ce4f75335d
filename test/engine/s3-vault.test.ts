// The engine end to end on an S3 vault (a real server: see test/helpers/s3-server.ts), with
// the same core scenarios as the local suite, plus what only a remote vault has: the local
// index-segment cache, consolidation, and the request pattern of a backup.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, deleteBackup, gc, listBackups, openVault, restore, vaultStats, verify, Vault, type OpenVaultOptions } from '../../src/index.js';
import { CountingStore } from '../../src/store/counting-store.js';
import { openStore } from '../../src/store/open-store.js';
import { ChunkIndex, INDEX_PREFIX, decodeSegment, encodeSegment } from '../../src/vault/chunk-index.js';
import { consolidateIndex } from '../../src/vault/index-loader.js';
import { makeImage, overwrite, sha256File, tempDir, textLike, prng, type Kind } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';
import { SCENARIO_BS as BS, coreScenarios } from './scenarios.js';

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
if (skip) console.warn(`[s3-vault.test] skipped: ${skip}`);
const s3 = target as S3Endpoint;

let dir = '';
let cacheDir = '';
let bucket = '';

beforeAll(async () => {
  if (skip) return;
  dir = await tempDir('s3vault');
  cacheDir = path.join(dir, 'cache');
  // The library takes credentials from the AWS chain, as the CLI does.
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  bucket = await createTestBucket(s3, 's3-vault');
});
afterAll(async () => {
  if (skip) return;
  await removeBucket(s3, bucket);
  await stopS3Server();
  await fs.rm(dir, { recursive: true, force: true });
});

const url = (name: string) => `s3://${bucket}/${name}`;
const opts = (extra: OpenVaultOptions = {}): OpenVaultOptions => ({ endpoint: s3.endpoint, indexCacheDir: cacheDir, ...extra });

/** A vault whose store counts every request. */
async function countedVault(name: string, extra: OpenVaultOptions = {}): Promise<{ vault: Vault; counts: CountingStore }> {
  const o = opts({ create: true, blockSize: BS, ...extra });
  const counts = new CountingStore(await openStore(url(name), o));
  return { vault: await Vault.onStore(counts, o), counts };
}

async function listKeys(vault: Vault, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of vault.meta.list(prefix)) out.push(o.key);
  return out.sort();
}

describe.skipIf(!!skip)('core scenarios on an S3 vault', () => {
  coreScenarios({
    makeVault: (name) => openVault(url(name), opts({ create: true, blockSize: BS })),
    dir: () => dir,
  });
});

describe.skipIf(!!skip)('S3 vault: requests and the index cache', () => {
  it('a second backup makes no HEAD, confirms its inherited chunks with one LIST of chunks/, and GETs only uncached segments', async () => {
    // Two machines: A makes the first backup, B the next ones (each has its own segment cache).
    const hostA = path.join(dir, 'cache-host-a');
    const hostB = path.join(dir, 'cache-host-b');
    const img = path.join(dir, 'req.img');
    const blocks: Kind[] = Array.from({ length: 600 }, (_, i) => (['random', 'text', 'hole'] as Kind[])[i % 3]!);
    await makeImage(img, { blocks, blockSize: BS, seed: 31 });

    const first = await countedVault('req', { indexCacheDir: hostA });
    const b1 = await backup(first.vault, { source: img, volumeId: 'req' });
    expect(first.counts.counts.head).toBe(0);
    await first.vault.close();
    const segs1 = (await countedVault('req')).vault; // just to list
    const segments1 = await listKeys(segs1, INDEX_PREFIX);
    await segs1.close();
    expect(segments1.length).toBeGreaterThanOrEqual(2); // 400 new chunks: a mid-run segment and the final one

    // Second backup, new engine instance (nothing in memory), image changed in 5 blocks.
    const rnd = prng(3);
    for (let n = 0; n < 5; n++) await overwrite(img, (n * 97 + 1) * BS, textLike(BS, rnd));
    const second = await countedVault('req', { indexCacheDir: hostB });
    const b2 = await backup(second.vault, { source: img, volumeId: 'req' });
    expect(b2.parentId).toBe(b1.backupId);
    expect(b2.newChunkCount).toBeGreaterThanOrEqual(1);
    const c2 = second.counts;
    expect(c2.counts.head).toBe(0);
    expect(c2.headed).toEqual([]);
    expect(c2.listed).toContain(INDEX_PREFIX);
    // 400 chunks in the vault: one page of chunks/ is cheaper than ~390 HEADs (backup-confirm.ts)
    expect(c2.listed.filter((p) => p.startsWith('chunks'))).toEqual(['chunks/']);
    expect(c2.counts.listPage).toBeLessThanOrEqual(c2.listed.length + 1);
    for (const p of c2.listed) expect(['index/', 'manifests/req/', 'leases/', 'chunks/']).toContain(p);
    // only its volume's manifests: the vault's other volumes cost it nothing (manifest-catalog.ts)
    expect(c2.listed).toContain('manifests/req/');
    // the segments of the first backup were not in B's cache yet: fetched once each
    const segGets2 = c2.gotten.filter((k) => k.startsWith(INDEX_PREFIX));
    expect(segGets2.sort()).toEqual(segments1);
    // chunk PUTs: only the changed blocks (put-if-absent, no HEAD before)
    expect(c2.counts.putIfAbsent).toBe(b2.newChunkCount + 1 /* manifest */ + 1 /* lease */);
    await second.vault.close();

    // Third backup on B, again a new instance: every segment comes from B's cache, the second
    // backup's included (cached when it was written). On A, only the second backup's is fetched.
    await overwrite(img, 5 * BS, textLike(BS, rnd));
    const third = await countedVault('req', { indexCacheDir: hostB });
    const b3 = await backup(third.vault, { source: img, volumeId: 'req' });
    expect(third.counts.gotten.filter((k) => k.startsWith(INDEX_PREFIX))).toEqual([]);
    expect(third.counts.counts.head).toBe(0);
    const idx = await third.vault.chunkIndex();
    expect(idx.cachedSegments).toBe(segments1.length + 1);
    expect(idx.fetchedSegments).toBe(0);
    await third.vault.close();
    const onA = await countedVault('req', { indexCacheDir: hostA });
    const idxA = await onA.vault.chunkIndex();
    expect(onA.counts.gotten.filter((k) => k.startsWith(INDEX_PREFIX)).sort()).toEqual(
      [`${INDEX_PREFIX}${b2.backupId}-0000.idx`, `${INDEX_PREFIX}${b3.backupId}-0000.idx`].sort(),
    );
    expect(idxA.cachedSegments).toBe(segments1.length);
    await onA.vault.close();

    // and the chain still restores
    const out = path.join(dir, 'req.out');
    const v = await openVault(url('req'), opts());
    await restore(v, { backupId: b3.backupId, target: out });
    expect(await sha256File(out)).toBe(await sha256File(img));
    await v.close();
  });

  it('a damaged cache file is refetched, and the cache can be turned off', async () => {
    const img = path.join(dir, 'cache.img');
    await makeImage(img, { blocks: ['random', 'text', 'random'], blockSize: BS, seed: 41 });
    const own = path.join(dir, 'own-cache');
    const first = await countedVault('cache', { indexCacheDir: own });
    await backup(first.vault, { source: img, volumeId: 'c' });
    await first.vault.close();
    const load = async (cache: string) => {
      const c = await countedVault('cache', { indexCacheDir: cache });
      const idx = await c.vault.chunkIndex();
      await c.vault.close();
      return idx;
    };
    expect((await load(own)).cachedSegments).toBe(1); // kept when the backup wrote it
    // damage the local copy: it is rebuilt from the store's segment
    const idxDir = path.join(own, (await fs.readdir(own))[0]!, 'index');
    const state = JSON.parse(await fs.readFile(path.join(idxDir, 'state.json'), 'utf8')) as { delta: string };
    const f = path.join(idxDir, state.delta);
    const buf = await fs.readFile(f);
    buf[20]! ^= 1;
    await fs.writeFile(f, buf);
    const again = await load(own);
    expect(again.fetchedSegments).toBe(1);
    expect(again.size).toBe(3);
    expect((await load(own)).cachedSegments).toBe(1);
    const off = await load('off');
    expect(off.fetchedSegments).toBe(1);
    expect(off.cachedSegments).toBe(0);
  });

  it('consolidates many segments into one, merging only what it read and never deleting what it did not merge', async () => {
    const { vault, counts: store } = await countedVault('consol', { consolidateAbove: 0 });
    // 8 backups of different images: 8 segments
    const ids: string[] = [];
    for (let n = 0; n < 8; n++) {
      const img = path.join(dir, `consol-${n}.img`);
      await makeImage(img, { blocks: ['random', 'text'], blockSize: BS, seed: 100 + n });
      ids.push((await backup(vault, { source: img, volumeId: `v${n}` })).backupId);
    }
    expect(await listKeys(vault, INDEX_PREFIX)).toHaveLength(8);
    const index = await ChunkIndex.load(store);
    expect(index.size).toBe(16);
    // After the load: one segment rewritten in place (as GC might) and one new one appear.
    const rewritten = `${INDEX_PREFIX}${ids[0]}-0000.idx`;
    const recs = decodeSegment(await store.get(rewritten));
    await store.put(rewritten, encodeSegment(recs.slice(0, 1)));
    await store.put(`${INDEX_PREFIX}foreign.idx`, encodeSegment(recs.slice(1)));
    const r = await consolidateIndex(store, index, { olderThan: Date.now() + 60_000 });
    expect(r).toBeDefined();
    expect(r!.merged).toHaveLength(7);
    expect(r!.merged).not.toContain(rewritten);
    const after = await listKeys(vault, INDEX_PREFIX);
    expect(after.sort()).toEqual([r!.into, rewritten, `${INDEX_PREFIX}foreign.idx`].sort());
    const reloaded = await ChunkIndex.load(store);
    expect(reloaded.size).toBe(16);
    // no lease left behind
    expect(await listKeys(vault, 'leases/')).toEqual([]);
    await vault.close();

    // Through openVault: above the threshold, a backup's index load consolidates on its own.
    const auto = await countedVault('consol', { consolidateAbove: 2, consolidateOlderThan: Date.now() + 60_000 });
    const img = path.join(dir, 'consol-0.img');
    const again = await backup(auto.vault, { source: img, volumeId: 'v0' });
    expect(again.newChunkCount).toBe(0);
    const segs = await listKeys(auto.vault, INDEX_PREFIX);
    expect(segs.filter((k) => k.includes('/merged-'))).toHaveLength(1);
    expect(segs).toHaveLength(1);
    expect((await ChunkIndex.load(auto.counts)).size).toBe(16);
    await auto.vault.close();
  });
});

describe.skipIf(!!skip)('S3 vault: the lifecycle calls take an S3 vault too', () => {
  it('delete, gc, verify and stats work on an S3 vault, and what remains restores bit-exact', async () => {
    const keep = path.join(dir, 'lc-keep.img');
    const drop = path.join(dir, 'lc-drop.img');
    await makeImage(keep, { blocks: ['random', 'text', 'random', 'hole'], blockSize: BS, seed: 51 });
    await makeImage(drop, { blocks: ['random', 'random', 'text'], blockSize: BS, seed: 52 });
    const vault = await openVault(url('lifecycle'), opts({ create: true, blockSize: BS }));
    try {
      const full = await backup(vault, { source: keep, volumeId: 'keep' });
      await overwrite(keep, 0, textLike(BS, prng(5)));
      const inc = await backup(vault, { source: keep, volumeId: 'keep' });
      const gone = await backup(vault, { source: drop, volumeId: 'drop' });
      await deleteBackup(vault, gone.backupId);
      expect((await listBackups(vault)).map((b) => b.backupId).sort()).toEqual([full.backupId, inc.backupId].sort());
      const g = await gc(vault);
      expect(g.reclaimedObjects).toBe(3); // the dropped volume's three chunks
      const v = await verify(vault);
      expect(v.ok).toBe(true);
      const st = await vaultStats(vault);
      expect(st).toBeDefined();
      const out = path.join(dir, 'lc.out');
      await restore(vault, { backupId: inc.backupId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(keep));
    } finally {
      await vault.close();
    }
  });
});

describe.skipIf(!!skip)('S3 vault: a chunk object gone from the bucket (issue 9.1)', () => {
  it('the next backup that dedups against it finds it with a HEAD (404) and stores it again', async () => {
    const img = path.join(dir, 'gone.img');
    await makeImage(img, { blocks: ['random', 'text', 'random', 'text'], blockSize: BS, seed: 41 });
    const first = await countedVault('gone');
    const b1 = await backup(first.vault, { source: img, volumeId: 'g1' });
    const map = await first.vault.blockMap(b1.backupId);
    const { Layout } = await import('../../src/vault/layout.js');
    await first.vault.meta.delete(Layout.chunkKey(map.idAt(2))); // as a lifecycle rule would
    await first.vault.close();

    const second = await countedVault('gone');
    const b2 = await backup(second.vault, { source: img, volumeId: 'g2' }); // every block a dedup hit
    expect(b2.counters.chunksConfirmed).toBe(4);
    expect(second.counts.counts.head).toBe(4); // one HEAD per distinct chunk, on the real server
    expect(b2.counters.chunksRestored).toBe(1);
    expect(second.counts.counts.putIfAbsent).toBe(1 /* the chunk */ + 1 /* manifest */ + 1 /* lease */);
    await second.vault.close();
    const v = await openVault(url('gone'), opts());
    for (const id of [b1.backupId, b2.backupId]) {
      const out = path.join(dir, `gone-${id}.out`);
      await restore(v, { backupId: id, target: out });
      expect(await sha256File(out)).toBe(await sha256File(img));
    }
    await v.close();
  });
});
