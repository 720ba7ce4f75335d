// The crypto module on its own: AEAD, sealed blobs, key records and the keyring, and the
// encrypted chunk frame. The vault-level tests (objects on a real store) are in vault-encryption.test.ts.
import { randomBytes } from 'node:crypto';
import { xxh64 } from '@node-rs/xxhash';
import { describe, expect, it } from 'vitest';
import { BlockPool } from '../../src/chunk/block-pool.js';
import { objectCapacity, processBlock } from '../../src/chunk/block-work.js';
import {
  ENCRYPTED_CHUNK_HEADER_BYTES,
  chunkDomain,
  decodeChunk,
  encodeChunk,
  encodeSealedChunk,
} from '../../src/chunk/chunk-format.js';
import { decompress } from '../../src/chunk/compress.js';
import { ChunkHasher } from '../../src/chunk/identity.js';
import { AeadError, gcmAllocates, gcmInPlace, nodeGcm, open, openInPlace, seal, sealInPlace } from '../../src/crypto/aead.js';
import { inPlaceGcm } from '../../src/native/aead-gcm.js';
import { KeyDomain, kmsDomainId } from '../../src/crypto/domain.js';
import { newKeyFile, parseKeyFile } from '../../src/crypto/key-file.js';
import { decodeKeyRecord, encodeKeyRecord, keyRecordKey } from '../../src/crypto/key-record.js';
import { Keyring, type KeyCredentials, type MetaStore } from '../../src/crypto/keyring.js';
import { openBlob, openPair, openPairHead, pairHeadBytes, sealBlob, sealPair, sealedDomainId } from '../../src/crypto/sealed-blob.js';
import { VaultCrypto } from '../../src/crypto/vault-crypto.js';
import { ErrorCodes } from '../../src/errors.js';
import { blockvaultRejection as rejection } from '../helpers/rejections.js';

/** Small scrypt parameters: the defaults (128 MiB) are for real vaults. */
const FAST = { N: 2 ** 14, r: 8, p: 1 };

class MemoryMeta implements MetaStore {
  readonly objects = new Map<string, Buffer>();
  async get(key: string) {
    return this.objects.get(key);
  }
  async put(key: string, body: Buffer, opts: { ifAbsent?: boolean } = {}) {
    if (opts.ifAbsent && this.objects.has(key)) return false;
    this.objects.set(key, Buffer.from(body));
    return true;
  }
  async *list(prefix: string) {
    for (const key of [...this.objects.keys()].sort()) if (key.startsWith(prefix)) yield { key };
  }
  async delete(key: string) {
    this.objects.delete(key);
  }
}

const ring = (store: MetaStore, credentials?: KeyCredentials) => new Keyring(store, { vault: 'file:///v', credentials });

describe('AES-256-GCM', () => {
  const key = randomBytes(32);
  const text = Buffer.from('a block of a disk image');

  it('round-trips, with a fresh nonce each time', () => {
    const a = seal(key, text, Buffer.from('id-1'));
    const b = seal(key, text, Buffer.from('id-1'));
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(open(key, a, Buffer.from('id-1')).equals(text)).toBe(true);
  });

  it('rejects a wrong key, a changed byte, a changed tag and other associated data', () => {
    const s = seal(key, text, Buffer.from('id-1'));
    expect(() => open(randomBytes(32), s, Buffer.from('id-1'))).toThrow(AeadError);
    const flipped = Buffer.from(s.ciphertext);
    flipped[3]! ^= 1;
    expect(() => open(key, { ...s, ciphertext: flipped }, Buffer.from('id-1'))).toThrow(AeadError);
    const tag = Buffer.from(s.tag);
    tag[0]! ^= 0x80;
    expect(() => open(key, { ...s, tag }, Buffer.from('id-1'))).toThrow(AeadError);
    expect(() => open(key, s, Buffer.from('id-2'))).toThrow(AeadError);
  });

  it('encrypts in place to the same ciphertext as seal', () => {
    const buf = Buffer.concat([Buffer.from('head'), text]);
    const s = sealInPlace(key, buf, 4, text.length, Buffer.from('x'));
    expect(buf.subarray(4).equals(text)).toBe(false);
    expect(open(key, { nonce: s.nonce, tag: s.tag, ciphertext: buf.subarray(4) }, Buffer.from('x')).equals(text)).toBe(true);
  });
});

