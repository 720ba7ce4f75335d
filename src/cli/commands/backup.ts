import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { ioError } from '../../errors.js';
import { formatBytes } from '../../metrics/units.js';
import { newCommand, usageError } from '../command.js';
import { cancellationSignal, emit, logger, withVault } from '../context.js';
import { addMetricsOption, addVaultOptions, intRangeParser, parsePositiveInt, parseSizeOption, parseTime, parseRate, percentParser, type CommonOpts } from '../options.js';
import { progressEmitter } from '../progress-events.js';
import { runMetrics } from '../run-metrics.js';

interface BackupOpts extends CommonOpts {
  volume?: string;
  full?: boolean;
  backupId?: string;
  snapshotId?: string;
  bootable?: boolean;
  blockSize?: number;
  concurrency?: number;
  changedExtents?: string;
  allocatedExtents?: string;
  verifyUnchanged?: number;
  limitRead?: number;
  automatic?: boolean;
  snapshotTime?: string;
  description?: string;
  fullBackupInterval?: number;
  metricsListen?: string;
}

/** What the command reads must exist before anything is created (a failed backup makes no vault). */
async function checkInput(path: string, what: string): Promise<void> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw ioError(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), what, path);
  } catch (e) {
    throw ioError(e, what, path);
  }
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'backup <image>',
    'back up a disk image or block device (a full, or an incremental of the newest)',
    [
      'blockvault backup disk.img --vault ./vault --volume vol-1',
      'blockvault backup /dev/vdb --vault s3://bucket/prefix --volume vol-1 --snapshot-id snap-42',
      'blockvault backup /dev/vdb --volume vol-1 --changed-extents diff.json --verify-unchanged 1',
      'blockvault backup disk.img --volume vol-1 --automatic --full-backup-interval 6 --snapshot-time 2026-12-01T02:00:00Z --description nightly',
      'blockvault backup disk.img --volume vol-1 --limit-upload 50MiB',
    ],
    `IMAGE is a regular file or a block device (devices need root and the native addon).
Extent lists: rbd diff --format json, qemu-img map --output=json, or "OFFSET LENGTH [zero]" lines.
The vault is created by the first backup if it does not exist.`,
  )
    .option('--volume <id>', 'the volume this backup belongs to (required)')
    .option('--full', 'make a full backup even when the volume has one')
    .option('--backup-id <id>', "the backup's id (default: a new UUID)")
    .option('--snapshot-id <id>', 'the platform snapshot this image is, recorded as snap_id')
    .option('--bootable', 'record the volume as bootable')
    .option('--block-size <size>', 'block size of a new vault: a power of two from 64KiB to 16MiB (default 4MiB)', parseSizeOption)
    .option('--concurrency <n>', 'blocks in flight (default 6; 8 on S3)', parsePositiveInt)
    .option('--changed-extents <file>', "what changed since the parent backup's snapshot: only blocks it touches are read")
    .option('--allocated-extents <file>', 'bytes outside these extents are zeros and never read')
    .option('--verify-unchanged <pct>', 'first re-read PCT % of the blocks a list skips; a mismatch drops the lists', percentParser(true))
    .option('--limit-read <rate>', 'average bytes per second read from the input, e.g. 200MiB, so the backup does not starve its disk (default: no limit)', parseRate)
    .option('--automatic', 'made by a policy (auto_trigger): prune --max-backups counts only these')
    .option('--snapshot-time <time>', "the data's point in time (ISO 8601), reported as data_timestamp (default: when the read starts)", parseTime)
    .option('--description <text>', 'recorded as DESC in the service description')
    .option('--full-backup-interval <n>', 'incrementals allowed after a full before the next is forced: 0 every backup full, -1 never forced (-1..100)', intRangeParser(-1, 100));
  addMetricsOption(cmd);
  addVaultOptions(cmd, true).action(async (image: string, opts: BackupOpts) => {
    if (!opts.volume) throw usageError(cmd, 'missing --volume ID (the volume this backup belongs to)');
    // The hashing workers boot on the idle core while this thread loads the engine and opens
    // the vault (chunk/worker-start.ts).
    (await import('../../chunk/worker-start.js')).prestartBlockWorkers();
    // The ids, the options and the input (a regular file or a block device, never a FIFO)
    // are checked before the vault is opened with create: a failed backup makes no vault.
    const asked = {
      source: image,
      volumeId: opts.volume,
      backupId: opts.backupId,
      snapshotId: opts.snapshotId,
      automatic: opts.automatic,
      snapshotTime: opts.snapshotTime,
      description: opts.description,
      fullBackupInterval: opts.fullBackupInterval,
    };
    const { preflightBackup } = await import('../../engine/option-checks.js');
    await preflightBackup(asked);
    if (opts.changedExtents) await checkInput(opts.changedExtents, 'changed-extent list');
    if (opts.allocatedExtents) await checkInput(opts.allocatedExtents, 'allocated-extent list');
    const { backup } = await import('../../engine/backup.js');
    const cancel = cancellationSignal();
    const metrics = await runMetrics(opts, 'backup');
    await withVault(
      opts,
      async (vault) => {
        const out = await progressEmitter(opts, 'backup', cancel);
        let r;
        try {
          r = await backup(vault, {
            ...asked,
            full: opts.full,
            bootable: opts.bootable,
            changedExtents: opts.changedExtents,
            allocatedExtents: opts.allocatedExtents,
            verifyUnchanged: opts.verifyUnchanged,
            limitReadBytesPerSec: opts.limitRead,
            concurrency: opts.concurrency,
            signal: cancel.signal,
            onProgress: metrics.wrap(out.onProgress),
            everyBytes: out.everyBytes,
          });
        } finally {
          out.stop();
        }
        for (const w of r.warnings ?? []) (await logger(opts)).warn(w);
        const res = r;
        emit(opts, res, () => {
          const c = res.counters;
          return [
            `backup ${res.backupId} (${res.type}${res.parentId ? ` of ${res.parentId}` : ''}) of volume ${res.volumeId}`,
            `  ${formatBytes(res.volumeSize)} scanned in ${(res.elapsedMs / 1000).toFixed(2)} s; ` +
              `${formatBytes(c.bytesRead)} read, ${formatBytes(c.bytesZero)} zero, ` +
              `${formatBytes(c.bytesUnchanged)} unchanged, ${formatBytes(c.bytesDeduplicated)} deduplicated` +
              (c.bytesSkippedByExtents ? `, ${formatBytes(c.bytesSkippedByExtents)} skipped by the extent list` : ''),
            `  stored ${formatBytes(res.newStoredBytes)} in ${res.newChunkCount} new chunk${res.newChunkCount === 1 ? '' : 's'}`,
            `  service fields: size=${res.size} GB object_count=${res.object_count} is_incremental=${res.is_incremental} (blockvault show ${res.backupId.slice(0, 8)} for all)`,
            ...(res.warnings ?? []).map((w) => `  warning: ${w}`),
          ].join('\n');
        });
      },
      { create: true, blockSize: opts.blockSize, ...metrics.vaultOptions },
    );
  });
}
