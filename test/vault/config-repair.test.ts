// A lost config (issue 9.2): the vault refuses to start over beside its data, and the config
// is put back from its copy, after which every backup restores.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, openVault, repairVaultConfig, type BlockvaultError } from '../../src/index.js';
import { exitCodeFor } from '../../src/errors.js';
import { CONFIG_COPY_KEY, encodeConfig, newConfig } from '../../src/vault/config.js';
import { makeImage, tempDir } from '../helpers/images.js';
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
    await expect(fs.access(path.join(fresh, 'config'))).rejects.toThrow();
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
