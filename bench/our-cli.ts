// How the bench starts our command line: as the installed `blockvault` starts, with the node
// flags the CLI's first line gives (#!/usr/bin/env -S node FLAGS), so its figures are the
// ones an operator gets, and a flag changed there is measured here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from './report.js';

export const CLI = path.join(projectRoot(), 'dist', 'src', 'cli', 'main.js');

/** The node flags of a script's `#!/usr/bin/env -S node …` line (none for a plain `node`). */
export function shebangNodeFlags(script: string): string[] {
  const first = fs.readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\s*\S*env\s+(?:-S\s+)?node((?:\s+-\S+)*)\s*$/.exec(first);
  if (!m) throw new Error(`${script}: first line ${JSON.stringify(first)} is not a node shebang`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}

/** node's argv for `blockvault ARGS`. */
export function cliArgv(args: string[]): string[] {
  return [...shebangNodeFlags(CLI), CLI, ...args];
}
