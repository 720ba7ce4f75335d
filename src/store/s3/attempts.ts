// One S3 call with bounded time and retries. Each attempt gets its own AbortController, which
// the SDK's HTTP handler honours (it destroys the socket), fired by whichever comes first:
//   - the caller's signal (SIGTERM, Ctrl-C): the call ends at once as "aborted";
//   - time to first byte (connect + request + response headers) > firstByteTimeoutMs, plus
//     1 s per 256 KiB of request body (a PUT's upload is not the server stalling);
//   - a response body that delivers nothing for bodyIdleTimeoutMs (the watchdog);
//   - the whole call (slot wait and every attempt and backoff) > operationTimeoutMs.
// Timeouts, resets, short bodies, 5xx and throttling are retried with full-jitter exponential
// backoff while attempts and time remain; anything else fails at once. So a server that
// accepts connections and never answers fails a call within operationTimeoutMs (default
// 120 s), with a "timeout" StoreError that says which deadline passed.
import { getMaxListeners, setMaxListeners } from 'node:events';
import { abortError } from '../../errors.js';
import { StoreError, isRetryableCategory } from '../store-errors.js';
import type { AdaptiveLimit } from './adaptive-limit.js';
import { categorize, s3Error, type S3ErrorContext } from './errors.js';
import { S3_DEFAULTS, type S3RetryEvent, type S3StoreOptions } from './options.js';

/** Why an attempt was aborted by us (as opposed to by the caller). */
class Deadline extends Error {
  constructor(readonly phase: 'first byte' | 'body idle' | 'operation', readonly ms: number) {
    super(`no ${phase === 'body idle' ? 'body data' : phase === 'first byte' ? 'response' : 'completion'} within ${ms} ms`);
    this.name = 'Deadline';
  }
}

export interface Attempt {
  /** Pass to the SDK (abortSignal) and to readBody. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt. */
  readonly number: number;
  /** Call when the response headers are in: stops the first-byte clock, starts the idle watchdog. */
  responded(): void;
  /** Call on every body chunk: feeds the idle watchdog. */
  progressed(): void;
}

export interface RetryPolicy {
  maxAttempts: number;
  firstByteTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  operationTimeoutMs: number;
  retryBaseDelayMs: number;
  onRetry: ((e: S3RetryEvent) => void) | undefined;
}

export function retryPolicy(opts: S3StoreOptions): RetryPolicy {
  return {
    maxAttempts: Math.max(1, opts.maxAttempts ?? S3_DEFAULTS.maxAttempts),
    firstByteTimeoutMs: opts.firstByteTimeoutMs ?? S3_DEFAULTS.firstByteTimeoutMs,
    bodyIdleTimeoutMs: opts.bodyIdleTimeoutMs ?? S3_DEFAULTS.bodyIdleTimeoutMs,
    operationTimeoutMs: opts.operationTimeoutMs ?? S3_DEFAULTS.operationTimeoutMs,
    retryBaseDelayMs: opts.retryBaseDelayMs ?? S3_DEFAULTS.retryBaseDelayMs,
    onRetry: opts.onRetry,
  };
}

export interface RetryStats {
  attempts: number;
  retries: number;
  timeouts: number;
  throttled: number;
}

/** Upload rate below which a PUT's body counts as stalled (it extends the first-byte deadline). */
export const UPLOAD_FLOOR_BYTES_PER_SEC = 256 * 1024;

export async function withRetries<T>(
  policy: RetryPolicy,
  limit: AdaptiveLimit,
  ctx: S3ErrorContext,
  stats: RetryStats,
  signal: AbortSignal | undefined,
  run: (a: Attempt) => Promise<T>,
  sendBytes = 0,
): Promise<T> {
  const firstByteMs = policy.firstByteTimeoutMs + Math.ceil((sendBytes * 1000) / UPLOAD_FLOOR_BYTES_PER_SEC);
  if (signal?.aborted) throw abortError(signal.reason);
  // One signal is shared by every request of a backup and each call listens on it while it
  // runs: raise the limit so Node does not warn of a leak that is none.
  if (signal && getMaxListeners(signal) < 4 * limit.max + 16) setMaxListeners(4 * limit.max + 16, signal);
  const started = Date.now();
  const operation = new AbortController();
  const opTimer = setTimeout(() => operation.abort(new Deadline('operation', policy.operationTimeoutMs)), policy.operationTimeoutMs);
  const onCallerAbort = () => operation.abort(signal?.reason ?? new Error('cancelled'));
  signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    for (let n = 1; ; n++) {
      const release = await limit.acquire(operation.signal).catch((e) => {
        throw failure(e, operation.signal, signal, ctx, n - 1);
      });
      let error: unknown;
      stats.attempts++;
      try {
        const value = await attempt(firstByteMs, policy.bodyIdleTimeoutMs, operation.signal, n, run);
        limit.onSuccess();
        return value;
      } catch (e) {
        error = e;
      } finally {
        release();
      }
      if (signal?.aborted) throw abortError(signal.reason);
      const reason = operation.signal.aborted ? operation.signal.reason : error;
      const category = reason instanceof Deadline ? 'timeout' : categorize(error, ctx);
      if (category === 'throttled') {
        stats.throttled++;
        limit.onThrottle();
      }
      if (category === 'timeout') stats.timeouts++;
      const retryable = reason instanceof Deadline ? reason.phase !== 'operation' : error instanceof StoreError ? error.retryable : isRetryableCategory(category);
      const left = policy.operationTimeoutMs - (Date.now() - started);
      const base = category === 'throttled' ? Math.max(1000, policy.retryBaseDelayMs) : policy.retryBaseDelayMs;
      const delayMs = Math.round(Math.random() * Math.min(10_000, base * 2 ** (n - 1)));
      if (!retryable || n >= policy.maxAttempts || delayMs >= left) throw failure(reason, operation.signal, signal, ctx, n);
      stats.retries++;
      policy.onRetry?.({ operation: ctx.operation, key: ctx.key, attempt: n, category, message: messageOf(reason), delayMs });
      await sleep(delayMs, operation.signal).catch((e) => {
        throw failure(e, operation.signal, signal, ctx, n);
      });
    }
  } finally {
    clearTimeout(opTimer);
    signal?.removeEventListener('abort', onCallerAbort);
  }
}

