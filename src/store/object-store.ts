// The one interface every vault sits on. Keys are '/'-separated paths relative to the
// vault's root (a directory, or a bucket + prefix). Objects are immutable in practice:
// chunks are content-addressed, manifests are written once with put-if-absent.

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
  etag?: string;
}

export interface PutOptions {
  /** Create only if no object has this key (If-None-Match: *, O_EXCL/link). */
  ifAbsent?: boolean;
  signal?: AbortSignal;
}

export interface GetOptions {
  signal?: AbortSignal;
}

export interface StoreCapabilities {
  /** put({ifAbsent}) is atomic on the server. When false, put-if-absent is best effort
   *  (check, then write) and two writers racing on one key can both believe they won. */
  conditionalWrite: boolean;
}

export interface ObjectStore {
  /** Where this store points, for messages: file:///abs/path or s3://bucket/prefix. */
  readonly url: string;
  readonly capabilities: StoreCapabilities;
  /** Blocks in flight a backup or restore should use on this store when the caller gives no
   *  `concurrency` (a remote store hides latency with more requests in flight). */
  readonly defaultConcurrency?: number;

  /** Whole object. Rejects with StoreNotFoundError when absent. */
  get(key: string, opts?: GetOptions): Promise<Buffer>;
  /** `length` bytes from `offset` (fewer at the end of the object). */
  getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer>;
  /** Writes atomically: readers see the old object, none, or the whole new one.
   *  With ifAbsent, resolves false (and writes nothing) when the key exists. */
  put(key: string, body: Buffer, opts?: PutOptions): Promise<boolean>;
  /** undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with prefix, in no promised order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string): Promise<void>;
  deleteMany(keys: string[]): Promise<void>;
  /** Makes every put that has resolved durable (a local store fsyncs the directories it
   *  renamed into). Called before a manifest is written, so no manifest can name a chunk
   *  that a power cut could lose. Stores that are durable on put resolve at once. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export class StoreNotFoundError extends Error {
  readonly key: string;
  constructor(store: string, key: string) {
    super(`object ${key} not found in ${store}`);
    this.name = 'StoreNotFoundError';
    this.key = key;
  }
}

export function isNotFound(err: unknown): err is StoreNotFoundError {
  return err instanceof StoreNotFoundError;
}
