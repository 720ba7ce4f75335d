// Prune: apply a retention policy to one volume's backups and delete the ones it does not
// keep, oldest first, each through the delete/merge path (so every kept backup stays
// restorable after each single deletion). Holds the volume's lease for the whole run: a
// volume busy with a backup fails at once with VolumeBackup.0013.
import { BlockvaultError, ErrorCodes, throwIfAborted } from '../errors.js';
import { PhaseProgress } from '../metrics/phase-progress.js';
import type { ProgressOptions } from '../metrics/progress.js';
import { validateVolumeId, type Vault } from '../vault/vault.js';
import { withOperationSignal } from '../vault/operation.js';
import { deleteUnderLease, type DeleteResult } from './delete.js';
import { checkPruneOptions } from './option-checks.js';
import { applyRetention, hasRetentionRule, validateRetentionPolicy, type RetentionDecision, type RetentionPolicy } from './retention-policy.js';

export interface PruneOptions extends ProgressOptions<'prune'> {
  volumeId: string;
  policy: RetentionPolicy;
  /** Defaults to the current time. */
  now?: Date;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface PruneResult {
  volumeId: string;
  dryRun: boolean;
  /** Newest first, with the rules that keep each. */
  kept: RetentionDecision[];
  /** Oldest first: deleted (or, with dryRun, would be). */
  removed: RetentionDecision[];
  deleted: DeleteResult[];
}

export function prune(vault: Vault, opts: PruneOptions): Promise<PruneResult> {
  return withOperationSignal(opts?.signal, () => pruneInScope(vault, opts));
}

async function pruneInScope(vault: Vault, opts: PruneOptions): Promise<PruneResult> {
  checkPruneOptions(opts);
  validateVolumeId(opts.volumeId);
  throwIfAborted(opts.signal);
  validateRetentionPolicy(opts.policy); // the service's combinations and ranges, before the lease
  if (!hasRetentionRule(opts.policy)) {
    throw new BlockvaultError(ErrorCodes.badInput, 'prune needs at least one retention rule', {
      hint: 'give e.g. --keep-last 7, --keep-daily 7, --keep-within 30d, --max-backups 10, --retention-days 30 or --day-backups 7 --timezone UTC+08:00',
    });
  }
  const now = opts.now ?? new Date();
  const run = async (): Promise<PruneResult> => {
    vault.refresh();
    const backups = await vault.listBackups({ volumeId: opts.volumeId });
    const plan = applyRetention(
      backups.map((b) => ({ id: b.backupId, createdAt: b.createdAt, ...(b.automatic !== undefined ? { automatic: b.automatic } : {}) })),
      opts.policy,
      now,
    );
    const result: PruneResult = { volumeId: opts.volumeId, dryRun: !!opts.dryRun, kept: plan.keep, removed: plan.remove, deleted: [] };
    if (opts.dryRun) return result;
    const progress = new PhaseProgress('prune', opts, { volumeId: opts.volumeId }, () => ({ deleted: result.deleted.length }));
    progress.start('deleteBackups', plan.remove.length);
    for (const d of plan.remove) {
      throwIfAborted(opts.signal);
      result.deleted.push(await deleteUnderLease(vault, d.id, { signal: opts.signal }));
      progress.advance();
    }
    progress.end();
    return result;
  };
  if (opts.dryRun) return run(); // reads only: no lease, so a dry run works beside a backup
  const lease = await vault.lease(opts.volumeId, 'prune');
  try {
    return await run();
  } finally {
    await lease.release().catch(() => {});
  }
}
