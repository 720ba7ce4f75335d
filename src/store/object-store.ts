// The one interface every vault sits on. Keys are '/'-separated paths relative to the
// vault's root (a directory, or a bucket + prefix). Objects are immutable in practice:
// chunks are content-addressed, manifests are written once with put-if-absent.
//
// What every store guarantees (test/store/contract.ts checks each line, on every store):
//  - Read after write: once put() resolves, get/getRange/head/list in this and any other
//    process see the new object (S3 has been strongly consistent since 2020; a directory is).
//  - Atomic objects: a reader sees the old object, none, or the whole new one, never a mix or
//    a torn prefix, including while a replacing put() is in flight.
//  - put({ifAbsent}) of N racing creators: exactly one resolves true, the rest false, and the
//    object is the winner's. Atomic where capabilities.conditionalWrite is true; see below.
//  - Durability: an object is durable once its put() resolves, unless the put was deferred
//    (deferSync); a deferred one is durable once a later sync() — or a later put that is not
//    deferred, which is a barrier — resolves. Until then a power cut may lose or tear it, so
//    nothing durable may name it before: a manifest or index segment written after it can.
//  - Fresh reads: every get goes to the medium; no store caches bodies, so a second read after
//    a damaged one returns what is stored now.
//  - Ranges: getRange returns at most `length` bytes: fewer at the end, none past it, none for
//    length 0; all of these reject with StoreNotFoundError when the object is absent.
//  - list(prefix) yields every object whose key starts with prefix, each once, in no promised
//    order, however many there are (S3 pages of 1000 are followed to the end).
//  - delete and deleteMany are idempotent: an absent key is no error.
//  - Errors are StoreError (src/store/store-errors.ts): a category (notFound, auth, conflict,
//    throttled, timeout, network, serverError, badRequest, full, …) and `retryable`.
//  - Cancellation: an aborted signal ends the call within seconds, with an "aborted" error.
//    A call given no signal takes the operation's (operation-signal.ts: withOperationSignal).

export {
  StoreError,
  StoreNotFoundError,
  isNotFound,
  isStoreError,
  type StoreErrorCategory,
} from './store-errors.js';

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
  etag?: string;
}

export interface PutOptions {
  /** Create only if no object has this key (If-None-Match: *, O_EXCL/link). */
  ifAbsent?: boolean;
  /** The object need not survive a power cut until the next sync(): the caller names it in
   *  nothing durable before then (chunks, before their manifest). Saves a local store one
   *  fdatasync per object; remote stores are durable on put anyway. */
  deferSync?: boolean;
  signal?: AbortSignal;
}

/** Every call takes a signal: an abort (Ctrl-C, SIGTERM) ends it within seconds. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface GetOptions extends CallOptions {
  /** A buffer the caller reuses: a store that can reads a whole object that fits into it, and
   *  the result is then a view of it (the local store does; others return their own buffer). */
  into?: Buffer;
}

export interface StoreCapabilities {
  /** put({ifAbsent}) is atomic on the server. When false, put-if-absent is best effort
   *  (check, then write) and two writers racing on one key can both believe they won. */
  conditionalWrite: boolean;
  /** Reaching the objects costs a network round trip (a local cache of derived data pays). */
  remote?: boolean;
  /** Keys one listing request yields: S3's page of 1000 (the default). A store that stats
   *  each key it lists (a directory) says 1: listing N keys costs it N requests. */
  listPageKeys?: number;
}

export interface ObjectStore {
  /** Where this store points, for messages: file:///abs/path, s3://bucket/prefix/, mem://name. */
  readonly url: string;
  readonly capabilities: StoreCapabilities;
  /** Blocks in flight a backup or restore should use on this store when the caller gives no
   *  `concurrency` (a remote store hides latency with more requests in flight). */
  readonly defaultConcurrency?: number;

  /** Whole object. Rejects with StoreNotFoundError when absent. */
  get(key: string, opts?: GetOptions): Promise<Buffer>;
  /** `length` bytes from `offset` (fewer at the end of the object, none past it). */
  getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer>;
  /** Writes atomically: readers see the old object, none, or the whole new one.
   *  With ifAbsent, resolves false (and writes nothing) when the key exists. */
  put(key: string, body: Buffer, opts?: PutOptions): Promise<boolean>;
  /** undefined when absent. */
  head(key: string, opts?: CallOptions): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with prefix, in no promised order. */
  list(prefix: string, opts?: CallOptions): AsyncIterable<ObjectInfo>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string, opts?: CallOptions): Promise<void>;
  deleteMany(keys: string[], opts?: CallOptions): Promise<void>;
  /** Makes every put and delete that has resolved durable (a local store fdatasyncs the files
   *  put with deferSync, then fsyncs the directories it changed). Called before a manifest is
   *  written, so no manifest can name a chunk that a power cut could lose. Stores that are
   *  durable on put resolve at once. */
  sync(): Promise<void>;
  close(): Promise<void>;
}
