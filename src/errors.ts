// One error type for everything a user can cause or meet. Each carries what went wrong,
// where (object, offset), what to do, and — where the service defines one — its code.

/** Service error codes (control-plane-contract.md §5) and the engine's own. */
export const ErrorCodes = {
  /** VolumeBackup.0013: the volume's previous backup is not finished (one operation per volume). */
  volumeBusy: 'VolumeBackup.0013',
  /** VolumeBackup.0206: a restore was asked while the volume is being backed up. */
  restoreWhileBackup: 'VolumeBackup.0206',
  /** VolumeBackup.0027: backup creation failed in the backend. */
  backupFailed: 'VolumeBackup.0027',
  /** VolumeBackup.0200: restore failed. */
  restoreFailed: 'VolumeBackup.0200',
  /** VolumeBackup.0209: the restore target is smaller than the backup. */
  targetTooSmall: 'VolumeBackup.0209',
  /** VolumeBackup.0111: the backup (or its volume) does not exist. */
  backupNotFound: 'VolumeBackup.0111',
  /** VolumeBackup.0125: deleting the backup failed. */
  deleteFailed: 'VolumeBackup.0125',
  /** BackupService.2010: the resource is being restored. */
  beingRestored: 'BackupService.2010',
  // Busy codes chosen by what holds the volume (busyCodes below): delete/prune/backup
  // against a holder that is not a backup must not say "last backup not finished".
  /** VolumeBackup.0012: the volume is not available (being restored, deleted or pruned). */
  volumeNotAvailable: 'VolumeBackup.0012',
  /** VolumeBackup.0089: the backup is not available (being deleted, still creating, failed). */
  backupNotAvailable: 'VolumeBackup.0089',
  /** VolumeBackup.0205: the restore target is not available (in use, or not empty). */
  targetNotAvailable: 'VolumeBackup.0205',
  /** VolumeBackup.p.0014: the job could not be submitted (vault-wide work already running). */
  submitFailed: 'VolumeBackup.p.0014',
  /** common.0011: the job does not exist. */
  jobNotFound: 'common.0011',
  // The engine's own, for conditions the service has no code for.
  badInput: 'BV.BadInput',
  inputChanged: 'BV.InputChanged',
  vaultFormat: 'BV.VaultFormat',
  vaultDamaged: 'BV.VaultDamaged',
  corruptChunk: 'BV.CorruptChunk',
  missingChunk: 'BV.MissingChunk',
  targetExists: 'BV.TargetExists',
  noSpace: 'BV.NoSpace',
  aborted: 'BV.Aborted',
  store: 'BV.Store',
  notFound: 'BV.NotFound',
  unsupported: 'BV.Unsupported',
  /** A bug or an unforeseen failure inside blockvault (not the caller's input, not the data). */
  internal: 'BV.Internal',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface BlockvaultErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
  /** Extra facts (object key, block index, offset…) for --json output and logs. */
  details?: Record<string, unknown>;
}

/** Set BLOCKVAULT_DEBUG (to anything but "" or "0") to see internal errors' stacks. */
export function debugEnabled(): boolean {
  const v = process.env.BLOCKVAULT_DEBUG;
  return v !== undefined && v !== '' && v !== '0';
}

export class BlockvaultError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;
  /** BV.Internal: the stack of the error it wraps, shown only under BLOCKVAULT_DEBUG. */
  readonly internalStack: string | undefined;

  constructor(code: ErrorCode, message: string, opts: BlockvaultErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BlockvaultError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details ?? {};
    this.internalStack = code === ErrorCodes.internal ? stackOf(opts.cause) ?? this.stack : undefined;
  }

  /** The text an operator reads: what, then what to do (and, when debugging, the stack). */
  describe(): string {
    const text = this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
    return this.internalStack && debugEnabled() ? `${text}\n${this.internalStack}` : text;
  }

  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = { code: this.code, message: this.message, hint: this.hint, ...this.details };
    if (this.internalStack && debugEnabled()) json.stack = this.internalStack;
    return json;
  }
}

function stackOf(err: unknown): string | undefined {
  return err instanceof Error && typeof err.stack === 'string' ? err.stack : undefined;
}

/**
 * Any thrown value as a BlockvaultError: itself if it is one, an abort as BV.Aborted, and
 * anything else (a bug, an unforeseen library error) as BV.Internal carrying its stack.
 */
export function toBlockvaultError(err: unknown): BlockvaultError {
  if (err instanceof BlockvaultError) return err;
  if (isAbort(err)) return abortError((err as Error).message);
  const why = err instanceof Error ? err.message : String(err);
  return new BlockvaultError(ErrorCodes.internal, `internal error: ${why}`, {
    hint: 'this is a bug in blockvault: report it with the output of the same command run with BLOCKVAULT_DEBUG=1',
    cause: err,
  });
}

/** The process exit code for an error (COMMON: 2 bad input, 3 damaged data, 75 busy, 130
 *  cancelled, 1 anything else, BV.Internal included). */
