// ObjectStore on S3 or any S3-compatible server (AWS, Ceph RGW, MinIO, Swift s3api, OBS): the
// operations. URL parsing is in url.ts, the client in client.ts, errors in errors.ts, time
// bounds and retries in attempts.ts, the concurrency that backs off in adaptive-limit.ts.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { CallOptions, GetOptions, ObjectInfo, ObjectStore, PutOptions, StoreCapabilities } from '../object-store.js';
import { callSignal } from '../operation-signal.js';
import { StoreError, StoreNotFoundError, checkKey, checkRange } from '../store-errors.js';
import { AdaptiveLimit } from './adaptive-limit.js';
import { readBody, retryPolicy, withRetries, type Attempt, type RetryPolicy, type RetryStats } from './attempts.js';
import { createS3Client, md5 } from './client.js';
import { NO_CONDITIONAL_501, downgradeWarning, probeConditionalWrite, type CreateResult } from './conditional-write.js';
import { codeOf, statusOf, type S3ErrorContext } from './errors.js';
import { S3_DEFAULTS, S3_DEFAULT_BLOCKS_IN_FLIGHT, type S3StoreOptions } from './options.js';
import { parseS3Url } from './url.js';

const PAST_END = Symbol('past end');

export class S3Store implements ObjectStore {
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  /** The endpoint named in messages. */
  readonly endpoint: string;
  readonly capabilities: StoreCapabilities = { conditionalWrite: true, remote: true };
  /** Blocks in flight for backup/restore when the caller gives none: enough requests to hide
   *  the round trip, never more than the store's own request limit (docs/s3.md, "Measured"). */
  readonly defaultConcurrency: number;
  /** See S3StoreOptions.contentMd5. */
  readonly contentMd5: boolean;
  /** Attempts, retries, timeouts and throttled answers so far (metrics, tests). */
  readonly stats: RetryStats = { attempts: 0, retries: 0, timeouts: 0, throttled: 0 };
  /** Requests in flight: lowered by 503 SlowDown, grown back by successes. */
  readonly limiter: AdaptiveLimit;

  private readonly client: S3Client;
  private readonly agent: http.Agent;
  private readonly policy: RetryPolicy;
  private readonly warn: (message: string) => void;
  private readonly customEndpoint: string | undefined;
  private readonly opts: S3StoreOptions;
  private warnedNoConditional = false;
  private closed = false;

