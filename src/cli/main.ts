#!/usr/bin/env -S node --max-semi-space-size=1 --interrupt-budget=250000
// The command line (on commander): a thin layer over the library. One module per command
// in commands/; this file only runs the program and reports errors with their exit code.
//
// The first line caps the main thread's young generation at 1 MiB per semi-space (V8 grows
// it to 16 MiB under load): 6–10 MiB less peak RSS for a backup, for no local throughput
// and ~3 % on S3, where the SDK allocates more (docs/architecture.md, "Memory"). The worker
// threads set their own (block-pool.ts). V8 reads the flag only at start-up, hence here.
// It also lets a function run ~4× longer before V8's optimizing compiler takes it: a command
// runs for seconds with its CPU in native code, and compiling lukewarm functions only took
// cores from the workers (an incremental: 7–9 % less time, 10–13 % less CPU, 7 MiB less; the
// index merge of a host new to a 10 M-chunk vault, all JavaScript, the same time; without
// the optimizing compiler at all it took 4.5× as long).
import { CommanderError } from 'commander';
import { toBlockvaultError } from '../errors.js';
import { toUsageError, type CommandError } from './command.js';
import { machineOutput } from './context.js';
import { buildProgram } from './program.js';
import { UsageError, exitCodeOf } from './usage-error.js';

const argv = process.argv.slice(2);
const json = argv.includes('--json');

function report(e: unknown): number {
  const code = exitCodeOf(e);
  // An error that is not blockvault's own is a bug: BV.Internal, exit 1, its stack under BLOCKVAULT_DEBUG.
  const err = toBlockvaultError(e);
  if (json) machineOutput().write(JSON.stringify({ event: 'error', exitCode: code, ...err.toJSON() }) + '\n');
  process.stderr.write(`blockvault: error [${err.code}]: ${err.describe()}\n`);
  if (e instanceof UsageError && e.usage) process.stderr.write(`usage: ${e.usage}\n`);
  if (process.env.BLOCKVAULT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return code;
}

async function main(): Promise<number> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      const usage = toUsageError(e as CommandError);
      if (!(usage instanceof UsageError)) return usage.code === 'commander.help' ? 2 : 0; // help or version shown
      return report(usage);
    }
    return report(e);
  }
}

/** Exits once stdout and stderr have handed everything to the OS: a pipe's writes can still be
 *  queued (an archive on stdout, a long NDJSON result), and process.exit would cut them off. */
function flushThenExit(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main().then(flushThenExit);
