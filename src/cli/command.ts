// How a command is declared: one module per command under commands/, each exporting a
// `register(program)` that adds itself with newCommand(). Usage mistakes (unknown or
// inapplicable flags, missing or extra arguments, bad values) end as a UsageError that
// carries the command's own usage line: exit 2.
import { CommanderError, type Command } from 'commander';
import { UsageError } from './usage-error.js';

/** A CommanderError with the command it happened in (for its usage line). */
export interface CommandError extends CommanderError {
  command?: Command;
}

/** The full name as typed, e.g. "blockvault locks break". */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function usageLine(cmd: Command): string {
  return `${commandPath(cmd)} ${cmd.usage()}`;
}

/** Turns commander's own parse errors into UsageErrors; help and --version pass through. */
export function toUsageError(err: CommandError): UsageError | CommanderError {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return err;
  const cmd = err.command;
  const message = err.message.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)');
  return new UsageError(message, {
    usage: cmd ? usageLine(cmd) : undefined,
    hint: cmd ? `see \`${commandPath(cmd)} --help\`` : 'see `blockvault --help`',
  });
}

/** Makes errors of `cmd` carry it, so the report can print its usage. */
export function carryCommand(cmd: Command): Command {
  return cmd.exitOverride((err: CommandError) => {
    err.command ??= cmd;
    throw err;
  });
}

/**
 * Adds a subcommand: `nameAndArgs` as commander takes it ("restore <backup-id> <target>"),
 * a one-line summary, and examples shown at the end of its --help.
 */
export function newCommand(parent: Command, nameAndArgs: string, summary: string, examples: string[] = [], more = ''): Command {
  const cmd = carryCommand(parent.command(nameAndArgs).description(summary));
  const after = [more.trim(), examples.length ? `Examples:\n${examples.map((e) => `  $ ${e}`).join('\n')}` : '']
    .filter(Boolean)
    .join('\n\n');
  if (after) cmd.addHelpText('after', `\n${after}`);
  return cmd;
}

/** A UsageError for `cmd` (a rule commander cannot express, e.g. "--sample needs --deep"). */
export function usageError(cmd: Command, message: string, hint?: string): UsageError {
  return new UsageError(message, { usage: usageLine(cmd), hint: hint ?? `see \`${commandPath(cmd)} --help\`` });
}
