// The error every store raises. A category says what kind of failure it is, so a retrying
// wrapper, the vault or a control plane can decide what to do without parsing messages
// (kopia's isRetriable, restic's backoff.Permanent); `retryable` says whether the same
// request may succeed if sent again. The BlockvaultError code stays one of src/errors.ts's:
// each category maps to one of them below.
import { BlockvaultError, ErrorCodes, type BlockvaultErrorOptions, type ErrorCode } from '../errors.js';

export type StoreErrorCategory =
  /** The object (or bucket) is not there. */
  | 'notFound'
  /** Credentials missing, wrong or expired; permission denied. */
  | 'auth'
  /** A conditional request lost (the object exists / changed). */
  | 'conflict'
  /** The server asks us to slow down (503 SlowDown, 429). */
  | 'throttled'
  /** No answer in time: connect, first byte or a body that stopped flowing. */
  | 'timeout'
  /** The connection failed: refused, reset, a truncated body, DNS. */
  | 'network'
  /** The server failed (5xx other than throttling). */
  | 'serverError'
  /** The request itself is wrong (bad key, bad range, a body damaged in transit). */
  | 'badRequest'
  /** No space or quota left. */
  | 'full'
  /** The server lacks a feature (501). */
  | 'unsupported'
  /** Anything else (a local I/O error, a misbehaving server). */
  | 'other';

/** Categories worth another attempt of the same request. */
const RETRYABLE: ReadonlySet<StoreErrorCategory> = new Set(['throttled', 'timeout', 'network', 'serverError']);

export function isRetryableCategory(category: StoreErrorCategory): boolean {
  return RETRYABLE.has(category);
}

/** The BlockvaultError code a category is reported with (exit codes follow from it). An
 *  object that is not there is BV.Store (exit 1, a failure) unless the caller knows better: the
 *  vault turns a missing chunk into BV.MissingChunk, a missing vault directory is BV.NotFound. */
export function codeForCategory(category: StoreErrorCategory): ErrorCode {
  switch (category) {
    case 'full':
      return ErrorCodes.noSpace;
    case 'unsupported':
      return ErrorCodes.unsupported;
    default:
      return ErrorCodes.store;
  }
}

export interface StoreErrorOptions extends BlockvaultErrorOptions {
  /** Overrides codeForCategory (e.g. a missing bucket is a store problem, not a missing backup). */
  code?: ErrorCode;
  /** Overrides isRetryableCategory. */
  retryable?: boolean;
}

export class StoreError extends BlockvaultError {
  readonly category: StoreErrorCategory;
  readonly retryable: boolean;

  constructor(category: StoreErrorCategory, message: string, opts: StoreErrorOptions = {}) {
    super(opts.code ?? codeForCategory(category), message, opts);
    this.name = 'StoreError';
    this.category = category;
    this.retryable = opts.retryable ?? isRetryableCategory(category);
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), category: this.category, retryable: this.retryable };
  }
}

/** get/getRange of a key that does not exist. */
export class StoreNotFoundError extends StoreError {
  readonly key: string;
  constructor(store: string, key: string) {
    super('notFound', `object ${key} not found in ${store}`, { details: { store, key } });
    this.name = 'StoreNotFoundError';
    this.key = key;
  }
}

export function isNotFound(err: unknown): err is StoreNotFoundError {
  return err instanceof StoreNotFoundError;
}

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreError;
}

/** A key that is not a valid relative object path (every store refuses the same ones). */
export function checkKey(key: string, store: string): void {
  if (typeof key !== 'string' || key === '' || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new StoreError('badRequest', `bad object key ${JSON.stringify(key)} for ${store}`, {
      code: ErrorCodes.badInput,
      hint: 'keys are relative paths of non-empty parts, without "." or ".."',
      details: { store, key },
    });
  }
}

/** offset/length of a ranged read, both safe integers ≥ 0. */
export function checkRange(key: string, offset: number, length: number, store: string): void {
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0)) {
    throw new StoreError('badRequest', `bad range ${offset}+${length} for ${key} in ${store}`, {
      code: ErrorCodes.badInput,
      details: { store, key, offset, length },
    });
  }
}
