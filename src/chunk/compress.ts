// LZ4 per chunk, kept only where it saves space. Incompressible data is common (media,
// encrypted or compressed files) and LZ4 on random bytes runs at ~300 MB/s here against
// ~5 GB/s on text, so nothing is compressed without a sample first:
//  - the block: 8 spots of 4 KiB spread across it (a block that starts random and ends as
//    text is common; a first-bytes sample alone would miss it). No spot compresses: raw.
//  - else each 64 KiB segment on its own: a 4 KiB sample, then the segment. Segments are
//    independent LZ4 blocks (LZ4's window is 64 KiB, so little ratio is lost), which lets
//    the random half of a mixed block cost a sample instead of a full compression attempt.
//
// Payload of an 'lz4' chunk: u32 LE segment count, one u32 LE per segment (bit 31 set: LZ4
// block with lz4-napi's 4-byte size prefix; low 31 bits: stored length), then the segments.
// Every segment but the last holds SEGMENT_BYTES raw bytes.
//
// LZ4 runs through the addon where it is built and the system has liblz4 (native/lz4-block.ts:
// into and out of the chunk's own buffers, nothing allocated per segment), else through
// lz4-napi; both write the same size-prefixed blocks, so either reads what the other wrote.
// lz4-napi's calls are the synchronous ones on purpose: its async calls return buffers
// allocated on pool threads whose memory the main thread's frees do not give back (a 2 GiB
// backup peaked at 530 MB RSS, a restore at 1.6 GB); the sync ones stay under 100 MB.
import { createRequire } from 'node:module';
import { nativeLz4, type Lz4Blocks } from '../native/lz4-block.js';

export type Compression = 'none' | 'lz4';

export const SEGMENT_BYTES = 64 * 1024;
const SAMPLE_BYTES = 4096;
const BLOCK_SPOTS = 8;
/** A sample must shrink below this fraction for its block or segment to be tried. */
const SAMPLE_WORTH = 0.9;
/** Compressed data must be below this fraction of the raw to be kept. */
const KEEP_BELOW = 0.97;
const COMPRESSED_BIT = 0x80000000;

/** lz4-napi, loaded on first use: with the addon's liblz4 a process (and each worker) never
 *  pays for its native module and bindings. */
let napi: typeof import('lz4-napi') | undefined;
const lz4Napi = () => (napi ??= createRequire(import.meta.url)('lz4-napi') as typeof import('lz4-napi'));

/** The two LZ4 paths behind one shape: compress into target (0: would not fit) and
 *  decompress into out (-1: not a valid block of that size). */
export const napiLz4: Lz4Blocks = {
  compress(src, dst, offset, capacity) {
    const packed = lz4Napi().compressSync(Buffer.from(src.buffer, src.byteOffset, src.byteLength));
    if (packed.length > capacity) return 0;
    dst.set(packed, offset);
    return packed.length;
  },
  decompress(src, dst, offset, length) {
    let raw: Buffer;
    try {
      raw = lz4Napi().uncompressSync(Buffer.from(src.buffer, src.byteOffset, src.byteLength));
    } catch {
      return -1;
    }
    if (raw.length !== length) return -1;
    dst.set(raw, offset);
    return length;
  },
};

/** The addon's liblz4 where it is there, else lz4-napi. */
export const lz4Blocks: Lz4Blocks = nativeLz4() ?? napiLz4;
/** True when LZ4 leaves a buffer per segment for the collector (the lz4-napi path). */
export const lz4Allocates = lz4Blocks === napiLz4;

/** Scratch for samples: only their compressed length matters. */
const scratch = Buffer.allocUnsafe(2 * SAMPLE_BYTES);

/** Largest stored length that still counts as a saving for a raw length (exclusive bound). */
const below = (rawLength: number, fraction: number): number => Math.ceil(rawLength * fraction) - 1;

function sampleShrinks(data: Buffer, off: number, lz4: Lz4Blocks = lz4Blocks): boolean {
  const spot = data.subarray(off, off + SAMPLE_BYTES);
  return lz4.compress(spot, scratch, 0, below(spot.length, SAMPLE_WORTH)) > 0;
}

/** True when a sample of spots across the block suggests LZ4 will save space. */
export function looksCompressible(data: Buffer, lz4: Lz4Blocks = lz4Blocks): boolean {
  if (data.length <= SAMPLE_BYTES * 2) return true; // small: just try it
  const stride = Math.floor((data.length - SAMPLE_BYTES) / (BLOCK_SPOTS - 1));
  for (let i = 0; i < BLOCK_SPOTS; i++) if (sampleShrinks(data, i * stride, lz4)) return true;
  return false;
}

export interface Compressed {
  compression: Compression;
  payload: Buffer;
}

