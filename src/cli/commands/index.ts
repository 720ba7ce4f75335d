// Every command, in the order --help lists them. A new command is one module here (exporting
// register(program)) and one line in this list; its heavy imports belong inside its action.
import type { Command } from 'commander';
import { register as backup } from './backup.js';
import { register as bench } from './bench.js';
import { register as cache } from './cache.js';
import { register as completion } from './completion.js';
import { register as copy } from './copy.js';
import { register as deleteBackup } from './delete.js';
import { register as exportBackup } from './export.js';
import { register as gc } from './gc.js';
import { register as importArchive } from './import.js';
import { register as init } from './init.js';
import { register as job } from './job.js';
import { register as jobs } from './jobs.js';
import { register as key } from './key.js';
import { register as list } from './list.js';
import { register as locks } from './locks.js';
import { register as prune } from './prune.js';
import { register as repairConfig } from './repair-config.js';
import { register as restore } from './restore.js';
import { register as serve } from './serve.js';
import { register as show } from './show.js';
import { register as stats } from './stats.js';
import { register as verify } from './verify.js';

export const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  init,
  backup,
  restore,
  list,
  show,
  deleteBackup,
  prune,
  gc,
  verify,
  stats,
  copy,
  exportBackup,
  importArchive,
  key,
  jobs,
  job,
  locks,
  repairConfig,
  cache,
  serve,
  completion,
  bench,
];
