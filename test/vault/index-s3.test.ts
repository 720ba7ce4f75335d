// The local index copy over a real S3 server (test/helpers/s3-server.ts): a host new to the
// vault fetches each segment once (a large one in ranged pieces), a host whose copy is current
// fetches none, and its own segments are never fetched back.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingStore } from '../../src/store/counting-store.js';
import { openStore } from '../../src/store/open-store.js';
import { ChunkIndex, INDEX_PREFIX, encodeSegment, type IndexRecord } from '../../src/vault/chunk-index.js';
import { tempDir } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
if (skip) console.warn(`[index-s3.test] skipped: ${skip}`);
const s3 = target as S3Endpoint;
let dir = '';
let bucket = '';

beforeAll(async () => {
  if (skip) return;
  dir = await tempDir('index-s3');
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  bucket = await createTestBucket(s3, 'index-s3');
});
afterAll(async () => {
  if (skip) return;
  await removeBucket(s3, bucket);
  await stopS3Server();
  await fs.rm(dir, { recursive: true, force: true });
});

const recs = (n: number): IndexRecord[] => Array.from({ length: n }, (_, i) => ({ id: randomBytes(32), storedLength: 4096 + i }));

describe.skipIf(!!skip)('chunk index on S3', () => {
  it('fetches only what the local copy lacks, a large segment in ranged pieces', async () => {
    const store = new CountingStore(await openStore(`s3://${bucket}/v`, { endpoint: s3.endpoint }));
    const large = recs(150_000); // 5.4 MB: 3 pieces of 2 MiB
    const small = recs(50);
    await store.put(`${INDEX_PREFIX}large.idx`, encodeSegment(large));
    await store.put(`${INDEX_PREFIX}small.idx`, encodeSegment(small));
    const cache = path.join(dir, 'host');
    const tuning = { deltaMax: 10_000 };

    store.reset();
    const cold = await ChunkIndex.load(store, { dir: cache, tuning });
    expect([cold.rebuilt, cold.fetchedSegments, cold.size]).toEqual([true, 2, 150_050]);
    expect(store.counts.get).toBe(1); // the small one, whole
    expect(store.counts.getRange).toBe(2 + 3); // the large one: header, 3 pieces, checksum
    for (const r of [large[0]!, large[149_999]!, small[7]!]) expect(await cold.lookup(r.id)).toBe(r.storedLength);
    expect(await cold.lookup(randomBytes(32))).toBeUndefined();
    // a segment this host writes is kept locally: the next load does not GET it
    const mine = randomBytes(32);
    cold.add(mine, 777);
    await cold.flush(store, 'mine');
    await cold.close();

    store.reset();
    const warm = await ChunkIndex.load(store, { dir: cache, tuning });
    expect([warm.rebuilt, warm.fetchedSegments, warm.cachedSegments]).toEqual([false, 0, 3]);
    expect(store.gotten).toEqual([]);
    expect(store.counts.list).toBe(1);
    expect(await warm.lookup(mine)).toBe(777);
    await warm.close();
    await store.close();
  });
});
