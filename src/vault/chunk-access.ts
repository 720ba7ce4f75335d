// The vault's chunk operations: the one way a chunk object is written (dedup against the
// index and against puts in flight, then recorded in the index), read (one verified path for
// restore, verify, copy and export: frame checksum, decompress, keyed identity, re-read on a
// bad body), confirmed, listed and deleted. The engine sees ids and bytes, never keys.
//
// Index segments are written every INDEX_FLUSH_CHUNKS new chunks, every INDEX_FLUSH_BYTES of
// new chunk bytes, or INDEX_FLUSH_MS after the first unflushed chunk, whichever comes first,
// and once at the end of a run: a
// run killed with kill -9 leaves at most that much stored-but-unindexed, which the next run
// writes again (see docs/architecture.md, "Resume").
import { randomBytes } from 'node:crypto';
import { decodeChunk, type ChunkFrame, type ChunkSealKey } from '../chunk/chunk-format.js';
import { decompress, type Compression } from '../chunk/compress.js';
import { idToHex, type ChunkHasher } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { isNotFound, type ObjectInfo, type ObjectStore } from '../store/object-store.js';
import type { ChunkIndex } from './chunk-index.js';
import { readChecked, unstableReadError } from './chunk-reread.js';
import { Layout } from './layout.js';

/** Index segment cadence (see the top of this file). */
export const INDEX_FLUSH_CHUNKS = 256;
export const INDEX_FLUSH_BYTES = 128 * 1024 * 1024;
export const INDEX_FLUSH_MS = 10_000;

export interface PutChunkInfo {
  rawLength: number;
  payloadLength: number;
  signal?: AbortSignal;
}

export interface PutChunkResult {
  storedLength: number;
  /** This call wrote the object (false: the vault or a put in flight already had it). */
  written: boolean;
  /** The object was present but not in the index and was written again (see gc.ts). */
  rewritten?: boolean;
}

export interface ReadChunkOptions {
  storedLength?: number;
  signal?: AbortSignal;
  /** The raw length the caller expects (a block's length): anything else is corrupt. */
  expectLength?: number;
  /** For messages: what needs the chunk ("block 3 (offset …) of backup …"), and details. */
  at?: string;
  details?: Record<string, unknown>;
  /** A block-sized buffer the caller reuses: a compressed chunk is decompressed into it (the
   *  result is then a view of it), which spares an allocation and its collection per block. */
  into?: Buffer;
  /** A buffer of objectCapacity(blockSize) bytes the caller reuses for the stored object
   *  (first read only; a re-read gets its own, so two reads can be compared). The result may
   *  be a view of it (an uncompressed chunk). */
  objectInto?: Buffer;
}

export interface ChunkListing {
  id: Buffer;
  size: number;
  lastModified?: Date;
}

export interface ChunkCodec {
  hashKey: Buffer;
  compression: Compression;
  /** Encrypted vaults: the key domain's chunk key (AES-256-GCM in the workers, after LZ4). */
  seal?: ChunkSealKey;
  /** The hasher of hashKey (chunk ids are per key domain in an encrypted vault). */
  hasher?: ChunkHasher;
  /** Encrypted vaults: the key domain (hex), recorded in the manifest header. */
  keyDomain?: string;
}

/** How an encrypted vault opens chunk frames (vault-encryption.ts). */
export interface ChunkCrypto {
  /** Opens the key domain the object names (async: may unwrap through the control plane). */
  prepareChunk(obj: Buffer): Promise<void>;
  decodeChunk(obj: Buffer, id: Uint8Array, inPlace?: boolean): { frame: ChunkFrame; hasher: ChunkHasher };
}

export interface IndexFlushPolicy {
  /** New chunk bytes between index segments (default INDEX_FLUSH_BYTES). */
  indexFlushBytes?: number;
  /** Longest time a stored chunk stays unindexed (default INDEX_FLUSH_MS). */
  indexFlushMs?: number;
}

const latin1 = (id: Uint8Array) => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');

export class ChunkAccess {
  readonly #store: ObjectStore;
  readonly #hasher: ChunkHasher | undefined;
  readonly #crypto: ChunkCrypto | undefined;
  readonly #load: () => Promise<ChunkIndex>;
  #index: Promise<ChunkIndex> | undefined;
  #loaded: ChunkIndex | undefined;
  readonly #inflight = new Map<string, Promise<PutChunkResult>>();
  /** Ids the index lists whose object was found gone: not deduplicated against again. */
  readonly #gone = new Set<string>();
  #tag = `w-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  #segment = 0;
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #flushBytes: number;
  readonly #flushMs: number;
  /** Index segments written by this vault object (for the caller's counters). */
  segmentsWritten = 0;

