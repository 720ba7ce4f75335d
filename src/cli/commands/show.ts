import type { Command } from 'commander';
import type { BackupRecord, PendingBackup } from '../../jobs/catalog.js';
import { formatBytes } from '../../metrics/units.js';
import { resolveBackupId } from '../backup-ids.js';
import { newCommand } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { shortTime } from '../table.js';

/** The record once: the service's snake_case fields stay; their camelCase copies go. */
export function showRecord(rec: BackupRecord): Omit<BackupRecord, 'serviceMetadata' | 'snapshotId'> {
  const { serviceMetadata: _m, snapshotId: _s, ...rest } = rec;
  return rest;
}

/** A backup that is running (creating) or failed (error): no manifest yet, only its record. */
function pending(rec: PendingBackup): string {
  const rows: Array<[string, string]> = [
    ['backup', rec.backupId],
    ['volume', rec.volumeId],
    ['status', rec.status + (rec.progress !== null ? ` (${rec.progress} %)` : '')],
    ['job', rec.jobId],
    ['created', `${shortTime(rec.createdAt)} UTC`],
  ];
  if (rec.fail_reason) rows.push(['failed', `${rec.fail_reason} [${rec.error_code ?? '-'} / ${rec.cbr_error_code ?? '-'}]`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

function human(rec: BackupRecord): string {
  const md = JSON.parse(rec.service_metadata) as Record<string, unknown>;
  const rows: Array<[string, string]> = [
    ['backup', rec.backupId],
    ['volume', rec.volumeId],
    ['type', rec.type + (rec.requestedType === 'full' && rec.parentId === null ? ' (--full)' : '')],
    ['parent', rec.parentId ?? '-'],
    ['chain', rec.chain.join(' ← ') + ' (newest first)'],
    ['created', `${shortTime(rec.createdAt)} UTC, completed ${shortTime(rec.completedAt)} UTC (${(rec.elapsedMs / 1000).toFixed(2)} s)`],
    ['source', `${rec.source.path} (${rec.source.kind}${rec.source.identity ? `, ${rec.source.identity}` : ''})`],
    ['size', `${formatBytes(rec.volumeSize)} (${rec.size} GB as the service counts)`],
    ['block size', formatBytes(rec.blockSize)],
    ['stored', `${formatBytes(rec.storedBytes)} in ${rec.chunkCount} chunks; this run added ${formatBytes(rec.newStoredBytes)} in ${rec.newChunkCount}`],
    ['objects', String(rec.object_count)],
    ['snapshot', rec.snapshot_id ?? '-'],
    ['dependents', rec.has_dependent_backups ? 'yes (another backup builds on it)' : 'none'],
    ['service', Object.entries(md).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export function register(program: Command): void {
  const cmd = newCommand(program, 'show <backup-id>', 'show one backup: chain, sizes, source, service fields', [
    'blockvault show 4662abbd --vault ./vault',
    'blockvault show 4662abbd --json',
  ]);
  addVaultOptions(cmd).action(async (given: string, opts: CommonOpts) => {
    const { showBackup, isPendingBackup } = await import('../../jobs/catalog.js');
    await withVault(opts, async (vault) => {
      const rec = await showBackup(vault, await resolveBackupId(vault, given));
      if (isPendingBackup(rec)) return emit(opts, rec, () => pending(rec));
      emit(opts, showRecord(rec), () => human(rec));
    });
  });
}
