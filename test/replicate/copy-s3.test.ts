// Copies through the real Ceph RGW: local → S3 and back, S3 → S3 between two RGW users (two
// credentials, two buckets), a second copy that sends nothing (counted at the store), kill -9
// mid-copy then a rerun that resumes, and a destination that becomes unreachable mid-way.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyBackups } from '../../src/engine/copy.js';
import { ErrorCodes } from '../../src/errors.js';
import { CountingStore } from '../../src/store/counting-store.js';
import { openStore } from '../../src/store/open-store.js';
import { S3Store, type S3StoreOptions } from '../../src/store/s3-store.js';
import { Vault } from '../../src/vault/vault.js';
import { backup, openVault, restore, verify } from '../../src/index.js';
import { sha256File } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';
import { BS, buildChain, type Chain } from '../lifecycle/fixture.js';
import { createRgwUser, cutProxy, removeRgwUser, type RgwUser } from './rgw.js';
import { runReplicate, startReplicate } from './run.js';

const target = await getS3Endpoint();
const skip = 'skip' in target ? target.skip : undefined;
if (skip) console.warn(`[copy-s3.test] skipped: ${skip}`);
const s3 = target as S3Endpoint;

let chain: Chain;
let bucket = '';
let otherBucket = '';
let other: RgwUser | undefined;
const opened: Vault[] = [];
let env: Record<string, string> = {};

async function s3Vault(url: string, opts: S3StoreOptions = {}, vaultOpts: Parameters<typeof Vault.onStore>[1] = {}, count = false) {
  const store = await S3Store.open(url, { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...opts });
  const counting = count ? new CountingStore(store) : undefined;
  const v = await Vault.onStore(counting ?? store, vaultOpts);
  opened.push(v);
  return { v, counting };
}
const local = async (p: string, create = false) => {
  const v = await openVault(p, create ? { create: true, blockSize: BS } : {});
  opened.push(v);
  return v;
};

beforeAll(async () => {
  if (skip) return;
  chain = await buildChain('copy-s3', 5, { seed: 23 });
  env = {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    BLOCKVAULT_CACHE_DIR: path.join(chain.dir, 'cache'),
  };
  Object.assign(process.env, env);
  bucket = await createTestBucket(s3, 'copy-s3');
  other = await createRgwUser('copy');
  const c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: other.accessKeyId, secretAccessKey: other.secretAccessKey } });
  otherBucket = `${bucket}-b`;
  await c.send(new CreateBucketCommand({ Bucket: otherBucket }));
  c.destroy();
});
afterAll(async () => {
  if (skip) return;
  for (const v of opened) await v.close().catch(() => {});
  await removeBucket(s3, bucket);
  if (other) await removeRgwUser(other.uid); // --purge-data removes its bucket too
  await stopS3Server();
  await fs.rm(chain.dir, { recursive: true, force: true });
});

async function restoresExactly(v: Vault, ids: string[]) {
  for (const id of ids) {
    const out = path.join(chain.dir, `r-${id}.img`);
    await restore(v, { backupId: id, target: out, force: true, allowReplica: true });
    expect(await sha256File(out), `backup ${id}`).toBe(chain.sha.get(id));
    await fs.rm(out);
  }
}

