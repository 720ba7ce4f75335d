// The S3 error rule table and the adaptive limit, without a server: each SDK or network
// failure lands in the right category (hence retryable or not) and keeps its exit code.
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { StoreError } from '../../src/store/object-store.js';
import { AdaptiveLimit } from '../../src/store/s3/adaptive-limit.js';
import { s3Error, type S3ErrorContext } from '../../src/store/s3/errors.js';

const ctx: S3ErrorContext = { endpoint: 'http://127.0.0.1:7480', bucket: 'b-1', customEndpoint: true, operation: 'get', key: 'v/k' };
const sdk = (name: string, status?: number, message = '') =>
  Object.assign(new Error(message || name), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
const net = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('S3 error rules', () => {
  const cases: Array<[string, Error, string, boolean, string]> = [
    ['refused', net('ECONNREFUSED'), 'network', true, ErrorCodes.store],
    ['reset', net('ECONNRESET'), 'network', true, ErrorCodes.store],
    ['connect timeout', sdk('TimeoutError'), 'timeout', true, ErrorCodes.store],
    ['wrong secret', sdk('SignatureDoesNotMatch', 403), 'auth', false, ErrorCodes.store],
    ['denied', sdk('AccessDenied', 403), 'auth', false, ErrorCodes.store],
    ['clock', sdk('RequestTimeTooSkewed', 403), 'auth', false, ErrorCodes.store],
    ['no bucket', sdk('NoSuchBucket', 404), 'notFound', false, ErrorCodes.store],
    ['slow down', sdk('SlowDown', 503), 'throttled', true, ErrorCodes.store],
    ['429', sdk('TooManyRequests', 429), 'throttled', true, ErrorCodes.store],
    ['damaged body', sdk('XAmzContentSHA256Mismatch', 400), 'network', true, ErrorCodes.store],
    ['precondition', sdk('PreconditionFailed', 412), 'conflict', false, ErrorCodes.store],
    ['not implemented', sdk('NotImplemented', 501), 'unsupported', false, ErrorCodes.unsupported],
    ['quota', sdk('QuotaExceeded', 403), 'full', false, ErrorCodes.noSpace],
    ['internal', sdk('InternalError', 500), 'serverError', true, ErrorCodes.store],
    ['bad request', sdk('InvalidArgument', 400), 'badRequest', false, ErrorCodes.store],
    ['unknown', new Error('something odd'), 'other', false, ErrorCodes.store],
  ];
  for (const [what, raw, category, retryable, code] of cases) {
    it(`${what} → ${category}`, () => {
      const e = s3Error(raw, ctx) as StoreError;
      expect(e).toBeInstanceOf(StoreError);
      expect(e.category).toBe(category);
      expect(e.retryable).toBe(retryable);
      expect(e.code).toBe(code);
      expect(e.message).toContain(ctx.endpoint);
      expect(e.message).toContain('s3://b-1/v/k');
      expect(e.hint).toBeTruthy();
      expect(e.toJSON()).toMatchObject({ category, retryable, bucket: 'b-1', key: 'v/k' });
    });
  }
  it('an abort stays an abort', () => {
    expect((s3Error(sdk('AbortError'), ctx) as StoreError).code).toBe(ErrorCodes.aborted);
  });
});

describe('AdaptiveLimit', () => {
  it('halves on throttling (once per window), grows back by one per limit successes, and never hands out more slots than the limit', async () => {
    const l = new AdaptiveLimit(8);
    const held = await Promise.all(Array.from({ length: 8 }, () => l.acquire()));
    let ninth = false;
    const waiting = l.acquire().then((r) => ((ninth = true), r));
    await new Promise((r) => setTimeout(r, 10));
    expect(ninth).toBe(false);
    l.onThrottle();
    l.onThrottle(); // same window: counted once
    expect(l.limit).toBe(4);
    for (const r of held.slice(0, 5)) r(); // 3 in flight, limit 4: the waiter gets a slot
    await waiting.then((r) => r());
    expect(ninth).toBe(true);
    for (const r of held.slice(5)) r();
    expect(l.inFlight).toBe(0);
    let n = 0;
    while (l.limit < 8 && n < 100) {
      l.onSuccess();
      n++;
    }
    expect(l.limit).toBe(8);
    expect(n).toBeGreaterThanOrEqual(4 + 5 + 6 + 7 - 4); // about limit successes per step
    expect(l.lowest).toBe(4);
  });
});
