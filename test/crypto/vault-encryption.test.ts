// Encrypted vaults end to end on a local directory (and one case on the real S3 server):
// nothing readable at rest, every kind of key, the service's VK/CMKID, and every kind of
// damage detected and named.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { xxh64 } from '@node-rs/xxhash';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTED_CHUNK_HEADER_BYTES } from '../../src/chunk/chunk-format.js';
import { newKeyFile } from '../../src/crypto/key-file.js';
import {
  BlockvaultError,
  ErrorCodes,
  backup,
  deleteBackup,
  gc,
  listBackups,
  openVault,
  restore,
  showBackup,
  verify,
  type OpenVaultOptions,
} from '../../src/index.js';
import { entries } from '../../src/vault/manifest.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, rawS3Client, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';
import { blockvaultRejection as rejection } from '../helpers/rejections.js';

const BS = 64 * 1024;
const FAST = { N: 2 ** 14, r: 8, p: 1 };
const MARKER = 'BLOCKVAULT-KNOWN-PLAINTEXT-7f3a91 the quarterly payroll of the whole company\n';
const CMK = '8a9e2d2e-5a39-4b6e-9d1f-0d9a4b3b6c11';

let dir = '';
let image = '';
let imageHash = '';

/** An image with a known text block (block 1, the marker repeated), text and random blocks. */
async function makeMarkedImage(file: string, seed = 1): Promise<void> {
  await makeImage(file, { blocks: ['random', 'hole', 'text', 'random', 'text', 'zeros', 'random', 'text'], blockSize: BS, seed });
  const marked = Buffer.from(MARKER.repeat(Math.ceil(BS / MARKER.length))).subarray(0, BS);
  const fh = await fs.open(file, 'r+');
  await fh.write(marked, 0, BS, BS);
  await fh.close();
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

async function objectsContaining(root: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const f of await filesUnder(root)) if ((await fs.readFile(f)).includes(needle)) hits.push(path.relative(root, f));
  return hits;
}

const needle = Buffer.from('KNOWN-PLAINTEXT-7f3a91');

