// Which chunks the vault holds, so dedup needs no HEAD per block and no LIST per backup.
// The index is a set of segment objects under index/, each listing chunk ids that were
// stored before the segment was written. A backup writes a segment every few hundred new
// chunks (so an interrupted run's chunks are reused by the next) and one at the end,
// always before its manifest. GC rewrites the segments before it deletes any chunk.
//
// Lookups go to this host's local copy (index-local.ts: a sorted on-disk run with fences and a
// filter in memory, plus a small delta), kept current by fetching only new segments, and to the
// chunks this process added. They are asynchronous: `mayContain` answers from memory, `lookup`
// may read one 4 KiB page.
//
// Segment: "BVIX", version u8, 3 reserved, count u32 LE, count × (32-byte id, u32 LE stored
// length), xxh64 LE. The length lets a dedup hit fill its manifest entry without a HEAD.
// In an encrypted vault that body is sealed (index-segments.ts SegmentCodec) under its key.
import { xxh64 } from '@node-rs/xxhash';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { INDEX_SEGMENT_HEADER_BYTES as HDR, INDEX_SEGMENT_MAGIC, INDEX_SEGMENT_VERSION } from '../chunk/format.js';
import { Layout } from './layout.js';
import { LocalIndex, type LocalIndexTuning, type SegmentEntry, type SyncResult } from './index-local.js';
import { LocalIndexDamaged } from './index-run.js';
import type { SegmentCodec } from './index-segments.js';

export type { SegmentCodec } from './index-segments.js';

export const INDEX_PREFIX = Layout.indexPrefix;
const MAGIC = Buffer.from(INDEX_SEGMENT_MAGIC, 'ascii');

const REC = CHUNK_ID_BYTES + 4;

export interface IndexRecord {
  id: Buffer;
  storedLength: number;
}

/** Records to encode without holding each as an object: how many, then each in turn
 *  (GC writes every listed chunk of a vault into one segment). */
export interface CountedRecords {
  count: number;
  records: Iterable<IndexRecord>;
}

export function encodeSegment(recs: readonly IndexRecord[] | CountedRecords): Buffer {
  const n = 'count' in recs ? recs.count : recs.length;
  const out = Buffer.alloc(HDR + n * REC + 8);
  MAGIC.copy(out, 0);
  out[4] = INDEX_SEGMENT_VERSION;
  out.writeUInt32LE(n, 8);
  let i = 0;
  for (const r of 'count' in recs ? recs.records : recs) {
    if (i === n) throw new Error(`index segment: more than the ${n} records announced`);
    r.id.copy(out, HDR + i * REC, 0, CHUNK_ID_BYTES);
    out.writeUInt32LE(r.storedLength, HDR + i * REC + CHUNK_ID_BYTES);
    i++;
  }
  if (i !== n) throw new Error(`index segment: ${i} records of the ${n} announced`);
  const end = out.length - 8;
  out.writeBigUInt64LE(xxh64(out.subarray(0, end)), end);
  return out;
}

export function decodeSegment(buf: Buffer): IndexRecord[] {
  if (buf.length < HDR + 8 || !buf.subarray(0, 4).equals(MAGIC)) throw new Error('not a chunk index segment');
  const n = buf.readUInt32LE(8);
  const end = HDR + n * REC;
  if (buf.length !== end + 8 || xxh64(buf.subarray(0, end)) !== buf.readBigUInt64LE(end)) {
    throw new Error('chunk index segment is damaged');
  }
  const recs: IndexRecord[] = [];
  for (let i = 0; i < n; i++) {
    const off = HDR + i * REC;
    recs.push({ id: buf.subarray(off, off + CHUNK_ID_BYTES), storedLength: buf.readUInt32LE(off + CHUNK_ID_BYTES) });
  }
  return recs;
}

const key = (id: Uint8Array) => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');

export interface ChunkIndexLoadOptions {
  /** Directory of this host's local copy (index-cache.ts localIndexDir); without one the copy
   *  is built in a private temporary directory, removed as soon as it is open. */
  dir?: string | undefined;
  /** The store is remote: keep copies of segments this process writes, so no GET brings them
   *  back (default: the store's URL is not file:). */
  remote?: boolean;
  /** Level sizes (tests, bench). */
  tuning?: LocalIndexTuning;
  /** Encrypted vaults: segments are sealed (index-segments.ts, vault-encryption.ts). */
  codec?: SegmentCodec | undefined;
}

export class ChunkIndex {
  readonly #local: LocalIndex;
  readonly #dir: string | undefined;
  readonly #remote: boolean;
  /** Chunks this process added (memtable): bounded by what one operation stores. */
  readonly #added = new Map<string, number>();
  #pending: IndexRecord[] = [];
  #segments: string[];
  #damaged = false;
  /** Segments as listed at load (consolidation reads them). */
  readonly listed: readonly ObjectInfo[];
  /** Segments fetched from the store / covered by the local copy (or its kept writes) at load. */
  readonly fetchedSegments: number;
  readonly cachedSegments: number;
  /** The load rebuilt the on-disk base run. */
  readonly rebuilt: boolean;
  /** Encrypted vaults: how segments are sealed and opened. */
  readonly codec: SegmentCodec | undefined;
  /** The local copy's entry per covered segment (its key domain, whether it was locked). */
  readonly #entries: Map<string, SegmentEntry>;