  /** hasher: a plain vault's; crypto: an encrypted vault's (chunk ids per key domain). */
  constructor(store: ObjectStore, hasher: ChunkHasher | undefined, load: () => Promise<ChunkIndex>, policy: IndexFlushPolicy = {}, crypto?: ChunkCrypto) {
    this.#store = store;
    this.#hasher = hasher;
    this.#crypto = crypto;
    this.#load = load;
    this.#flushBytes = policy.indexFlushBytes ?? INDEX_FLUSH_BYTES;
    this.#flushMs = policy.indexFlushMs ?? INDEX_FLUSH_MS;
  }

  index(reload = false): Promise<ChunkIndex> {
    if (reload || !this.#index) {
      const p = this.#load();
      this.#index = p;
      this.#loaded = undefined;
      this.#gone.clear();
      void p.then(
        (i) => {
          if (this.#index === p) this.#loaded = i;
        },
        () => {
          if (this.#index === p) this.#index = undefined; // failed (cancelled, timed out): the next caller loads again
        },
      );
    }
    return this.#index;
  }

  /** Names the index segments this run writes <tag>-0000, <tag>-0001, … (a backup uses its id). */
  nameSegments(tag: string): void {
    this.#tag = tag;
    this.#segment = 0;
  }

  /** Stores a chunk unless the vault (or a put in flight) has it; records it in the index. */
  async putChunk(id: Buffer, obj: Buffer, info: PutChunkInfo): Promise<PutChunkResult> {
    const index = this.#loaded ?? (await this.index());
    const k = id.toString('latin1');
    let known = await index.lookup(id);
    if (known !== undefined && this.#gone.size !== 0 && this.#gone.has(k)) known = undefined;
    if (known !== undefined) return { storedLength: known, written: false };
    const pending = this.#inflight.get(k);
    if (pending) return { storedLength: (await pending).storedLength, written: false };
    const work = this.#write(index, id, k, obj, info.signal);
    this.#inflight.set(k, work);
    try {
      return await work;
    } finally {
      this.#inflight.delete(k);
    }
  }

  async #write(index: ChunkIndex, id: Buffer, k: string, obj: Buffer, signal: AbortSignal | undefined): Promise<PutChunkResult> {
    const key = Layout.chunkKey(id);
    let written = await this.#store.put(key, obj, { ifAbsent: true, signal });
    let rewritten = false;
    if (!written) {
      // Present but not in the index: left by an interrupted run, or garbage GC is about to
      // sweep. Rewrite it rather than trust it; the newer object is what GC spares (gc.ts).
      written = await this.#store.put(key, obj, { signal });
      rewritten = true;
    }
    index.add(id, obj.length);
    if (this.#gone.size !== 0) this.#gone.delete(k);
    this.#pendingBytes += obj.length;
    if (this.#pendingBytes >= this.#flushBytes || index.pendingCount >= INDEX_FLUSH_CHUNKS) void this.flushIndex().catch(() => {});
    else this.#timer ??= setTimeout(() => void this.flushIndex().catch(() => {}), this.#flushMs).unref();
    return { storedLength: obj.length, written, rewritten };
  }

  /** Writes the index segment for chunks stored so far; serialized. */
  flushIndex(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pendingBytes = 0;
    const index = this.#loaded;
    if (!index) return this.#flushing;
    this.#flushing = this.#flushing
      .catch(() => {})
      .then(async () => {
        if (index.pendingCount === 0) return;
        await index.flush(this.#store, `${this.#tag}-${String(this.#segment++).padStart(4, '0')}`);
        this.segmentsWritten++;
      });
    return this.#flushing;
  }

  /** The index lists it (no request). */
  async hasChunk(id: Uint8Array): Promise<boolean> {
    const index = this.#loaded ?? (await this.index());
    return (await index.lookup(id)) !== undefined && !this.#gone.has(latin1(id));
  }

  /** Is the object there now (a HEAD; a local store stats)? When it is gone, the index entry
   *  is dropped for this vault object, so the next put of the chunk writes it. */
  async confirmChunk(id: Uint8Array): Promise<boolean> {
    if (await this.#store.head(Layout.chunkKey(id))) return true;
    this.#gone.add(latin1(id));
    return false;
  }

  statChunk(id: Uint8Array): Promise<ObjectInfo | undefined> {
    return this.#store.head(Layout.chunkKey(id));
  }

  /** The block's raw bytes, proven to be the chunk `id` names. */
  readChunk(id: Uint8Array, opts: ReadChunkOptions = {}): Promise<Buffer> {
    const hex = idToHex(id);
    const key = Layout.chunkKey(id);
    const check = (obj: Buffer): Buffer => {
      // In place: the object is dropped after this; a failed open leaves its bytes as read.
      const { frame, hasher } = this.#decode(obj, id, true);
      const data = decompress(frame.payload, frame.compression, frame.rawLength, opts.into);
      const len = opts.expectLength;
      if (len !== undefined && data.length !== len) throw new Error(`chunk holds ${data.length} bytes, the block has ${len}`);
      if (!hasher.id(data).equals(id)) throw new Error('content does not match its identity hash');
      return data;
    };
    let into = opts.objectInto;
    const read = () => {
      const buf = into;
      into = undefined; // a re-read must not overwrite the bytes it is compared with
      return this.#getPrepared(hex, key, opts, buf);
    };
    return readChecked(read, check, (o) => (o.stable ? this.#corrupt(hex, key, o.error.message, opts) : unstableReadError(key, this.#store.url, o)), opts.signal);
  }

  /** The stored object as it is (frame checksum checked), for copy and export. */
  readChunkObject(id: Uint8Array, opts: Omit<ReadChunkOptions, 'expectLength'> = {}): Promise<Buffer> {
    const hex = idToHex(id);
    const key = Layout.chunkKey(id);
    const check = (obj: Buffer): Buffer => {
      decodeChunk(obj, 'frame');
      if (this.#crypto && obj[6] === 0) throw new Error('chunk is not encrypted, in an encrypted vault');
      return obj;
    };
    return readChecked(() => this.#get(hex, key, opts), check, (o) => (o.stable ? this.#corrupt(hex, key, o.error.message, opts) : unstableReadError(key, this.#store.url, o)), opts.signal);
  }

  /** Copy/import: the object must decode to the chunk `id` names; then stored like putChunk. */
  async importChunkObject(id: Uint8Array, obj: Buffer, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const hex = idToHex(id);
    let rawLength: number;
    let payloadLength: number;
    await this.#crypto?.prepareChunk(obj);
    try {
      const { frame, hasher } = this.#decode(obj, id);
      const data = decompress(frame.payload, frame.compression, frame.rawLength);
      if (!hasher.id(data).equals(id)) throw new Error('content does not match its identity hash');
      rawLength = frame.rawLength;
      payloadLength = frame.payload.length;
    } catch (e) {
      throw new BlockvaultError(ErrorCodes.corruptChunk, `chunk ${hex} to import is not valid for this vault: ${(e as Error).message}`, {
        hint: 'the source vault must use the same hash key (a copy of this vault); check the source with `blockvault verify --deep`',
        details: { chunk: hex },
      });
    }
    const r = await this.putChunk(Buffer.from(id), obj, { rawLength, payloadLength, ...(opts.signal ? { signal: opts.signal } : {}) });
    return r.written;
  }

  async *listChunks(opts: { signal?: AbortSignal } = {}): AsyncIterable<ChunkListing> {
    for await (const o of this.#store.list(Layout.chunkPrefix)) {
      opts.signal?.throwIfAborted();
      const id = Layout.chunkIdFromKey(o.key);
      if (id) yield o.lastModified ? { id, size: o.size, lastModified: o.lastModified } : { id, size: o.size };
    }
  }

  async deleteChunks(ids: Uint8Array[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#store.deleteMany(ids.map((id) => Layout.chunkKey(id)));
    await this.#store.sync();
  }

  #decode(obj: Buffer, id: Uint8Array, inPlace = false): { frame: ChunkFrame; hasher: ChunkHasher } {
    if (this.#crypto) return this.#crypto.decodeChunk(obj, id, inPlace);
    return { frame: decodeChunk(obj), hasher: this.#hasher! };
  }

  /** #get, then (encrypted vaults) the key domain the object names opened. */
  async #getPrepared(hex: string, key: string, opts: ReadChunkOptions, into?: Buffer): Promise<Buffer> {
    const obj = await this.#get(hex, key, opts, into);
    await this.#crypto?.prepareChunk(obj);
    return obj;
  }

  async #get(hex: string, key: string, opts: ReadChunkOptions, into?: Buffer): Promise<Buffer> {
    try {
      return await this.#store.get(key, opts.signal || into ? { ...(opts.signal ? { signal: opts.signal } : {}), ...(into ? { into } : {}) } : undefined);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const at = opts.at ? ` for ${opts.at}` : '';
      throw new BlockvaultError(ErrorCodes.missingChunk, `chunk ${hex}${at} is missing from the vault`, {
        hint: 'run `blockvault verify` to find every affected backup; restore the object from a vault copy',
        details: { ...opts.details, chunk: hex, object: key },
      });
    }
  }

  #corrupt(hex: string, key: string, why: string, opts: ReadChunkOptions): BlockvaultError {
    const at = opts.at ? ` for ${opts.at}` : '';
    return new BlockvaultError(ErrorCodes.corruptChunk, `chunk ${hex}${at} is corrupt: ${why}`, {
      hint: 'run `blockvault verify` to find every affected backup; restore the object from a vault copy (it read back the same bad bytes twice)',
      details: { ...opts.details, chunk: hex, object: key },
    });
  }
}
