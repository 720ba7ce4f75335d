import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { BackupStatus } from '../../jobs/schemas.js';
import { formatBytes } from '../../metrics/units.js';
import { shortIds } from '../backup-ids.js';
import { newCommand } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { formatTable, shortTime } from '../table.js';

// The service's backup states (src/jobs/schemas.ts BACKUP_STATES), spelled here so that
// --help and the parser load nothing from the job model.
const STATES: readonly BackupStatus[] = ['creating', 'available', 'error', 'restoring', 'deleting'];

function parseStatus(text: string): BackupStatus {
  if (!(STATES as readonly string[]).includes(text)) throw new InvalidArgumentError(`takes one of ${STATES.join(', ')}`);
  return text as BackupStatus;
}

interface ListOpts extends CommonOpts {
  volume?: string;
  long?: boolean;
  status?: BackupStatus;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'list',
    'list the backups, oldest first, with short ids',
    ['blockvault list --vault ./vault', 'blockvault list --volume vol-1 --long', 'blockvault list --status error', 'blockvault list --json'],
    'STATUS is the service\'s: creating (running), available, error (failed, with its reason), restoring, deleting.',
  )
    .option('--volume <id>', "only this volume's backups")
    .option('--status <status>', `only backups in this state: ${STATES.join('|')}`, parseStatus)
    .option('-l, --long', 'full ids and timestamps');
  addVaultOptions(cmd).action(async (opts: ListOpts) => {
    const { listBackups } = await import('../../jobs/catalog.js');
    await withVault(opts, async (vault) => {
      const list = await listBackups(vault, { volumeId: opts.volume, status: opts.status });
      if (opts.json) return emit(opts, { backups: list }, () => '');
      if (!list.length) return emit(opts, {}, () => (opts.status ? `(no ${opts.status} backups)` : '(no backups)'));
      const short = opts.long ? undefined : shortIds(list.map((b) => b.backupId));
      const id = (x: string | null) => (x === null ? '-' : (short?.get(x) ?? (opts.long ? x : x.slice(0, 8))));
      const pending = (b: (typeof list)[number]) => b.status === 'creating' || b.status === 'error';
      const rows = list.map((b) => [
        id(b.backupId),
        b.volumeId,
        b.status,
        b.type ?? '-',
        id(b.parentId),
        opts.long ? b.createdAt : shortTime(b.createdAt),
        pending(b) ? '-' : formatBytes(b.volumeSize),
        pending(b) ? '-' : formatBytes(b.storedBytes),
      ]);
      const table = formatTable(
        [
          { header: 'ID' },
          { header: 'VOLUME' },
          { header: 'STATUS' },
          { header: 'TYPE' },
          { header: 'PARENT' },
          { header: 'CREATED (UTC)' },
          { header: 'SIZE', align: 'right' },
          { header: 'STORED', align: 'right' },
        ],
        rows,
      );
      const failed = list.filter((b) => b.status === 'error' && b.fail_reason);
      const reasons = failed.map((b) => `${id(b.backupId)}: ${b.fail_reason}`);
      emit(opts, {}, () => [table, `${list.length} backup${list.length === 1 ? '' : 's'}`, ...(reasons.length ? ['failed:', ...reasons.map((r) => `  ${r}`)] : [])].join('\n'));
    });
  });
}
