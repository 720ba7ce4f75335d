// SDK and network failures turned into StoreErrors, by a table of rules: the first rule that
// matches gives the category (hence `retryable`), the sentence and the hint. Each error names
// the endpoint, the bucket and the key, with the server's code, HTTP status and message.
import { BlockvaultError, ErrorCodes, abortError } from '../../errors.js';
import { StoreError, type StoreErrorCategory } from '../store-errors.js';

export interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  errors?: Array<{ code?: string; message?: string }>;
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
  $response?: { statusCode?: number };
}

export function statusOf(err: unknown): number | undefined {
  const e = err as SdkError;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

/** The S3 error code (NoSuchKey, SlowDown…), or a Node network code (ECONNREFUSED…). */
export function codeOf(err: unknown): string {
  const e = err as SdkError;
  if (e?.code && typeof e.code === 'string') return e.code;
  const inner = e?.errors?.find((x) => x?.code)?.code; // AggregateError (happy eyeballs)
  if (inner) return inner;
  return e?.Code ?? e?.name ?? 'Error';
}

/** Where a failure happened, for the message. */
export interface S3ErrorContext {
  endpoint: string;
  bucket: string;
  /** The endpoint came from an option or the environment (not AWS itself). */
  customEndpoint: boolean;
  operation: string;
  /** The full object key (prefix included), when the request was about one object. */
  key?: string | undefined;
  /** Attempts made so far (the store's own retries). */
  attempts?: number | undefined;
}

interface Facts {
  status: number | undefined;
  code: string;
  name: string;
  serverMessage: string;
}

interface Rule {
  when: (f: Facts, c: S3ErrorContext) => boolean;
  category: StoreErrorCategory;
  what: (f: Facts, c: S3ErrorContext) => string;
  hint: (f: Facts, c: S3ErrorContext) => string;
  /** Kept for compatibility where the category's default code would change an exit code. */
  code?: (typeof ErrorCodes)[keyof typeof ErrorCodes];
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const AUTH_CODES = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidClientTokenId',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
]);
const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests', 'ServiceUnavailable']);
const DIGEST_CODES = new Set(['BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch']);

const reachHint = (_f: Facts, c: S3ErrorContext) =>
  c.customEndpoint
    ? `check that the S3 server at ${c.endpoint} is running and reachable from here (--endpoint / AWS_ENDPOINT_URL_S3)`
    : 'check network access to AWS S3, or pass --endpoint for an S3-compatible server';
const after = (c: S3ErrorContext) => (c.attempts && c.attempts > 1 ? ` after ${c.attempts} attempts` : '');

