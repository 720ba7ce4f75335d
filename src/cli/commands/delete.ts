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
    ['blockvault delete 4662abbd --vault ./vault', 'blockvault delete 4662abbd-0c1e-4f6e-9d4e-2f1f0b6f1c2a --if-exists --vault ./vault'],
    'The space its chunks held is reclaimed by `blockvault gc`.\nWith --if-exists, a backup that is already gone (give its whole id) is a success, not VolumeBackup.0111.',
  ).option('--if-exists', 'succeed when the backup is already gone (a retried delete)');
  addVaultOptions(cmd).action(async (given: string, opts: CommonOpts & { ifExists?: boolean }) => {
    const { deleteBackup } = await import('../../engine/delete.js');
    const { ErrorCodes, BlockvaultError } = await import('../../errors.js');
    const { signal } = cancellationSignal();
    await withVault(opts, async (vault) => {
      let id = given;
      try {
        id = await resolveBackupId(vault, given);
      } catch (e) {
        // A retried delete names the whole id of a backup that may be gone already.
        if (!(opts.ifExists && e instanceof BlockvaultError && e.code === ErrorCodes.backupNotFound)) throw e;
      }
      const r = await deleteBackup(vault, id, { signal, ifExists: opts.ifExists });
      if (r.alreadyGone) return emit(opts, r, () => `backup ${r.backupId} is already gone; nothing to delete`);
      emit(opts, r, () =>
        `deleted backup ${r.backupId} of volume ${r.volumeId}` +
        (r.mergedInto.length ? `; its blocks were merged into ${r.mergedInto.join(', ')}` : '') +
        (r.promotedToFull.length ? ` (now a full backup)` : '') +
        '\n  space is reclaimed by `blockvault gc`',
      );
    });
  });
}
