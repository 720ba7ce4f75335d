import type { Command } from 'commander';
import { resolveBackupId } from '../backup-ids.js';
import { newCommand } from '../command.js';
import { cancellationSignal, emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'delete <backup-id>',
    'delete a backup (one mid-chain is merged into its child)',
    ['blockvault delete 4662abbd --vault ./vault'],
    'The space its chunks held is reclaimed by `blockvault gc`.',
  );
  addVaultOptions(cmd).action(async (given: string, opts: CommonOpts) => {
    const { deleteBackup } = await import('../../engine/delete.js');
    const { signal } = cancellationSignal();
    await withVault(opts, async (vault) => {
      const r = await deleteBackup(vault, await resolveBackupId(vault, given), { signal });
      emit(opts, r, () =>
        `deleted backup ${r.backupId} of volume ${r.volumeId}` +
        (r.mergedInto.length ? `; its blocks were merged into ${r.mergedInto.join(', ')}` : '') +
        (r.promotedToFull.length ? ` (now a full backup)` : '') +
        '\n  space is reclaimed by `blockvault gc`',
      );
    });
  });
}
