// Runs one lifecycle operation in its own process (crash tests SIGKILL it, or set
// BLOCKVAULT_CRASH_AT). Imports the built library: `npx tsc -p .` (npm test's pretest) first.
import * as bv from '../../dist/src/index.js';

const [op, vaultDir, arg] = process.argv.slice(2);
const vault = await bv.openVault(vaultDir);
let r;
if (op === 'delete') r = await bv.deleteBackup(vault, arg);
else if (op === 'gc') r = await bv.gc(vault);
else if (op === 'prune') r = await bv.prune(vault, { volumeId: arg, policy: { keepLast: 1 } });
else throw new Error(`unknown op ${op}`);
await vault.close();
process.stdout.write(JSON.stringify({ event: 'result', ...r }) + '\n');
