import type { Command } from 'commander';
import { BlockvaultError, ErrorCodes } from '../../errors.js';
import { formatBytes } from '../../metrics/units.js';
import { resolveBackupId } from '../backup-ids.js';
import { newCommand } from '../command.js';
import { cancellationSignal, emit, withVault } from '../context.js';
import { addMetricsOption, addVaultOptions, parsePositiveInt, type CommonOpts } from '../options.js';
import { progressEmitter } from '../progress-events.js';
import { runMetrics } from '../run-metrics.js';

interface RestoreOpts extends CommonOpts {
  force?: boolean;
  targetIsZeroed?: boolean;
  concurrency?: number;
  allowReplica?: boolean;
  directIo?: boolean;
}

export function register(program: Command): void {
  const cmd = newCommand(
    program,
    'restore <backup-id> <target>',
    'restore a backup (id or unique prefix) to an image file or a block device',
    [
      'blockvault restore 4662abbd restored.img --vault ./vault',
      'blockvault restore 4662abbd /dev/vdc --vault s3://bucket/prefix --target-is-zeroed',
      'blockvault restore 4662abbd restored.img --vault s3://dr-bucket/vault --allow-replica',
    ],
    `A file target is written under a temporary name and renamed into place only when every
block is written and checked; a non-empty file is replaced only with --force.
A replica (made by \`blockvault copy\`) is not restored without --allow-replica, as the service
does not restore replicas (BackupService.2004); allow it for disaster recovery.`,
  )
    .option('--force', 'replace a target file that exists and is not empty')
    .option('--target-is-zeroed', 'the device already reads as zeros: leave zero blocks alone')
    .option('--concurrency <n>', 'blocks fetched and written at once (default 4; 8 on S3)', parsePositiveInt)
    .option('--allow-replica', 'restore a replica too (disaster recovery; the service refuses it)')
    .option('--no-direct-io', 'write a file target through the page cache (default: straight to disk where the file system allows)');
  addMetricsOption(cmd);
  addVaultOptions(cmd).action(async (given: string, target: string, opts: RestoreOpts & { metricsListen?: string }) => {
    const { restore } = await import('../../engine/restore.js');
    const cancel = cancellationSignal();
    const metrics = await runMetrics(opts, 'restore');
    await withVault(opts, async (vault) => {
      const backupId = await resolveBackupId(vault, given);
      const out = await progressEmitter(opts, 'restore', cancel);
      let r;
      try {
        r = await restore(vault, {
          backupId,
          target,
          force: opts.force,
          targetIsZeroed: opts.targetIsZeroed,
          allowReplica: opts.allowReplica,
          directIo: opts.directIo,
          concurrency: opts.concurrency,
          signal: cancel.signal,
          onProgress: metrics.wrap(out.onProgress),
          everyBytes: out.everyBytes,
        });
      } catch (e) {
        if (e instanceof BlockvaultError && e.code === ErrorCodes.aborted) {
          // The engine's generic hint speaks of a backup's chunks; a restore has its own story.
          throw new BlockvaultError(ErrorCodes.aborted, `restore of ${backupId} to ${target} cancelled`, {
            hint: 'a file target keeps what it held before (the partial copy is removed); a device target holds part of the backup; run the restore again',
            details: { ...e.details, backupId, target },
          });
        }
        throw e;
      } finally {
        out.stop();
      }
      const res = r;
      emit(opts, res, () =>
        `restored ${res.backupId} to ${res.target}: ${formatBytes(res.volumeSize)} in ${(res.elapsedMs / 1000).toFixed(2)} s ` +
        `(${formatBytes(Math.round((res.volumeSize * 1000) / Math.max(1, res.elapsedMs)))}/s), ${res.counters.chunksVerified} chunks verified`,
      );
    }, metrics.vaultOptions);
  });
}
