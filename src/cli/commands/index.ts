// Every command, in the order --help lists them. A new command is one module here (exporting
// register(program)) and one line in this list; its heavy imports belong inside its action.
// The modules load on demand: a run registers only the command it names (program.ts), so
// start-up does not compile the other commands' modules.
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export interface CommandEntry {
  /** The command's name as typed: its module's file name. */
  name: string;
  load(): Promise<CommandModule>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'init', load: () => import('./init.js') },
  { name: 'backup', load: () => import('./backup.js') },
  { name: 'restore', load: () => import('./restore.js') },
  { name: 'list', load: () => import('./list.js') },
  { name: 'show', load: () => import('./show.js') },
  { name: 'delete', load: () => import('./delete.js') },
  { name: 'prune', load: () => import('./prune.js') },
  { name: 'gc', load: () => import('./gc.js') },
  { name: 'verify', load: () => import('./verify.js') },
  { name: 'stats', load: () => import('./stats.js') },
  { name: 'copy', load: () => import('./copy.js') },
  { name: 'export', load: () => import('./export.js') },
  { name: 'import', load: () => import('./import.js') },
  { name: 'key', load: () => import('./key.js') },
  { name: 'jobs', load: () => import('./jobs.js') },
  { name: 'job', load: () => import('./job.js') },
  { name: 'locks', load: () => import('./locks.js') },
  { name: 'repair-config', load: () => import('./repair-config.js') },
  { name: 'cache', load: () => import('./cache.js') },
  { name: 'serve', load: () => import('./serve.js') },
  { name: 'completion', load: () => import('./completion.js') },
  { name: 'bench', load: () => import('./bench.js') },
];
