// Bandwidth limits as a decorator around any store (kopia's throttling wrapper, restic's
// limiter): bytes put wait for upload tokens, bytes read for download tokens. A token bucket
// that may go into debt: a request takes what it needs at once and the next one waits until
// the debt is paid, so a 4 MiB object under a 1 MiB/s limit goes through whole (objects are
// never split) and the average rate still holds. The burst is an eighth of a second of rate,
// so an idle store cannot save up a large burst.
import { TokenBucket } from '../source/token-bucket.js';
import type { GetOptions, ObjectStore, PutOptions } from './object-store.js';
import { StoreDecorator } from './store-decorator.js';
import { callSignal } from './operation-signal.js';

export { TokenBucket };

export interface RateLimitOptions {
  /** Bytes per second of put bodies (0 or absent: no limit). */
  limitUploadBytesPerSec?: number;
  /** Bytes per second of get/getRange bodies (0 or absent: no limit). */
  limitDownloadBytesPerSec?: number;
}

/** The store itself when no limit is set, else a RateLimitedStore around it. */
export function withRateLimits(inner: ObjectStore, opts: RateLimitOptions): ObjectStore {
  if (!opts.limitUploadBytesPerSec && !opts.limitDownloadBytesPerSec) return inner;
  return new RateLimitedStore(inner, opts);
}

export class RateLimitedStore extends StoreDecorator {
  readonly upload: TokenBucket | undefined;
  readonly download: TokenBucket | undefined;

  constructor(inner: ObjectStore, opts: RateLimitOptions) {
    super(inner);
    this.upload = opts.limitUploadBytesPerSec ? new TokenBucket(opts.limitUploadBytesPerSec) : undefined;
    this.download = opts.limitDownloadBytesPerSec ? new TokenBucket(opts.limitDownloadBytesPerSec) : undefined;
  }

  override async get(key: string, opts?: GetOptions): Promise<Buffer> {
    const body = await this.inner.get(key, opts);
    // The size is known only once read: pay after, so the next read waits.
    await this.download?.take(body.length, callSignal(opts?.signal));
    return body;
  }

  override async getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer> {
    await this.download?.take(length, callSignal(opts?.signal));
    return this.inner.getRange(key, offset, length, opts);
  }

  override async put(key: string, body: Buffer, opts?: PutOptions): Promise<boolean> {
    await this.upload?.take(body.length, callSignal(opts?.signal));
    return this.inner.put(key, body, opts);
  }

}
