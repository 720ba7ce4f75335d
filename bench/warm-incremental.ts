// The incremental without a list as a long-lived process runs it (the agent, a control plane
// using the library): no Node start-up and no module loading per backup, which is what the
// CLI's figure in the main bench pays. Each round mutates 1 % of the image, measures the
// read + BLAKE3 floor of that round (bench/floors.ts) and times one incremental through the
// library in this process; the ratio floor / ours is taken per round, then the median.
//
//   node dist/bench/warm-incremental.js [--size 2GiB] [--runs 5] [--seed 1] [--dir DIR]
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BLOCK, CeilingLab, median, nonZeroBlocks, readMBps } from './ceilings.js';
import { cpuFloors } from './floors.js';
import { formatSize, makeMixedImage, mutateImage, parseSize } from './inputs.js';
import { backup, openVault } from '../src/index.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const size = parseSize(arg('size') ?? '2GiB');
const runs = Number(arg('runs') ?? 5);
const seed = Number(arg('seed') ?? 1);
const work = await fs.mkdtemp(path.join(arg('dir') ?? os.tmpdir(), 'bv-warm-'));
const image = path.join(work, 'image.raw');

try {
  await makeMixedImage(image, { size, seed });
  const vault = await openVault(path.join(work, 'vault'), { create: true });
  await backup(vault, { source: image, volumeId: 'bench' }); // the full, and the process warmed
  const rows: { seconds: number; floor: number }[] = [];
  for (let run = 0; run < runs; run++) {
    await mutateImage(image, { fraction: 0.01, seed: seed * 1000 + run + 1 });
    const lab = await CeilingLab.open(image, { workers: 2 });
    const hash = await lab.blake3().finally(() => lab.close());
    const { readHashFloorSeconds: floor } = cpuFloors(size, nonZeroBlocks(image).length * BLOCK, {
      readMBps: await readMBps(image),
      blake3x2MBps: Number.isFinite(hash.cpuMBps) ? hash.cpuMBps : hash.mbps,
      lz4x2MBps: Infinity, // not part of this floor
    });
    const t0 = performance.now();
    const b = await backup(vault, { source: image, volumeId: 'bench' });
    const seconds = (performance.now() - t0) / 1000;
    if (b.type !== 'incremental') throw new Error(`round ${run + 1}: expected an incremental, got a ${b.type}`);
    rows.push({ seconds, floor });
    console.log(`round ${run + 1}: incremental ${seconds.toFixed(3)} s, read + BLAKE3 floor ${floor.toFixed(3)} s, floor / ours ${(floor / seconds).toFixed(2)}`);
  }
  await vault.close();
  console.log(
    `${formatSize(size)} mixed image, ${runs} rounds: incremental in a warm process ${median(rows.map((r) => r.seconds)).toFixed(3)} s (median), ` +
      `floor / ours ${median(rows.map((r) => r.floor / r.seconds)).toFixed(2)} (median of per-round ratios)`,
  );
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
