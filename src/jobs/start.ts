// One start function per long operation. Each writes the job's INIT record, starts the
// operation in the background and returns the Job at once; the operation's state goes on
// record in the vault (job record, and the backup's state record where it has one).
import { randomUUID } from 'node:crypto';
import { BlockvaultError, ErrorCodes, isBusy, serviceCodes } from '../errors.js';
import { backup, type BackupOptions, type BackupResult } from '../engine/backup.js';
import { deleteBackup, type DeleteResult } from '../engine/delete.js';
import { gc, GC_LEASE_SCOPE, type GcOptions, type GcResult } from '../engine/gc.js';
import { prune, type PruneOptions, type PruneResult } from '../engine/prune.js';
import { restore, type RestoreOptions, type RestoreResult } from '../engine/restore.js';
import { verify, type VerifyOptions, type VerifyResult } from '../engine/verify.js';
import type { ProgressEvent } from '../metrics/progress.js';
import { cleanupAfter } from '../vault/operation.js';
import { validateVolumeId, type Vault } from '../vault/vault.js';
import { backupStates, clearBackupState, putBackupState } from './backup-records.js';
import { launch, type Job, type JobContext, type JobOptions } from './job.js';
import { sweepJobs } from './registry.js';
import type { JobType } from './schemas.js';

// The caller's listener and the job's own both hear every event, typed by the operation.
const both = <E extends ProgressEvent>(a: ((e: E) => void) | undefined, ctx: JobContext) => (e: E) => {
  ctx.onProgress(e);
  a?.(e);
};

async function exists(vault: Vault, backupId: string): Promise<{ volumeId: string } | undefined> {
  vault.refresh();
  try {
    return await vault.header(backupId);
  } catch (e) {
    if (e instanceof BlockvaultError && e.code === ErrorCodes.backupNotFound) return undefined;
    throw e;
  }
}

export type StartBackupOptions = BackupOptions & JobOptions;

/** A backup as a job: the backup is `creating` while it runs, `error` with its reason if it fails. */
export function startBackup(vault: Vault, opts: StartBackupOptions): Promise<Job> {
  validateVolumeId(opts.volumeId);
  const backupId = opts.backupId ?? randomUUID();
  const entities: Record<string, string> = { backup_id: backupId, volume_id: opts.volumeId };
  if (opts.snapshotId) entities.snapshot_id = opts.snapshotId;
  return launch<BackupResult>(
    vault,
    {
      type: 'backup',
      entities,
      leaseScope: opts.volumeId,
      async run(ctx) {
        if (await exists(vault, backupId)) {
          throw new BlockvaultError(ErrorCodes.badInput, `backup ${backupId} already exists in ${vault.url}`, {
            hint: 'use a new backup id',
            details: { backupId },
          });
        }
        const state = { backup_id: backupId, volume_id: opts.volumeId, job_id: ctx.jobId, snapshot_id: opts.snapshotId ?? null };
        await putBackupState(vault, { ...state, status: 'creating' });
        try {
          const r = await backup(vault, { ...opts, backupId, signal: ctx.signal, onProgress: both(opts.onProgress, ctx) });
          await clearBackupState(vault, opts.volumeId, backupId, ctx.jobId);
          return r;
        } catch (e) {
          if (isBusy(e)) {
            await cleanupAfter(ctx.signal, () => clearBackupState(vault, opts.volumeId, backupId, ctx.jobId)); // never started: no backup to show
          } else {
            // The chunks it stored stay in the index: the next run reuses them.
            const { vbsCode, cbrCode } = serviceCodes(e, 'backup');
            const failed = { ...state, status: 'error' as const, fail_reason: e instanceof Error ? e.message : String(e), error_code: vbsCode, cbr_error_code: cbrCode };
            await cleanupAfter(ctx.signal, () => putBackupState(vault, failed));
          }
          throw e;
        }
      },
    },
    opts,
  );
}

export type StartRestoreOptions = RestoreOptions & JobOptions;

