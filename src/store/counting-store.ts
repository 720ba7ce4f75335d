// An ObjectStore decorator that counts requests by operation and remembers which prefixes
// were listed and which keys were read with HEAD: for tests ("no HEAD per block, no LIST of
// chunks/") and for benchmarks (requests per backup).
import type { CallOptions, GetOptions, ObjectInfo, PutOptions } from './object-store.js';
import { StoreDecorator } from './store-decorator.js';

export type StoreOp = 'get' | 'getRange' | 'put' | 'putIfAbsent' | 'head' | 'list' | 'listPage' | 'delete' | 'deleteMany';

export class CountingStore extends StoreDecorator {
  readonly counts: Record<StoreOp, number> = {
    get: 0,
    getRange: 0,
    put: 0,
    putIfAbsent: 0,
    head: 0,
    list: 0,
    listPage: 0,
    delete: 0,
    deleteMany: 0,
  };
  /** Every prefix passed to list(), in call order. */
  readonly listed: string[] = [];
  /** Every key passed to head(), in call order. */
  readonly headed: string[] = [];
  /** Keys read with get() / getRange(). */
  readonly gotten: string[] = [];
  bytesPut = 0;
  bytesGot = 0;

  /** Zeroes the counters and lists. */
  reset(): void {
    for (const k of Object.keys(this.counts) as StoreOp[]) this.counts[k] = 0;
    this.listed.length = 0;
    this.headed.length = 0;
    this.gotten.length = 0;
    this.bytesPut = 0;
    this.bytesGot = 0;
  }

  get total(): number {
    return Object.entries(this.counts).reduce((n, [k, v]) => (k === 'listPage' ? n : n + v), 0);
  }

  override async get(key: string, opts?: GetOptions): Promise<Buffer> {
    this.counts.get++;
    this.gotten.push(key);
    const b = await this.inner.get(key, opts);
    this.bytesGot += b.length;
    return b;
  }

  override async getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer> {
    this.counts.getRange++;
    this.gotten.push(key);
    const b = await this.inner.getRange(key, offset, length, opts);
    this.bytesGot += b.length;
    return b;
  }

  override put(key: string, body: Buffer, opts?: PutOptions): Promise<boolean> {
    if (opts?.ifAbsent) this.counts.putIfAbsent++;
    else this.counts.put++;
    this.bytesPut += body.length;
    return this.inner.put(key, body, opts);
  }

  override head(key: string, opts?: CallOptions): Promise<ObjectInfo | undefined> {
    this.counts.head++;
    this.headed.push(key);
    return this.inner.head(key, opts);
  }

  override async *list(prefix: string, opts?: CallOptions): AsyncIterable<ObjectInfo> {
    this.counts.list++;
    this.listed.push(prefix);
    let n = 0;
    for await (const o of this.inner.list(prefix, opts)) {
      if (n++ % 1000 === 0) this.counts.listPage++;
      yield o;
    }
  }

  override delete(key: string, opts?: CallOptions): Promise<void> {
    this.counts.delete++;
    return this.inner.delete(key, opts);
  }

  override deleteMany(keys: string[], opts?: CallOptions): Promise<void> {
    this.counts.deleteMany++;
    return this.inner.deleteMany(keys, opts);
  }

}
