import type { Command } from 'commander';
import { formatBytes } from '../../metrics/units.js';
import { newCommand } from '../command.js';
import { cancellationSignal, emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'gc',
    'delete chunk objects no backup references',
    ['blockvault gc --vault ./vault --dry-run', 'blockvault gc --vault s3://bucket/prefix'],
  ).option('--dry-run', 'count what would be reclaimed, delete nothing');
  addVaultOptions(cmd).action(async (opts: CommonOpts & { dryRun?: boolean }) => {
    const { gc } = await import('../../engine/gc.js');
    const { signal } = cancellationSignal();
    await withVault(opts, async (vault) => {
      const r = await gc(vault, { dryRun: opts.dryRun, signal });
      const n = (k: number, one: string) => `${k} ${one}${k === 1 ? '' : 's'}`;
      emit(opts, r, () =>
        [
          `gc ${r.dryRun ? '(dry run) ' : ''}${r.runId}: ${n(r.manifests, 'manifest')}, ${n(r.chunksListed, 'chunk')}, ${r.unreferenced} unreferenced (${formatBytes(r.unreferencedBytes)})`,
          `  ${r.dryRun ? 'would reclaim' : 'reclaimed'} ${n(r.reclaimedObjects, 'object')}, ${formatBytes(r.reclaimedBytes)}`,
          r.condemned ? `  ${r.condemned} chunks deferred (condemned) while ${r.liveLeases.length} operation(s) run; a later gc deletes them` : '',
          r.recordsWaiting ? `  ${r.recordsWaiting} earlier condemned record(s) still wait for their operations` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });
  });
}