/** A restore as a job: the backup is `restoring` while it runs. */
export function startRestore(vault: Vault, opts: StartRestoreOptions): Promise<Job> {
  return launch<RestoreResult>(
    vault,
    {
      type: 'restore',
      entities: { backup_id: opts.backupId, target: opts.target },
      leaseScope: null,
      async run(ctx) {
        const found = await exists(vault, opts.backupId);
        const states = await backupStates(vault);
        const mine = states.find((s) => s.record.backup_id === opts.backupId);
        if (!found) {
          if (mine && (mine.status === 'creating' || mine.status === 'error')) {
            throw new BlockvaultError(ErrorCodes.backupNotAvailable, `backup ${opts.backupId} is ${mine.status}, not available: it cannot be restored`, {
              hint: mine.status === 'creating' ? 'wait for the backup job to finish' : `it failed: ${mine.fail_reason ?? 'no reason on record'}`,
              details: { backupId: opts.backupId, status: mine.status },
            });
          }
          await vault.header(opts.backupId); // throws VolumeBackup.0111
        }
        const volumeId = found!.volumeId;
        ctx.setEntities({ volume_id: volumeId });
        ctx.setLeaseScope(volumeId);
        const held = mine && mine.status !== 'available' ? mine : undefined;
        if (!held) await putBackupState(vault, { backup_id: opts.backupId, volume_id: volumeId, job_id: ctx.jobId, status: 'restoring' });
        try {
          return await restore(vault, { ...opts, signal: ctx.signal, onProgress: both(opts.onProgress, ctx) });
        } finally {
          if (!held) await cleanupAfter(ctx.signal, () => clearBackupState(vault, volumeId, opts.backupId, ctx.jobId));
        }
      },
    },
    opts,
  );
}

export interface StartDeleteOptions extends JobOptions {
  backupId: string;
  signal?: AbortSignal;
}

export type DeleteJobResult = DeleteResult & { removedFailedBackup?: boolean };

/** A delete as a job: the backup is `deleting` while it runs. A failed backup (`error`, no manifest) just loses its record. */
export function startDelete(vault: Vault, opts: StartDeleteOptions): Promise<Job> {
  return launch<DeleteJobResult>(
    vault,
    {
      type: 'delete',
      entities: { backup_id: opts.backupId },
      leaseScope: null,
      async run(ctx) {
        const found = await exists(vault, opts.backupId);
        const mine = (await backupStates(vault)).find((s) => s.record.backup_id === opts.backupId);
        if (!found) {
          if (mine?.status === 'error') {
            await clearBackupState(vault, mine.record.volume_id, opts.backupId);
            ctx.setEntities({ volume_id: mine.record.volume_id });
            return { backupId: opts.backupId, volumeId: mine.record.volume_id, mergedInto: [], promotedToFull: [], removedFailedBackup: true };
          }
          await vault.header(opts.backupId); // throws VolumeBackup.0111
        }
        const volumeId = found!.volumeId;
        ctx.setEntities({ volume_id: volumeId });
        ctx.setLeaseScope(volumeId);
        const held = mine && mine.status !== 'available' ? mine : undefined;
        if (!held) await putBackupState(vault, { backup_id: opts.backupId, volume_id: volumeId, job_id: ctx.jobId, status: 'deleting' });
        try {
          return await deleteBackup(vault, opts.backupId, { signal: ctx.signal, onProgress: both(undefined, ctx) });
        } finally {
          if (!held) await cleanupAfter(ctx.signal, () => clearBackupState(vault, volumeId, opts.backupId, ctx.jobId));
        }
      },
    },
    opts,
  );
}

export type StartPruneOptions = PruneOptions & JobOptions;