describe.skipIf(!!skip)('copy through S3', () => {
  it('a 5-backup chain local → S3 and back, every point bit-exact from each copy', async () => {
    const src = await local(chain.vaultDir);
    const { v: dr } = await s3Vault(`s3://${bucket}/dr`, {}, { create: true, replicaOf: src });
    const there = await copyBackups(src, dr, { all: true });
    expect(there.mode).toBe('verbatim');
    expect(there.copied).toEqual(chain.ids);
    await restoresExactly(dr, chain.ids);
    expect((await verify(dr, { deep: true })).ok).toBe(true);

    // Fail-back: the replicas come home into a fresh local vault (allowed explicitly).
    const home = await local(path.join(chain.dir, 'home'), true);
    const back = await copyBackups(dr, home, { all: true, allowReplicaSource: true });
    expect(back.mode).toBe('reidentify');
    expect(back.copied).toEqual(chain.ids);
    await restoresExactly(home, chain.ids);
    expect((await home.header(chain.ids[0]!)).origin).toMatchObject({ kind: 'replica', sourceVaultId: src.config.vaultId });
  });

  it('the second copy sends 0 chunks: no PUT, no chunk GET, no HEAD (counted at both stores)', async () => {
    const srcStore = new CountingStore(await openStore(chain.vaultDir));
    const src = await Vault.onStore(srcStore);
    opened.push(src);
    const { v: dr, counting } = await s3Vault(`s3://${bucket}/dr`, {}, {}, true);
    const r = await copyBackups(src, dr, { all: true });
    expect(r.copied).toEqual([]);
    expect(r.counters.chunksSent).toBe(0);
    const c = counting!.counts;
    expect(c.put + c.putIfAbsent + c.delete + c.deleteMany + c.head).toBe(0);
    expect(counting!.gotten.filter((k) => k.startsWith('chunks/'))).toEqual([]);
    expect(srcStore.gotten.filter((k) => k.startsWith('chunks/'))).toEqual([]);
    // What it did do: list manifests and read their headers.
    expect(counting!.listed).toEqual(['manifests/']);
  });

  it('S3 → S3 between two RGW users (two credentials, two buckets)', async () => {
    // Originals made on S3 under the first user…
    const { v: a } = await s3Vault(`s3://${bucket}/orig`, {}, { create: true, blockSize: BS });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await backup(a, { source: chain.image, volumeId: 'vol-s3' })).backupId);
    const want = await sha256File(chain.image);
    // …copied into the second user's bucket, which the first user cannot read.
    const { v: b } = await s3Vault(`s3://${otherBucket}/copy`, { accessKeyId: other!.accessKeyId, secretAccessKey: other!.secretAccessKey }, { create: true, replicaOf: a });
    const first = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await expect(first.send(new ListObjectsV2Command({ Bucket: otherBucket }))).rejects.toMatchObject({ name: 'AccessDenied' });
    first.destroy();
    const r = await copyBackups(a, b, { volumeId: 'vol-s3' });
    expect(r.copied).toEqual(ids);
    for (const id of ids) {
      const out = path.join(chain.dir, `s3s3-${id}.img`);
      await restore(b, { backupId: id, target: out, allowReplica: true });
      expect(await sha256File(out)).toBe(want);
      await fs.rm(out);
    }
    expect((await verify(b, { deep: true })).ok).toBe(true);
  });

  it('kill -9 during a copy, then a rerun: nothing half-made was visible, the rerun resumes, the copy verifies', async () => {
    const src = await local(chain.vaultDir);
    const url = `s3://${bucket}/killed`;
    const { v: init } = await s3Vault(url, {}, { create: true, replicaOf: src });
    const total = (await src.listBackups()).reduce((n, h) => n + h.chunkCount, 0);
    // Slowed to ~1 chunk a second so the kill lands inside the first backup (a full of more
    // than three chunks); index segments every 100 ms.
    const child = startReplicate(['copy', chain.vaultDir, url, '--all', '--limit', String(BS), '--index-flush-ms', '100'], env);
    const sent = await child.waitFor((e) => e.event === 'progress' && e.counters.chunksSent >= 3 && e.backupsDone === 0);
    await new Promise((r) => setTimeout(r, 300)); // let an index segment land
    child.kill('SIGKILL');
    const end = await child.done;
    expect(end.signal).toBe('SIGKILL');
    init.refresh();
    const visible = (await init.listBackups()).map((h) => h.backupId);
    // The first backup was mid-way: its chunks are there, its manifest is not.
    expect(visible).toEqual([]);
    const { v: dr } = await s3Vault(url);
    const rerun = await copyBackups(src, dr, { all: true });
    expect([...visible, ...rerun.copied]).toEqual(chain.ids);
    // What arrived (and was indexed) before the kill is not sent again.
    expect(rerun.counters.chunksSent).toBeLessThanOrEqual(total - sent.counters.chunksSent + 2);
    expect(rerun.counters.chunksPresent).toBeGreaterThanOrEqual(sent.counters.chunksSent - 1);
    expect((await verify(dr, { deep: true })).ok).toBe(true);
    await restoresExactly(dr, chain.ids);
  });

  it('a destination unreachable mid-way: a clear error, 1008, exit code 1, bounded in time and requests; the destination verifies and a rerun completes', async () => {
    const src = await local(chain.vaultDir);
    const prefix = 'cut';
    const { v: init } = await s3Vault(`s3://${bucket}/${prefix}`, {}, { create: true, replicaOf: src });
    const proxy = await cutProxy(s3.endpoint, new RegExp(`^PUT /${bucket}/${prefix}/chunks/`), 8);
    let done = 0;
    try {
      const t0 = Date.now();
      const r = await runReplicate(['copy', chain.vaultDir, `s3://${bucket}/${prefix}`, '--all', '--max-attempts', '2'], { ...env, AWS_ENDPOINT_URL_S3: proxy.url });
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(r.code).toBe(1);
      const err = r.events.at(-1)!;
      expect(err).toMatchObject({ event: 'error', code: ErrorCodes.store });
      expect(err.message).toContain(`cannot reach S3 endpoint ${proxy.url}`);
      const records = err.details.replicationRecords as { status: string; extra_info: { fail_code: string; fail_reason: string } }[];
      const failed = records.find((x) => x.status === 'failed')!;
      expect(failed.extra_info.fail_code).toBe('BackupService.1008');
      expect(failed.extra_info.fail_reason).toBe(err.message);
      expect(records.every((x) => x.status === 'success' || x.extra_info.fail_code === 'BackupService.1008')).toBe(true);
      for (const x of records.slice(records.indexOf(failed) + 1)) expect(x.extra_info.fail_reason).toMatch(/^not copied: /);
      done = (err.details.copied as string[]).length;
      expect(done).toBeLessThan(chain.ids.length);
      expect(proxy.counted).toBeLessThan(20);
    } finally {
      await proxy.close();
    }
    // Straight to the server again: only whole backups, a clean vault, a rerun that finishes
    // (the dead process's lease is taken over).
    init.refresh();
    expect((await init.listBackups()).map((h) => h.backupId)).toEqual(chain.ids.slice(0, done));
    expect((await verify(init, { deep: true })).ok).toBe(true);
    const rerun = await copyBackups(src, init, { all: true });
    expect(rerun.copied).toEqual(chain.ids.slice(done));
    expect((await verify(init, { deep: true })).ok).toBe(true);
  });

  it('the child runner reports a bad selection with exit code 2', async () => {
    const r = await runReplicate(['copy', chain.vaultDir, `s3://${bucket}/dr`, 'no-such-backup'], env);
    expect(r.code).toBe(2);
    expect(r.events.at(-1)).toMatchObject({ event: 'error', code: ErrorCodes.backupNotFound });
  });
});
