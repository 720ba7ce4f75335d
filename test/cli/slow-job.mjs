// A backup job in its own process whose source takes a second per read: a job that is running
// long enough for another process to list, show and cancel it. Prints READING at the first
// read and DONE <status> when the job ends.
import * as bv from '../../dist/src/index.js';
import { delayedSource } from '../helpers/delayed-source.mjs';

const [vaultDir, volumeId, image, jobId, backupId] = process.argv.slice(2);
const vault = await bv.openVault(vaultDir);
let started = false;
const source = await delayedSource(image, async () => {
  if (!started) process.stdout.write('READING\n');
  started = true;
  await new Promise((r) => setTimeout(r, 1000));
});
const job = await bv.startBackup(vault, { source: image, openedSource: source, volumeId, jobId, backupId, heartbeatMs: 200, concurrency: 1, workers: 0 });
const rec = await job.done;
process.stdout.write(`DONE ${rec.status}\n`);
await vault.close();
