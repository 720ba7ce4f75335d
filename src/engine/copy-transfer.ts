// How one chunk moves from one vault to another, and how fast.
//
// Two vaults with the same chunk-id key (a replica made with initReplica, or a vault and its
// own copy) name a block with the same id: a chunk object is valid in both and travels as
// stored — read with its frame checked, written after the destination has decoded it and
// checked its identity (importChunkObject). Vaults with different keys name the same block
// differently: the block is read raw (frame, decompression and source identity checked),
// given the destination's id, compressed and framed with the destination's codec.
//
// Encrypted vaults: chunk ids and chunk keys are per key domain. A backup whose destination
// domain is its source domain (or two plain vaults with one chunk-id key) travels verbatim;
// any other pair is re-identified: read through the source's `readChunk` (decrypted, its
// identity checked), given the id of the destination's domain, compressed and, when that
// domain is encrypted, sealed with its chunk key (the id bound as associated data).
import type { Compression } from '../chunk/compress.js';
import { maybeCompress } from '../chunk/compress.js';
import { encodeChunk, encodeSealedChunk, type ChunkSealKey } from '../chunk/chunk-format.js';
import { ChunkHasher } from '../chunk/identity.js';
import { abortError } from '../errors.js';

export interface ChunkCodecLike {
  hashKey: Buffer;
  compression: Compression;
  /** An encrypted key domain's chunk key: objects framed for it are sealed. */
  seal?: ChunkSealKey;
  keyDomain?: string;
}

/** What a copy reads from its source vault. */
export interface ChunkSource {
  readonly chunkCodec: ChunkCodecLike;
  readChunk(id: Uint8Array, opts?: { signal?: AbortSignal; storedLength?: number }): Promise<Buffer>;
  readChunkObject(id: Uint8Array, opts?: { signal?: AbortSignal }): Promise<Buffer>;
}

/** What a copy writes into its destination vault. */
export interface ChunkSink {
  readonly chunkCodec: ChunkCodecLike;
  hasChunk(id: Uint8Array): Promise<boolean>;
  importChunkObject(id: Uint8Array, obj: Buffer, opts?: { signal?: AbortSignal }): Promise<boolean>;
  putChunk(id: Buffer, obj: Buffer, info: { rawLength: number; payloadLength: number; signal?: AbortSignal }): Promise<{ storedLength: number; written: boolean }>;
}

export type TransferMode = 'verbatim' | 'reidentify';

export function transferMode(from: { chunkCodec: ChunkCodecLike }, to: { chunkCodec: ChunkCodecLike }): TransferMode {
  return from.chunkCodec.hashKey.equals(to.chunkCodec.hashKey) ? 'verbatim' : 'reidentify';
}

export interface Transferred {
  /** The chunk's id in the destination (the source's id when verbatim). */
  id: Buffer;
  storedLength: number;
  /** The destination had to store it (false: it was already there). */
  written: boolean;
  /** Bytes read from the source and written to the destination for it. */
  bytesRead: number;
  bytesWritten: number;
}

/** The chunk as stored, checked by the destination, written if absent. */
export async function copyVerbatim(from: ChunkSource, to: ChunkSink, id: Buffer, storedLength: number, throttle: Throttle, signal?: AbortSignal): Promise<Transferred> {
  const obj = await from.readChunkObject(id, signal ? { signal } : undefined);
  await throttle.take(obj.length, signal);
  const written = await to.importChunkObject(id, obj, signal ? { signal } : undefined);
  return { id, storedLength: obj.length || storedLength, written, bytesRead: obj.length, bytesWritten: written ? obj.length : 0 };
}

/** The block re-identified and re-framed (sealed, for an encrypted domain) for a destination
 *  codec with another key: the destination vault's, or one of its key domains'. */
export class Reidentifier {
  readonly #hasher: ChunkHasher;
  readonly #compression: Compression;
  readonly #seal: ChunkSealKey | undefined;

  constructor(codec: ChunkCodecLike) {
    this.#hasher = new ChunkHasher(codec.hashKey);
    this.#compression = codec.compression;
    this.#seal = codec.seal;
  }

  async copy(from: ChunkSource, to: ChunkSink, id: Buffer, storedLength: number, throttle: Throttle, signal?: AbortSignal): Promise<Transferred> {
    const raw = await from.readChunk(id, { storedLength, ...(signal ? { signal } : {}) });
    const newId = this.#hasher.id(raw);
    const { compression, payload } = maybeCompress(raw, this.#compression);
    const obj = this.#seal ? encodeSealedChunk(payload, raw.length, compression, newId, this.#seal) : encodeChunk(payload, raw.length, compression);
    await throttle.take(obj.length, signal);
    const r = await to.putChunk(newId, obj, { rawLength: raw.length, payloadLength: payload.length, ...(signal ? { signal } : {}) });
    return { id: newId, storedLength: r.storedLength, written: r.written, bytesRead: storedLength, bytesWritten: r.written ? obj.length : 0 };
  }
}

export interface Throttle {
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

export const unthrottled: Throttle = { take: async () => {} };

/**
 * A bandwidth limit: bytes per second on average, with bursts up to `burstBytes` (default
 * one second's worth). Virtual scheduling (GCRA): each take() moves a theoretical arrival
 * time forward by bytes/rate and waits only if that runs ahead of now by more than the burst,
 * so concurrent takers share the rate without a queue.
 */
export class TokenBucket implements Throttle {
  readonly bytesPerSec: number;
  readonly #burstMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #tat = 0;

  constructor(bytesPerSec: number, opts: { burstBytes?: number; now?: () => number; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> } = {}) {
    if (!(bytesPerSec > 0) || !Number.isFinite(bytesPerSec)) throw new RangeError(`bandwidth limit ${bytesPerSec} is not a positive number of bytes per second`);
    this.bytesPerSec = bytesPerSec;
    this.#burstMs = ((opts.burstBytes ?? bytesPerSec) / bytesPerSec) * 1000;
    this.#now = opts.now ?? (() => performance.now());
    this.#sleep = opts.sleep ?? sleep;
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.#now();
    this.#tat = Math.max(this.#tat, now) + (bytes / this.bytesPerSec) * 1000;
    const wait = this.#tat - this.#burstMs - now;
    if (wait > 0) await this.#sleep(wait, signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal.reason));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
