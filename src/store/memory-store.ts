// mem://name: objects in this process's memory, for fast tests. Every open of one name in a
// process sees the same objects (two vaults, or a vault and a test, on one store), and close()
// keeps them; MemoryStore.drop(name) forgets them. Bodies are copied in and out, so no caller
// can change a stored object through a buffer it holds, and a second read returns fresh bytes.
import { checkKey, checkRange, StoreNotFoundError } from './store-errors.js';
import type { CallOptions, GetOptions, ObjectInfo, ObjectStore, PutOptions, StoreCapabilities } from './object-store.js';
import { throwIfCancelled } from './operation-signal.js';

interface StoredObject {
  body: Buffer;
  lastModified: Date;
}

export interface MemoryStoreOptions {
  /** Start from no objects even if this name already holds some. */
  fresh?: boolean;
}

const buckets = new Map<string, Map<string, StoredObject>>();

export class MemoryStore implements ObjectStore {
  readonly url: string;
  readonly name: string;
  readonly capabilities: StoreCapabilities = { conditionalWrite: true, remote: false };
  readonly #objects: Map<string, StoredObject>;

  private constructor(name: string, objects: Map<string, StoredObject>) {
    this.name = name;
    this.url = `mem://${name}`;
    this.#objects = objects;
  }

  /** The store named `name` in this process (made empty on first use). */
  static open(name: string, opts: MemoryStoreOptions = {}): MemoryStore {
    let objects = buckets.get(name);
    if (!objects || opts.fresh) {
      objects = new Map();
      buckets.set(name, objects);
    }
    return new MemoryStore(name, objects);
  }

  /** Forgets every object of that name. */
  static drop(name: string): void {
    buckets.delete(name);
  }

  /** Number of objects (for tests). */
  get size(): number {
    return this.#objects.size;
  }

  async get(key: string, opts?: GetOptions): Promise<Buffer> {
    this.#check(key, opts?.signal);
    const o = this.#objects.get(key);
    if (!o) throw new StoreNotFoundError(this.url, key);
    return Buffer.from(o.body);
  }

  async getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer> {
    this.#check(key, opts?.signal);
    checkRange(key, offset, length, this.url);
    const o = this.#objects.get(key);
    if (!o) throw new StoreNotFoundError(this.url, key);
    return Buffer.from(o.body.subarray(Math.min(offset, o.body.length), Math.min(offset + length, o.body.length)));
  }

  async put(key: string, body: Buffer, opts: PutOptions = {}): Promise<boolean> {
    this.#check(key, opts.signal);
    // One synchronous step from the check to the set: put-if-absent is atomic in one process.
    if (opts.ifAbsent && this.#objects.has(key)) return false;
    this.#objects.set(key, { body: Buffer.from(body), lastModified: new Date() });
    return true;
  }

  async head(key: string, opts?: CallOptions): Promise<ObjectInfo | undefined> {
    this.#check(key, opts?.signal);
    const o = this.#objects.get(key);
    return o ? { key, size: o.body.length, lastModified: o.lastModified } : undefined;
  }

  async *list(prefix: string, opts?: CallOptions): AsyncIterable<ObjectInfo> {
    throwIfCancelled(opts);
    // A snapshot: puts and deletes during the walk do not disturb it.
    const hits = [...this.#objects].filter(([k]) => k.startsWith(prefix));
    for (const [key, o] of hits) yield { key, size: o.body.length, lastModified: o.lastModified };
  }

  async delete(key: string, opts?: CallOptions): Promise<void> {
    this.#check(key, opts?.signal);
    this.#objects.delete(key);
  }

  async deleteMany(keys: string[], opts?: CallOptions): Promise<void> {
    throwIfCancelled(opts);
    for (const k of keys) checkKey(k, this.url);
    for (const k of keys) this.#objects.delete(k);
  }

  /** Memory has nothing to flush. */
  async sync(): Promise<void> {}

  /** Keeps the objects: another open of the same name sees them. */
  async close(): Promise<void> {}

  #check(key: string, signal?: AbortSignal): void {
    throwIfCancelled({ signal });
    checkKey(key, this.url);
  }
}