/** One attempt under its own controller: the call's signal plus its own deadlines. */
async function attempt<T>(firstByteMs: number, bodyIdleMs: number, opSignal: AbortSignal, n: number, run: (a: Attempt) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onOpAbort = () => ac.abort(opSignal.reason);
  if (opSignal.aborted) throw opSignal.reason;
  opSignal.addEventListener('abort', onOpAbort, { once: true });
  let timer: NodeJS.Timeout | undefined = setTimeout(() => ac.abort(new Deadline('first byte', firstByteMs)), firstByteMs);
  const idle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(new Deadline('body idle', bodyIdleMs)), bodyIdleMs);
  };
  const a: Attempt = {
    signal: ac.signal,
    number: n,
    responded: idle,
    progressed: () => timer?.refresh(),
  };
  try {
    const value = await run(a);
    if (ac.signal.aborted) throw ac.signal.reason;
    return value;
  } catch (e) {
    // The SDK reports our abort as a plain AbortError: give the real reason.
    if (ac.signal.aborted && ac.signal.reason instanceof Deadline) throw ac.signal.reason;
    throw e;
  } finally {
    clearTimeout(timer);
    timer = undefined;
    opSignal.removeEventListener('abort', onOpAbort);
  }
}

function failure(reason: unknown, opSignal: AbortSignal, callerSignal: AbortSignal | undefined, ctx: S3ErrorContext, attempts: number): Error {
  if (callerSignal?.aborted) return abortError(callerSignal.reason);
  const r = opSignal.aborted && opSignal.reason instanceof Deadline ? opSignal.reason : reason;
  if (r instanceof Deadline) {
    const what = r.phase === 'operation' ? `${ctx.operation} did not complete within ${r.ms} ms` : `${r.message}`;
    return new StoreError(
      'timeout',
      `S3 endpoint ${ctx.endpoint} timed out for bucket ${ctx.bucket} (${ctx.operation}${ctx.key !== undefined ? ` s3://${ctx.bucket}/${ctx.key}` : ''}): ${what}` +
        `${attempts > 1 ? ` (attempt ${attempts})` : ''}`,
      {
        // A call that ran out of time is not worth repeating at once; an attempt's deadline is.
        retryable: r.phase !== 'operation',
        hint: ctx.customEndpoint
          ? `the S3 server at ${ctx.endpoint} accepts connections but does not answer; check it (and its disks), then run again`
          : 'AWS S3 did not answer in time; check the network, then run again',
        details: { endpoint: ctx.endpoint, bucket: ctx.bucket, key: ctx.key, operation: ctx.operation, attempts, timeout: r.phase, timeoutMs: r.ms },
      },
    );
  }
  return s3Error(reason, { ...ctx, attempts });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Drains a GetObject body into one Buffer, allocating once when the length is known (none
 * when it fits the caller's `into`; attempts run one after another, so a retry may reuse it). A body
 * that ends short of its Content-Length is a network failure (retried), never a short object.
 * An aborted attempt destroys the stream, so a stalled body ends with the abort.
 */
export async function readBody(body: unknown, contentLength: number | undefined, a: Attempt, into?: Buffer): Promise<Buffer> {
  a.responded();
  if (!body) return Buffer.alloc(0);
  const stream = body as AsyncIterable<Uint8Array> & { destroy?: (e?: Error) => void };
  const onAbort = () => stream.destroy?.(a.signal.reason instanceof Error ? a.signal.reason : new Error('aborted'));
  a.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (contentLength !== undefined && contentLength >= 0) {
      const out = into && into.length >= contentLength ? into.subarray(0, contentLength) : Buffer.allocUnsafe(contentLength);
      let n = 0;
      for await (const c of stream) {
        a.progressed();
        if (n + c.length > contentLength) throw shortBody(`response body longer than its Content-Length ${contentLength}`);
        out.set(c, n);
        n += c.length;
      }
      if (n !== contentLength) throw shortBody(`response body ended after ${n} of ${contentLength} bytes`);
      return out;
    }
    const parts: Buffer[] = [];
    for await (const c of stream) {
      a.progressed();
      parts.push(Buffer.from(c.buffer, c.byteOffset, c.length));
    }
    return Buffer.concat(parts);
  } finally {
    a.signal.removeEventListener('abort', onAbort);
  }
}

function shortBody(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}
