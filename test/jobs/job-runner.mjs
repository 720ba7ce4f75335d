// Starts a backup job whose source never finishes its first read, prints the job id, and
// waits to be killed: a job whose process dies.
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
    if (!started) {
      started = true;
      process.stdout.write('READING\n');
    }
    await new Promise(() => {}); // never
    return src.read(start, end, buf);
  },
  checkUnchanged: () => src.checkUnchanged(),
  close: () => src.close(),
};
await bv.startBackup(vault, { source: image, openedSource: source, volumeId, jobId, backupId, heartbeatMs: 200, concurrency: 1, workers: 0 });
setInterval(() => {}, 1000);
