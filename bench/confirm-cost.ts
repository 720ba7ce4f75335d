// What confirming a backup's chunks costs (issue 9.1), counted in store requests, not time:
// a full backup of an image, an unchanged incremental of it, and a backup of the same image
// as another volume (every block a dedup hit), on a local vault and on S3.
//   node dist/bench/confirm-cost.js <image> <local vault dir> [s3://bucket/prefix]
import { CountingStore } from '../src/store/counting-store.js';
import { openStore } from '../src/store/open-store.js';
import { backup, type BackupResult } from '../src/index.js';
import { Vault } from '../src/vault/vault.js';

async function run(location: string, image: string): Promise<void> {
  const o = { create: true, indexCacheDir: 'off', endpoint: process.env.S3_ENDPOINT, createBucket: true };
  const steps: [string, string, boolean][] = [
    ['full', 'vol-a', true],
    ['unchanged incremental', 'vol-a', false],
    ['same image, other volume', 'vol-b', false],
  ];
  for (const [name, volumeId, full] of steps) {
    const counts = new CountingStore(await openStore(location, o));
    const vault = await Vault.onStore(counts, o);
    const r: BackupResult = await backup(vault, { source: image, volumeId, full });
    await vault.close();
    const c = counts.counts;
    console.log(
      JSON.stringify({
        store: location.startsWith('s3:') ? 's3' : 'local',
        step: name,
        blocks: r.counters.blocksTotal,
        chunksWritten: r.counters.chunksWritten,
        chunksConfirmed: r.counters.chunksConfirmed,
        head: c.head,
        list: c.list,
        listPages: c.listPage,
        get: c.get + c.getRange,
        put: c.put + c.putIfAbsent,
        total: counts.total,
      }),
    );
  }
}

const [image, local, s3] = process.argv.slice(2);
if (!image || !local) throw new Error('usage: confirm-cost <image> <local vault dir> [s3://bucket/prefix]');
if (local !== '-') await run(local, image);
if (s3) await run(s3, image);
