// An ObjectStore decorator that tells an observer of every request: its operation, how it
// ended, how long it took and the bytes it moved. Metrics (src/metrics/prometheus.ts) and
// logs hang off it; the store under it is untouched. Opened through the vault's `observe`
// option.
import type { GetOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
import { StoreDecorator } from './store-decorator.js';
import { isNotFound } from './object-store.js';

export type StoreOperation = 'get' | 'getRange' | 'put' | 'putIfAbsent' | 'head' | 'list' | 'delete' | 'deleteMany' | 'sync';

/** ok; not_found (a get of an absent key, or a HEAD that found nothing); exists (a
 *  put-if-absent that lost); aborted (the caller's signal); error (anything else). */
export type StoreResult = 'ok' | 'not_found' | 'exists' | 'aborted' | 'error';

export interface StoreRequestEvent {
  operation: StoreOperation;
  result: StoreResult;
  durationMs: number;
  /** Body bytes sent (put) or received (get, getRange). */
  bytesOut: number;
  bytesIn: number;
  /** The error, when result is error or aborted. */
  error?: unknown;
}

export interface StoreObserver {
  onRequest(e: StoreRequestEvent): void;
}

function errorResult(e: unknown): StoreResult {
  if (isNotFound(e)) return 'not_found';
  const name = (e as Error)?.name;
  return name === 'AbortError' || (e as { code?: string })?.code === 'BV.Aborted' ? 'aborted' : 'error';
}

export class InstrumentedStore extends StoreDecorator {
  readonly #observer: StoreObserver;

  constructor(inner: ObjectStore, observer: StoreObserver) {
    super(inner);
    this.#observer = observer;
  }

  #tell(operation: StoreOperation, started: number, result: StoreResult, bytesOut: number, bytesIn: number, error?: unknown): void {
    try {
      this.#observer.onRequest({ operation, result, durationMs: performance.now() - started, bytesOut, bytesIn, ...(error !== undefined ? { error } : {}) });
    } catch {
      // An observer's failure must never fail the request it watches.
    }
  }

  async #timed<T>(operation: StoreOperation, bytesOut: number, run: () => Promise<T>, judge: (v: T) => { result: StoreResult; bytesIn: number }): Promise<T> {
    const started = performance.now();
    let v: T;
    try {
      v = await run();
    } catch (e) {
      this.#tell(operation, started, errorResult(e), 0, 0, e);
      throw e;
    }
    const j = judge(v);
    this.#tell(operation, started, j.result, bytesOut, j.bytesIn);
    return v;
  }

  override get(key: string, opts?: GetOptions): Promise<Buffer> {
    return this.#timed('get', 0, () => this.inner.get(key, opts), (b) => ({ result: 'ok', bytesIn: b.length }));
  }

  override getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer> {
    return this.#timed('getRange', 0, () => this.inner.getRange(key, offset, length, opts), (b) => ({ result: 'ok', bytesIn: b.length }));
  }

  override put(key: string, body: Buffer, opts?: PutOptions): Promise<boolean> {
    const op: StoreOperation = opts?.ifAbsent ? 'putIfAbsent' : 'put';
    return this.#timed(op, body.length, () => this.inner.put(key, body, opts), (created) => ({ result: created ? 'ok' : 'exists', bytesIn: 0 }));
  }

  override head(key: string): Promise<ObjectInfo | undefined> {
    return this.#timed('head', 0, () => this.inner.head(key), (info) => ({ result: info ? 'ok' : 'not_found', bytesIn: 0 }));
  }

  /** One event per listing, when it ends (however many pages it took). */
  override async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const started = performance.now();
    try {
      for await (const o of this.inner.list(prefix)) yield o;
    } catch (e) {
      this.#tell('list', started, errorResult(e), 0, 0, e);
      throw e;
    }
    this.#tell('list', started, 'ok', 0, 0);
  }

  override delete(key: string): Promise<void> {
    return this.#timed('delete', 0, () => this.inner.delete(key), () => ({ result: 'ok', bytesIn: 0 }));
  }

  override deleteMany(keys: string[]): Promise<void> {
    return this.#timed('deleteMany', 0, () => this.inner.deleteMany(keys), () => ({ result: 'ok', bytesIn: 0 }));
  }

  override sync(): Promise<void> {
    return this.#timed('sync', 0, () => this.inner.sync(), () => ({ result: 'ok', bytesIn: 0 }));
  }

}

export function instrumentStore(store: ObjectStore, observer: StoreObserver): ObjectStore {
  return new InstrumentedStore(store, observer);
}
