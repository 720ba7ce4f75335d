import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { newCommand } from '../command.js';
import { storeOptions, vaultLocation } from '../context.js';
import { addVaultOptions, parseHostPort, parsePositiveInt, type CommonOpts } from '../options.js';

interface ServeOpts extends CommonOpts {
  listen: string;
  tokenFile?: string;
  auth: boolean;
  maxJobs: number;
  logLevel?: string;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

function parseLevel(text: string): string {
  if (!LEVELS.includes(text)) throw new InvalidArgumentError(`takes one of ${LEVELS.join(', ')}`);
  return text;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'serve',
    'run the HTTP agent: jobs, backups and /metrics for a control plane',
    [
      'BLOCKVAULT_TOKEN=$(cat token) blockvault serve --vault s3://bucket/prefix',
      'blockvault serve --vault ./vault --listen 127.0.0.1:8420 --token-file /etc/blockvault/token',
      'blockvault serve --vault ./vault --no-auth            # loopback only',
    ],
    `Every route but /healthz needs "Authorization: Bearer TOKEN" (the token from --token-file or
$BLOCKVAULT_TOKEN, at least 16 characters). Without a token the agent refuses to start, except
on a loopback address with --no-auth. More than --max-jobs jobs at once are refused with 429.
SIGTERM or Ctrl-C cancels the running jobs (each ends FAIL with the reason) and stops.
Logs are pino JSON lines on stderr.`,
  )
    .option('--listen <host:port>', 'address to listen on', parseHostPort, '127.0.0.1:8420')
    .option('--token-file <file>', 'read the bearer token from the first line of FILE (default: $BLOCKVAULT_TOKEN)')
    .option('--no-auth', 'no token check (refused unless the address is loopback)')
    .option('--max-jobs <n>', 'jobs running at once; more are refused with 429', parsePositiveInt, 4)
    .option('--log-level <level>', `log level: ${LEVELS.join('|')} (default info; -q error, -vv debug)`, parseLevel);
  addVaultOptions(cmd).action(async (opts: ServeOpts) => {
    const location = vaultLocation(opts);
    const keys = await (await import('../key-input.js')).keysFromFlags(opts); // none: the environment's
    const { loadToken, startAgent, untilSignal } = await import('../../agent/index.js');
    const { pino } = await import('pino');
    const token = loadToken({ tokenFile: opts.tokenFile });
    const level = opts.logLevel ?? (opts.quiet ? 'error' : (opts.verbose ?? 0) >= 2 ? 'debug' : 'info');
    const log = pino({ level, base: { component: 'agent' } }, pino.destination({ fd: 2, sync: true }));
    const agent = await startAgent({
      vault: location,
      vaultOptions: { ...storeOptions(opts), ...(keys ? { keys } : {}) },
      listen: opts.listen,
      token,
      noAuth: !opts.auth,
      maxJobs: opts.maxJobs,
      logger: log,
    });
    process.stdout.write(`blockvault agent listening on ${agent.url}\n`);
    const sig = await untilSignal(agent);
    process.exitCode = sig === 'SIGINT' ? 130 : 0;
  });
}
