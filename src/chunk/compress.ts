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
// The LZ4 calls are the synchronous ones on purpose: lz4-napi's async calls return buffers
// allocated on pool threads whose memory the main thread's frees do not give back (a 2 GiB
// backup peaked at 530 MB RSS, a restore at 1.6 GB); the sync ones stay under 100 MB.
import { compressSync as lz4, uncompressSync as unlz4 } from 'lz4-napi';

export type Compression = 'none' | 'lz4';

export const SEGMENT_BYTES = 64 * 1024;
const SAMPLE_BYTES = 4096;
const BLOCK_SPOTS = 8;
/** A sample must shrink below this fraction for its block or segment to be tried. */
const SAMPLE_WORTH = 0.9;
/** Compressed data must be below this fraction of the raw to be kept. */
const KEEP_BELOW = 0.97;
const COMPRESSED_BIT = 0x80000000;

function sampleShrinks(data: Buffer, off: number): boolean {
  const spot = data.subarray(off, off + SAMPLE_BYTES);
  return lz4(spot).length < spot.length * SAMPLE_WORTH;
}

/** True when a sample of spots across the block suggests LZ4 will save space. */
export function looksCompressible(data: Buffer): boolean {
  if (data.length <= SAMPLE_BYTES * 2) return true; // small: just try it
  const stride = Math.floor((data.length - SAMPLE_BYTES) / (BLOCK_SPOTS - 1));
  for (let i = 0; i < BLOCK_SPOTS; i++) if (sampleShrinks(data, i * stride)) return true;
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
export function compressInto(data: Buffer, mode: Compression, target: Buffer, offset: number): { compression: Compression; length: number } {
  const raw = () => {
    data.copy(target, offset);
    return { compression: 'none' as const, length: data.length };
  };
  if (mode === 'none' || data.length === 0 || !looksCompressible(data)) return raw();
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
    let out: Buffer = seg;
    let flag = 0;
    if (lastPacked || seg.length <= SAMPLE_BYTES || sampleShrinks(seg, 0) || sampleShrinks(seg, seg.length - SAMPLE_BYTES)) {
      const packed = lz4(seg);
      if (packed.length < seg.length * KEEP_BELOW) {
        out = packed;
        flag = COMPRESSED_BIT;
        any = true;
      }
    }
    lastPacked = flag !== 0;
    target.writeUInt32LE((flag | out.length) >>> 0, offset + 4 + 4 * s);
    out.copy(target, pos);
    pos += out.length;
  }
  const length = pos - offset;
  if (!any || length >= data.length * KEEP_BELOW) return raw();
  return { compression: 'lz4', length };
}

/** The chunk payload for a block, in a new buffer (see compressInto). */
export function maybeCompress(data: Buffer, mode: Compression): Compressed {
  const target = Buffer.allocUnsafe(payloadCapacity(data.length));
  const { compression, length } = compressInto(data, mode, target, 0);
  return compression === 'none' ? { compression, payload: data } : { compression, payload: target.subarray(0, length) };
}

export class DecompressError extends Error {}

/** The raw block from a payload; checks the segment table against the payload's length. */
export function decompress(payload: Buffer, compression: Compression, rawLength: number): Buffer {
  if (compression === 'none') return payload;
  if (payload.length < 4) throw new DecompressError('lz4 payload too short for its segment table');
  const count = payload.readUInt32LE(0);
  if (count !== Math.ceil(rawLength / SEGMENT_BYTES)) {
    throw new DecompressError(`lz4 payload has ${count} segments, a ${rawLength}-byte block has ${Math.ceil(rawLength / SEGMENT_BYTES)}`);
  }
  const out = Buffer.allocUnsafe(rawLength);
  let pos = 4 + 4 * count;
  for (let s = 0; s < count; s++) {
    const word = payload.readUInt32LE(4 + 4 * s);
    const len = word & ~COMPRESSED_BIT;
    const rawLen = Math.min(SEGMENT_BYTES, rawLength - s * SEGMENT_BYTES);
    const seg = payload.subarray(pos, pos + len);
    if (seg.length !== len) throw new DecompressError(`lz4 segment ${s} runs past the payload`);
    const raw = word & COMPRESSED_BIT ? unlz4(seg) : seg;
    if (raw.length !== rawLen) throw new DecompressError(`lz4 segment ${s} holds ${raw.length} bytes, expected ${rawLen}`);
    raw.copy(out, s * SEGMENT_BYTES);
    pos += len;
  }
  if (pos !== payload.length) throw new DecompressError('lz4 payload has bytes after its last segment');
  return out;
}