describe('AES-256-GCM in place: the addon and node:crypto write the same bytes', () => {
  const native = inPlaceGcm();
  const key = randomBytes(32);
  const aad = Buffer.from('blockvault/chunk\0 some id');

  it('uses the addon where it is built (as CI builds it), so no block-sized garbage per seal', () => {
    // The package's install script builds native/; a test run without it would silently
    // measure and test only the fallback.
    expect(native, 'native addon with gcmSeal/gcmOpen (npm rebuild)').toBeDefined();
    expect(gcmInPlace).not.toBe(nodeGcm);
    expect(gcmAllocates).toBe(false);
  });

  for (const [name, a, b] of [
    ['addon seals, node:crypto opens', () => native!, () => nodeGcm],
    ['node:crypto seals, addon opens', () => nodeGcm, () => native!],
  ] as const) {
    it(name, () => {
      const plain = randomBytes((1 << 20) + 13);
      const nonce = randomBytes(12);
      const data = Buffer.from(plain);
      const tag = Buffer.alloc(16);
      a().seal(key, nonce, aad, data, tag);
      expect(data.equals(plain)).toBe(false);
      const c = seal(key, plain, aad, nonce); // the one-shot node:crypto path, as reference
      expect(data.equals(c.ciphertext)).toBe(true);
      expect(tag.equals(c.tag)).toBe(true);
      expect(b().open(key, nonce, aad, tag, data)).toBe(true);
      expect(data.equals(plain)).toBe(true);
    });
  }

  for (const [name, impl] of [['addon', () => native!], ['node:crypto', () => nodeGcm]] as const) {
    it(`${name}: a failed open leaves the ciphertext as it was (never unauthenticated plaintext)`, () => {
      const data = randomBytes(100_000);
      const nonce = randomBytes(12);
      const tag = Buffer.alloc(16);
      impl().seal(key, nonce, aad, data, tag);
      data[5000]! ^= 1;
      const before = Buffer.from(data);
      expect(impl().open(key, nonce, aad, tag, data)).toBe(false);
      expect(data.equals(before)).toBe(true);
      expect(impl().open(key, nonce, Buffer.from('other id'), tag, before)).toBe(false);
      expect(impl().open(randomBytes(32), nonce, aad, tag, before)).toBe(false);
    });
  }

  it('openInPlace throws AeadError on a bad tag, and the addon checks its arguments', () => {
    const buf = randomBytes(64);
    const { nonce, tag } = sealInPlace(key, buf, 0, 64, aad);
    tag[0]! ^= 1;
    expect(() => openInPlace(key, nonce, tag, buf, 0, 64, aad)).toThrow(AeadError);
    expect(() => native!.seal(key.subarray(1), nonce, aad, buf, Buffer.alloc(16))).toThrow(/key must be 32 bytes/);
    expect(() => native!.open(key, nonce, aad, Buffer.alloc(8), buf)).toThrow(/tag must be 16 bytes/);
  });
});

