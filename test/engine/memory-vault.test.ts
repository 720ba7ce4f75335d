// The core scenarios on the in-memory store (mem://): the same end-to-end behaviour as the
// local and S3 suites, with no disk or network under the vault, so the engine's logic is
// checked on the fastest store too.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { afterAll, beforeAll, describe } from 'vitest';
import { openVault } from '../../src/index.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { tempDir } from '../helpers/images.js';
import { SCENARIO_BS, coreScenarios } from './scenarios.js';

describe('memory vault: core scenarios', () => {
  let dir: string;
  const names: string[] = [];
  beforeAll(async () => {
    dir = await tempDir('mem-vault');
  });
  afterAll(async () => {
    for (const n of names) MemoryStore.drop(n);
    await fs.rm(dir, { recursive: true, force: true });
  });
  coreScenarios({
    makeVault: (name) => {
      const n = `${name}-${randomBytes(4).toString('hex')}`;
      names.push(n);
      return openVault(`mem://${n}`, { create: true, blockSize: SCENARIO_BS });
    },
    dir: () => dir,
  });
});
