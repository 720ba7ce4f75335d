// copyBackups between encrypted vaults: the copy is re-encrypted under the destination's key
// (nothing readable lands there), restores bit-exact with that key alone, a second copy sends
// nothing, a KMS backup lands in the destination's domain for the same {cmkId, vk}; an
// encrypted backup into a plain vault is refused unless allowed; export refuses encrypted
// backups (an archive of them would import nowhere).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyBackups } from '../../src/engine/copy.js';
import { exportBackup } from '../../src/engine/archive/export.js';
import { ErrorCodes, backup, openVault, restore, showBackup, verify, type OpenVaultOptions } from '../../src/index.js';
import { entries } from '../../src/vault/manifest.js';
import type { Vault } from '../../src/vault/vault.js';
import { makeImage, sha256File, tempDir } from '../helpers/images.js';

const BS = 64 * 1024;
const FAST = { N: 2 ** 14, r: 8, p: 1 };
const MARKER = 'BLOCKVAULT-COPY-KNOWN-TEXT-41c2 the board minutes nobody may read\n';
const CMK = '8a9e2d2e-5a39-4b6e-9d1f-0d9a4b3b6c11';

let dir = '';
let image = '';
let imageHash = '';
const opened: Vault[] = [];
const open = async (p: string, o: OpenVaultOptions) => {
  const v = await openVault(p, { blockSize: BS, ...o });
  opened.push(v);
  return v;
};

async function objectsContaining(root: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await fs.readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const f = path.join(e.parentPath, e.name);
    if ((await fs.readFile(f)).includes(needle)) hits.push(f);
  }
  return hits;
}
const needle = Buffer.from(MARKER.slice(0, 40));

beforeAll(async () => {
  dir = await tempDir('copy-enc');
  image = path.join(dir, 'disk.img');
  await makeImage(image, { blocks: ['random', 'hole', 'text', 'random', 'zeros', 'random'], blockSize: BS, seed: 7 });
  const marked = Buffer.from(MARKER.repeat(Math.ceil(BS / MARKER.length))).subarray(0, BS);
  const fh = await fs.open(image, 'r+');
  await fh.write(marked, 0, BS, BS);
  await fh.close();
  imageHash = await sha256File(image);
});
afterAll(async () => {
  for (const v of opened) await v.close().catch(() => {});
  await fs.rm(dir, { recursive: true, force: true });
});

async function restoresExactly(v: Vault, id: string) {
  const out = path.join(dir, `r-${randomBytes(4).toString('hex')}.img`);
  await restore(v, { backupId: id, target: out, force: true, allowReplica: true });
  expect(await sha256File(out)).toBe(imageHash);
  await fs.rm(out);
}

