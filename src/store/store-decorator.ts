// The base of every store decorator (rate limits, request counting, instrumentation): it hands
// each call to the store inside unchanged, so a decorator overrides only the calls it changes.
import type { CallOptions, GetOptions, ObjectInfo, ObjectStore, PutOptions, StoreCapabilities } from './object-store.js';

export abstract class StoreDecorator implements ObjectStore {
  constructor(readonly inner: ObjectStore) {}

  get url(): string {
    return this.inner.url;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  get defaultConcurrency(): number | undefined {
    return this.inner.defaultConcurrency;
  }

  get(key: string, opts?: GetOptions): Promise<Buffer> {
    return this.inner.get(key, opts);
  }

  getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer> {
    return this.inner.getRange(key, offset, length, opts);
  }

  put(key: string, body: Buffer, opts?: PutOptions): Promise<boolean> {
    return this.inner.put(key, body, opts);
  }

  head(key: string, opts?: CallOptions): Promise<ObjectInfo | undefined> {
    return this.inner.head(key, opts);
  }

  list(prefix: string, opts?: CallOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts);
  }

  delete(key: string, opts?: CallOptions): Promise<void> {
    return this.inner.delete(key, opts);
  }

  deleteMany(keys: string[], opts?: CallOptions): Promise<void> {
    return this.inner.deleteMany(keys, opts);
  }

  sync(): Promise<void> {
    return this.inner.sync();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