const RULES: Rule[] = [
  {
    when: (f) => f.status === undefined && (TIMEOUT_CODES.has(f.code) || f.name === 'TimeoutError' || /timed? ?out/i.test(f.serverMessage)),
    category: 'timeout',
    what: (_f, c) => `S3 endpoint ${c.endpoint} did not answer in time for bucket ${c.bucket}${after(c)}`,
    hint: reachHint,
  },
  {
    when: (f) => f.status === undefined && (NETWORK_CODES.has(f.code) || /ECONNREFUSED|ENOTFOUND|ECONNRESET|socket hang up/i.test(f.serverMessage)),
    category: 'network',
    what: (_f, c) => `cannot reach S3 endpoint ${c.endpoint} for bucket ${c.bucket}${after(c)}`,
    hint: reachHint,
  },
  {
    // Before the auth rules: RGW answers a full quota with 403 QuotaExceeded.
    when: (f) => f.status === 507 || f.code === 'QuotaExceeded' || f.code === 'EntityTooLarge',
    category: 'full',
    what: (_f, c) => `S3 endpoint ${c.endpoint} has no room left for bucket ${c.bucket}`,
    hint: () => 'raise the quota of the bucket or user, or free space, and run again',
  },
  {
    when: (f) => f.name === 'CredentialsProviderError' || /could not load credentials/i.test(f.serverMessage),
    category: 'auth',
    what: (_f, c) => `no S3 credentials found for bucket ${c.bucket} at ${c.endpoint}`,
    hint: () => 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or pass the access and secret keys',
  },
  {
    when: (f) => AUTH_CODES.has(f.code) || (f.status === 403 && f.code !== 'AccessDenied' && f.code !== 'RequestTimeTooSkewed'),
    category: 'auth',
    what: (_f, c) => `S3 endpoint ${c.endpoint} rejected the credentials for bucket ${c.bucket}`,
    hint: () =>
      'check the access key and secret key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile); ' +
      'a clock off by more than 15 minutes also breaks signatures',
  },
  {
    when: (f) => f.code === 'AccessDenied',
    category: 'auth',
    what: (_f, c) => `S3 endpoint ${c.endpoint} denied access to bucket ${c.bucket}`,
    hint: () => 'the credentials are valid but lack permission: grant s3:GetObject, PutObject, DeleteObject and ListBucket on this bucket',
  },
  {
    when: (f) => f.code === 'RequestTimeTooSkewed',
    category: 'auth',
    what: (_f, c) => `this machine's clock differs too much from that of S3 endpoint ${c.endpoint} (bucket ${c.bucket})`,
    hint: () => 'synchronise the clock (NTP) and run again',
  },
  {
    when: (f, c) => f.code === 'NoSuchBucket' || (f.status === 404 && c.key === undefined),
    category: 'notFound',
    what: (_f, c) => `bucket ${c.bucket} does not exist at ${c.endpoint}`,
    hint: () => 'check the bucket name, or pass --create-bucket (option createBucket) to create it when the vault is opened',
  },
  {
    when: (f) => f.code === 'BucketAlreadyExists',
    category: 'conflict',
    what: (_f, c) => `bucket name ${c.bucket} is taken by another account at ${c.endpoint}`,
    hint: () => 'choose another bucket name',
  },
  {
    when: (f) => THROTTLE_CODES.has(f.code) || f.status === 503 || f.status === 429,
    category: 'throttled',
    what: (_f, c) => `S3 endpoint ${c.endpoint} kept throttling requests${after(c)}`,
    hint: () =>
      'lower the concurrency (--concurrency, store option concurrency), spread the vault over prefixes, or run again later; chunks already written are reused',
  },
  {
    // The body changed between here and the server: a fault in transit, worth another try.
    when: (f) => DIGEST_CODES.has(f.code),
    category: 'network',
    what: (f, c) =>
      `S3 endpoint ${c.endpoint} received a damaged body (${f.code === 'XAmzContentSHA256Mismatch' ? 'payload SHA-256' : 'Content-MD5'} mismatch)${after(c)}`,
    hint: () => 'the data changed in transit; run again, and check proxies or network hardware between here and the server',
  },
  {
    when: (f) => f.status === 412 || f.status === 409 || f.code === 'PreconditionFailed' || f.code === 'ConditionalRequestConflict',
    category: 'conflict',
    what: (_f, c) => `S3 endpoint ${c.endpoint} refused a conditional request on bucket ${c.bucket}`,
    hint: () => 'another writer changed the object at the same time; run again',
  },
  {
    when: (f) => f.status === 501 || f.code === 'NotImplemented',
    category: 'unsupported',
    what: (_f, c) => `S3 endpoint ${c.endpoint} does not implement a request blockvault needs`,
    hint: () => 'use a more complete S3 server (docs/s3.md lists what is needed)',
  },
  {
    when: (f) => f.status !== undefined && f.status >= 500,
    category: 'serverError',
    what: (f, c) => `S3 endpoint ${c.endpoint} failed with HTTP ${f.status}${after(c)}`,
    hint: () => 'the server had an internal error; run again, and check the server logs if it persists',
  },
  {
    when: (f) => f.status !== undefined && f.status >= 400,
    category: 'badRequest',
    what: (_f, c) => `S3 endpoint ${c.endpoint} refused a request for bucket ${c.bucket}`,
    hint: () => 'see the server message',
  },
];

const FALLBACK: Rule = {
  when: () => true,
  category: 'other',
  what: (_f, c) => `S3 request to ${c.endpoint} for bucket ${c.bucket} failed`,
  hint: () => 'see the server message; run again if it looks transient',
};

/** The category a raw SDK or network error falls in (for the retry loop). */
export function categorize(err: unknown, ctx: S3ErrorContext): StoreErrorCategory {
  if (err instanceof StoreError) return err.category;
  const f = facts(err);
  return (RULES.find((r) => r.when(f, ctx)) ?? FALLBACK).category;
}

function facts(err: unknown): Facts {
  const e = err as SdkError;
  const code = codeOf(err);
  // RGW often sends no <Message> (the SDK then says "UnknownError"): the code and status are it.
  const raw = (e?.message ?? String(err)).trim();
  return { status: statusOf(err), code, name: e?.name ?? '', serverMessage: raw && raw !== 'UnknownError' && raw !== code ? raw : '' };
}

/** Turns an SDK or network error into a StoreError naming endpoint, bucket and key. */
export function s3Error(err: unknown, ctx: S3ErrorContext): Error {
  if (err instanceof BlockvaultError) return err;
  const e = err as SdkError;
  if (e?.name === 'AbortError') return abortError(err);
  const f = facts(err);
  const rule = RULES.find((r) => r.when(f, ctx)) ?? FALLBACK;
  const details = {
    endpoint: ctx.endpoint,
    bucket: ctx.bucket,
    key: ctx.key,
    operation: ctx.operation,
    status: f.status,
    s3Code: f.code,
    requestId: e?.$metadata?.requestId,
    attempts: ctx.attempts,
    serverMessage: f.serverMessage || undefined,
  };
  const server = `${f.code}${f.status ? ` (HTTP ${f.status})` : ''}${f.serverMessage ? `: ${f.serverMessage}` : ''}`;
  const doing = ctx.key !== undefined ? `${ctx.operation} s3://${ctx.bucket}/${ctx.key}` : ctx.operation;
  return new StoreError(rule.category, `${rule.what(f, ctx)} (${doing}): ${server}`, {
    hint: rule.hint(f, ctx),
    cause: err,
    details,
    ...(rule.code ? { code: rule.code } : {}),
  });
}
