// The chunk index of an encrypted vault: sealed segments on the host-local sorted index.
// Flushed and consolidated segments are sealed in their key domain; a sealed segment is read
// whole (never in ranges), opened and parsed like a plain one; a segment of a domain not open
// here is covered with no record and read again once its domain is open; a plain segment
// planted in an encrypted vault is never answered from.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyDomain } from '../../src/crypto/domain.js';
import { SEALED_HEADER_BYTES, openBlob, sealBlob, sealedDomainId } from '../../src/crypto/sealed-blob.js';
import { backup, openVault, verify, type OpenVaultOptions } from '../../src/index.js';
import { CountingStore } from '../../src/store/counting-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { ChunkIndex, INDEX_PREFIX, encodeSegment, type IndexRecord } from '../../src/vault/chunk-index.js';
import { SEGMENT_PIECE_BYTES, SEG_REC, SegmentDamaged, SegmentLocked, type SegmentCodec } from '../../src/vault/index-segments.js';
import { entries } from '../../src/vault/manifest.js';
import { makeImage, tempDir } from '../helpers/images.js';

const BS = 64 * 1024;
const CMK = '2f0c6a3e-1d7b-4c55-8e21-6b0f3c9d4a77';
let dir = '';
const local = (name: string) => path.join(dir, name);

