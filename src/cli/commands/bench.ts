import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { BlockvaultError, ErrorCodes } from '../../errors.js';
import { newCommand } from '../command.js';

// The harness lives beside the library (bench/, compiled to dist/bench/); it is not part of
// the installed package. Its own parser reads the arguments; commander checks the names.
const BENCH = new URL('../../../bench/main.js', import.meta.url);

export function register(program: Command): void {
  newCommand(
    program,
    'bench',
    'measure against restic, borg and the machine\'s ceilings (from a clone)',
    ['blockvault bench --size 256MiB --runs 1 --peers none', 'blockvault bench --scenarios full,restore --vaults local --json'],
    `Each operation runs as its own process under GNU time; every figure is a median of --runs.
Results go to bench/out/results.json; --write-results also rewrites bench/RESULTS.md.`,
  )
    .option('--size <size>', 'image size (default 2GiB)')
    .option('--image <kind>', 'mixed, sparse or ext4 (default mixed)')
    .option('--runs <n>', 'runs per figure (default 3)')
    .option('--seed <n>', 'image seed (default 1)')
    .option('--fraction <f>', 'share changed between backups (default 0.01)')
    .option('--scenarios <list>', 'full,incremental,incremental-extents,restore,restore-mid,device')
    .option('--vaults <list>', 'local,s3 (default both)')
    .option('--peers <list>', 'restic,borg or none')
    .option('--json', 'results as JSON on stdout')
    .option('--out <file>', 'where the JSON results go (default bench/out/results.json)')
    .option('--write-results', 'also rewrite bench/RESULTS.md')
    .option('--dir <dir>', 'scratch directory for images and vaults')
    .action(async () => {
      if (!existsSync(fileURLToPath(BENCH))) {
        throw new BlockvaultError(ErrorCodes.unsupported, 'the bench harness is not installed with the package', {
          hint: 'run it from a clone of the repository: npm install && npx blockvault bench',
        });
      }
      const at = process.argv.indexOf('bench');
      const { runBench } = (await import(BENCH.href)) as { runBench(argv: string[]): Promise<number> };
      process.exitCode = await runBench(process.argv.slice(at + 1));
    });
}
