// Holds a volume's lease in its own process until its stdin closes (or it is killed):
// the "other engine instance" of the lock tests.
import { openVault } from '../../dist/src/index.js';

const [vaultDir, volumeId] = process.argv.slice(2);
const vault = await openVault(vaultDir);
const lease = await vault.lease(volumeId, 'backup');
process.stdout.write(`held ${lease.record.leaseId}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await lease.release();
  await vault.close();
  process.exit(0);
});