  constructor(url: string, opts: S3StoreOptions = {}) {
    const loc = parseS3Url(url);
    this.bucket = loc.bucket;
    this.prefix = loc.prefix;
    this.url = `s3://${loc.bucket}/${loc.prefix}`;
    this.opts = opts;
    this.warn = opts.onWarning ?? ((m) => process.emitWarning(m, { code: 'BV_S3_NO_CONDITIONAL_WRITE' }));
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? opts.maxConcurrency ?? S3_DEFAULTS.concurrency));
    this.limiter = new AdaptiveLimit(concurrency);
    this.defaultConcurrency = Math.min(concurrency, S3_DEFAULT_BLOCKS_IN_FLIGHT);
    this.policy = retryPolicy(opts);
    const setup = createS3Client(this.url, opts, concurrency);
    this.client = setup.client;
    this.agent = setup.agent;
    this.endpoint = setup.endpoint;
    this.customEndpoint = setup.customEndpoint;
    this.contentMd5 = setup.contentMd5;
  }

  /** Opens s3://bucket/prefix: checks the bucket is there and reachable (creating it with
   *  createBucket), and finds out whether the server honours conditional writes. */
  static async open(url: string, opts: S3StoreOptions = {}): Promise<S3Store> {
    const store = new S3Store(url, opts);
    try {
      await store.checkBucket();
      if (opts.probeConditionalWrite !== false) {
        const key = `.blockvault-probe/${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
        await probeConditionalWrite(
          {
            createIfAbsent: (k, body) => store.createIfAbsent(k, body),
            delete: (k) => store.delete(k),
            downgrade: (why) => store.downgrade(why),
          },
          key,
        );
      }
      return store;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  private full(key: string): string {
    return this.prefix + key;
  }

  private ctx(operation: string, key: string | undefined): S3ErrorContext {
    return { endpoint: this.endpoint, bucket: this.bucket, customEndpoint: !!this.customEndpoint, operation, key: key === undefined ? undefined : this.full(key) };
  }

  /** One call through the limiter, with per-attempt deadlines and retries. */
  private call<T>(
    operation: string,
    key: string | undefined,
    signal: AbortSignal | undefined,
    run: (a: Attempt) => Promise<T>,
    opts: { policy?: RetryPolicy; sendBytes?: number } = {},
  ): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('other', `S3 store ${this.url} is closed`));
    return withRetries(opts.policy ?? this.policy, this.limiter, this.ctx(operation, key), this.stats, callSignal(signal), run, opts.sendBytes);
  }

  private async checkBucket(): Promise<void> {
    // Open answers quickly when nothing listens: a few attempts, not six.
    const policy = { ...this.policy, maxAttempts: Math.min(3, this.policy.maxAttempts) };
    const found = await this.call(
      'open',
      undefined,
      undefined,
      async (a) => {
        try {
          await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: a.signal });
          return 'ok' as const;
        } catch (err) {
          // HEAD responses have no body, so the server's code and message are lost: ask again
          // with a GET (one-key listing) to report exactly what the server says.
          if (statusOf(err) === undefined) throw err;
          if (statusOf(err) === 404 && this.opts.createBucket) return 'missing' as const;
          try {
            await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }), { abortSignal: a.signal });
          } catch (err2) {
            if (codeOf(err2) === 'NoSuchBucket' && this.opts.createBucket) return 'missing' as const;
            throw err2;
          }
          return 'ok' as const; // HEAD refused but listing allowed (a narrow policy): usable
        }
      },
      { policy },
    );
    if (found === 'missing') await this.createBucket();
  }

  private async createBucket(): Promise<void> {
    const region = await this.client.config.region();
    await this.call('create bucket', undefined, undefined, async (a) => {
      try {
        await this.client.send(
          new CreateBucketCommand({
            Bucket: this.bucket,
            // AWS wants the region spelled out everywhere but us-east-1; other servers do not.
            ...(!this.customEndpoint && region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}),
          }),
          { abortSignal: a.signal },
        );
      } catch (err) {
        if (codeOf(err) === 'BucketAlreadyOwnedByYou') return; // a concurrent open created it
        throw err;
      }
    });
  }

  private downgrade(why: string): void {
    this.capabilities.conditionalWrite = false;
    if (this.warnedNoConditional) return;
    this.warnedNoConditional = true;
    this.warn(downgradeWarning(this.endpoint, this.bucket, why));
  }

  // ---- ObjectStore ----

  async get(key: string, opts: GetOptions = {}): Promise<Buffer> {
    checkKey(key, this.url);
    return this.call('get', key, opts.signal, async (a) => {
      try {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), { abortSignal: a.signal });
        return await readBody(r.Body, r.ContentLength, a, opts.into);
      } catch (err) {
        if (statusOf(err) === 404 && codeOf(err) !== 'NoSuchBucket') throw new StoreNotFoundError(this.url, key);
        throw err;
      }
    });
  }

  async getRange(key: string, offset: number, length: number, opts: GetOptions = {}): Promise<Buffer> {
    checkKey(key, this.url);
    checkRange(key, offset, length, this.url);
    if (length === 0) {
      if (!(await this.head(key, opts))) throw new StoreNotFoundError(this.url, key);
      return Buffer.alloc(0);
    }
    const body = await this.call('get range', key, opts.signal, async (a) => {
      try {
        const r = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key), Range: `bytes=${offset}-${offset + length - 1}` }),
          { abortSignal: a.signal },
        );
        const got = await readBody(r.Body, r.ContentLength, a);
        // A server that ignores Range sends the whole object (200, no Content-Range).
        if (!r.ContentRange && got.length > length) return got.subarray(offset, offset + length);
        return got;
      } catch (err) {
        if (statusOf(err) === 416) return PAST_END;
        if (statusOf(err) === 404 && codeOf(err) !== 'NoSuchBucket') throw new StoreNotFoundError(this.url, key);
        throw err;
      }
    });
    if (body !== PAST_END) return body;
    // offset at or past the end: no bytes, as long as the object exists
    if (await this.head(key, opts)) return Buffer.alloc(0);
    throw new StoreNotFoundError(this.url, key);
  }

  async put(key: string, body: Buffer, opts: PutOptions = {}): Promise<boolean> {
    checkKey(key, this.url);
    const sendBytes = body.length;
    if (!opts.ifAbsent) {
      await this.call('put', key, opts.signal, (a) => this.client.send(this.putCommand(key, body), { abortSignal: a.signal }), { sendBytes });
      return true;
    }
    if (this.capabilities.conditionalWrite) {
      const r = await this.createIfAbsent(key, body, opts.signal);
      if (r !== 'unsupported') return r;
      this.downgrade(NO_CONDITIONAL_501);
    }
    // Best effort: a writer between our HEAD and PUT is overwritten (see downgrade()).
    if (await this.head(key, opts)) return false;
    await this.call('put', key, opts.signal, (a) => this.client.send(this.putCommand(key, body), { abortSignal: a.signal }), { sendBytes });
    return true;
  }

  async head(key: string, opts: CallOptions = {}): Promise<ObjectInfo | undefined> {
    checkKey(key, this.url);
    return this.call('head', key, opts.signal, (a) => this.headRaw(key, a.signal));
  }

  async *list(prefix: string, opts: CallOptions = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.call('list', prefix + '*', opts.signal, (a) =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.full(prefix), ContinuationToken: token }), { abortSignal: a.signal }),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(this.prefix)) continue;
        const etag = stripQuotes(o.ETag);
        yield {
          key: o.Key.slice(this.prefix.length),
          size: o.Size ?? 0,
          ...(o.LastModified ? { lastModified: o.LastModified } : {}),
          ...(etag ? { etag } : {}),
        };
      }
      const next = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !next) {
        throw new StoreError('other', `S3 endpoint ${this.endpoint} returned a truncated listing of s3://${this.bucket}/${this.full(prefix)} without a continuation token`, {
          hint: 'the server does not implement ListObjectsV2 paging correctly; use a conforming S3 server',
          details: { endpoint: this.endpoint, bucket: this.bucket, key: this.full(prefix) },
        });
      }
      token = next;
    } while (token);
  }

  async delete(key: string, opts: CallOptions = {}): Promise<void> {
    checkKey(key, this.url);
    await this.call('delete', key, opts.signal, async (a) => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), { abortSignal: a.signal });
      } catch (err) {
        if (statusOf(err) === 404 && codeOf(err) !== 'NoSuchBucket') return;
        throw err;
      }
    });
  }

  async deleteMany(keys: string[], opts: CallOptions = {}): Promise<void> {
    for (const k of keys) checkKey(k, this.url);
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += 1000) batches.push(keys.slice(i, i + 1000));
    await Promise.all(batches.map((batch) => this.deleteBatch(batch, opts.signal)));
  }

  private async deleteBatch(batch: string[], signal: AbortSignal | undefined): Promise<void> {
    const r = await this.call('delete many', batch[0], signal, (a) =>
      this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.full(k) })), Quiet: true } }), {
        abortSignal: a.signal,
      }),
    );
    const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (!failed.length) return;
    const first = failed[0]!;
    throw new StoreError(
      first.Code === 'AccessDenied' ? 'auth' : first.Code === 'SlowDown' || first.Code === 'InternalError' ? 'serverError' : 'other',
      `S3 endpoint ${this.endpoint} refused to delete ${failed.length} of ${batch.length} objects in bucket ${this.bucket}, ` +
        `first ${first.Key}: ${first.Code}: ${first.Message ?? ''}`.trim(),
      {
        hint: first.Code === 'AccessDenied' ? 'the credentials need s3:DeleteObject on this bucket' : 'run the delete again; it is idempotent',
        details: { endpoint: this.endpoint, bucket: this.bucket, key: first.Key, s3Code: first.Code, serverMessage: first.Message, failed: failed.length },
      },
    );
  }

  /** A PUT that resolved is durable on the server: nothing to flush. */
  async sync(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    this.agent.destroy();
  }

  // ---- internals ----

  private putCommand(key: string, body: Buffer, ifNoneMatch?: '*'): PutObjectCommand {
    return new PutObjectCommand({
      Bucket: this.bucket,
      Key: this.full(key),
      Body: body,
      ContentLength: body.length,
      // The integrity check: the server recomputes it and refuses a damaged body (400 BadDigest).
      // Over http the signed payload SHA-256 does the same (see S3StoreOptions.contentMd5).
      ...(this.contentMd5 ? { ContentMD5: md5(body).digest('base64') } : {}),
      ContentType: 'application/octet-stream',
      ...(ifNoneMatch ? { IfNoneMatch: ifNoneMatch } : {}),
    });
  }

  /** A conditional create (If-None-Match: *), retried like any call. */
  private createIfAbsent(key: string, body: Buffer, signal?: AbortSignal): Promise<CreateResult> {
    return this.call('put-if-absent', key, signal, async (a) => {
      try {
        await this.client.send(this.putCommand(key, body, '*'), { abortSignal: a.signal });
        return true;
      } catch (err) {
        const status = statusOf(err);
        const code = codeOf(err);
        if (status === 501 || code === 'NotImplemented') return 'unsupported';
        if (status === 412 || status === 409 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') {
          // A retry of our own PUT (the first answer lost) also lands here: the object is then
          // byte-for-byte ours, which counts as created. The MD5 ETag tells.
          if (a.number === 1) return false;
          const existing = await this.headRaw(key, a.signal);
          return existing?.etag === md5(body).digest('hex') && existing.size === body.length;
        }
        throw err;
      }
    }, { sendBytes: body.length });
  }

  private async headRaw(key: string, signal: AbortSignal): Promise<ObjectInfo | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), { abortSignal: signal });
      const etag = stripQuotes(r.ETag);
      return { key, size: r.ContentLength ?? 0, ...(r.LastModified ? { lastModified: r.LastModified } : {}), ...(etag ? { etag } : {}) };
    } catch (err) {
      // HEAD has no body: a 404 for a missing bucket looks like a missing key. The first
      // real request against a missing bucket (open() checks) names it properly.
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }
}

function stripQuotes(etag: string | undefined): string | undefined {
  if (!etag) return undefined; // Ceph answers <ETag></ETag> after CompleteMultipartUpload
  const s = etag.replace(/^W\//, '').replace(/^"|"$/g, '');
  return s || undefined;
}

