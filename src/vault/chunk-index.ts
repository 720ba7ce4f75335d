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
import type { ObjectStore } from '../store/object-store.js';

export const INDEX_PREFIX = 'index/';
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

export class ChunkIndex {
  readonly #known = new Map<string, number>();
  #pending: IndexRecord[] = [];
  #segments: string[] = [];

  /** Reads every segment. A damaged segment is skipped: the index is a cache of what
   *  exists, and a chunk it forgets is only uploaded again. */
  static async load(store: ObjectStore): Promise<ChunkIndex> {
    const index = new ChunkIndex();
    const keys: string[] = [];
    for await (const o of store.list(INDEX_PREFIX)) keys.push(o.key);
    await Promise.all(
      keys.map(async (k) => {
        try {
          for (const r of decodeSegment(await store.get(k))) index.#known.set(key(r.id), r.storedLength);
          index.#segments.push(k);
        } catch {
          /* skipped: see above */
        }
      }),
    );
    return index;
  }

  get size(): number {
    return this.#known.size;
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
    const k = `${INDEX_PREFIX}${name}.idx`;
    try {
      await store.put(k, encodeSegment(recs));
      this.#segments.push(k);
    } catch (e) {
      this.#pending.unshift(...recs);
      throw e;
    }
  }
}
