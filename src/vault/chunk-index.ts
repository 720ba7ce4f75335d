// Which chunks the vault holds, so dedup needs no HEAD per block and no LIST per backup.
// The index is a set of segment objects under index/, each listing chunk ids that were
// stored before the segment was written. A backup writes a segment every few hundred new
// chunks (so an interrupted run's chunks are reused by the next) and one at the end,
// always before its manifest. GC rewrites the segments before it deletes any chunk.
//
// Segment: "BVIX", version u8, 3 reserved, count u32 LE, count × (32-byte id, u32 LE stored
// length), xxh64 LE. The length lets a dedup hit fill its manifest entry without a HEAD.
import { xxh64 } from '@node-rs/xxhash';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import type { IndexCache } from './index-cache.js';
import { Layout } from './layout.js';

export const INDEX_PREFIX = Layout.indexPrefix;
const MAGIC = Buffer.from('BVIX', 'ascii');

const REC = CHUNK_ID_BYTES + 4;

export interface IndexRecord {
  id: Buffer;
  storedLength: number;
}

export function encodeSegment(recs: IndexRecord[]): Buffer {
  const out = Buffer.alloc(12 + recs.length * REC + 8);
  MAGIC.copy(out, 0);
  out[4] = 1;
  out.writeUInt32LE(recs.length, 8);
  recs.forEach((r, i) => {
    r.id.copy(out, 12 + i * REC);
    out.writeUInt32LE(r.storedLength, 12 + i * REC + CHUNK_ID_BYTES);
  });
  const end = out.length - 8;
  out.writeBigUInt64LE(xxh64(out.subarray(0, end)), end);
  return out;
}

export function decodeSegment(buf: Buffer): IndexRecord[] {
  if (buf.length < 20 || !buf.subarray(0, 4).equals(MAGIC)) throw new Error('not a chunk index segment');
  const n = buf.readUInt32LE(8);
  const end = 12 + n * REC;
  if (buf.length !== end + 8 || xxh64(buf.subarray(0, end)) !== buf.readBigUInt64LE(end)) {
    throw new Error('chunk index segment is damaged');
  }
  const recs: IndexRecord[] = [];
  for (let i = 0; i < n; i++) {
    const off = 12 + i * REC;
    recs.push({ id: buf.subarray(off, off + CHUNK_ID_BYTES), storedLength: buf.readUInt32LE(off + CHUNK_ID_BYTES) });
  }
  return recs;
}

const key = (id: Uint8Array) => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');

export interface LoadedSegment {
  /** As listed (key, size, ETag, last modified). */
  info: ObjectInfo;
  records: IndexRecord[];
}

export interface ChunkIndexLoadOptions {
  /** Local copies of segments (S3 vaults): only segments not cached are fetched. */
  cache?: IndexCache;
  /** Encrypted vaults: segments are sealed (see vault-encryption.ts). */
  codec?: SegmentCodec;
}

/** How an encrypted vault seals its segments. open() gives undefined for a segment of a key
 *  domain that is not open here: its chunk ids are of no use to this process's dedup. */
export interface SegmentCodec {
  seal(key: string, body: Buffer): Buffer;
  open(key: string, buf: Buffer): Buffer | undefined;
}

export class ChunkIndex {
  readonly #known = new Map<string, number>();
  #pending: IndexRecord[] = [];
  #segments: string[] = [];
  /** Segments read at load, by key (for consolidation). */
  readonly loaded = new Map<string, LoadedSegment>();
  /** Segments fetched from the store / taken from the local cache at load. */
  fetchedSegments = 0;
  cachedSegments = 0;
  #cache: IndexCache | undefined;
  #codec: SegmentCodec | undefined;

  /** The stored form of a segment: sealed in an encrypted vault. */
  encodeFor(k: string, recs: IndexRecord[]): Buffer {
    const body = encodeSegment(recs);
    return this.#codec ? this.#codec.seal(k, body) : body;
  }

