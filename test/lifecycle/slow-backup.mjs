// A backup that pauses at its first block read — after it took its lease and loaded the
// chunk index — until the file GO exists: the GC tests run GC inside that window.
import fs from 'node:fs';
import * as bv from '../../dist/src/index.js';
import { ImageFileSource } from '../../dist/src/source/image-source.js';

const [vaultDir, volumeId, image, go] = process.argv.slice(2);
const vault = await bv.openVault(vaultDir);
const src = await ImageFileSource.open(image);
let gate;
const source = {
  path: src.path,
  kind: src.kind,
  size: src.size,
  isHole: (a, b) => src.isHole(a, b),
  async read(start, end, buf) {
    gate ??= (async () => {
      process.stdout.write('PAUSED\n');
      while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 20));
    })();
    await gate;
    return src.read(start, end, buf);
  },
  checkUnchanged: () => src.checkUnchanged(),
  close: () => src.close(),
};
const r = await bv.backup(vault, { source: image, openedSource: source, volumeId, concurrency: 2 });
await src.close();
await vault.close();
process.stdout.write(JSON.stringify({ event: 'result', backupId: r.backupId }) + '\n');