beforeAll(async () => {
  for (const k of ['BLOCKVAULT_PASSWORD', 'BLOCKVAULT_PASSWORD_FILE', 'BLOCKVAULT_KEY_FILE']) delete process.env[k];
  dir = await tempDir('index-sealed');
  await makeImage(local('one.img'), { blocks: ['random', 'text', 'random', 'random'], blockSize: BS, seed: 11 });
  await makeImage(local('two.img'), { blocks: ['random', 'random', 'text', 'random'], blockSize: BS, seed: 12 });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A codec over one open domain, as vault-encryption.ts builds it. */
function codecOf(open: KeyDomain[]): SegmentCodec {
  const byId = new Map(open.map((d) => [d.id, d]));
  return {
    overhead: SEALED_HEADER_BYTES,
    seal: (k, body, domain) => sealBlob(byId.get(domain ?? open[0]!.id)!, k, body),
    open: (k, buf) => {
      let id: string;
      try {
        id = sealedDomainId(buf, k);
      } catch (e) {
        throw new SegmentDamaged(k, (e as Error).message);
      }
      const d = byId.get(id);
      if (!d) throw new SegmentLocked(k, id);
      return { body: openBlob(d, k, buf), domain: id };
    },
    isOpen: (id) => byId.has(id),
  };
}

const recs = (n: number): IndexRecord[] => Array.from({ length: n }, (_, i) => ({ id: randomBytes(32), storedLength: 100 + (i % 1000) }));

describe('sealed segments in the local index', () => {
  it('reads a large sealed segment whole, skips another domain and a planted plain segment', async () => {
    const [a, b] = [KeyDomain.generate(), KeyDomain.generate()];
    const inner = MemoryStore.open(`sealed-${randomBytes(4).toString('hex')}`, { fresh: true });
    const seal = codecOf([a, b]);
    // > one 2 MiB piece: a plain segment this size would be read in ranges
    const big = recs(Math.ceil(SEGMENT_PIECE_BYTES / SEG_REC) + 500);
    const other = recs(50);
    const planted = recs(20);
    await inner.put(`${INDEX_PREFIX}big.idx`, seal.seal(`${INDEX_PREFIX}big.idx`, encodeSegment(big), a.id));
    await inner.put(`${INDEX_PREFIX}other.idx`, seal.seal(`${INDEX_PREFIX}other.idx`, encodeSegment(other), b.id));
    await inner.put(`${INDEX_PREFIX}planted.idx`, encodeSegment(planted));
    const store = new CountingStore(inner);
    const cache = local('mem-cache');
    const tuning = { deltaMax: 1000 }; // the big segment goes the streaming way
    const onlyA = await ChunkIndex.load(store, { dir: cache, tuning, codec: codecOf([a]) });
    expect(store.counts.getRange).toBe(0); // sealed: whole objects only
    expect(onlyA.segments.length).toBe(3); // all listed
    expect(onlyA.size).toBe(big.length);
    for (const r of [big[0]!, big[big.length - 1]!, big[777]!]) expect(await onlyA.lookup(r.id)).toBe(r.storedLength);
    for (const r of [other[0]!, planted[0]!]) {
      expect(onlyA.mayContain(r.id) ? await onlyA.lookup(r.id) : undefined).toBeUndefined();
    }
    expect(onlyA.segmentEntry(`${INDEX_PREFIX}other.idx`)).toMatchObject({ locked: true, domain: b.id });
    expect(onlyA.segmentEntry(`${INDEX_PREFIX}big.idx`)).toMatchObject({ domain: a.id });
    expect(onlyA.segmentEntry(`${INDEX_PREFIX}planted.idx`)).toBeUndefined(); // damage: not covered
    await onlyA.close();

    // The same copy, now with both domains open: only the locked segment (and the planted one,
    // skipped again) is fetched; the other domain's records now answer.
    const before = store.counts.get;
    const both = await ChunkIndex.load(store, { dir: cache, tuning, codec: codecOf([a, b]) });
    expect(store.gotten.slice(-2).sort()).toEqual([`${INDEX_PREFIX}other.idx`, `${INDEX_PREFIX}planted.idx`]);
    expect(store.counts.get - before).toBe(2);
    expect(await both.lookup(other[3]!.id)).toBe(other[3]!.storedLength);
    expect(await both.lookup(big[5]!.id)).toBe(big[5]!.storedLength);
    expect(both.mayContain(planted[0]!.id) ? await both.lookup(planted[0]!.id) : undefined).toBeUndefined();
    expect(both.size).toBe(big.length + other.length);
    await both.close();
  });
});

describe('an encrypted vault: flush, consolidation and key domains', () => {
  const clear = new Map<string, Buffer>();
  const vk1 = randomBytes(32).toString('hex');
  const vk2 = randomBytes(32).toString('hex');
  clear.set(vk1, randomBytes(32));
  clear.set(vk2, randomBytes(32));
  const unwrap = async ({ vk }: { cmkId: string; vk: string }) => clear.get(vk)!;
  const opts = (extra: OpenVaultOptions = {}): OpenVaultOptions => ({ blockSize: BS, keys: { unwrap }, indexCacheDir: local('kidx-cache'), consolidateAbove: 0, ...extra });
  const ctx1 = { cmkId: CMK, vk: vk1 };
  const ctx2 = { cmkId: CMK, vk: vk2 };

  async function segmentsByDomain(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const name of (await fs.readdir(local('kidx/index'))).sort()) {
      const buf = await fs.readFile(local(`kidx/index/${name}`));
      expect(buf.subarray(0, 4).toString()).toBe('BVSB'); // every segment sealed
      const d = sealedDomainId(buf, `index/${name}`);
      out.set(d, [...(out.get(d) ?? []), name]);
    }
    return out;
  }

  it('seals every segment in its domain, merges one open domain only, and reads a locked domain once it is open', async () => {
    const v = await openVault(local('kidx'), opts({ create: true, encrypt: { kms: true } }));
    const a1 = await backup(v, { source: local('one.img'), volumeId: 'a1', encryption: ctx1, workers: 1 });
    await backup(v, { source: local('two.img'), volumeId: 'a2', encryption: ctx1, workers: 1 });
    const b1 = await backup(v, { source: local('one.img'), volumeId: 'b1', encryption: ctx2, workers: 1 });
    await backup(v, { source: local('two.img'), volumeId: 'b2', encryption: ctx2, workers: 1 });
    const domA = (await v.header(a1.backupId)).keyDomain!;
    const domB = (await v.header(b1.backupId)).keyDomain!;
    const chunkOf = async (id: string) => [...entries(await v.readManifest(id))].find((e) => e.kind === 1)!.id;
    const [chunkA, chunkB] = [await chunkOf(a1.backupId), await chunkOf(b1.backupId)];
    await v.close();
    const before = await segmentsByDomain();
    expect(before.get(domA)!.length).toBeGreaterThanOrEqual(2);
    expect(before.get(domB)!.length).toBeGreaterThanOrEqual(2);

    // Only domain A open, on a host that never saw the vault: the load consolidates A's
    // segments (sealed in A), leaves B's alone (covered as locked), and B's chunks are unknown.
    const host2 = local('kidx-cache2');
    const onlyA = await openVault(local('kidx'), opts({ indexCacheDir: host2, consolidateAbove: 1, consolidateOlderThan: Date.now() + 60_000 }));
    await onlyA.chunkCodecFor(ctx1);
    const index = await onlyA.reloadChunkIndex();
    expect(await onlyA.hasChunk(chunkA)).toBe(true);
    expect(await onlyA.hasChunk(chunkB)).toBe(false);
    for (const name of before.get(domB)!) expect(index.segmentEntry(`index/${name}`)).toMatchObject({ locked: true, domain: domB });
    await onlyA.close();
    const after = await segmentsByDomain();
    expect(after.get(domB)).toEqual(before.get(domB));
    expect(after.get(domA)!.length).toBe(1);
    expect(after.get(domA)![0]).toMatch(/^merged-/);

    // The first host's copy holds B's records (B was open there): a process with only A open
    // still never answers for them.
    const sharedA = await openVault(local('kidx'), opts());
    await sharedA.chunkCodecFor(ctx1);
    await sharedA.reloadChunkIndex();
    expect(await sharedA.hasChunk(chunkA)).toBe(true);
    expect(await sharedA.hasChunk(chunkB)).toBe(false);
    await sharedA.close();

    // Domain B opened on the second host: its segments, locked in that copy, are read now.
    const later = await openVault(local('kidx'), opts({ indexCacheDir: host2 }));
    const again = await backup(later, { source: local('two.img'), volumeId: 'b3', encryption: ctx2, workers: 1 });
    expect(again.newChunkCount).toBe(0);
    const merged = await backup(later, { source: local('one.img'), volumeId: 'a3', encryption: ctx1, workers: 1 });
    expect(merged.newChunkCount).toBe(0); // the merged, sealed segment answers for A
    const checked = await verify(later);
    expect(checked.index.damagedSegments).toEqual([]);
    await later.close();
  });
});