export function startPrune(vault: Vault, opts: StartPruneOptions): Promise<Job> {
  validateVolumeId(opts.volumeId);
  return launch<PruneResult>(
    vault,
    {
      type: 'prune',
      entities: { volume_id: opts.volumeId },
      leaseScope: opts.dryRun ? null : opts.volumeId,
      async run(ctx) {
        if (opts.dryRun) return prune(vault, { ...opts, signal: ctx.signal });
        // The backups the policy removes show `deleting` while the prune runs (a plan made
        // now; prune plans again under its lease, and every mark is cleared at the end).
        const plan = await prune(vault, { ...opts, dryRun: true });
        const marked: string[] = [];
        const held = new Set((await backupStates(vault, { volumeId: opts.volumeId })).filter((s) => s.status !== 'available').map((s) => s.record.backup_id));
        for (const d of plan.removed) {
          if (held.has(d.id)) continue;
          await putBackupState(vault, { backup_id: d.id, volume_id: opts.volumeId, job_id: ctx.jobId, status: 'deleting' });
          marked.push(d.id);
        }
        try {
          return await prune(vault, { ...opts, signal: ctx.signal, onProgress: both(opts.onProgress, ctx) });
        } finally {
          await cleanupAfter(ctx.signal, async () => {
            for (const id of marked) await clearBackupState(vault, opts.volumeId, id, ctx.jobId).catch(() => {});
          });
        }
      },
    },
    opts,
  );
}

export type StartGcOptions = GcOptions & JobOptions & { keepFinishedMs?: number };

/** GC as a job; it also sweeps expired finished job records. */
export function startGc(vault: Vault, opts: StartGcOptions = {}): Promise<Job> {
  return launch<GcResult & { jobRecordsExpired: number }>(
    vault,
    {
      type: 'gc',
      entities: {},
      leaseScope: opts.dryRun ? null : GC_LEASE_SCOPE,
      async run(ctx) {
        const r = await gc(vault, { ...opts, signal: ctx.signal, onProgress: both(opts.onProgress, ctx) });
        const jobRecordsExpired = opts.dryRun ? 0 : await sweepJobs(vault, { keepFinishedMs: opts.keepFinishedMs });
        return { ...r, jobRecordsExpired };
      },
    },
    opts,
  );
}

export type StartVerifyOptions = VerifyOptions & JobOptions;

/** Verify as a job. Damage found is a result (result.ok false), not a job failure. */
export function startVerify(vault: Vault, opts: StartVerifyOptions = {}): Promise<Job> {
  return launch<VerifyResult>(
    vault,
    {
      type: 'verify',
      entities: opts.volumeId ? { volume_id: opts.volumeId } : {},
      leaseScope: null,
      run: (ctx) => verify(vault, { ...opts, signal: ctx.signal, onProgress: both(opts.onProgress, ctx) }),
    },
    opts,
  );
}

export type StartJobOptions =
  | ({ type: 'backup' } & StartBackupOptions)
  | ({ type: 'restore' } & StartRestoreOptions)
  | ({ type: 'delete' } & StartDeleteOptions)
  | ({ type: 'prune' } & StartPruneOptions)
  | ({ type: 'gc' } & StartGcOptions)
  | ({ type: 'verify' } & StartVerifyOptions)
  | ({ type: Exclude<JobType, 'backup' | 'restore' | 'delete' | 'prune' | 'gc' | 'verify'> } & JobOptions & Record<string, unknown>);

/** Any job by its type (copy and export join when they exist). */
export function startJob(vault: Vault, opts: StartJobOptions): Promise<Job> {
  switch (opts.type) {
    case 'backup':
      return startBackup(vault, opts);
    case 'restore':
      return startRestore(vault, opts);
    case 'delete':
      return startDelete(vault, opts);
    case 'prune':
      return startPrune(vault, opts);
    case 'gc':
      return startGc(vault, opts);
    case 'verify':
      return startVerify(vault, opts);
    default:
      return Promise.reject(
        new BlockvaultError(ErrorCodes.submitFailed, `job type ${JSON.stringify(opts.type)} is not available in this version`, {
          hint: 'use backup, restore, delete, prune, gc or verify',
        }),
      );
  }
}
