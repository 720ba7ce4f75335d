// An agent in its own process, as `blockvault serve` runs it (startAgent + untilSignal), whose
// backups read a source that never finishes its first read: a job that is running when the
// process gets SIGTERM. Prints the agent's URL, then READING when a backup reads.
import { pino } from 'pino';
import { startAgent, untilSignal } from '../../dist/src/agent/index.js';
import { delayedSource } from '../helpers/delayed-source.mjs';

const [vaultDir, image, token] = process.argv.slice(2);
let release;
const released = new Promise((r) => (release = r));
process.on('SIGTERM', () => release());
// Waits until the process is told to stop (a real read returns in time; this one returns only
// then, so the job is surely running when the signal comes).
const stuck = await delayedSource(image, () => {
  process.stdout.write('READING\n');
  return released;
});
const agent = await startAgent({
  vault: vaultDir,
  listen: '127.0.0.1:0',
  token,
  heartbeatMs: 200,
  logger: pino({ level: 'info' }, pino.destination({ fd: 2, sync: true })),
  prepareJob: (s) => (s.type === 'backup' ? { ...s, openedSource: stuck, workers: 0, concurrency: 1 } : s),
});
process.stdout.write(`URL ${agent.url}\n`);
const sig = await untilSignal(agent);
process.stdout.write(`STOPPED ${sig}\n`);
process.exit(0);
