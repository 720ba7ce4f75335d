// Issue 9.4 (the vault's half): a chunk or manifest body that fails its check is read again
// before it is called damage. Exit 3 (CorruptChunk / VaultDamaged) only when two reads give the
// same bad bytes; bad bytes that differ each time are a transport fault (BV.Store), whose hint
// never advises overwriting the object.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, restore } from '../../src/index.js';
import { CountingStore } from '../../src/store/counting-store.js';
import { openStore } from '../../src/store/open-store.js';
import type { GetOptions, ObjectStore } from '../../src/store/object-store.js';
import { Vault } from '../../src/vault/vault.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';

const BS = 65536;
let dir: string;
beforeAll(async () => {
  dir = await tempDir('reread');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Corrupts the body of the next `times` GETs of keys under `prefix` (a different bit each
 *  time unless `same`), as a flaky network would. */
class FlakyStore extends CountingStore {
  times = 0;
  same = false;
  /** Damage the body where it was read (in the caller's buffer when it gave one). */
  inPlace = false;
  prefix = 'chunks/';
  readonly intoGiven: { key: string; into: boolean }[] = [];
  #n = 0;
  override async get(key: string, opts?: GetOptions): Promise<Buffer> {
    const buf = await super.get(key, opts);
    if (key.startsWith(this.prefix)) this.intoGiven.push({ key, into: opts?.into !== undefined && buf.buffer === opts.into.buffer });
    if (this.times > 0 && key.startsWith(this.prefix)) {
      this.times--;
      const bad = this.inPlace ? buf : Buffer.from(buf);
      bad[bad.length - 1 - (this.same ? 0 : this.#n++ % 50)]! ^= 0x10;
      return bad;
    }
    return buf;
  }
}

async function setUp(name: string): Promise<{ store: FlakyStore; vault: Vault; backupId: string; image: string }> {
  const image = path.join(dir, `${name}.img`);
  await makeImage(image, { blockSize: BS, seed: 2, blocks: ['random', 'text'] });
  const inner: ObjectStore = await openStore(path.join(dir, name), { create: true });
  const store = new FlakyStore(inner);
  const vault = await Vault.onStore(store, { create: true, blockSize: BS });
  const b = await backup(vault, { source: image, volumeId: 'r' });
  return { store, vault, backupId: b.backupId, image };
}

describe('a bad body is read again before it is called damage', () => {
  it('one bad read of a chunk: the restore succeeds', async () => {
    const { store, vault, backupId, image } = await setUp('once');
    store.times = 1;
    store.reset();
    const out = path.join(dir, 'once.out');
    await restore(vault, { backupId, target: out });
    expect(await sha256File(out)).toBe(await sha256File(image));
    expect(store.gotten.filter((k) => k.startsWith('chunks/'))).toHaveLength(3); // two chunks, one read twice
    await vault.close();
  });

  it('the same bad bytes twice: CorruptChunk (exit 3)', async () => {
    const { store, vault, backupId } = await setUp('stable');
    store.times = 100;
    store.same = true;
    const err = await restore(vault, { backupId, target: path.join(dir, 'stable.out') }).catch((e) => e);
    expect(err.code).toBe('BV.CorruptChunk');
    expect(err.hint).toContain('same bad bytes');
    await vault.close();
  });

  it('different bad bytes every time: a transport fault (BV.Store), not damage', async () => {
    const { store, vault, backupId } = await setUp('unstable');
    store.times = 100;
    const err = await restore(vault, { backupId, target: path.join(dir, 'unstable.out') }).catch((e) => e);
    expect(err.code).toBe('BV.Store');
    expect(err.message).toMatch(/4 reads of chunks\/.* returned different bad bytes/);
    expect(err.hint).toContain('do not overwrite');
    await vault.close();
  });

  it('a restore reads into its reused buffers, but a re-read never lands where the read it is compared with is', async () => {
    const { store, vault, backupId, image } = await setUp('into');
    store.inPlace = true;
    store.times = 100; // different bad bytes every read, flipped in the buffer they were read into
    const err = await restore(vault, { backupId, target: path.join(dir, 'into.out') }).catch((e) => e);
    expect(err.code).toBe('BV.Store'); // reusing the buffer would compare a read with itself: "damage"
    const first = store.intoGiven[0]!.key;
    const reads = store.intoGiven.filter((r) => r.key === first).map((r) => r.into);
    expect(reads).toEqual([true, false, false, false]); // the first read into the restore's buffer; re-reads into their own
    store.times = 1;
    const out = path.join(dir, 'into.ok');
    await restore(vault, { backupId, target: out });
    expect(await sha256File(out)).toBe(await sha256File(image));
    await vault.close();
  });

  it('a manifest read bad once is read again', async () => {
    const { store, vault, backupId } = await setUp('manifest');
    store.prefix = 'manifests/';
    store.times = 1;
    vault.refresh();
    const m = await vault.readManifest(backupId);
    expect(m.header.backupId).toBe(backupId);
    store.times = 100;
    store.same = true;
    const err = await vault.readManifest(backupId).catch((e) => e);
    expect(err.code).toBe('BV.VaultDamaged');
    await vault.close();
  });
});

describe('the config', () => {
  it('a config body read bad once is read again; bad twice the same is damage', async () => {
    const { vault } = await setUp('config');
    await vault.close();
    const reopen = new FlakyStore(await openStore(path.join(dir, 'config'), {}));
    reopen.prefix = 'config';
    reopen.times = 1;
    const again = await Vault.onStore(reopen);
    expect(again.blockSize).toBe(BS);
    reopen.times = 100;
    reopen.same = true;
    const err = await Vault.onStore(reopen).catch((e) => e);
    expect(err.code).toBe('BV.VaultDamaged');
    reopen.same = false;
    const flaky = await Vault.onStore(reopen).catch((e) => e);
    expect(flaky.code).toBe('BV.Store');
    await again.close();
  });
});
