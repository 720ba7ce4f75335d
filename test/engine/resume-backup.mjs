// A slow backup (each block read waits a little) for the resume test: prints chunksWritten
// as it goes, so the test can kill -9 it mid-way. Index cadence from argv.
import * as bv from '../../dist/src/index.js';
import { delayedSource } from '../helpers/delayed-source.mjs';

const [vaultDir, volumeId, image, flushBytes, flushMs, delayMs] = process.argv.slice(2);
const vault = await bv.openVault(vaultDir, { indexFlushBytes: Number(flushBytes), indexFlushMs: Number(flushMs) });
const source = await delayedSource(image, () => new Promise((r) => setTimeout(r, Number(delayMs))));
await bv.backup(vault, {
  source: image,
  openedSource: source,
  volumeId,
  concurrency: 2,
  workers: 0,
  everyBytes: 1,
  onProgress: (e) => process.stdout.write(`WRITTEN ${e.counters.chunksWritten}\n`),
});
