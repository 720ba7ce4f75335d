import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { JobRecord, JobStatus, JobType } from '../../jobs/schemas.js';
import { newCommand } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { formatTable, shortTime } from '../table.js';

// Spelled here (src/jobs/schemas.ts has them) so that --help loads nothing from the job model.
export const JOB_STATUS_NAMES: readonly JobStatus[] = ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'];
export const JOB_TYPE_NAMES: readonly JobType[] = ['backup', 'restore', 'delete', 'prune', 'gc', 'verify', 'copy', 'export'];

function picker<T extends string>(names: readonly T[], fold: (s: string) => string): (text: string) => T {
  return (text) => {
    const t = fold(text);
    if (!(names as readonly string[]).includes(t)) throw new InvalidArgumentError(`takes one of ${names.join(', ')}`);
    return t as T;
  };
}

/** One line of a job for tables: what, on what, how far, and why it failed. */
export function jobRow(j: JobRecord): string[] {
  const on = j.entities.backup_id ?? j.entities.volume_id ?? '-';
  return [
    j.job_id,
    j.job_type,
    j.status,
    j.status === 'RUNNING' ? `${j.progress}%` : j.status === 'SUCCESS' ? '100%' : '-',
    j.entities.volume_id ?? '-',
    on === j.entities.volume_id ? '-' : on,
    shortTime(j.begin_time),
    j.status === 'FAIL' ? `${j.error_code ?? '-'}: ${j.fail_reason ?? ''}` : j.phase,
  ];
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'jobs',
    'list the jobs on record in the vault (any host\'s), newest first',
    ['blockvault jobs --vault ./vault', 'blockvault jobs --status RUNNING', 'blockvault jobs --type backup --status FAIL --json'],
    'A job whose process died is reported FAIL with the reason. Finished jobs expire after 7 days.',
  )
    .option('--status <status>', `only jobs in this state: ${JOB_STATUS_NAMES.join('|')}`, picker(JOB_STATUS_NAMES, (s) => s.toUpperCase()))
    .option('--type <type>', `only jobs of this type: ${JOB_TYPE_NAMES.join('|')}`, picker(JOB_TYPE_NAMES, (s) => s.toLowerCase()))
    .option('--volume <id>', 'only jobs on this volume');
  addVaultOptions(cmd).action(async (opts: CommonOpts & { status?: JobStatus; type?: JobType; volume?: string }) => {
    const { listJobs } = await import('../../jobs/registry.js');
    await withVault(opts, async (vault) => {
      const jobs = await listJobs(vault, { status: opts.status, type: opts.type, volumeId: opts.volume });
      emit(opts, { jobs }, () => {
        if (!jobs.length) return '(no jobs)';
        const table = formatTable(
          [
            { header: 'JOB' },
            { header: 'TYPE' },
            { header: 'STATUS' },
            { header: 'PROGRESS', align: 'right' },
            { header: 'VOLUME' },
            { header: 'BACKUP' },
            { header: 'BEGAN (UTC)' },
            { header: 'PHASE / FAILURE' },
          ],
          jobs.map(jobRow),
        );
        return `${table}\n${jobs.length} job${jobs.length === 1 ? '' : 's'}`;
      });
    });
  });
}
