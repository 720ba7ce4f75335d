// exportBackup → importArchive between real vaults: bit-exact restores after import into an
// empty vault (another key) or a replica (same key), base archives, idempotent re-import, and
// crafted or damaged archives refused with the vault left as it was.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportBackup } from '../../src/engine/archive/export.js';
import { chunkEntryName } from '../../src/engine/archive/format.js';
import { importArchive } from '../../src/engine/archive/import.js';
import { initReplica } from '../../src/engine/copy.js';
import { ErrorCodes } from '../../src/errors.js';
import { serviceFields } from '../../src/metrics/service-fields.js';
import { CountingStore } from '../../src/store/counting-store.js';
import { openStore } from '../../src/store/open-store.js';
import { Vault } from '../../src/vault/vault.js';
import { openVault, restore, verify } from '../../src/index.js';
import { sha256File } from '../helpers/images.js';
import { chainFixture } from './chain-fixture.js';
import { packRaw, type RawEntry } from './archive-fixture.js';

const fx = chainFixture('archive-vault', 5, { seed: 11 });
const { opened } = fx;
const open = fx.open;

async function exportTo(v: Vault, id: string, file: string, base?: string) {
  return exportBackup(v, id, { out: createWriteStream(file), ...(base ? { base } : {}) });
}

async function restoresExactly(v: Vault, id: string) {
  const out = path.join(fx.chain.dir, `r-${id}-${Math.random().toString(36).slice(2)}.img`);
  await restore(v, { backupId: id, target: out });
  expect(await sha256File(out), `backup ${id}`).toBe(fx.chain.sha.get(id));
  await fs.rm(out);
}

/** What a vault shows: its backups and every object under it. */
async function snapshot(v: Vault, dir: string) {
  v.refresh();
  const backups = (await v.listBackups()).map((h) => h.backupId);
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else files.push(path.relative(dir, path.join(d, e.name)));
    }
  };
  await walk(dir);
  return { backups, manifests: files.filter((f) => f.startsWith('manifests/')).sort() };
}

describe('export and import', () => {
  let full = '';

  it('export → import into an empty vault (another key) → every byte of the point restores', async () => {
    const src = await open(fx.chain.vaultDir);
    full = path.join(fx.chain.dir, 'b4.bvtar');
    const ex = await exportTo(src, fx.chain.ids[4]!, full);
    expect(ex.chunks).toBeGreaterThan(0);
    const dst = await open(path.join(fx.chain.dir, 'empty'), true);
    const im = await importArchive(dst, createReadStream(full));
    expect(im).toMatchObject({ backupId: fx.chain.ids[4], mode: 'reidentify', alreadyPresent: false, chunksReceived: ex.chunks });
    await restoresExactly(dst, fx.chain.ids[4]!);
    const h = await dst.header(fx.chain.ids[4]!);
    expect(h).toMatchObject({ type: 'full', parentId: null, origin: { kind: 'import', sourceVaultId: src.config.vaultId, sourceBackupId: fx.chain.ids[4] } });
    const f = serviceFields(h, { chain: [h], hasDependents: false, manifestKey: '', vaultUrl: dst.url });
    expect(f.image_type).toBe('sync');
    expect((await verify(dst, { deep: true })).ok).toBe(true);
    // A second import of the same archive changes nothing.
    const again = await importArchive(dst, createReadStream(full));
    expect(again.alreadyPresent).toBe(true);
  });

  it('into a vault with the same chunk-id key, objects are imported as stored', async () => {
    const src = await open(fx.chain.vaultDir);
    const rep = await initReplica(src, path.join(fx.chain.dir, 'same-key'));
    opened.push(rep);
    const im = await importArchive(rep, createReadStream(full));
    expect(im.mode).toBe('verbatim');
    expect(im.chunksWritten).toBe(im.chunksReceived);
    await restoresExactly(rep, fx.chain.ids[4]!);
  });

  it('an archive against a base carries only what the base lacks, and needs the base there', async () => {
    const src = await open(fx.chain.vaultDir);
    const b3 = path.join(fx.chain.dir, 'b3.bvtar');
    const inc = path.join(fx.chain.dir, 'b4-on-b3.bvtar');
    const whole = await exportTo(src, fx.chain.ids[3]!, b3);
    const part = await exportTo(src, fx.chain.ids[4]!, inc, fx.chain.ids[3]!);
    expect(part.chunks).toBeGreaterThan(0);
    expect(part.chunks).toBeLessThan(whole.chunks);
    expect((await fs.stat(inc)).size).toBeLessThan((await fs.stat(b3)).size);

    // A same-key vault without the base's chunks: refused at the end, nothing visible.
    const bare = await initReplica(src, path.join(fx.chain.dir, 'bare'));
    opened.push(bare);
    await expect(importArchive(bare, createReadStream(inc))).rejects.toMatchObject({ code: ErrorCodes.missingChunk, details: { baseBackupId: fx.chain.ids[3] } });
    expect(await bare.listBackups()).toEqual([]);
    // With the base imported first, it goes in and restores.
    await importArchive(bare, createReadStream(b3));
    await importArchive(bare, createReadStream(inc));
    await restoresExactly(bare, fx.chain.ids[4]!);
    // A vault with another key cannot find the base's chunks by id: refused before any write.
    const other = await open(path.join(fx.chain.dir, 'other-key'), true);
    await expect(importArchive(other, createReadStream(inc))).rejects.toMatchObject({ code: ErrorCodes.badInput, message: expect.stringMatching(/chunk-id key/) });
  });

  it('memory stays bounded: a 96 MiB volume exports into a slow sink with at most a few chunks held', async () => {
    const img = path.join(fx.chain.dir, 'big.img');
    const blockSize = 1024 * 1024;
    const fh = await fs.open(img, 'w');
    for (let i = 0; i < 96; i++) await fh.write(randomBytes(blockSize));
    await fh.close();
    const dir = path.join(fx.chain.dir, 'big-vault');
    const made = await openVault(dir, { create: true, blockSize });
    const { backup } = await import('../../src/index.js');
    const b = await backup(made, { source: img, volumeId: 'big' });
    await made.close();
    await fs.rm(img);
    // Count what is held: bytes read from the store minus bytes the sink has taken.
    const store = new CountingStore(await openStore(dir));
    const v = await Vault.onStore(store);
    opened.push(v);
    let taken = 0;
    let held = 0;
    const sink = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _e, cb) {
        held = Math.max(held, store.bytesGot - taken);
        taken += chunk.length;
        setTimeout(cb, 2);
      },
    });
    const r = await exportBackup(v, b.backupId, { out: sink, concurrency: 4 });
    expect(r.chunks).toBe(96);
    expect(taken).toBeGreaterThan(96 * blockSize);
    // Four chunks read ahead, one in tar-stream and the sink's buffer: not the 96 MiB volume.
    expect(held).toBeLessThan(8 * blockSize);
  });
});