describe('passphrase vault → another passphrase vault', () => {
  let srcDir = '';
  let backupId = '';

  it('re-encrypts every chunk for the destination: it restores bit-exact with its own key, and the known text is in no object', async () => {
    srcDir = path.join(dir, 'src');
    const dstDir = path.join(dir, 'dst');
    const src = await open(srcDir, { create: true, encrypt: { passphrase: 'source-pw', kdf: FAST } });
    backupId = (await backup(src, { source: image, volumeId: 'vol-1', workers: 1 })).backupId;
    const dst = await open(dstDir, { create: true, encrypt: { passphrase: 'dest-pw', kdf: FAST } });
    const r = await copyBackups(src, dst, { all: true });
    expect(r.mode).toBe('reidentify');
    expect(r.copied).toEqual([backupId]);
    expect(r.counters.chunksSent).toBeGreaterThan(0);
    await src.close();
    await dst.close();
    expect(await objectsContaining(srcDir, needle)).toEqual([]);
    expect(await objectsContaining(dstDir, needle)).toEqual([]);

    // The destination alone, with its own passphrase (the source's does not open it).
    await expect(open(dstDir, { keys: { passphrase: 'source-pw' } })).rejects.toMatchObject({ code: ErrorCodes.badInput });
    const again = await open(dstDir, { keys: { passphrase: 'dest-pw' } });
    const shown = await showBackup(again, backupId);
    expect(shown.encrypted).toBe(true);
    const head = await again.header(backupId);
    const srcAgain = await open(srcDir, { keys: { passphrase: 'source-pw' } });
    const srcHead = await srcAgain.header(backupId);
    expect(head.keyDomain).toBeDefined();
    expect(head.keyDomain).not.toBe(srcHead.keyDomain);
    // Ids are the destination domain's: none is shared with the source's manifest.
    const ids = async (v: Vault) => new Set([...entries(await v.readManifest(backupId))].filter((e) => e.kind === 1).map((e) => e.id.toString('hex')));
    const [a, b] = [await ids(srcAgain), await ids(again)];
    expect(b.size).toBe(a.size);
    expect([...a].filter((x) => b.has(x))).toEqual([]);
    await restoresExactly(again, backupId);
    const checked = await verify(again, { deep: true });
    expect(checked.ok).toBe(true);
    expect(checked.chunksFetched).toBe(b.size);

    // A second copy of the same backup sends nothing.
    const second = await copyBackups(srcAgain, again, { all: true });
    expect(second.copied).toEqual([]);
    expect(second.present).toContain(backupId);
    expect(second.counters.chunksSent).toBe(0);
    expect(second.counters.bytesSent).toBe(0);
  });

  it('refuses an encrypted backup into a plain vault (exit 2), writing no manifest; allowDecrypt stores a plain copy on purpose', async () => {
    const plainDir = path.join(dir, 'plain');
    const src = await open(srcDir, { keys: { passphrase: 'source-pw' } });
    const plain = await open(plainDir, { create: true });
    const err = await copyBackups(src, plain, { all: true }).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCodes.badInput });
    expect(String(err.message)).toMatch(/not encrypted.*in the clear/);
    expect(String(err.hint)).toMatch(/allow-unencrypted-destination/);
    plain.refresh();
    expect(await plain.listBackups()).toEqual([]);

    const r = await copyBackups(src, plain, { all: true, allowDecrypt: true });
    expect(r.copied).toEqual([backupId]);
    const head = await plain.header(backupId);
    expect(head.keyDomain).toBeUndefined();
    expect((await showBackup(plain, backupId)).encrypted).toBe(false);
    await restoresExactly(plain, backupId);
  });

  it('export refuses an encrypted backup with a clear error and writes nothing', async () => {
    const src = await open(srcDir, { keys: { passphrase: 'source-pw' } });
    const out = new PassThrough();
    let bytes = 0;
    out.on('data', (c: Buffer) => (bytes += c.length));
    const err = await exportBackup(src, backupId, { out }).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCodes.badInput });
    expect(String(err.message)).toMatch(/is encrypted: export writes archives of unencrypted backups only/);
    expect(bytes).toBe(0);
  });
});

describe('KMS context', () => {
  it('copies a {cmkId, vk} backup into the destination domain of the same context, VK verbatim', async () => {
    const vk = randomBytes(32).toString('hex');
    const clear = new Map([[vk, randomBytes(32)]]);
    const unwrap = async (c: { cmkId: string; vk: string }) => clear.get(c.vk)!;
    const srcDir = path.join(dir, 'kms-src');
    const dstDir = path.join(dir, 'kms-dst');
    const src = await open(srcDir, { create: true, encrypt: { kms: true }, keys: { unwrap } });
    const b = await backup(src, { source: image, volumeId: 'vol-k', encryption: { cmkId: CMK, vk }, workers: 1 });
    const dst = await open(dstDir, { create: true, encrypt: { kms: true }, keys: { unwrap } });
    const r = await copyBackups(src, dst, { all: true });
    expect(r.copied).toEqual([b.backupId]);
    const srcHead = await src.header(b.backupId);
    const head = await dst.header(b.backupId);
    expect(head.encryption).toEqual({ cmkId: CMK, vk });
    expect(head.keyDomain).toBeDefined();
    expect(JSON.parse((await showBackup(dst, b.backupId)).service_metadata)).toMatchObject({ VK: vk, CMKID: CMK });
    // Same {cmkId, vk}, same domain and data key: the sealed objects travel as stored, each
    // opened and checked by the destination before it is written.
    expect(head.keyDomain).toBe(srcHead.keyDomain);
    expect(r.mode).toBe('verbatim');
    expect(r.counters.chunksSent).toBeGreaterThan(0);
    await src.close();
    await dst.close();
    expect(await objectsContaining(dstDir, needle)).toEqual([]);
    const again = await open(dstDir, { keys: { unwrap } });
    await restoresExactly(again, b.backupId);
  });
});
