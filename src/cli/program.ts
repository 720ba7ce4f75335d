// The command tree: the root program (version, global help text) and the commands of
// commands/index.ts. Building it loads commander and the command modules it registers only:
// the one the arguments name, or all of them when they name none (root help, `help X`, a typo
// that wants a suggestion) or when the command shows the whole tree (completion).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { carryCommand } from './command.js';
import { COMMANDS, type CommandEntry } from './commands/index.js';

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

/** Commands whose action needs every other command registered. */
const NEEDS_ALL = new Set(['completion']);

/** The first word not starting with `-`: the command the arguments name, if any. */
export function commandWord(argv: readonly string[]): string | undefined {
  return argv.find((a) => !a.startsWith('-'));
}

/** The commands a run with these arguments needs: the one its first word names; none for the
 *  root's --version; else all. The root program takes no option with a value, so the first
 *  word not starting with `-` is the command's name (commandWord). */
export function commandsFor(argv: readonly string[]): readonly CommandEntry[] {
  const word = commandWord(argv);
  if (word === undefined) {
    const version = argv.includes('-V') || argv.includes('--version');
    return version && !argv.includes('-h') && !argv.includes('--help') ? [] : COMMANDS;
  }
  const named = COMMANDS.find((c) => c.name === word);
  return named && !NEEDS_ALL.has(named.name) ? [named] : COMMANDS;
}

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('blockvault')
    .description('block-level backup of disk images and block devices to a local or S3 vault')
    .version(version(), '-V, --version', 'print the version')
    .helpCommand('help [command]', 'show help for a command')
    .configureOutput({ outputError: () => {} }) // errors are reported once, by main.ts
    .showSuggestionAfterError(true)
    .enablePositionalOptions() // `locks break X --vault V`: the subcommand's options are its own
    .addHelpText('after', `\n${ENVIRONMENT_HELP}\n\nRun \`blockvault COMMAND --help\` for a command's options and examples.`);
  carryCommand(program);
  const modules = await Promise.all(commandsFor(argv).map((c) => c.load()));
  for (const m of modules) m.register(program);
  return program;
}
