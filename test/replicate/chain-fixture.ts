// What the replication suites share: a 5-backup chain built once per file (lifecycle/fixture.ts),
// the vaults a test opens (closed after the file), and the chain's directory removed at the end.
import { promises as fs } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { openVault, type Vault } from '../../src/index.js';
import { BS, buildChain, type Chain } from '../lifecycle/fixture.js';

export interface ChainFixture {
  /** The chain (set once beforeAll has run). */
  readonly chain: Chain;
  /** Vaults to close after the file: open() adds to it; add others a test opens itself. */
  readonly opened: Vault[];
  /** Opens (or with create, makes with the chain's block size) a vault, closed after the file. */
  open(path: string, create?: boolean): Promise<Vault>;
}

export function chainFixture(name: string, blocks: number, opts: { seed?: number } = {}): ChainFixture {
  let chain: Chain | undefined;
  const opened: Vault[] = [];
  beforeAll(async () => {
    chain = await buildChain(name, blocks, opts);
  });
  afterAll(async () => {
    for (const v of opened) await v.close().catch(() => {});
    if (chain) await fs.rm(chain.dir, { recursive: true, force: true });
  });
  return {
    get chain() {
      if (!chain) throw new Error('the chain is built in beforeAll');
      return chain;
    },
    opened,
    async open(p, create = false) {
      const v = await openVault(p, create ? { create: true, blockSize: BS } : {});
      opened.push(v);
      return v;
    },
  };
}