  private constructor(local: LocalIndex, dir: string | undefined, remote: boolean, r: SyncResult, codec: SegmentCodec | undefined) {
    this.#local = local;
    this.#dir = dir;
    this.#remote = remote;
    this.codec = codec;
    this.#entries = new Map(local.segments.map((e) => [e.key, e]));
    const { listed, fetched, cached, rebuilt } = r;
    this.listed = listed;
    this.#segments = listed.map((o) => o.key);
    this.fetchedSegments = fetched;
    this.cachedSegments = cached;
    this.rebuilt = rebuilt;
  }

  /** Brings the local copy up to date (fetching only segments it lacks) and opens it. Damaged
   *  segments are skipped: the index is a cache of what exists, and a chunk it forgets is only
   *  uploaded again. A damaged local copy is rebuilt from the segments. */
  static async load(store: ObjectStore, opts: ChunkIndexLoadOptions = {}): Promise<ChunkIndex> {
    const remote = opts.remote ?? !store.url.startsWith('file:');
    const dir = opts.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'blockvault-index-')));
    try {
      const r = await LocalIndex.sync(store, dir, INDEX_PREFIX, { remote: remote && opts.dir !== undefined, tuning: opts.tuning, codec: opts.codec });
      return new ChunkIndex(r.local, opts.dir, remote, r, opts.codec);
    } finally {
      // the open run stays readable through its descriptor after the directory goes
      if (opts.dir === undefined) await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
    }
  }

  /** Distinct chunks known (the local copy's count plus this process's additions). */
  get size(): number {
    return this.#local.count + this.#added.size;
  }

  /** Bytes of index held in memory: fences, filter, delta, and this process's additions. */
  get memoryBytes(): number {
    return this.#local.memoryBytes + this.#added.size * 120;
  }

  /** Page reads the lookups made (one per lookup the filter passes). */
  get pageReads(): number {
    return this.#local.base?.pageReads ?? 0;
  }

  get segments(): readonly string[] {
    return this.#segments;
  }

  /** How the local copy covers a segment listed at load: its key domain (sealed segments) and
   *  whether it was locked (sealed in a domain not open here); undefined when skipped. */
  segmentEntry(k: string): SegmentEntry | undefined {
    return this.#entries.get(k);
  }

  /** The stored form of a segment: sealed in an encrypted vault (bound to its key `k`, in
   *  `domain`, default the current backup's). */
  encodeFor(k: string, recs: IndexRecord[], domain?: string): Buffer {
    return this.sealBody(k, encodeSegment(recs), domain);
  }

  /** A plain BVIX body as stored under `k`. */
  sealBody(k: string, body: Buffer, domain?: string): Buffer {
    return this.codec ? this.codec.seal(k, body, domain) : body;
  }

  /** False: certainly not known. True: maybe (ask `lookup`). From memory only. */
  mayContain(id: Uint8Array): boolean {
    return this.#added.has(key(id)) || (!this.#damaged && this.#local.mayContain(id));
  }

  /** The stored length of a known chunk, or undefined. */
  async lookup(id: Uint8Array): Promise<number | undefined> {
    const k = key(id);
    const mine = this.#added.get(k);
    if (mine !== undefined || this.#damaged) return mine;
    try {
      const len = await this.#local.lookup(id);
      return len ?? this.#added.get(k); // added by a sibling lane meanwhile
    } catch (e) {
      if (!(e instanceof LocalIndexDamaged)) throw e;
      await this.#markDamaged();
      return this.#added.get(k);
    }
  }

  /** A page failed its check: answer "unknown" from now on (safe: chunks are uploaded again)
   *  and make the next load rebuild the copy. */
  async #markDamaged(): Promise<void> {
    if (this.#damaged) return;
    this.#damaged = true;
    if (this.#dir) await this.#local.discard();
  }

  /** Records a chunk that is now stored (call after its put resolved). */
  add(id: Uint8Array, storedLength: number): void {
    const k = key(id);
    if (this.#added.has(k)) return;
    this.#added.set(k, storedLength);
    this.#pending.push({ id: Buffer.from(id), storedLength });
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Keeps a copy of a segment this process wrote (remote stores, with a local copy dir),
   *  labelled with the ETag a plain S3 PUT gets (its MD5); where the server's ETag differs
   *  (SSE-KMS…), the next load just GETs it. */
  async cacheWritten(k: string, body: Buffer): Promise<void> {
    if (!this.#remote || !this.#dir) return;
    const etag = createHash('md5').update(body).digest('hex');
    await LocalIndex.keepWritten(this.#dir, k, etag, body).catch(() => {});
  }

  /** After consolidation: `removed` segments were merged into `added`. */
  replaceSegments(removed: string[], added: string): void {
    const gone = new Set(removed);
    this.#segments = [...this.#segments.filter((k) => !gone.has(k)), added];
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
      await this.cacheWritten(k, body);
    } catch (e) {
      this.#pending.unshift(...recs);
      throw e;
    }
  }

  /** Closes the local copy's file. */
  async close(): Promise<void> {
    await this.#local.close();
  }
}