describe('refused and damaged archives leave the vault unchanged', () => {
  let target: Vault;
  let targetDir = '';
  let before: Awaited<ReturnType<typeof snapshot>>;
  let bytes: Buffer;

  beforeAll(async () => {
    const src = await open(fx.chain.vaultDir);
    const file = path.join(fx.chain.dir, 'b2.bvtar');
    await exportTo(src, fx.chain.ids[2]!, file);
    bytes = await fs.readFile(file);
    targetDir = path.join(fx.chain.dir, 'target');
    target = await initReplica(src, targetDir);
    opened.push(target);
    // The target already holds one backup, which must stay as it is.
    await importArchive(target, createReadStream(path.join(fx.chain.dir, 'b3.bvtar')));
    before = await snapshot(target, targetDir);
    expect(before.backups).toEqual([fx.chain.ids[3]]);
  });

  /** The valid archive's entries, re-read from its bytes, for editing. */
  async function entriesOf(buf: Buffer): Promise<RawEntry[]> {
    const tar = (await import('tar-stream')).default;
    const ex = tar.extract();
    Readable.from([buf]).pipe(ex as unknown as NodeJS.WritableStream);
    const out: RawEntry[] = [];
    for await (const e of ex) {
      const parts: Buffer[] = [];
      for await (const c of e) parts.push(c as Buffer);
      out.push({ name: e.header.name, body: Buffer.concat(parts), ...(e.header.pax ? { pax: e.header.pax as Record<string, string> } : {}) });
    }
    return out;
  }

  async function refusedLeavesVault(archive: Buffer, code: string, what: RegExp) {
    const err = await importArchive(target, Readable.from([archive])).then(() => undefined, (e) => e);
    expect(err?.code, String(err?.stack ?? err)).toBe(code);
    expect(err.message).toMatch(what);
    expect(await snapshot(target, targetDir)).toEqual(before);
  }

  it('path traversal', async () => {
    const list = await entriesOf(bytes);
    list.splice(2, 0, { name: '../../../tmp/evil', body: Buffer.from('x') });
    await refusedLeavesVault(await packRaw(list), ErrorCodes.badInput, /"\.\.\/\.\.\/\.\.\/tmp\/evil" refused: .*"\.\." component/);
  });

  it('a symlink entry', async () => {
    const list = await entriesOf(bytes);
    const name = list[2]!.name;
    list[2] = { name, type: 'symlink', linkname: '/etc/passwd' };
    await refusedLeavesVault(await packRaw(list), ErrorCodes.badInput, /symlink → "\/etc\/passwd"/);
  });

  it('a duplicate chunk', async () => {
    const list = await entriesOf(bytes);
    list.splice(3, 0, list[2]!);
    await refusedLeavesVault(await packRaw(list), ErrorCodes.badInput, /appears twice/);
  });

  it('a truncated archive, cut anywhere', async () => {
    for (const at of [300, Math.floor(bytes.length / 2), bytes.length - 700]) {
      await refusedLeavesVault(bytes.subarray(0, at), ErrorCodes.corruptChunk, /truncated|ends/);
    }
  });

  it('a flipped byte in a chunk', async () => {
    const list = await entriesOf(bytes);
    const chunk = list[3]!.body!;
    const at = bytes.indexOf(chunk.subarray(64, 128));
    const bad = Buffer.from(bytes);
    bad[at + 5] ^= 0x10;
    await refusedLeavesVault(bad, ErrorCodes.corruptChunk, /checksum mismatch/);
  });

  it('a chunk whose bytes do not match its id, with a checksum made to match', async () => {
    const list = await entriesOf(bytes);
    const { blake3Hex, CHECKSUM_PAX } = await import('../../src/engine/archive/format.js');
    const { encodeChunk } = await import('../../src/chunk/chunk-format.js');
    // A well-formed chunk frame of other data, under the id and size of chunk 0.
    const orig = list[2]!.body!;
    const forged = encodeChunk(Buffer.alloc(orig.length - 32, 0x41), orig.length - 32, 'none');
    list[2] = { ...list[2]!, body: forged, pax: { [CHECKSUM_PAX]: blake3Hex(forged) } };
    // The trailer's digest no longer matches either; the identity check comes first.
    await refusedLeavesVault(await packRaw(list), ErrorCodes.corruptChunk, new RegExp(`${chunkEntryName('')}[0-9a-f]{64}.*does not match its chunk id`));
  });

  it('after all that, the vault verifies', async () => {
    expect((await verify(target, { deep: true })).ok).toBe(true);
  });
});