beforeAll(async () => {
  for (const k of ['BLOCKVAULT_PASSWORD', 'BLOCKVAULT_PASSWORD_FILE', 'BLOCKVAULT_KEY_FILE']) delete process.env[k];
  dir = await tempDir('crypto');
  image = path.join(dir, 'disk.img');
  await makeMarkedImage(image);
  imageHash = await sha256File(image);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const local = (name: string) => path.join(dir, name);

describe('a passphrase vault', () => {
  it('stores nothing readable: the known block is in no object, the hash key not in config; restore is bit-exact', async () => {
    // Control: a plain vault does hold the text (so the grep below would find it).
    const plain = await openVault(local('plain'), { create: true, blockSize: BS });
    await backup(plain, { source: image, volumeId: 'vol-1', workers: 1 });
    await plain.close();
    expect((await objectsContaining(local('plain'), needle)).length).toBeGreaterThan(0);

    const v = await openVault(local('enc'), { create: true, blockSize: BS, encrypt: { passphrase: 'pw-1', kdf: FAST } });
    const b = await backup(v, { source: image, volumeId: 'vol-1', workers: 1 });
    await v.close();
    expect(b.encrypted).toBe(true);
    expect(await objectsContaining(local('enc'), needle)).toEqual([]);
    const cfg = JSON.parse(await fs.readFile(local('enc/config'), 'utf8')).config;
    expect(cfg.formatVersion).toBe(2);
    expect(cfg.hashKey).toBeUndefined();
    expect(cfg.encryption.scheme).toBe('aes-256-gcm');
    // The manifest names no source path or volume in the clear.
    for (const f of await filesUnder(local('enc/manifests'))) expect((await fs.readFile(f)).includes(Buffer.from(image))).toBe(false);

    const r = await openVault(local('enc'), { keys: { passphrase: 'pw-1' } });
    const out = local('enc-restored.img');
    await restore(r, { backupId: b.backupId, target: out });
    expect(await sha256File(out)).toBe(imageHash);
    const checked = await verify(r, { deep: true });
    expect(checked.ok).toBe(true);
    expect(checked.chunksFetched).toBeGreaterThan(0);
    expect(checked.index.segments).toBeGreaterThan(0); // sealed segments read and checked
    expect(checked.index.damagedSegments).toEqual([]);
    expect((await listBackups(r))[0]!.encrypted).toBe(true);
    // The sealed index segments load: a reopened vault dedups a second volume completely.
    const again = await backup(r, { source: image, volumeId: 'vol-2', workers: 1 });
    expect(again.newChunkCount).toBe(0);
    await r.close();
    const segments = await filesUnder(local('enc/index'));
    expect(segments.length).toBeGreaterThan(0);
    for (const f of segments) expect((await fs.readFile(f)).subarray(0, 4).toString()).toBe('BVSB');
  });

  it('deletes, merges and collects garbage in an encrypted vault', async () => {
    const v = await openVault(local('enc'), { keys: { passphrase: 'pw-1' } });
    const all = await listBackups(v, { volumeId: 'vol-2' });
    const inc = await backup(v, { source: image, volumeId: 'vol-2', workers: 1 });
    expect(inc.type).toBe('incremental');
    await deleteBackup(v, all[0]!.backupId);
    const r = await gc(v, {});
    expect(r.unreferenced).toBe(0); // vol-1 still names every chunk
    await restore(v, { backupId: inc.backupId, target: local('enc-merged.img') });
    expect(await sha256File(local('enc-merged.img'))).toBe(imageHash);
    await deleteBackup(v, inc.backupId);
    await v.close();
  });

  it('refuses a wrong passphrase (naming the vault and key ids) and a missing key, writing nothing', async () => {
    const before = await filesUnder(local('enc'));
    const wrong = await rejection(openVault(local('enc'), { keys: { passphrase: 'nope' } }));
    expect(wrong.code).toBe(ErrorCodes.badInput);
    expect(wrong.message).toContain(local('enc'));
    const ids = wrong.details.keyIds as string[];
    expect(ids).toHaveLength(1);
    expect(wrong.hint).toContain(ids[0]);
    const none = await rejection(openVault(local('enc')));
    expect(none.message).toMatch(/is encrypted and no key was given/);
    expect(await filesUnder(local('enc'))).toEqual(before);
  });

  it('opens with BLOCKVAULT_PASSWORD when no keys are passed (the command line and bench)', async () => {
    process.env.BLOCKVAULT_PASSWORD = 'pw-1';
    try {
      const v = await openVault(local('enc'));
      expect(v.encrypted).toBe(true);
      await v.close();
    } finally {
      delete process.env.BLOCKVAULT_PASSWORD;
    }
  });

  it('takes more keys (passphrase, key file), lets each open it, and a removed key no longer does', async () => {
    const keyFile = local('vault.key');
    await fs.writeFile(keyFile, newKeyFile());
    const v = await openVault(local('enc'), { keys: { passphrase: 'pw-1' } });
    const [first] = await v.listKeys();
    const second = await v.addKey({ passphrase: 'pw-2', kdf: FAST }, { label: 'ops' });
    const third = await v.addKey({ keyFile });
    expect((await v.listKeys()).map((k) => k.kind).sort()).toEqual(['keyfile', 'passphrase', 'passphrase']);
    await v.removeKey(first!.id);
    await v.close();

    await rejection(openVault(local('enc'), { keys: { passphrase: 'pw-1' } }));
    const out = local('enc-by-keyfile.img');
    for (const keys of [{ passphrase: 'pw-2' }, { keyFile }]) {
      const r = await openVault(local('enc'), { keys });
      const [b] = await listBackups(r);
      await restore(r, { backupId: b!.backupId, target: out, force: true });
      expect(await sha256File(out)).toBe(imageHash);
      await r.close();
    }
    const admin = await openVault(local('enc'), { keys: { keyFile } });
    await admin.removeKey(second.id);
    const last = await rejection(admin.removeKey(third.id));
    expect(last.message).toMatch(/last way into/);
    await admin.close();
  });
});

describe('damage in an encrypted vault', () => {
  const name = 'damage';
  let backupId = '';
  const keys = { passphrase: 'pw', kdf: FAST };
  const chunkFiles = async () => (await filesUnder(local(`${name}/chunks`))).filter((f) => !f.includes('.tmp'));

  beforeAll(async () => {
    const v = await openVault(local(name), { create: true, blockSize: BS, encrypt: keys });
    backupId = (await backup(v, { source: image, volumeId: 'vol-1', workers: 0 })).backupId;
    await v.close();
  });

  async function restoreError(): Promise<BlockvaultError> {
    const v = await openVault(local(name), { keys: { passphrase: 'pw' } });
    try {
      return await rejection(restore(v, { backupId, target: local(`${name}-out.img`), force: true }));
    } finally {
      await v.close();
    }
  }

  it('names a tampered chunk (its checksum fixed up, so only the AEAD can tell)', async () => {
    const [f] = await chunkFiles();
    const orig = await fs.readFile(f!);
    const t = Buffer.from(orig);
    t[ENCRYPTED_CHUNK_HEADER_BYTES + 10]! ^= 1;
    t.writeBigUInt64LE(xxh64(t.subarray(ENCRYPTED_CHUNK_HEADER_BYTES)), 16);
    await fs.writeFile(f!, t);
    try {
      const e = await restoreError();
      expect(e.code).toBe(ErrorCodes.corruptChunk);
      expect(e.message).toContain(path.basename(f!));
      expect(e.message).toMatch(/does not authenticate/);
    } finally {
      await fs.writeFile(f!, orig);
    }
  });

  it('names a swapped chunk (two valid objects exchanged)', async () => {
    const [a, b] = await chunkFiles();
    const [oa, ob] = [await fs.readFile(a!), await fs.readFile(b!)];
    await fs.writeFile(a!, ob);
    await fs.writeFile(b!, oa);
    try {
      const e = await restoreError();
      expect(e.code).toBe(ErrorCodes.corruptChunk);
      expect(e.message).toMatch(/does not authenticate|another chunk id/);
    } finally {
      await fs.writeFile(a!, oa);
      await fs.writeFile(b!, ob);
    }
  });

  it('names a truncated manifest', async () => {
    const [m] = await filesUnder(local(`${name}/manifests`));
    const orig = await fs.readFile(m!);
    await fs.writeFile(m!, orig.subarray(0, orig.length - 40));
    try {
      const e = await restoreError();
      expect(e.code).toBe(ErrorCodes.vaultDamaged);
      expect(e.details.object).toBe(path.relative(local(name), m!));
    } finally {
      await fs.writeFile(m!, orig);
    }
  });

  it('names a plain chunk planted in an encrypted vault', async () => {
    const plain = await openVault(local('plain'), { blockSize: BS });
    const [pb] = await listBackups(plain);
    const pm = await plain.readManifest(pb!.backupId);
    await plain.close();
    // The plain vault's chunk ids are another key's: plant one under the id the encrypted
    // manifest names for the same block, with the plain object's bytes.
    const v = await openVault(local(name), { keys: { passphrase: 'pw' } });
    const em = await v.readManifest(backupId);
    await v.close();
    const eFirst = [...entries(em)].find((e) => e.kind === 1)!;
    const pFirst = [...entries(pm)].find((e) => e.blockIndex === eFirst.blockIndex)!;
    const target = local(`${name}/chunks/${eFirst.id.toString('hex').slice(0, 2)}/${eFirst.id.toString('hex')}`);
    const orig = await fs.readFile(target);
    await fs.writeFile(target, await fs.readFile(local(`plain/chunks/${pFirst.id.toString('hex').slice(0, 2)}/${pFirst.id.toString('hex')}`)));
    try {
      const e = await restoreError();
      expect(e.code).toBe(ErrorCodes.corruptChunk);
      expect(e.message).toMatch(/not encrypted/);
    } finally {
      await fs.writeFile(target, orig);
    }
  });

  it('names a tampered index segment (verify)', async () => {
    const [seg] = await filesUnder(local(`${name}/index`));
    const orig = await fs.readFile(seg!);
    const t = Buffer.from(orig);
    t[t.length - 3]! ^= 0x10;
    await fs.writeFile(seg!, t);
    try {
      const v = await openVault(local(name), { keys: { passphrase: 'pw' } });
      const r = await verify(v, {});
      expect(r.ok).toBe(false);
      expect(r.index.damagedSegments.map((d) => d.object)).toEqual([path.relative(local(name), seg!)]);
      expect(r.index.damagedSegments[0]!.problem).toMatch(/does not authenticate/);
      await v.close();
    } finally {
      await fs.writeFile(seg!, orig);
    }
  });

  it('restores again once the objects are put back', async () => {
    const v = await openVault(local(name), { keys: { passphrase: 'pw' } });
    await restore(v, { backupId, target: local(`${name}-out.img`), force: true });
    await v.close();
    expect(await sha256File(local(`${name}-out.img`))).toBe(imageHash);
  });
});

describe('the control plane: KMS-encrypted volumes', () => {
  const clear = new Map<string, Buffer>();
  const vk1 = randomBytes(32).toString('hex');
  const vk2 = randomBytes(32).toString('hex');
  clear.set(vk1, randomBytes(32));
  clear.set(vk2, randomBytes(32));
  const calls: string[] = [];
  const unwrap = async ({ cmkId, vk }: { cmkId: string; vk: string }) => {
    calls.push(cmkId);
    const k = clear.get(vk);
    if (!k) throw Object.assign(new Error('KMS.0205: the key does not exist'), { code: 'KMS.0205' });
    return k;
  };
  const kmsOpts = (extra: OpenVaultOptions = {}): OpenVaultOptions => ({ blockSize: BS, keys: { unwrap }, ...extra });

  it('keeps VK and CMKID verbatim, reports encrypted, and keeps two domains apart (no shared chunk)', async () => {
    const v = await openVault(local('kms'), kmsOpts({ create: true, encrypt: { kms: true } }));
    const a = await backup(v, { source: image, volumeId: 'vol-a', encryption: { cmkId: CMK, vk: vk1 }, workers: 1 });
    const b = await backup(v, { source: image, volumeId: 'vol-b', encryption: { cmkId: CMK, vk: vk2 }, workers: 1 });
    const md = JSON.parse(a.service_metadata);
    expect(md.VK).toBe(vk1);
    expect(md.CMKID).toBe(CMK);
    expect(a.encrypted).toBe(true);
    const shown = await showBackup(v, b.backupId);
    expect(JSON.parse(shown.service_metadata)).toMatchObject({ VK: vk2, CMKID: CMK });
    expect(shown.encrypted).toBe(true);
    const ids = async (id: string) => new Set([...entries(await v.readManifest(id))].filter((e) => e.kind === 1).map((e) => e.id.toString('hex')));
    const [ia, ib] = [await ids(a.backupId), await ids(b.backupId)];
    expect(ia.size).toBeGreaterThan(0);
    expect([...ia].filter((x) => ib.has(x))).toEqual([]);
    // Same context, same domain: the second volume's backup in vk1's domain dedups fully.
    const c = await backup(v, { source: image, volumeId: 'vol-c', encryption: { cmkId: CMK, vk: vk1 }, workers: 1 });
    expect(c.newChunkCount).toBe(0);
    await v.close();
    expect(await objectsContaining(local('kms'), needle)).toEqual([]);
    for (const f of await filesUnder(local('kms'))) {
      const body = await fs.readFile(f);
      for (const k of clear.values()) expect(body.includes(k)).toBe(false);
      for (const k of clear.values()) expect(body.includes(Buffer.from(k.toString('hex')))).toBe(false);
    }
  });

  it('keeps an incremental in its chain domain; another key context starts a new full', async () => {
    const v = await openVault(local('kms'), kmsOpts());
    const inc = await backup(v, { source: image, volumeId: 'vol-a', encryption: { cmkId: CMK, vk: vk1 }, workers: 1 });
    expect(inc.type).toBe('incremental');
    const other = await backup(v, { source: image, volumeId: 'vol-a', encryption: { cmkId: CMK, vk: vk2 }, workers: 1 });
    expect(other.type).toBe('full');
    expect(other.requestedType).toBe('incremental');
    expect(other.fullReason).toMatch(/another key domain/); // main reports why a full was made here
    const out = local('kms-out.img');
    await restore(v, { backupId: inc.backupId, target: out });
    expect(await sha256File(out)).toBe(imageHash);
    await v.close();
  });

  it('passes a failing unwrap through with the CMKID, writing nothing', async () => {
    const before = await filesUnder(local('kms'));
    const failing = async () => {
      throw Object.assign(new Error('KMS.0403: access denied'), { code: 'KMS.0403' });
    };
    const v = await openVault(local('kms'), { keys: { unwrap: failing } });
    const e = await rejection(backup(v, { source: image, volumeId: 'vol-a', encryption: { cmkId: CMK, vk: vk1 }, workers: 1 }));
    expect(e.message).toContain(CMK);
    expect(e.message).toContain('KMS.0403: access denied');
    expect(e.details).toMatchObject({ cmkId: CMK, controlPlaneError: { code: 'KMS.0403' } });
    await v.close();
    expect(await filesUnder(local('kms'))).toEqual(before);
  });

  it('refuses an encryption context for a plain vault, and GC works across domains', async () => {
    const plain = await openVault(local('plain'), { blockSize: BS });
    const e = await rejection(backup(plain, { source: image, volumeId: 'vol-1', encryption: { cmkId: CMK, vk: vk1 } }));
    expect(e.message).toMatch(/not encrypted/);
    await plain.close();
    const v = await openVault(local('kms'), kmsOpts());
    const r = await gc(v, {});
    expect(r.unreferenced).toBe(0);
    const [b] = await listBackups(v, { volumeId: 'vol-b' });
    await restore(v, { backupId: b!.backupId, target: local('kms-b.img') });
    expect(await sha256File(local('kms-b.img'))).toBe(imageHash);
    await v.close();
  });
});

describe('an old unencrypted vault', () => {
  it('still restores, keys given or not, and stays format 1', async () => {
    const v = await openVault(local('plain'), { keys: { passphrase: 'ignored' } });
    expect(v.encrypted).toBe(false);
    expect(v.config.formatVersion).toBe(1);
    const [b] = await listBackups(v);
    expect(b!.encrypted).toBe(false);
    await restore(v, { backupId: b!.backupId, target: local('plain-out.img') });
    expect(await sha256File(local('plain-out.img'))).toBe(imageHash);
    await v.close();
  });
});

describe('an encrypted vault on S3', async () => {
  const target = await getS3Endpoint();
  const skip = 'skip' in target ? target.skip : undefined;
  const s3 = target as S3Endpoint;
  let bucket = '';
  beforeAll(async () => {
    if (skip) return;
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    bucket = await createTestBucket(s3, 'crypto');
  });
  afterAll(async () => {
    if (skip) return;
    await removeBucket(s3, bucket);
    await stopS3Server();
  });

  it.skipIf(skip)('stores no readable object and restores bit-exact with the key', async () => {
    const o = { endpoint: s3.endpoint, indexCacheDir: local('s3-cache'), blockSize: BS };
    const v = await openVault(`s3://${bucket}/v`, { ...o, create: true, encrypt: { passphrase: 's3-pw', kdf: FAST } });
    const b = await backup(v, { source: image, volumeId: 'vol-1', workers: 1 });
    await v.close();
    const client = rawS3Client(s3);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const c of page.Contents ?? []) keys.push(c.Key!);
      token = page.NextContinuationToken;
    } while (token);
    expect(keys.some((k) => k.startsWith('v/chunks/'))).toBe(true);
    for (const k of keys) {
      const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: k }))).Body!.transformToByteArray());
      expect(body.includes(needle), k).toBe(false);
    }
    const r = await openVault(`s3://${bucket}/v`, { ...o, keys: { passphrase: 's3-pw' } });
    const out = local('s3-out.img');
    await restore(r, { backupId: b.backupId, target: out });
    expect(await sha256File(out)).toBe(imageHash);
    await rejection(openVault(`s3://${bucket}/v`, { ...o, keys: { passphrase: 'wrong' } }));
    await r.close();
  });
});



