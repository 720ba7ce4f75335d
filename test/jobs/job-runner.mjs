// Starts a backup job whose source never finishes its first read, prints the job id, and
// waits to be killed: a job whose process dies.
import * as bv from '../../dist/src/index.js';
import { delayedSource } from '../helpers/delayed-source.mjs';

const [vaultDir, volumeId, image, jobId, backupId] = process.argv.slice(2);
const vault = await bv.openVault(vaultDir);
let started = false;
const source = await delayedSource(image, async () => {
  if (!started) {
    started = true;
    process.stdout.write('READING\n');
  }
  await new Promise(() => {}); // never
});
await bv.startBackup(vault, { source: image, openedSource: source, volumeId, jobId, backupId, heartbeatMs: 200, concurrency: 1, workers: 0 });
setInterval(() => {}, 1000);
