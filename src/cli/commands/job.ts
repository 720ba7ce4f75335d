import type { Command } from 'commander';
import type { JobRecord } from '../../jobs/schemas.js';
import { newCommand } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { shortTime } from '../table.js';

function human(j: JobRecord): string {
  const rows: Array<[string, string]> = [
    ['job', j.job_id],
    ['type', j.job_type],
    ['status', `${j.status} (${j.operation_status})`],
    ['progress', `${j.progress}%${j.eta_seconds !== null && j.status === 'RUNNING' ? `, about ${j.eta_seconds} s left` : ''}`],
    ['phase', j.phase],
    ...Object.entries(j.entities).map(([k, v]) => [k.replace(/_id$/, ''), v] as [string, string]),
    ['began', `${shortTime(j.begin_time)} UTC`],
    ['ended', j.end_time ? `${shortTime(j.end_time)} UTC` : '-'],
    ['host', `${j.host} (pid ${j.pid}), last heartbeat ${shortTime(j.heartbeat_at)} UTC`],
  ];
  if (j.status === 'FAIL') {
    rows.push(['error', `${j.error_code ?? '-'} (VBS) / ${j.cbr_error_code ?? '-'} (CBR) / ${j.engine_code ?? '-'}`]);
    rows.push(['reason', j.fail_reason ?? '-']);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export function register(program: Command): void {
  const job = newCommand(program, 'job', 'show or cancel one job (see `blockvault jobs`)', [
    'blockvault job show 4010b39b --vault ./vault --json',
    'blockvault job cancel 4010b39b --vault ./vault',
  ]);

  const show = newCommand(job, 'show <job-id>', "show a job's record: status, progress, entities, error", [
    'blockvault job show 4010b39b5281d3590152874bfa3b1604 --vault ./vault',
    'blockvault job show 4010b39b5281d3590152874bfa3b1604 --json',
  ]);
  addVaultOptions(show).action(async (jobId: string, opts: CommonOpts) => {
    const { getJob } = await import('../../jobs/registry.js');
    await withVault(opts, async (vault) => {
      const rec = await getJob(vault, jobId);
      emit(opts, rec, () => human(rec));
    });
  });

  const cancel = newCommand(
    job,
    'cancel <job-id>',
    'ask a running job to stop, on whatever host it runs (it ends FAIL, cancelled)',
    ['blockvault job cancel 4010b39b5281d3590152874bfa3b1604 --vault ./vault'],
    'The job notices the request at its next heartbeat (within seconds). A finished job exits 2.',
  ).option('--reason <text>', 'why, recorded in its fail_reason', 'cancelled from the command line');
  addVaultOptions(cancel).action(async (jobId: string, opts: CommonOpts & { reason: string }) => {
    const { cancelJob } = await import('../../jobs/registry.js');
    const { BlockvaultError, ErrorCodes } = await import('../../errors.js');
    await withVault(opts, async (vault) => {
      const rec = await cancelJob(vault, jobId, { reason: opts.reason });
      if (rec.status === 'SUCCESS' || rec.status === 'FAIL') {
        throw new BlockvaultError(ErrorCodes.badInput, `job ${jobId} already ended ${rec.status}; there is nothing to cancel`, {
          hint: `see \`blockvault job show ${jobId}\``,
          details: { jobId, status: rec.status },
        });
      }
      emit(opts, { job_id: jobId, status: rec.status, cancel_requested: true }, () => `asked job ${jobId} (${rec.job_type}, ${rec.status}) to stop; it ends at its next heartbeat`);
    });
  });
}