  /** Reads every segment. A damaged segment is skipped: the index is a cache of what
   *  exists, and a chunk it forgets is only uploaded again. */
  static async load(store: ObjectStore, opts: ChunkIndexLoadOptions = {}): Promise<ChunkIndex> {
    const index = new ChunkIndex();
    const cache = opts.cache;
    index.#cache = cache;
    const listed: ObjectInfo[] = [];
    for await (const o of store.list(INDEX_PREFIX)) listed.push(o);
    const codec = opts.codec;
    index.#codec = codec;
    /** undefined: sealed in a domain not open here (kept, not used). */
    const decode = (k: string, buf: Buffer): IndexRecord[] | undefined => {
      if (!codec) return decodeSegment(buf);
      const plain = codec.open(k, buf);
      return plain && decodeSegment(plain);
    };
    const readOne = async (o: ObjectInfo): Promise<IndexRecord[] | undefined> => {
      const hit = await cache?.get(o);
      if (hit) {
        try {
          const recs = decode(o.key, hit);
          index.cachedSegments++;
          return recs;
        } catch {
          await cache?.drop(o); // torn or damaged copy: fetch it again
        }
      }
      const buf = await store.get(o.key);
      const recs = decode(o.key, buf); // throws on damage: then neither cached nor used
      index.fetchedSegments++;
      await cache?.put({ ...o, size: buf.length }, buf);
      return recs;
    };
    // Bounded: a vault can hold thousands of segments, and the store queues requests anyway.
    let next = 0;
    const worker = async () => {
      while (next < listed.length) {
        const o = listed[next++]!;
        try {
          const records = await readOne(o);
          index.#segments.push(o.key);
          if (!records) continue; // another key domain's: never consolidated from here
          for (const r of records) index.#known.set(key(r.id), r.storedLength);
          index.loaded.set(o.key, { info: o, records });
        } catch {
          /* skipped: see above */
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, listed.length) }, worker));
    await cache?.retain(listed);
    return index;
  }

  get size(): number {
    return this.#known.size;
  }

  /** Puts a segment this process wrote into the local cache (no-op without one). */
  async cacheWritten(key: string, body: Buffer): Promise<void> {
    await this.#cache?.putWritten(key, body);
  }

  /** After consolidation: `removed` segments were merged into `added` (same records). */
  replaceSegments(removed: string[], added: LoadedSegment): void {
    const gone = new Set(removed);
    this.#segments = [...this.#segments.filter((k) => !gone.has(k)), added.info.key];
    for (const k of removed) this.loaded.delete(k);
    this.loaded.set(added.info.key, added);
  }

  get segments(): readonly string[] {
    return this.#segments;
  }

  has(id: Uint8Array): boolean {
    return this.#known.has(key(id));
  }

  /** The stored length of a known chunk, or undefined. */
  storedLength(id: Uint8Array): number | undefined {
    return this.#known.get(key(id));
  }

  /** Records a chunk that is now stored (call after its put resolved). */
  add(id: Uint8Array, storedLength: number): void {
    const k = key(id);
    if (this.#known.has(k)) return;
    this.#known.set(k, storedLength);
    this.#pending.push({ id: Buffer.from(id), storedLength });
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Writes the chunks added since the last flush as one segment. */
  async flush(store: ObjectStore, name: string): Promise<void> {
    if (this.#pending.length === 0) return;
    const recs = this.#pending;
    this.#pending = [];
    const k = Layout.indexSegmentKey(name);
    try {
      const body = this.encodeFor(k, recs);
      await store.put(k, body);
      this.#segments.push(k);
      // This machine has the segment already: cache it under the ETag a plain S3 PUT gets (its
      // MD5). Where the server's ETag differs (SSE-KMS…), the next load just misses and GETs it.
      await this.#cache?.putWritten(k, body);
    } catch (e) {
      this.#pending.unshift(...recs);
      throw e;
    }
  }
}
