// A backup job in its own process whose source takes a second per read: a job that is running
// long enough for another process to list, show and cancel it. Prints READING at the first
// read and DONE <status> when the job ends.
import * as bv from '../../dist/src/index.js';
import { ImageFileSource } from '../../dist/src/source/image-source.js';

const [vaultDir, volumeId, image, jobId, backupId] = process.argv.slice(2);
const vault = await bv.openVault(vaultDir);
const src = await ImageFileSource.open(image);
let started = false;
const source = {
  path: src.path,
  kind: src.kind,
  size: src.size,
  isHole: (a, b) => src.isHole(a, b),
  async read(start, end, buf) {
    if (!started) process.stdout.write('READING\n');
    started = true;
    await new Promise((r) => setTimeout(r, 1000));
    return src.read(start, end, buf);
  },
  checkUnchanged: () => src.checkUnchanged(),
  close: () => src.close(),
};
const job = await bv.startBackup(vault, { source: image, openedSource: source, volumeId, jobId, backupId, heartbeatMs: 200, concurrency: 1, workers: 0 });
const rec = await job.done;
process.stdout.write(`DONE ${rec.status}\n`);
await vault.close();