/** Bytes a payload of a rawLength-byte block can need: raw, or segments plus their table. */
export function payloadCapacity(rawLength: number): number {
  return rawLength + 4 + 4 * Math.ceil(rawLength / SEGMENT_BYTES);
}

/**
 * Writes the chunk payload for data into target at offset — segment-wise LZ4, or the raw
 * bytes when that saves nothing — and returns its length. Writing into a buffer the caller
 * reuses keeps a backup from allocating (and the GC from chasing) a payload per block.
 */
export function compressInto(data: Buffer, mode: Compression, target: Buffer, offset: number, lz4: Lz4Blocks = lz4Blocks): { compression: Compression; length: number } {
  const raw = () => {
    data.copy(target, offset);
    return { compression: 'none' as const, length: data.length };
  };
  if (mode === 'none' || data.length === 0 || !looksCompressible(data, lz4)) return raw();
  const count = Math.ceil(data.length / SEGMENT_BYTES);
  target.writeUInt32LE(count, offset);
  let pos = offset + 4 + 4 * count;
  let any = false;
  // Runs of text or random data span many segments: after a segment that compressed, the next
  // is compressed without a sample (a wasted attempt costs one segment); after one that did
  // not, the next is sampled first, so a random run costs samples, not compressions.
  let lastPacked = false;
  for (let s = 0; s < count; s++) {
    const seg = data.subarray(s * SEGMENT_BYTES, Math.min((s + 1) * SEGMENT_BYTES, data.length));
    let stored = 0;
    if (lastPacked || seg.length <= SAMPLE_BYTES || sampleShrinks(seg, 0, lz4) || sampleShrinks(seg, seg.length - SAMPLE_BYTES, lz4)) {
      // Straight into the payload, capped at what still saves space: 0 = it did not.
      stored = lz4.compress(seg, target, pos, Math.min(below(seg.length, KEEP_BELOW), target.length - pos));
    }
    const flag = stored > 0 ? COMPRESSED_BIT : 0;
    if (flag) any = true;
    else stored = seg.copy(target, pos);
    lastPacked = flag !== 0;
    target.writeUInt32LE((flag | stored) >>> 0, offset + 4 + 4 * s);
    pos += stored;
  }
  const length = pos - offset;
  if (!any || length >= data.length * KEEP_BELOW) return raw();
  return { compression: 'lz4', length };
}

/** The chunk payload for a block, in a new buffer (see compressInto); lz4: which encoder
 *  (tests pin lz4-napi's bytes; liblz4 writes other, equally valid blocks). */
export function maybeCompress(data: Buffer, mode: Compression, lz4: Lz4Blocks = lz4Blocks): Compressed {
  const target = Buffer.allocUnsafe(payloadCapacity(data.length));
  const { compression, length } = compressInto(data, mode, target, 0, lz4);
  return compression === 'none' ? { compression, payload: data } : { compression, payload: target.subarray(0, length) };
}

export class DecompressError extends Error {}

/** The raw block from a payload; checks the segment table against the payload's length.
 *  into (at least rawLength bytes, reused by the caller) receives an LZ4 block's bytes
 *  instead of a new buffer; a raw payload is returned as it is. */
export function decompress(payload: Buffer, compression: Compression, rawLength: number, into?: Buffer): Buffer {
  if (compression === 'none') return payload;
  if (payload.length < 4) throw new DecompressError('lz4 payload too short for its segment table');
  const count = payload.readUInt32LE(0);
  if (count !== Math.ceil(rawLength / SEGMENT_BYTES)) {
    throw new DecompressError(`lz4 payload has ${count} segments, a ${rawLength}-byte block has ${Math.ceil(rawLength / SEGMENT_BYTES)}`);
  }
  const out = into && into.length >= rawLength ? into.subarray(0, rawLength) : Buffer.allocUnsafe(rawLength);
  let pos = 4 + 4 * count;
  for (let s = 0; s < count; s++) {
    const word = payload.readUInt32LE(4 + 4 * s);
    const len = word & ~COMPRESSED_BIT;
    const rawLen = Math.min(SEGMENT_BYTES, rawLength - s * SEGMENT_BYTES);
    const seg = payload.subarray(pos, pos + len);
    if (seg.length !== len) throw new DecompressError(`lz4 segment ${s} runs past the payload`);
    if (word & COMPRESSED_BIT) {
      if (lz4Blocks.decompress(seg, out, s * SEGMENT_BYTES, rawLen) !== rawLen) throw new DecompressError(`lz4 segment ${s} is not a valid LZ4 block of ${rawLen} bytes`);
    } else {
      if (seg.length !== rawLen) throw new DecompressError(`lz4 segment ${s} holds ${seg.length} bytes, expected ${rawLen}`);
      seg.copy(out, s * SEGMENT_BYTES);
    }
    pos += len;
  }
  if (pos !== payload.length) throw new DecompressError('lz4 payload has bytes after its last segment');
  return out;
}
