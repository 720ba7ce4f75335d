// The command tree: the root program (version, global help text) and every command in
// commands/index.ts. Building it loads commander and the small command modules only.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { carryCommand } from './command.js';
import { COMMANDS } from './commands/index.js';

function version(): string {
  // dist/src/cli/program.js → the package's package.json, three levels up.
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export const ENVIRONMENT_HELP = `Environment:
  BLOCKVAULT_VAULT           the vault when --vault is not given
  BLOCKVAULT_PASSWORD, BLOCKVAULT_PASSWORD_FILE, BLOCKVAULT_KEY_FILE
                             an encrypted vault's passphrase, a file holding it, or a key file (when no key flag is given)
  BLOCKVAULT_CACHE_DIR       this host's copy of each vault's chunk index (default ~/.cache/blockvault; "off": temporary)
  BLOCKVAULT_WORKERS         hashing/compression threads (default one per core; 0: main thread)
  BLOCKVAULT_PROGRESS_BYTES  byte step of progress events (default 64 MiB; also every 500 ms)
  BLOCKVAULT_DEBUG           print stack traces with errors
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3
                             S3 credentials, region and endpoint (the standard AWS chain)

Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 damaged data, 75 volume busy, 130 cancelled.`;

export function buildProgram(): Command {
  const program = new Command('blockvault')
    .description('block-level backup of disk images and block devices to a local or S3 vault')
    .version(version(), '-V, --version', 'print the version')
    .helpCommand('help [command]', 'show help for a command')
    .configureOutput({ outputError: () => {} }) // errors are reported once, by main.ts
    .showSuggestionAfterError(true)
    .enablePositionalOptions() // `locks break X --vault V`: the subcommand's options are its own
    .addHelpText('after', `\n${ENVIRONMENT_HELP}\n\nRun \`blockvault COMMAND --help\` for a command's options and examples.`);
  carryCommand(program);
  for (const register of COMMANDS) register(program);
  return program;
}
