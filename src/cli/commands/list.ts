import type { Command } from 'commander';
import { formatBytes } from '../../metrics/units.js';
import { shortIds } from '../backup-ids.js';
import { newCommand } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { formatTable, shortTime } from '../table.js';

interface ListOpts extends CommonOpts {
  volume?: string;
  long?: boolean;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'list',
    'list the backups, oldest first, with short ids',
    ['blockvault list --vault ./vault', 'blockvault list --volume vol-1 --long', 'blockvault list --json'],
  )
    .option('--volume <id>', "only this volume's backups")
    .option('-l, --long', 'full ids and timestamps');
  addVaultOptions(cmd).action(async (opts: ListOpts) => {
    const { listBackups } = await import('../../engine/catalog.js');
    await withVault(opts, async (vault) => {
      const list = await listBackups(vault, { volumeId: opts.volume });
      if (opts.json) return emit(opts, { backups: list }, () => '');
      if (!list.length) return emit(opts, {}, () => '(no backups)');
      const short = opts.long ? undefined : shortIds(list.map((b) => b.backupId));
      const id = (x: string | null) => (x === null ? '-' : (short?.get(x) ?? (opts.long ? x : x.slice(0, 8))));
      const rows = list.map((b) => [
        id(b.backupId),
        b.volumeId,
        b.type ?? b.status,
        id(b.parentId),
        opts.long ? b.createdAt : shortTime(b.createdAt),
        formatBytes(b.volumeSize),
        formatBytes(b.storedBytes),
      ]);
      const table = formatTable(
        [{ header: 'ID' }, { header: 'VOLUME' }, { header: 'TYPE' }, { header: 'PARENT' }, { header: 'CREATED (UTC)' }, { header: 'SIZE', align: 'right' }, { header: 'STORED', align: 'right' }],
        rows,
      );
      emit(opts, {}, () => `${table}\n${list.length} backup${list.length === 1 ? '' : 's'}`);
    });
  });
}
