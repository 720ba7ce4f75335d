// Typed edges (issue 10.4): JSON read back from a store is checked and refused with the
// object's key; library options are refused naming the field; unknown errors are BV.Internal.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, deleteBackup, listBackups, openVault, prune, restore, type Vault } from '../../src/index.js';
import { BlockvaultError, exitCodeFor, toBlockvaultError } from '../../src/errors.js';
import { decodeConfig, newConfig } from '../../src/vault/config.js';
import { encodeManifest, type ManifestHeader } from '../../src/vault/manifest.js';
import { LocalStore } from '../../src/store/local-store.js';
import { makeImage, tempDir } from '../helpers/images.js';

const BS = 65536;
let dir: string;
let vault: Vault;
let image: string;
let backupId: string;
/** The vault's directory as a plain store, to put objects by hand. */
let raw: LocalStore;

beforeAll(async () => {
  dir = await tempDir('schemas');
  image = path.join(dir, 'disk.img');
  await makeImage(image, { blockSize: BS, blocks: ['text', 'random'], seed: 3 });
  vault = await openVault(path.join(dir, 'vault'), { create: true, blockSize: BS });
  backupId = (await backup(vault, { source: image, volumeId: 'vol-1' })).backupId;
  raw = await LocalStore.open(path.join(dir, 'vault'));
});
afterAll(async () => {
  await vault.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const thrown = (f: () => unknown): BlockvaultError => {
  try {
    f();
  } catch (e) {
    return e as BlockvaultError;
  }
  throw new Error('did not throw');
};
const rejected = async (p: Promise<unknown>) => (await p.then(() => undefined, (e) => e)) as BlockvaultError;

/** A config document with a valid checksum over whatever config it is given. */
function configDoc(cfg: Record<string, unknown>): Buffer {
  const sum = xxh64(Buffer.from(JSON.stringify(cfg, null, 2), 'utf8')).toString(16).padStart(16, '0');
  return Buffer.from(JSON.stringify({ config: cfg, checksum: sum }));
}

describe('config read back', () => {
  it('a config with compression zstd (checksum valid) is refused as damaged, naming the field', () => {
    const err = thrown(() => decodeConfig(configDoc({ ...newConfig(), compression: 'zstd' }), 'v/config'));
    expect(err.code).toBe('BV.VaultDamaged');
    expect(err.message).toMatch(/vault config at v\/config is damaged: compression: /);
    expect(err.details.object).toBe('v/config');
  });

  it('missing fields, extra fields and a wrong type are refused', () => {
    const { vaultId: _drop, ...noId } = newConfig();
    expect(thrown(() => decodeConfig(configDoc(noId), 'c')).message).toMatch(/vaultId/);
    expect(thrown(() => decodeConfig(configDoc({ ...newConfig(), extra: 1 }), 'c')).message).toMatch(/extra/);
    expect(thrown(() => decodeConfig(configDoc({ ...newConfig(), blockSize: '4MiB' }), 'c')).message).toMatch(/blockSize/);
  });
});

describe('manifest headers read back', () => {
  const header = (over: Record<string, unknown>): ManifestHeader =>
    ({
      backupId: 'bad-1',
      volumeId: 'vol-x',
      parentId: null,
      type: 'full',
      requestedType: 'full',
      createdAt: '2026-12-01T00:00:00.000Z',
      completedAt: '2026-12-01T00:00:01.000Z',
      blockSize: BS,
      volumeSize: 0,
      entryCount: 0,
      source: { path: 'x', kind: 'file', size: 0 },
      chunkCount: 0,
      storedBytes: 0,
      newChunkCount: 0,
      newStoredBytes: 0,
      dataBytes: 0,
      elapsedMs: 0,
      counters: {},
      dl: 3,
      ...over,
    }) as ManifestHeader;

  it('a header with a wrong field is refused with the manifest key and the field', async () => {
    const key = 'manifests/vol-x/bad-1.bvm';
    await raw.put(key, encodeManifest(header({ type: 'differential', volumeSize: -1 }), []));
    vault.refresh();
    const err = await rejected(listBackups(vault));
    expect(err.code).toBe('BV.VaultDamaged');
    expect(err.message).toContain(`manifest ${key}`);
    expect(err.message).toMatch(/type: .*volumeSize: /);
    expect(err.details.object).toBe(key);
    await raw.delete(key);
    vault.refresh();
  });

  it('optional fields this version does not know are kept (a newer writer may add them)', async () => {
    const key = 'manifests/vol-x/extra-1.bvm';
    await raw.put(key, encodeManifest(header({ backupId: 'extra-1', job: { jobId: 'j-1' } }), []));
    vault.refresh();
    const h = await vault.header('extra-1');
    expect((h as unknown as { job: unknown }).job).toEqual({ jobId: 'j-1' });
    await raw.delete(key);
    vault.refresh();
  });
});

describe('library options', () => {
  it('are refused at the entry point with BV.BadInput (exit 2) naming the field', async () => {
    const cases: Array<[Promise<unknown>, string]> = [
      [backup(vault, { source: image, volumeId: 'vol-1', concurrency: 0 }), 'concurrency'],
      [backup(vault, { source: image, volumeId: 'vol-1', verifyUnchanged: 101 }), 'verifyUnchanged'],
      [backup(vault, { source: image, volumeId: 'vol-1', full: 'yes' as unknown as boolean }), 'full'],
      [backup(vault, { source: '', volumeId: 'vol-1' }), 'source'],
      [restore(vault, { backupId, target: path.join(dir, 'o.img'), force: 1 as unknown as boolean }), 'force'],
      [restore(vault, { backupId, target: path.join(dir, 'o.img'), concurrency: 2.5 }), 'concurrency'],
      [deleteBackup(vault, backupId, { ifExists: 'y' as unknown as boolean }), 'ifExists'],
      [prune(vault, { volumeId: 'vol-1', policy: { keepLast: -1 } }), 'policy.keepLast'],
      [openVault(path.join(dir, 'vault'), { blockSize: 'abc' as unknown as number }), 'blockSize'],
    ];
    for (const [p, field] of cases) {
      const err = await rejected(p);
      expect(err, field).toBeInstanceOf(BlockvaultError);
      expect(err.code, `${field}: ${err.message}`).toBe('BV.BadInput');
      expect(err.details.field, err.message).toBe(field);
      expect(err.message).toContain(field);
      expect(exitCodeFor(err)).toBe(2);
    }
    expect((await listBackups(vault)).map((b) => b.backupId)).toEqual([backupId]); // nothing was done
  });
});

describe('unknown errors', () => {
  it('become BV.Internal (exit 1), carrying the stack for BLOCKVAULT_DEBUG only', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    const err = toBlockvaultError(bug);
    expect(err.code).toBe('BV.Internal');
    expect(exitCodeFor(err)).toBe(1);
    expect(err.message).toContain(bug.message);
    expect(err.internalStack).toBe(bug.stack);
    const was = process.env.BLOCKVAULT_DEBUG;
    try {
      delete process.env.BLOCKVAULT_DEBUG;
      expect(err.toJSON().stack).toBeUndefined();
      expect(err.describe()).not.toContain('TypeError');
      process.env.BLOCKVAULT_DEBUG = '1';
      expect(err.toJSON().stack).toBe(bug.stack);
      expect(err.describe()).toContain(bug.stack!.split('\n')[1]!.trim());
    } finally {
      if (was === undefined) delete process.env.BLOCKVAULT_DEBUG;
      else process.env.BLOCKVAULT_DEBUG = was;
    }
    const known = new BlockvaultError('BV.BadInput', 'x');
    expect(toBlockvaultError(known)).toBe(known);
    expect(toBlockvaultError(Object.assign(new Error('stop'), { name: 'AbortError' })).code).toBe('BV.Aborted');
  });
});
