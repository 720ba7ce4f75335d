// Memory of the chunk index, measured in a child process (its own peak RSS): 1.5 M synthetic
// chunks (real segment format). The old Map-based index took ≈ 320 B per chunk (≈ 460 MiB here).
// Bounds are generous (allocator and GC slack), and no timing is asserted.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xxh64 } from '@node-rs/xxhash';
import { tempDir } from '../helpers/images.js';

const CHUNKS = 1_500_000;
const PER_SEGMENT = 500_000;
const MiB = 1024 * 1024;
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'src');

let dir = '';
beforeAll(async () => {
  dir = await tempDir('index-mem');
  await fs.mkdir(path.join(dir, 'vault', 'index'), { recursive: true });
  for (let s = 0; s < CHUNKS / PER_SEGMENT; s++) {
    const out = Buffer.alloc(12 + PER_SEGMENT * 36 + 8);
    out.write('BVIX', 0, 'ascii');
    out[4] = 1;
    out.writeUInt32LE(PER_SEGMENT, 8);
    randomBytes(PER_SEGMENT * 36).copy(out, 12);
    const end = 12 + PER_SEGMENT * 36;
    out.writeBigUInt64LE(xxh64(out.subarray(0, end)), end);
    await fs.writeFile(path.join(dir, 'vault', 'index', `s${s}.idx`), out);
  }
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Loads the index in a fresh process; returns its RSS growth (peak and after) and the index's own count. */
function loadInChild(): { peakGrowth: number; afterGrowth: number; size: number; memoryBytes: number; rebuilt: boolean } {
  const script = `
    const { openStore } = await import(${JSON.stringify(path.join(dist, 'store', 'open-store.js'))});
    const { ChunkIndex } = await import(${JSON.stringify(path.join(dist, 'vault', 'chunk-index.js'))});
    const store = await openStore(${JSON.stringify(path.join(dir, 'vault'))});
    const rss0 = process.memoryUsage().rss;
    const peak0 = process.resourceUsage().maxRSS * 1024;
    const index = await ChunkIndex.load(store, { dir: ${JSON.stringify(path.join(dir, 'cache'))} });
    const after = process.memoryUsage().rss;
    const peak = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(JSON.stringify({ peakGrowth: peak - Math.max(rss0, peak0) , afterGrowth: after - rss0, size: index.size, memoryBytes: index.memoryBytes, rebuilt: index.rebuilt }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('chunk index memory', () => {
  it(`a host new to a vault of ${CHUNKS} chunks merges them with bounded memory; a current copy costs ~2 B per chunk`, () => {
    const cold = loadInChild();
    expect(cold.rebuilt).toBe(true);
    expect(cold.size).toBe(CHUNKS);
    // the records alone are 1.5 M × 40 B = 57 MiB; the merge holds one bucket of them at a time
    expect(cold.peakGrowth).toBeLessThan(150 * MiB);

    const warm = loadInChild();
    expect(warm.rebuilt).toBe(false);
    expect(warm.size).toBe(CHUNKS);
    expect(warm.memoryBytes).toBeLessThan(CHUNKS * 3); // fences (0.31 B) + filter (1.25 B) per chunk
    expect(warm.afterGrowth).toBeLessThan(24 * MiB);
    expect(warm.peakGrowth).toBeLessThan(24 * MiB);
  });
});
