// A backup that pauses at its first block read — after it took its lease and loaded the
// chunk index — until the file GO exists: the GC tests run GC inside that window.
import fs from 'node:fs';
import * as bv from '../../dist/src/index.js';
import { delayedSource } from '../helpers/delayed-source.mjs';

const [vaultDir, volumeId, image, go] = process.argv.slice(2);
const vault = await bv.openVault(vaultDir);
let gate;
const source = await delayedSource(image, () =>
  (gate ??= (async () => {
    process.stdout.write('PAUSED\n');
    while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 20));
  })()),
);
const r = await bv.backup(vault, { source: image, openedSource: source, volumeId, concurrency: 2 });
await source.close();
await vault.close();
process.stdout.write(JSON.stringify({ event: 'result', backupId: r.backupId }) + '\n');
