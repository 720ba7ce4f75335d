import type { Command } from 'commander';
import type { RetentionDecision } from '../../engine/retention-policy.js';
import { shortIds } from '../backup-ids.js';
import { newCommand, usageError } from '../command.js';
import { cancellationSignal, emit, withVault } from '../context.js';
import { addVaultOptions, parseRetentionCount, type CommonOpts } from '../options.js';
import { shortTime } from '../table.js';
import type { RetentionPolicy } from '../../engine/retention-policy.js';

// The flags are the retention policy's own fields (commander names them alike).
interface PruneOpts extends CommonOpts, RetentionPolicy {
  volume?: string;
  dryRun?: boolean;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'prune',
    "apply a retention policy to a volume's backups",
    [
      'blockvault prune --vault ./vault --volume vol-1 --keep-last 7 --dry-run',
      'blockvault prune --volume vol-1 --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --timezone Asia/Shanghai',
      'blockvault prune --volume vol-1 --max-backups 10 --day-backups 7 --month-backups 12 --timezone UTC+08:00',
      'blockvault prune --volume vol-1 --retention-days 30 --remain-first-backup-of-cur-month --timezone Europe/Paris',
    ],
    `Daily/weekly/monthly/yearly keep the newest backup of each of the N most recent periods that have one.
The service rules (--max-backups, --retention-days, --day/week/month/year-backups,
--remain-first-backup-of-cur-month) follow its policy: --max-backups counts only --automatic
backups; --retention-days excludes --max-backups and --day/week/month/year-backups, which need
--timezone; 0 and -1 mean unset.`,
  )
    .option('--volume <id>', 'the volume to prune (required)')
    .option('--keep-last <n>', 'keep the N newest', parseRetentionCount)
    .option('--keep-daily <n>', 'keep one per day for N days', parseRetentionCount)
    .option('--keep-weekly <n>', 'keep one per ISO week for N weeks', parseRetentionCount)
    .option('--keep-monthly <n>', 'keep one per month for N months', parseRetentionCount)
    .option('--keep-yearly <n>', 'keep one per year for N years', parseRetentionCount)
    .option('--keep-within <duration>', 'keep everything newer than this (30d, 12h, 2w, 6m, 1y6m)')
    .option('--max-backups <n>', 'the service rule: keep at most N', parseRetentionCount)
    .option('--retention-days <n>', 'the service rule: keep what is younger than N days', parseRetentionCount)
    .option('--day-backups <n>', 'the service rule (day_backups): keep the newest of each of the last N days (0-100)', parseRetentionCount)
    .option('--week-backups <n>', 'the service rule (week_backups): one per week for N weeks (0-100)', parseRetentionCount)
    .option('--month-backups <n>', 'the service rule (month_backups): one per month for N months (0-100)', parseRetentionCount)
    .option('--year-backups <n>', 'the service rule (year_backups): one per year for N years (0-100)', parseRetentionCount)
    .option('--remain-first-backup-of-cur-month', 'the service rule (remain_first_backup_of_curMonth): keep the first backup of the current month')
    .option('--timezone <zone>', 'for day/week/month/year boundaries: an IANA name or UTC+08:00 (default UTC)')
    .option('--dry-run', 'say what would be removed and why, remove nothing');
  addVaultOptions(cmd).action(async (opts: PruneOpts) => {
    if (!opts.volume) throw usageError(cmd, 'missing --volume ID (prune works on one volume)');
    const { prune } = await import('../../engine/prune.js');
    const { signal } = cancellationSignal();
    await withVault(opts, async (vault) => {
      const r = await prune(vault, {
        volumeId: opts.volume!,
        policy: {
          keepLast: opts.keepLast,
          keepDaily: opts.keepDaily,
          keepWeekly: opts.keepWeekly,
          keepMonthly: opts.keepMonthly,
          keepYearly: opts.keepYearly,
          keepWithin: opts.keepWithin,
          maxBackups: opts.maxBackups,
          retentionDays: opts.retentionDays,
          dayBackups: opts.dayBackups,
          weekBackups: opts.weekBackups,
          monthBackups: opts.monthBackups,
          yearBackups: opts.yearBackups,
          remainFirstBackupOfCurMonth: opts.remainFirstBackupOfCurMonth,
          timezone: opts.timezone,
        },
        dryRun: opts.dryRun,
        signal,
      });
      const short = shortIds([...r.kept, ...r.removed].map((d) => d.id));
      const why = (d: RetentionDecision) => `  ${d.keep ? 'keep  ' : 'remove'} ${short.get(d.id)}  ${shortTime(d.createdAt)}  ${d.reasons.join('; ')}`;
      emit(opts, r, () =>
        [
          `${r.dryRun ? 'would prune' : 'pruned'} volume ${r.volumeId}: ${r.kept.length} kept, ${r.removed.length} ${r.dryRun ? 'to remove' : 'removed'}`,
          ...r.kept.map(why),
          ...r.removed.map(why),
        ].join('\n'),
      );
    });
  });
}
