// The framed chunk object. A fixed 32-byte header, then the payload:
//
//   0  4  magic "BVCK"
//   4  1  format version (1)
//   5  1  compression: 0 none, 1 lz4 (64 KiB segments: see compress.ts)
//   6  1  encryption: 0 none (room for an AEAD later without a format break)
//   7  1  header length in bytes (32 now; an encrypted chunk appends nonce/tag here)
//   8  4  raw length (u32 LE): the block's bytes before compression
//  12  4  payload length (u32 LE)
//  16  8  xxh64 of the payload (u64 LE): catches storage damage before decompressing
//  24  8  reserved, zero
//
// The chunk's identity (keyed BLAKE3 of the raw bytes) is its object key, and every
// restore checks it after decompressing: the xxh64 is the cheap first line, not the proof.
import { xxh64 } from '@node-rs/xxhash';
import type { Compression } from './compress.js';
import {
  CHUNK_COMPRESSION_CODES,
  CHUNK_ENCRYPTION_NONE,
  CHUNK_FORMAT_VERSION,
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC as CHUNK_MAGIC_TEXT,
} from './format.js';

export { CHUNK_FORMAT_VERSION, CHUNK_HEADER_BYTES };
export const CHUNK_MAGIC = Buffer.from(CHUNK_MAGIC_TEXT, 'ascii');

const COMPRESSION_CODES: Record<Compression, number> = CHUNK_COMPRESSION_CODES;
const COMPRESSION_NAMES: Compression[] = ['none', 'lz4'];

export interface ChunkFrame {
  compression: Compression;
  rawLength: number;
  payload: Buffer;
}

export class ChunkFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChunkFormatError';
  }
}

/** Writes the header into target[0, 32) for the payload already at target[32, 32 + payloadLength). */
export function writeChunkHeader(target: Buffer, payloadLength: number, rawLength: number, compression: Compression): void {
  CHUNK_MAGIC.copy(target, 0);
  target[4] = CHUNK_FORMAT_VERSION;
  target[5] = COMPRESSION_CODES[compression];
  target[6] = CHUNK_ENCRYPTION_NONE;
  target[7] = CHUNK_HEADER_BYTES;
  target.writeUInt32LE(rawLength, 8);
  target.writeUInt32LE(payloadLength, 12);
  target.writeBigUInt64LE(xxh64(target.subarray(CHUNK_HEADER_BYTES, CHUNK_HEADER_BYTES + payloadLength)), 16);
  target.fill(0, 24, CHUNK_HEADER_BYTES);
}

/** The whole object in a new buffer: header + payload. */
export function encodeChunk(payload: Buffer, rawLength: number, compression: Compression): Buffer {
  const obj = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + payload.length);
  payload.copy(obj, CHUNK_HEADER_BYTES);
  writeChunkHeader(obj, payload.length, rawLength, compression);
  return obj;
}

/** Parses and checks the frame (magic, version, lengths, payload checksum). */
export function decodeChunk(obj: Buffer): ChunkFrame {
  if (obj.length < CHUNK_HEADER_BYTES || !obj.subarray(0, 4).equals(CHUNK_MAGIC)) {
    throw new ChunkFormatError('not a blockvault chunk (bad magic)');
  }
  const version = obj[4]!;
  if (version > CHUNK_FORMAT_VERSION) {
    throw new ChunkFormatError(`chunk format version ${version} is newer than this blockvault understands`);
  }
  const compression = COMPRESSION_NAMES[obj[5]!];
  if (!compression) throw new ChunkFormatError(`unknown compression code ${obj[5]}`);
  if (obj[6] !== CHUNK_ENCRYPTION_NONE) throw new ChunkFormatError(`encrypted chunk (code ${obj[6]}) but no key support in this version`);
  const headerLength = obj[7]!;
  const rawLength = obj.readUInt32LE(8);
  const payloadLength = obj.readUInt32LE(12);
  if (headerLength < CHUNK_HEADER_BYTES || obj.length !== headerLength + payloadLength) {
    throw new ChunkFormatError(`chunk is ${obj.length} bytes, header says ${headerLength + payloadLength}`);
  }
  const payload = obj.subarray(headerLength);
  if (xxh64(payload) !== obj.readBigUInt64LE(16)) throw new ChunkFormatError('chunk payload checksum mismatch');
  return { compression, rawLength, payload };
}
