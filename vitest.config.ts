import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn processes, build images and talk to real servers: give them room,
    // and keep files apart so two suites never share a vault or a loop device.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    // Each host keeps a copy of every vault's chunk index; the tests' copies go to a
    // directory of this run, never into the user's ~/.cache.
    env: { BLOCKVAULT_CACHE_DIR: process.env.BLOCKVAULT_CACHE_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'blockvault-test-cache-')) },
  },
});