describe('key domains', () => {
  it('derive different keys per purpose and per domain from one secret', () => {
    const secret = randomBytes(32);
    const a = new KeyDomain('a'.repeat(32), secret);
    const b = new KeyDomain('b'.repeat(32), secret);
    const keys = [a.chunkKey, a.chunkIdKey, a.metaKey, b.chunkKey, b.chunkIdKey, b.metaKey].map((k) => k.toString('hex'));
    expect(new Set(keys).size).toBe(6);
    expect(new KeyDomain('a'.repeat(32), secret).chunkIdKey.equals(a.chunkIdKey)).toBe(true);
  });

  it('give two domains unrelated chunk ids for the same block (no dedup across domains)', () => {
    const block = randomBytes(65536);
    const a = KeyDomain.generate();
    const b = KeyDomain.generate();
    expect(new ChunkHasher(a.chunkIdKey).id(block).equals(new ChunkHasher(b.chunkIdKey).id(block))).toBe(false);
  });

  it('map one KMS context to one domain id and another context elsewhere', () => {
    const cmk = '8a9e2d2e-5a39-4b6e-9d1f-0d9a4b3b6c11';
    expect(kmsDomainId(cmk, 'v'.repeat(64))).toBe(kmsDomainId(cmk, 'v'.repeat(64)));
    expect(kmsDomainId(cmk, 'v'.repeat(64))).not.toBe(kmsDomainId(cmk, 'w'.repeat(64)));
    expect(kmsDomainId(cmk, 'v'.repeat(64))).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('sealed blobs', () => {
  const d = KeyDomain.generate();
  const body = Buffer.from('{"backupId":"b1","source":"/dev/vdb"}');

  it('round-trip and name their domain in the clear', () => {
    const blob = sealBlob(d, 'manifests/v/b1.bvm', body);
    expect(sealedDomainId(blob, 'manifests/v/b1.bvm')).toBe(d.id);
    expect(blob.includes(Buffer.from('/dev/vdb'))).toBe(false);
    expect(openBlob(d, 'manifests/v/b1.bvm', blob).equals(body)).toBe(true);
  });

  it('detect a changed byte, a cut, another name (swap) and another domain', () => {
    const blob = sealBlob(d, 'manifests/v/b1.bvm', body);
    const bad = Buffer.from(blob);
    bad[bad.length - 2]! ^= 1;
    expect(() => openBlob(d, 'manifests/v/b1.bvm', bad)).toThrow(/does not authenticate/);
    expect(() => openBlob(d, 'manifests/v/b1.bvm', blob.subarray(0, blob.length - 5))).toThrow(/does not authenticate/);
    expect(() => openBlob(d, 'manifests/v/b2.bvm', blob)).toThrow(/does not authenticate/);
    const domainEdited = Buffer.from(blob);
    domainEdited[8]! ^= 1;
    expect(() => openBlob(d, 'manifests/v/b1.bvm', domainEdited)).toThrow(/key domain/);
    expect(() => openBlob(KeyDomain.generate(), 'manifests/v/b1.bvm', blob)).toThrow(/key domain/);
    expect(() => openBlob(d, 'x', blob.subarray(0, 20))).toThrow(/not a sealed object/);
  });
});

describe('encrypted chunk frames', () => {
  const d = KeyDomain.generate();
  const sealKey = { domainId: d.idBytes, key: d.chunkKey };
  const keyOf = (id: string) => (id === d.id ? d.chunkKey : undefined);
  const block = Buffer.concat([Buffer.from('the quick brown fox '.repeat(4000)), randomBytes(20000)]);
  const hasher = new ChunkHasher(d.chunkIdKey);

  it('seal the payload after compression in the worker step, and open with the id bound', () => {
    const out = Buffer.alloc(objectCapacity(block.length));
    const v = processBlock(hasher, block, undefined, 'lz4', out, sealKey);
    if (v.kind !== 'changed') throw new Error('expected a changed block');
    expect(v.compression).toBe('lz4');
    const obj = out.subarray(0, v.objectLength);
    expect(obj[6]).toBe(1);
    expect(obj[7]).toBe(ENCRYPTED_CHUNK_HEADER_BYTES);
    expect(chunkDomain(obj)).toBe(d.id);
    expect(obj.includes(Buffer.from('quick brown fox'))).toBe(false);
    const f = decodeChunk(obj, { id: v.id, key: keyOf });
    expect(f.domainId).toBe(d.id);
    expect(decompress(f.payload, f.compression, f.rawLength).equals(block)).toBe(true);
  });

  it('detect a swapped chunk (two valid objects exchanged), a tampered byte and a changed header', () => {
    const a = randomBytes(4096);
    const b = randomBytes(4096);
    const ida = hasher.id(a);
    const idb = hasher.id(b);
    const oa = encodeSealedChunk(a, a.length, 'none', ida, sealKey);
    const ob = encodeSealedChunk(b, b.length, 'none', idb, sealKey);
    expect(() => decodeChunk(ob, { id: ida, key: keyOf })).toThrow(/does not authenticate/);
    expect(() => decodeChunk(oa, { id: idb, key: keyOf })).toThrow(/does not authenticate/);
    // A byte changed with its xxh64 fixed up (a deliberate edit, not storage damage).
    const t = Buffer.from(oa);
    t[ENCRYPTED_CHUNK_HEADER_BYTES + 100]! ^= 4;
    expect(() => decodeChunk(t, { id: ida, key: keyOf })).toThrow(/checksum/);
    t.writeBigUInt64LE(xxh64(t.subarray(ENCRYPTED_CHUNK_HEADER_BYTES)), 16);
    expect(() => decodeChunk(t, { id: ida, key: keyOf })).toThrow(/does not authenticate/);
    const h = Buffer.from(oa);
    h[5] = 1; // claim LZ4
    expect(() => decodeChunk(h, { id: ida, key: keyOf })).toThrow(/does not authenticate/);
  });

  it('open into a copy by default, and inside the object only when asked (a read that drops it)', () => {
    const a = Buffer.from('in place '.repeat(1000));
    const ida = hasher.id(a);
    const obj = encodeSealedChunk(a, a.length, 'none', ida, sealKey);
    const stored = Buffer.from(obj);
    expect(decodeChunk(obj, { id: ida, key: keyOf }).payload.equals(a)).toBe(true);
    expect(obj.equals(stored)).toBe(true); // copy and import store the object after decoding
    const f = decodeChunk(obj, { id: ida, key: keyOf, inPlace: true });
    expect(f.payload.equals(a)).toBe(true);
    expect(f.payload.buffer).toBe(obj.buffer);
    const bad = Buffer.from(stored);
    bad.writeUInt32LE(bad.readUInt32LE(8) + 1, 8); // header edit: fails to authenticate
    const badBefore = Buffer.from(bad);
    expect(() => decodeChunk(bad, { id: ida, key: keyOf, inPlace: true })).toThrow(/does not authenticate/);
    expect(bad.equals(badBefore)).toBe(true); // a re-read compares the bytes as read
  });

  it('are sealed inside the worker threads (AES-GCM off the main thread)', async () => {
    const pool = new BlockPool({ hasher, hashKey: d.chunkIdKey, compression: 'lz4', seal: sealKey, workers: 1 });
    try {
      const ab = new ArrayBuffer(block.length);
      block.copy(Buffer.from(ab));
      const r = await pool.process(ab, new ArrayBuffer(objectCapacity(block.length)), block.length, undefined);
      if (r.verdict.kind !== 'changed') throw new Error('expected a changed block');
      const obj = Buffer.from(r.out, 0, r.verdict.objectLength);
      expect(r.verdict.id.equals(hasher.id(block))).toBe(true);
      expect(chunkDomain(obj)).toBe(d.id);
      const f = decodeChunk(obj, { id: r.verdict.id, key: keyOf });
      expect(decompress(f.payload, f.compression, f.rawLength).equals(block)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('need the key, and a plain chunk still decodes (old vaults)', () => {
    const a = randomBytes(1000);
    const oa = encodeSealedChunk(a, a.length, 'none', hasher.id(a), sealKey);
    expect(() => decodeChunk(oa)).toThrow(/no key was given/);
    expect(() => decodeChunk(oa, { id: hasher.id(a), key: () => undefined })).toThrow(/not open/);
    expect(() => decodeChunk(oa, { id: hasher.id(a), key: () => randomBytes(32) })).toThrow(/does not authenticate/);
    const plain = encodeChunk(a, a.length, 'none');
    expect(decodeChunk(plain).payload.equals(a)).toBe(true);
    expect(() => decodeChunk(plain, { id: hasher.id(a), key: keyOf, requireEncrypted: true })).toThrow(/not encrypted/);
  });
});

describe('key files', () => {
  it('read raw, hex and base64 keys, and anything else as a passphrase', () => {
    const raw = randomBytes(32);
    expect(parseKeyFile(raw)).toEqual({ kind: 'key', key: raw });
    expect(parseKeyFile(Buffer.from(raw.toString('hex') + '\n'))).toEqual({ kind: 'key', key: raw });
    expect(parseKeyFile(Buffer.from(raw.toString('base64')))).toEqual({ kind: 'key', key: raw });
    const pw = parseKeyFile(Buffer.from('correct horse battery staple\n'));
    expect(pw.kind).toBe('passphrase');
    expect(pw.kind === 'passphrase' && pw.passphrase.toString()).toBe('correct horse battery staple');
    expect(parseKeyFile(newKeyFile()).kind).toBe('key');
  });
});

describe('keyring', () => {
  it('opens a passphrase domain with the passphrase only, and never stores the data key in the clear', async () => {
    const store = new MemoryMeta();
    const { domain, record } = await ring(store).createDomain({ passphrase: 'pw-one', kdf: FAST });
    expect(record.kind).toBe('passphrase');
    const stored = store.objects.get(keyRecordKey(record.id))!;
    expect(stored.includes(domain.secret)).toBe(false);
    expect(stored.includes(Buffer.from(domain.secret.toString('hex')))).toBe(false);
    expect(stored.includes(Buffer.from(domain.secret.toString('base64')))).toBe(false);
    const again = await ring(store, { passphrase: 'pw-one' }).domain(domain.id);
    expect(again.chunkKey.equals(domain.chunkKey)).toBe(true);
    expect(again.chunkIdKey.equals(domain.chunkIdKey)).toBe(true);
  });

  it('names the vault and the key ids when the passphrase is wrong, or no key is given', async () => {
    const store = new MemoryMeta();
    const { domain, record } = await ring(store).createDomain({ passphrase: 'pw-one', kdf: FAST });
    const wrong = await rejection(ring(store, { passphrase: 'pw-two' }).domain(domain.id));
    expect(wrong.code).toBe(ErrorCodes.badInput);
    expect(wrong.message).toContain('file:///v');
    expect(wrong.hint).toContain(record.id);
    expect(wrong.details.keyIds).toEqual([record.id]);
    const none = await rejection(ring(store).domain(domain.id));
    expect(none.code).toBe(ErrorCodes.badInput);
    expect(none.message).toMatch(/encrypted and no key was given/);
    expect(none.hint).toContain(record.id);
  });

  it('opens with a key file, and with a passphrase kept in a file', async () => {
    const store = new MemoryMeta();
    const file = newKeyFile();
    const { domain } = await ring(store).createDomain({ keyFile: file });
    expect((await ring(store, { keyFile: file }).domain(domain.id)).metaKey.equals(domain.metaKey)).toBe(true);
    await rejection(ring(store, { keyFile: newKeyFile() }).domain(domain.id));
    await ring(store, { keyFile: file }).addKey(domain.id, { passphrase: 'in a file', kdf: FAST });
    const viaFile = await ring(store, { keyFile: Buffer.from('in a file\n') }).domain(domain.id);
    expect(viaFile.chunkKey.equals(domain.chunkKey)).toBe(true);
  });

  it('adds and removes keys without touching data, and refuses to remove the last way in', async () => {
    const store = new MemoryMeta();
    const { domain, record: first } = await ring(store).createDomain({ passphrase: 'old', kdf: FAST });
    const admin = ring(store, { passphrase: 'old' });
    const second = await admin.addKey(domain.id, { passphrase: 'new', kdf: FAST }, { label: 'ops' });
    expect((await admin.listKeys()).map((r) => r.id).sort()).toEqual([first.id, second.id].sort());
    const before = sealBlob(domain, 'index/a.idx', Buffer.from('data'));
    await admin.removeKey(first.id);
    // The removed passphrase no longer opens it; the new one does, and old objects still open.
    await rejection(ring(store, { passphrase: 'old' }).domain(domain.id));
    const opened = await ring(store, { passphrase: 'new' }).domain(domain.id);
    expect(openBlob(opened, 'index/a.idx', before).toString()).toBe('data');
    const last = await rejection(admin.removeKey(second.id));
    expect(last.code).toBe(ErrorCodes.badInput);
    expect(last.message).toMatch(/last way into/);
    expect(store.objects.has(keyRecordKey(second.id))).toBe(true);
    expect((await rejection(admin.removeKey('0123456789abcdef'))).code).toBe(ErrorCodes.notFound);
  });

  it('keeps a KMS domain as the VK verbatim and opens it only through unwrap', async () => {
    const store = new MemoryMeta();
    const cmkId = '8a9e2d2e-5a39-4b6e-9d1f-0d9a4b3b6c11';
    const clear = randomBytes(32);
    const vk = randomBytes(32).toString('hex'); // 64 characters, as the service sends it
    const calls: string[] = [];
    const unwrap = async (ctx: { cmkId: string; vk: string }) => {
      calls.push(`${ctx.cmkId}/${ctx.vk}`);
      if (ctx.vk !== vk) throw Object.assign(new Error('KMS: key not found'), { code: 'KMS.0404' });
      return clear;
    };
    const d = await ring(store, { unwrap }).kmsDomain({ cmkId, vk });
    const rec = [...store.objects.values()].map((b, i) => decodeKeyRecord(b, `keys/${i}`));
    expect(rec).toHaveLength(1);
    expect(rec[0]).toMatchObject({ kind: 'kms', cmkId, vk, domain: d.id });
    expect([...store.objects.values()][0]!.includes(Buffer.from(clear.toString('hex')))).toBe(false);
    // Same context → same domain (an incremental stays in its chain's domain); reopened through unwrap.
    const again = await ring(store, { unwrap }).kmsDomain({ cmkId, vk });
    expect(again.id).toBe(d.id);
    expect(again.chunkKey.equals(d.chunkKey)).toBe(true);
    expect(calls).toEqual([`${cmkId}/${vk}`, `${cmkId}/${vk}`]);
    // Without the callback, or with a KMS that answers wrongly or fails.
    expect((await rejection(ring(store, { passphrase: 'x' }).domain(d.id))).hint).toContain(cmkId);
    const wrongKey = await rejection(ring(store, { unwrap: async () => randomBytes(32) }).domain(d.id));
    expect(wrongKey.message).toMatch(/not the one of key domain/);
    const failing = await rejection(
      ring(store, {
        unwrap: async () => {
          throw Object.assign(new Error('KMS: access denied'), { code: 'KMS.0403' });
        },
      }).domain(d.id),
    );
    expect(failing.message).toContain(cmkId);
    expect(failing.message).toContain('KMS: access denied');
    expect(failing.details).toMatchObject({ cmkId, controlPlaneError: { code: 'KMS.0403' } });
    // A different context is another domain.
    const other = await rejection(ring(store, { unwrap }).kmsDomain({ cmkId, vk: 'f'.repeat(64) }));
    expect(other.details.cmkId).toBe(cmkId);
  });

  it('lets a KMS domain get a passphrase too (a second way in)', async () => {
    const store = new MemoryMeta();
    const clear = randomBytes(32);
    const ctx = { cmkId: '8a9e2d2e-5a39-4b6e-9d1f-0d9a4b3b6c11', vk: 'a'.repeat(64) };
    const k = ring(store, { unwrap: async () => clear });
    const d = await k.kmsDomain(ctx);
    await k.addKey(d.id, { passphrase: 'escrow', kdf: FAST });
    expect((await ring(store, { passphrase: 'escrow' }).domain(d.id)).chunkKey.equals(d.chunkKey)).toBe(true);
  });

  it('rejects damaged and hostile key records with the object named', async () => {
    const store = new MemoryMeta();
    const { domain, record } = await ring(store).createDomain({ passphrase: 'pw', kdf: FAST });
    const key = keyRecordKey(record.id);
    store.objects.set(key, Buffer.from('{"version":1,'));
    const e1 = await rejection(ring(store, { passphrase: 'pw' }).domain(domain.id));
    expect(e1.code).toBe(ErrorCodes.vaultDamaged);
    expect(e1.details.object).toBe(key);
    store.objects.set(key, encodeKeyRecord({ ...record, kdf: { ...(record as any).kdf, N: 2 ** 30 } } as any));
    const e2 = await rejection(ring(store, { passphrase: 'pw' }).domain(domain.id));
    expect(e2.code).toBe(ErrorCodes.vaultDamaged);
    expect(e2.message).toMatch(/scrypt parameters out of range/);
    store.objects.set(key, encodeKeyRecord({ ...record, id: 'ffffffffffffffff' }));
    expect((await rejection(ring(store, { passphrase: 'pw' }).domain(domain.id))).message).toMatch(/says its id/);
  });

  it('binds a wrapped key to its record: a wrapped key copied into another record does not open', async () => {
    const store = new MemoryMeta();
    const a = await ring(store).createDomain({ passphrase: 'pw', kdf: FAST });
    const b = await ring(store).createDomain({ passphrase: 'pw', kdf: FAST });
    const ra = a.record as Extract<typeof a.record, { kind: 'passphrase' }>;
    const rb = b.record as Extract<typeof b.record, { kind: 'passphrase' }>;
    store.objects.set(keyRecordKey(rb.id), encodeKeyRecord({ ...rb, kdf: ra.kdf, wrapped: ra.wrapped }));
    await rejection(ring(store, { passphrase: 'pw' }).domain(b.domain.id));
  });
});

describe('sealed pairs (manifests: a head readable from the first bytes, a body bound to it)', () => {
  const d = KeyDomain.generate();
  const head = Buffer.from('{"backupId":"b1"}');
  const body = randomBytes(5000);

  it('open the head from a prefix and the whole with the body', () => {
    const obj = sealPair(d, 'manifests/v/b1.bvm', head, body);
    const n = pairHeadBytes(obj.subarray(0, 12), 'manifests/v/b1.bvm');
    expect(n).toBeLessThan(200);
    expect(openPairHead(d, 'manifests/v/b1.bvm', obj.subarray(0, n)).equals(head)).toBe(true);
    const both = openPair(d, 'manifests/v/b1.bvm', obj);
    expect(both.head.equals(head) && both.body.equals(body)).toBe(true);
  });

  it('detect a truncated body, a body from another version of the same object, and a renamed object', () => {
    const obj = sealPair(d, 'manifests/v/b1.bvm', head, body);
    expect(() => openPair(d, 'manifests/v/b1.bvm', obj.subarray(0, obj.length - 100))).toThrow(/does not authenticate/);
    expect(() => openPair(d, 'manifests/v/b1.bvm', obj.subarray(0, 40))).toThrow(/cut short/);
    const other = sealPair(d, 'manifests/v/b1.bvm', head, randomBytes(5000));
    const n = pairHeadBytes(obj, 'x');
    const mixed = Buffer.concat([obj.subarray(0, n), other.subarray(n)]);
    expect(() => openPair(d, 'manifests/v/b1.bvm', mixed)).toThrow(/does not authenticate/);
    expect(() => openPair(d, 'manifests/v/b2.bvm', obj)).toThrow(/does not authenticate/);
  });
});

describe('VaultCrypto', () => {
  it('creates a passphrase vault, unlocks with the passphrase and names damage as vault damage', async () => {
    const store = new MemoryMeta();
    const c = await VaultCrypto.create(store, 'file:///v', { passphrase: 'pw', kdf: FAST });
    expect(c.header.defaultDomain).toMatch(/^[0-9a-f]{32}$/);
    const d = await c.domainFor();
    const sealed = c.sealMeta(d, 'index/s.idx', Buffer.from('segment'));
    const reader = await VaultCrypto.open(store, 'file:///v', c.header, { passphrase: 'pw' });
    await reader.unlock();
    expect((await reader.openMeta('index/s.idx', sealed)).toString()).toBe('segment');
    const e = await rejection(reader.openMeta('index/t.idx', sealed));
    expect(e.code).toBe(ErrorCodes.vaultDamaged);
    expect(e.details.object).toBe('index/t.idx');
    expect((await rejection(reader.openMeta('index/s.idx', Buffer.from('BVIX plain')))).message).toMatch(/not sealed/);
    const wrong = await VaultCrypto.open(store, 'file:///v', c.header, { passphrase: 'nope' });
    expect((await rejection(wrong.unlock())).code).toBe(ErrorCodes.badInput);
    const none = await VaultCrypto.open(store, 'file:///v', c.header);
    expect((await rejection(none.unlock())).message).toMatch(/no key was given/);
  });

  it('makes a KMS-only vault whose backups need an encryption context', async () => {
    const store = new MemoryMeta();
    const clear = randomBytes(32);
    const c = await VaultCrypto.create(store, 'file:///v', { kms: true }, { unwrap: async () => clear });
    expect(c.header.defaultDomain).toBeUndefined();
    expect((await rejection(c.domainFor())).message).toMatch(/needs encryption/);
    const d = await c.domainFor({ cmkId: 'c', vk: 'v'.repeat(64) });
    expect(c.chunkKeyOf(d.id)!.equals(d.chunkKey)).toBe(true);
    expect((await rejection((await VaultCrypto.open(store, 'file:///v', c.header)).unlock())).message).toMatch(/no key was given/);
  });
});