export function exitCodeFor(err: unknown): number {
  const code = err instanceof BlockvaultError ? err.code : undefined;
  switch (code) {
    case ErrorCodes.badInput:
    case ErrorCodes.targetExists:
    case ErrorCodes.notFound:
    case ErrorCodes.backupNotFound:
    case ErrorCodes.targetTooSmall:
    case ErrorCodes.inputChanged:
      return 2;
    case ErrorCodes.corruptChunk:
    case ErrorCodes.missingChunk:
    case ErrorCodes.vaultDamaged:
      return 3;
    case ErrorCodes.volumeBusy:
    case ErrorCodes.restoreWhileBackup:
    case ErrorCodes.beingRestored:
      return 75;
    case ErrorCodes.aborted:
      return 130;
    default:
      return 1;
  }
}

/** Turns an OS error from the input or target side into a clear BlockvaultError. */
export function ioError(err: unknown, what: string, path: string): BlockvaultError {
  if (err instanceof BlockvaultError) return err;
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return new BlockvaultError(ErrorCodes.badInput, `${what} ${path} does not exist`, {
        hint: 'check the path',
        cause: err,
        details: { path },
      });
    case 'EACCES':
    case 'EPERM':
      return new BlockvaultError(ErrorCodes.badInput, `${what} ${path} is not accessible: permission denied`, {
        hint: 'run as a user that can read it (block devices usually need root)',
        cause: err,
        details: { path },
      });
    case 'EISDIR':
      return new BlockvaultError(ErrorCodes.badInput, `${what} ${path} is a directory, not an image file or device`, {
        cause: err,
        details: { path },
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new BlockvaultError(ErrorCodes.noSpace, `no space left writing ${what} ${path}`, {
        hint: 'free space on that filesystem and run again; nothing half-written was kept',
        cause: err,
        details: { path },
      });
    default:
      return new BlockvaultError(ErrorCodes.badInput, `${what} ${path}: ${e?.message ?? String(err)}`, {
        cause: err,
        details: { path },
      });
  }
}

/** A failure as the control plane reports it: the VBS code and the CBR code. */
export interface ServiceCodes {
  vbsCode: string;
  cbrCode: string;
}

/** The operations a failure can come from (a lease's op, a job's type). */
export type ServiceOp = 'backup' | 'restore' | 'delete' | 'prune' | 'gc' | 'verify' | 'copy' | 'export';

/**
 * The codes for "the volume is busy", by what was asked and what holds the lease
 * (control-plane-contract.md §4.1, §3.6). Only a backup holding the volume gives 0013.
 */
export function busyCodes(want: ServiceOp, held: ServiceOp): ServiceCodes {
  const deleting = held === 'delete' || held === 'prune';
  if (want === 'restore') {
    if (held === 'backup') return { vbsCode: 'VolumeBackup.0206', cbrCode: 'BackupService.2002' };
    if (held === 'restore') return { vbsCode: 'VolumeBackup.0205', cbrCode: 'BackupService.2010' };
    if (deleting) return { vbsCode: 'VolumeBackup.0089', cbrCode: 'BackupService.2005' };
  }
  if (held === 'backup') {
    // Another backup: "resources are being backed up"; anything else: "a backup task is in progress".
    return { vbsCode: 'VolumeBackup.0013', cbrCode: want === 'backup' ? 'BackupService.0002' : 'BackupService.6125' };
  }
  if (want === 'delete' || want === 'prune') {
    if (held === 'restore') return { vbsCode: 'VolumeBackup.0125', cbrCode: 'BackupService.6216' };
    if (deleting) return { vbsCode: 'VolumeBackup.0125', cbrCode: 'BackupService.6201' };
  }
  if (want === 'backup' && (held === 'restore' || deleting)) {
    return { vbsCode: 'VolumeBackup.0012', cbrCode: held === 'restore' ? 'BackupService.2010' : 'BackupService.6215' };
  }
  // Vault-wide work (gc, verify) already running: the job cannot be submitted now.
  return { vbsCode: 'VolumeBackup.p.0014', cbrCode: 'BackupService.9910' };
}

const FAILED_BY_OP: Partial<Record<ServiceOp, ServiceCodes>> = {
  backup: { vbsCode: 'VolumeBackup.0027', cbrCode: 'BackupService.9910' },
  restore: { vbsCode: 'VolumeBackup.0200', cbrCode: 'BackupService.9910' },
  delete: { vbsCode: 'VolumeBackup.0125', cbrCode: 'BackupService.9910' },
  prune: { vbsCode: 'VolumeBackup.0125', cbrCode: 'BackupService.9910' },
};

/**
 * The VBS and CBR codes for any failure (README "Service error codes"). `op` is the
 * operation that failed; it decides the code of failures the service names per operation
 * (a store error is "backup creation failed" in a backup and "restore failed" in a restore).
 */
export function serviceCodes(err: unknown, op?: ServiceOp): ServiceCodes {
  const failed = FAILED_BY_OP[op ?? 'backup'] ?? { vbsCode: 'VolumeBackup.p.0014', cbrCode: 'BackupService.9910' };
  if (!(err instanceof BlockvaultError)) return failed;
  const d = err.details;
  if (typeof d.vbsCode === 'string' && typeof d.cbrCode === 'string') return { vbsCode: d.vbsCode, cbrCode: d.cbrCode };
  const cause = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  switch (err.code) {
    case ErrorCodes.volumeBusy:
    case ErrorCodes.restoreWhileBackup:
    case ErrorCodes.beingRestored: {
      const held = (d.heldBy as { op?: ServiceOp } | undefined)?.op;
      if (held) return busyCodes(op ?? 'backup', held);
      return err.code === ErrorCodes.restoreWhileBackup
        ? { vbsCode: err.code, cbrCode: 'BackupService.2002' }
        : err.code === ErrorCodes.beingRestored
          ? { vbsCode: 'VolumeBackup.0205', cbrCode: err.code }
          : { vbsCode: err.code, cbrCode: 'BackupService.0002' };
    }
    case ErrorCodes.backupNotFound:
    case ErrorCodes.notFound:
      return { vbsCode: 'VolumeBackup.0111', cbrCode: 'BackupService.6200' };
    case ErrorCodes.targetTooSmall:
      return { vbsCode: err.code, cbrCode: 'BackupService.2001' };
    case ErrorCodes.targetExists:
    case ErrorCodes.targetNotAvailable:
      return { vbsCode: 'VolumeBackup.0205', cbrCode: 'BackupService.2011' };
    case ErrorCodes.backupNotAvailable:
      return { vbsCode: err.code, cbrCode: 'BackupService.2005' };
    case ErrorCodes.volumeNotAvailable:
      return { vbsCode: err.code, cbrCode: 'BackupService.6215' };
    case ErrorCodes.jobNotFound:
      return { vbsCode: err.code, cbrCode: 'BackupService.6501' };
    case ErrorCodes.submitFailed:
      return { vbsCode: err.code, cbrCode: 'BackupService.9900' };
    case ErrorCodes.unsupported:
      return { vbsCode: 'VolumeBackup.0051', cbrCode: 'BackupService.7004' };
    case ErrorCodes.noSpace:
      // The vault's filesystem full: the backup quota bytes / vault capacity. A full restore target is a failed restore.
      return op === 'restore' ? failed : { vbsCode: 'VolumeBackup.0081', cbrCode: 'BackupService.6114' };
    case ErrorCodes.vaultFormat:
      return op === 'restore'
        ? { vbsCode: 'VolumeBackup.0200', cbrCode: 'BackupService.6202' }
        : { vbsCode: failed.vbsCode, cbrCode: 'BackupService.6113' };
    case ErrorCodes.badInput:
      // validateVolumeId (vault.ts): an empty volume id, or one the engine cannot use.
      if (/^volume id "" /.test(err.message)) return { vbsCode: 'VolumeBackup.0010', cbrCode: 'BackupService.9900' };
      if (/^volume id /.test(err.message)) return { vbsCode: 'VolumeBackup.0011', cbrCode: 'BackupService.9900' };
      if (op === 'backup' && cause === 'ENOENT') return { vbsCode: 'VolumeBackup.0021', cbrCode: 'BackupService.7000' };
      if (op === 'restore' && /in use/.test(err.message)) return { vbsCode: 'VolumeBackup.0205', cbrCode: 'BackupService.2011' };
      return { vbsCode: 'VolumeBackup.0002', cbrCode: 'BackupService.9900' };
    default:
      // Store, damaged data, changed input, cancellation, internal: the operation failed.
      return failed;
  }
}

/** A busy volume or vault (exit 75): the lease marks its errors with details.busy. */
export function isBusy(err: unknown): boolean {
  return err instanceof BlockvaultError && err.details.busy === true;
}

export function isAbort(err: unknown): boolean {
  return (
    (err instanceof BlockvaultError && err.code === ErrorCodes.aborted) ||
    (err as Error)?.name === 'AbortError'
  );
}

export function abortError(reason?: unknown): BlockvaultError {
  const why = reason instanceof Error ? reason.message : reason ? String(reason) : 'cancelled';
  return new BlockvaultError(ErrorCodes.aborted, `operation cancelled (${why}); nothing was made visible`, {
    hint: 'run it again: chunks already written are reused',
  });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal.reason);
}

/**
 * What to report from parallel work that failed: the first rejection that is not merely a
 * sibling stopping because another failed first (those fail as "aborted"). Undefined when
 * everything succeeded.
 */
export function firstFailure(results: PromiseSettledResult<unknown>[]): { reason: unknown } | undefined {
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length === 0) return undefined;
  return { reason: (failed.find((r) => !isAbort(r.reason)) ?? failed[0]!).reason };
}
