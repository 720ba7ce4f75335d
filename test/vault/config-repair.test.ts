// A lost config (issue 9.2): the vault refuses to start over beside its data, and the config
// is put back from its copy, after which every backup restores.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, openVault, repairVaultConfig, restore, type BlockvaultError } from '../../src/index.js';
import { exitCodeFor } from '../../src/errors.js';
import { CONFIG_COPY_KEY, encodeConfig, newConfig } from '../../src/vault/config.js';
import { openStore } from '../../src/store/open-store.js';
import { makeImage, sha256File } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, type S3Endpoint } from '../helpers/s3-server.js';
import { BS, buildChain, restoreAll, type Chain } from '../lifecycle/fixture.js';

let chain: Chain;
let dir: string;

beforeAll(async () => {
  chain = await buildChain('config-repair', 3);
  dir = chain.dir;
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const refusal = async (p: Promise<unknown>) => (await p.then(() => undefined, (e) => e)) as BlockvaultError | undefined;

describe('a lost config', () => {
  it('is written with a byte-identical copy when the vault is made', async () => {
    const config = await fs.readFile(path.join(chain.vaultDir, 'config'));
    const copy = await fs.readFile(path.join(chain.vaultDir, CONFIG_COPY_KEY));
    expect(copy.equals(config)).toBe(true);
  });

  it('makes a backup refuse (damaged, exit 3) instead of creating a new vault over the data; repair puts it back', async () => {
    const configFile = path.join(chain.vaultDir, 'config');
    const original = await fs.readFile(configFile);
    await fs.rm(configFile);

    // What a backup does: open with create, then back up. It must refuse at the open.
    const err = await refusal(openVault(chain.vaultDir, { create: true, blockSize: BS }));
    expect(err?.code).toBe('BV.VaultDamaged');
    expect(exitCodeFor(err)).toBe(3);
    expect(err?.message).toMatch(/has no config object, but it holds vault objects/);
    expect(err?.hint).toMatch(/repairVaultConfig/);
    await expect(fs.access(configFile)).rejects.toThrow(); // nothing was written
    // Without create too: the answer names the loss, not "no vault here".
    expect((await refusal(openVault(chain.vaultDir)))?.code).toBe('BV.VaultDamaged');

    const r = await repairVaultConfig(chain.vaultDir);
    expect(r.repaired).toBe(true);
    expect(r.checkedChunk).toMatch(/^[0-9a-f]{64}$/);
    expect((await fs.readFile(configFile)).equals(original)).toBe(true);

    const vault = await openVault(chain.vaultDir);
    try {
      const restored: string[] = [];
      await restoreAll(vault, chain, (id, ok) => {
        expect(ok, `backup ${id} restores bit-exact`).toBe(true);
        restored.push(id);
      });
      expect(restored.sort()).toEqual([...chain.ids].sort());
      // and the next backup chains onto the old ones again
      const b = await backup(vault, { source: chain.image, volumeId: 'vol-1' });
      expect(b.parentId).toBe(chain.ids[chain.ids.length - 1]);
    } finally {
      await vault.close();
    }
    expect((await repairVaultConfig(chain.vaultDir)).repaired).toBe(false); // sound: nothing to do
  });

  it('refuses a copy whose hash key does not belong to the vault', async () => {
    const configFile = path.join(chain.vaultDir, 'config');
    const copyFile = path.join(chain.vaultDir, CONFIG_COPY_KEY);
    const saved = await fs.readFile(copyFile);
    await fs.rm(configFile);
    await fs.writeFile(copyFile, encodeConfig(newConfig({ blockSize: BS })));
    const err = await refusal(repairVaultConfig(chain.vaultDir));
    expect(err?.code).toBe('BV.VaultDamaged');
    expect(err?.message).toMatch(/does not belong to this vault/);
    await expect(fs.access(configFile)).rejects.toThrow();
    await fs.writeFile(copyFile, saved);
    expect((await repairVaultConfig(chain.vaultDir)).repaired).toBe(true);
  });

  it('a new vault is made only in an empty place; compression zstd is refused before anything is written', async () => {
    const fresh = path.join(dir, 'fresh');
    const err = await refusal(openVault(fresh, { create: true, compression: 'zstd' as 'lz4' }));
    expect(err?.code).toBe('BV.BadInput');
    expect(err?.details.field).toBe('compression');
    expect(exitCodeFor(err)).toBe(2);
    await expect(fs.access(fresh)).rejects.toThrow(); // not even the directory was made
    const v = await openVault(fresh, { create: true, blockSize: BS });
    expect(v.config.compression).toBe('lz4');
    await v.close();
    // an image in the directory is not a vault object: a vault may sit beside other files
    const other = path.join(dir, 'beside');
    await fs.mkdir(other);
    await makeImage(path.join(other, 'disk.img'), { blockSize: BS, blocks: ['text'], seed: 1 });
    await (await openVault(other, { create: true, blockSize: BS })).close();
  });
});

const s3target = await getS3Endpoint();
const s3skip = 'skip' in s3target ? s3target.skip : undefined;
if (s3skip) console.warn(`[config-repair.test] S3 case skipped: ${s3skip}`);

describe.skipIf(!!s3skip)('a lost config on an S3 vault', () => {
  it('refuses to start over, and repair brings the backup back', async () => {
    const s3 = s3target as S3Endpoint;
    const bucket = await createTestBucket(s3, 'config-repair');
    const opts = { endpoint: s3.endpoint, indexCacheDir: 'off' }; // credentials: from the AWS environment, as the CLI
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    const url = `s3://${bucket}/v`;
    try {
      const v1 = await openVault(url, { ...opts, create: true, blockSize: BS });
      const b = await backup(v1, { source: chain.image, volumeId: 's3-vol' });
      await v1.close();
      const store = await openStore(url, opts);
      await store.delete('config');
      await store.close();
      const err = await refusal(openVault(url, { ...opts, create: true, blockSize: BS }));
      expect(err?.code).toBe('BV.VaultDamaged');
      expect((await repairVaultConfig(url, opts)).repaired).toBe(true);
      const v2 = await openVault(url, opts);
      const out = path.join(dir, 's3-restored.img');
      await restore(v2, { backupId: b.backupId, target: out });
      expect(await sha256File(out)).toBe(await sha256File(chain.image));
      await v2.close();
    } finally {
      await removeBucket(s3, bucket);
    }
  });
});
