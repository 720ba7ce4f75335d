// One process of the large-vault scenario (bench/large-vault.ts): opens a vault, loads its
// chunk index through this host's local copy, and prints one JSON line: the load's time, the
// RSS it added, the bytes the index holds in memory, and lookup rates for absent and present ids.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openVault } from '../src/index.js';

const vaultDir = process.argv[2];
if (!vaultDir) throw new Error('usage: large-vault-probe VAULT_DIR');
const rss0 = process.memoryUsage().rss;
const vault = await openVault(vaultDir);
const t0 = performance.now();
const index = await vault.chunkIndex();
const loadMs = performance.now() - t0;
const mem = process.memoryUsage();
const rssGrowth = mem.rss - rss0;
const peakRssBytes = process.resourceUsage().maxRSS * 1024;

const rate = async (ids: Buffer[]) => {
  const t = performance.now();
  for (const id of ids) await index.lookup(id);
  return ids.length / ((performance.now() - t) / 1000);
};
const absentPerSec = await rate(Array.from({ length: 20_000 }, () => randomBytes(32)));
// present ids: the first records of a synthetic segment
const fh = await fs.open(path.join(vaultDir, 'index', 'synthetic-0000.idx'));
const seg = Buffer.alloc(12 + 20_000 * 36);
await fh.read(seg, 0, seg.length, 0);
await fh.close();
const present = Array.from({ length: Math.min(20_000, seg.readUInt32LE(8)) }, (_, i) => seg.subarray(12 + i * 36, 12 + i * 36 + 32));
const presentPerSec = await rate(present);
process.stdout.write(JSON.stringify({ loadMs, rssGrowth, peakRssBytes, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers, memoryBytes: index.memoryBytes, size: index.size, rebuilt: index.rebuilt, fetched: index.fetchedSegments, absentPerSec, presentPerSec }) + '\n');
await index.close();
await vault.close();
