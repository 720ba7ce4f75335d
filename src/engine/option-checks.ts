// Options a library caller gives, checked at each operation's entry, before any work: a
// wrong type or range is BV.BadInput (exit 2) naming the field, not a failure halfway
// through. Unknown fields are let through (a newer caller may pass more).
import * as v from 'valibot';
import { openSource } from '../source/block-device-source.js';
import { validateBackupId, validateSnapshotId } from '../vault/ids.js';
import { checkOptions } from '../vault/schema.js';
import { validateVolumeId } from '../vault/vault.js';

const Flag = v.optional(v.boolean());
const Signal = v.optional(v.instance(AbortSignal));
const Concurrency = v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)));
const Count = v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)));
const NonEmpty = v.pipe(v.string(), v.minLength(1));
const ExtentList = v.optional(v.union([NonEmpty, v.array(v.unknown())]));

const Progress = {
  onProgress: v.optional(v.function()),
  intervalMs: v.optional(v.pipe(v.number(), v.minValue(1))),
  everyBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
};

const BackupOptionsSchema = v.looseObject({
  ...Progress,
  source: NonEmpty,
  volumeId: v.string(),
  backupId: v.optional(v.string()),
  full: Flag,
  snapshotId: v.optional(v.string()),
  bootable: Flag,
  concurrency: Concurrency,
  workers: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(256))),
  signal: Signal,
  openedSource: v.optional(v.object({ size: v.number(), read: v.function(), close: v.function() })),
  changedExtents: ExtentList,
  allocatedExtents: ExtentList,
  verifyUnchanged: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(100))),
  limitReadBytesPerSec: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0))),
});

const RestoreOptionsSchema = v.looseObject({
  ...Progress,
  backupId: v.string(),
  target: NonEmpty,
  force: Flag,
  targetIsZeroed: Flag,
  concurrency: Concurrency,
  signal: Signal,
});

const DeleteOptionsSchema = v.looseObject({ signal: Signal, ifExists: Flag });

const RetentionPolicySchema = v.looseObject({
  keepLast: Count,
  keepDaily: Count,
  keepWeekly: Count,
  keepMonthly: Count,
  keepYearly: Count,
  keepWithin: v.optional(NonEmpty),
  maxBackups: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  retentionDays: v.optional(v.pipe(v.number(), v.minValue(0))),
  timezone: v.optional(NonEmpty),
});

const PruneOptionsSchema = v.looseObject({
  volumeId: v.string(),
  policy: RetentionPolicySchema,
  now: v.optional(v.pipe(v.date(), v.check((d) => !Number.isNaN(d.getTime()), 'is not a valid date'))),
  dryRun: Flag,
  signal: Signal,
});

/** Backup options and the ids in them (the volume id is checked by validateVolumeId). */
export function checkBackupOptions(opts: unknown): void {
  const o = checkOptions(BackupOptionsSchema, opts, 'backup options');
  if (o.backupId !== undefined) validateBackupId(o.backupId);
  if (o.snapshotId !== undefined) validateSnapshotId(o.snapshotId);
}

export function checkRestoreOptions(opts: unknown): void {
  const o = checkOptions(RestoreOptionsSchema, opts, 'restore options');
  validateBackupId(o.backupId);
}

export function checkDeleteOptions(backupId: unknown, opts: unknown): void {
  validateBackupId(backupId);
  checkOptions(DeleteOptionsSchema, opts, 'delete options');
}

export function checkPruneOptions(opts: unknown): void {
  checkOptions(PruneOptionsSchema, opts, 'prune options');
}

export function checkRetentionPolicy(policy: unknown): void {
  checkOptions(RetentionPolicySchema, policy, 'retention policy');
}

/**
 * Everything backup() checks before it does any work, for a caller that wants to know
 * before it creates a vault (the CLI: a backup of a missing file or a FIFO creates nothing):
 * the options, the ids, and that the input opens as a regular file or block device.
 */
export async function preflightBackup(opts: { source: string; volumeId: string; backupId?: string; snapshotId?: string; openedSource?: object }): Promise<void> {
  checkBackupOptions(opts);
  validateVolumeId(opts.volumeId);
  if (!opts.openedSource) await (await openSource(opts.source)).close();
}
