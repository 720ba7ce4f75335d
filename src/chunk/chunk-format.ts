// The framed chunk object. A fixed 32-byte header, then the payload:
//
//   0  4  magic "BVCK"
//   4  1  format version (1)
//   5  1  compression: 0 none, 1 lz4 (64 KiB segments: see compress.ts)
//   6  1  encryption: 0 none, 1 AES-256-GCM (the longer header below)
//   7  1  header length in bytes: 32 plain, 76 encrypted
//   8  4  raw length (u32 LE): the block's bytes before compression
//  12  4  payload length (u32 LE)
//  16  8  xxh64 of the payload (u64 LE): catches storage damage before decompressing
//  24  8  reserved, zero
// encrypted chunks only (the payload is the compressed block, encrypted):
//  32 16  key domain id
//  48 12  nonce, random per object
//  60 16  GCM tag
//
// The chunk's identity (keyed BLAKE3 of the raw bytes) is its object key, and every
// restore checks it after decompressing: the xxh64 is the cheap first line, not the proof.
// An encrypted chunk binds its id and its header (lengths, compression, domain, nonce) as
// associated data, so a chunk swapped with another, or a header edited, fails to open; the
// xxh64 covers the ciphertext, so storage damage is still found without the key.
import { randomFillSync } from 'node:crypto';
import { xxh64 } from '@node-rs/xxhash';
import { AeadError, NONCE_BYTES, TAG_BYTES, openInPlace, sealInPlace } from '../crypto/aead.js';
import type { Compression } from './compress.js';
import {
  CHUNK_COMPRESSION_CODES,
  CHUNK_ENCRYPTION_AES_256_GCM,
  CHUNK_ENCRYPTION_NONE,
  CHUNK_FORMAT_VERSION,
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC as CHUNK_MAGIC_TEXT,
} from './format.js';

export { CHUNK_FORMAT_VERSION, CHUNK_HEADER_BYTES };
export const CHUNK_MAGIC = Buffer.from(CHUNK_MAGIC_TEXT, 'ascii');
export const DOMAIN_ID_BYTES = 16;
export const ENCRYPTED_CHUNK_HEADER_BYTES = CHUNK_HEADER_BYTES + DOMAIN_ID_BYTES + NONCE_BYTES + TAG_BYTES;
const NONCE_AT = CHUNK_HEADER_BYTES + DOMAIN_ID_BYTES;
const TAG_AT = NONCE_AT + NONCE_BYTES;

/** What sealing a chunk needs: its key domain's id and chunk key (see crypto/domain.ts). */
export interface ChunkSealKey {
  domainId: Uint8Array;
  key: Uint8Array;
}

const COMPRESSION_CODES: Record<Compression, number> = CHUNK_COMPRESSION_CODES;
const COMPRESSION_NAMES: Compression[] = ['none', 'lz4'];

export interface ChunkFrame {
  compression: Compression;
  rawLength: number;
  payload: Buffer;
  /** The key domain of an encrypted chunk (hex); absent for a plain one. */
  domainId?: string;
}

export class ChunkFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChunkFormatError';
  }
}

/** Bytes 0–15 of every frame: magic, version, compression, encryption, header length, lengths. */
function writeFrameStart(target: Buffer, encryption: number, headerLength: number, payloadLength: number, rawLength: number, compression: Compression): void {
  CHUNK_MAGIC.copy(target, 0);
  target[4] = CHUNK_FORMAT_VERSION;
  target[5] = COMPRESSION_CODES[compression];
  target[6] = encryption;
  target[7] = headerLength;
  target.writeUInt32LE(rawLength, 8);
  target.writeUInt32LE(payloadLength, 12);
}

/** Writes the header into target[0, 32) for the payload already at target[32, 32 + payloadLength). */
export function writeChunkHeader(target: Buffer, payloadLength: number, rawLength: number, compression: Compression): void {
  writeFrameStart(target, CHUNK_ENCRYPTION_NONE, CHUNK_HEADER_BYTES, payloadLength, rawLength, compression);
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

/** Parses and checks the frame (magic, version, lengths, payload checksum); an encrypted
 *  chunk is opened with its domain's key (opts), its id bound as associated data. With
 *  'frame', only the frame is checked and an encrypted payload stays sealed (copy, export). */
export function decodeChunk(obj: Buffer, opts?: DecodeChunkOptions | 'frame'): ChunkFrame {
  if (obj.length < CHUNK_HEADER_BYTES || !obj.subarray(0, 4).equals(CHUNK_MAGIC)) {
    throw new ChunkFormatError('not a blockvault chunk (bad magic)');
  }
  const version = obj[4]!;
  if (version > CHUNK_FORMAT_VERSION) {
    throw new ChunkFormatError(`chunk format version ${version} is newer than this blockvault understands`);
  }
  const compression = COMPRESSION_NAMES[obj[5]!];
  if (!compression) throw new ChunkFormatError(`unknown compression code ${obj[5]}`);
  const encryption = obj[6]!;
  if (encryption !== CHUNK_ENCRYPTION_NONE && encryption !== CHUNK_ENCRYPTION_AES_256_GCM) throw new ChunkFormatError(`unknown chunk encryption code ${encryption}`);
  const headerLength = obj[7]!;
  if (encryption && headerLength < ENCRYPTED_CHUNK_HEADER_BYTES) throw new ChunkFormatError(`encrypted chunk header is ${headerLength} bytes`);
  const rawLength = obj.readUInt32LE(8);
  const payloadLength = obj.readUInt32LE(12);
  if (headerLength < CHUNK_HEADER_BYTES || obj.length !== headerLength + payloadLength) {
    throw new ChunkFormatError(`chunk is ${obj.length} bytes, header says ${headerLength + payloadLength}`);
  }
  const payload = obj.subarray(headerLength);
  if (xxh64(payload) !== obj.readBigUInt64LE(16)) throw new ChunkFormatError('chunk payload checksum mismatch');
  if (!encryption) {
    if (opts !== 'frame' && opts?.requireEncrypted) throw new ChunkFormatError('chunk is not encrypted, in an encrypted vault');
    return { compression, rawLength, payload };
  }
  const domainId = obj.subarray(CHUNK_HEADER_BYTES, NONCE_AT).toString('hex');
  if (opts === 'frame') return { compression, rawLength, payload, domainId };
  if (!opts) throw new ChunkFormatError(`chunk is encrypted (key domain ${domainId}) and no key was given to read it`);
  const key = opts.key(domainId);
  if (!key) throw new ChunkFormatError(`chunk is encrypted in key domain ${domainId}, whose key is not open`);
  // In place, the object buffer itself becomes the plaintext (a read that only decompresses
  // and hashes it); otherwise a copy does, so the caller's object stays as stored.
  const plain = opts.inPlace ? payload : Buffer.from(payload);
  try {
    openInPlace(Buffer.from(key.buffer, key.byteOffset, key.byteLength), obj.subarray(NONCE_AT, TAG_AT), obj.subarray(TAG_AT, ENCRYPTED_CHUNK_HEADER_BYTES), plain, 0, plain.length, chunkAad(obj, opts.id));
    return { compression, rawLength, payload: plain, domainId };
  } catch (e) {
    if (e instanceof AeadError) throw new ChunkFormatError('encrypted chunk does not authenticate: changed, or stored under another chunk id');
    throw e;
  }
}

/** The key domain an encrypted chunk object needs (hex), or undefined for a plain chunk. */
export function chunkDomain(obj: Buffer): string | undefined {
  if (obj.length < ENCRYPTED_CHUNK_HEADER_BYTES || obj[6] !== CHUNK_ENCRYPTION_AES_256_GCM) return undefined;
  return obj.subarray(CHUNK_HEADER_BYTES, NONCE_AT).toString('hex');
}

export interface DecodeChunkOptions {
  /** The id the chunk is stored under: bound into an encrypted chunk's associated data. */
  id: Uint8Array;
  /** The chunk key of a key domain (hex id), when it is open. */
  key(domainId: string): Uint8Array | undefined;
  /** An encrypted vault: a plain chunk there was put by someone without the key. */
  requireEncrypted?: boolean;
  /** Decrypt inside obj (no copy): for a caller that reads the plaintext and drops the object. */
  inPlace?: boolean;
}

const AAD_LABEL = Buffer.from('blockvault/chunk\0', 'utf8');

/** Associated data of an encrypted chunk: its id, the fixed header fields before the
 *  checksum, the domain and the nonce (everything but the checksum, reserved bytes and tag). */
function chunkAad(header: Buffer, id: Uint8Array): Buffer {
  return Buffer.concat([AAD_LABEL, id, header.subarray(0, 16), header.subarray(CHUNK_HEADER_BYTES, TAG_AT)]);
}

/**
 * Writes an encrypted chunk in place: the payload is already at
 * target[ENCRYPTED_CHUNK_HEADER_BYTES, + payloadLength); it is encrypted where it lies and
 * the header is written around it. Runs in the worker threads, after compression.
 */
export function sealChunkInto(target: Buffer, payloadLength: number, rawLength: number, compression: Compression, id: Uint8Array, seal: ChunkSealKey): void {
  writeFrameStart(target, CHUNK_ENCRYPTION_AES_256_GCM, ENCRYPTED_CHUNK_HEADER_BYTES, payloadLength, rawLength, compression);
  target.fill(0, 16, CHUNK_HEADER_BYTES);
  Buffer.from(seal.domainId.buffer, seal.domainId.byteOffset, DOMAIN_ID_BYTES).copy(target, CHUNK_HEADER_BYTES);
  randomFillSync(target, NONCE_AT, NONCE_BYTES);
  const key = Buffer.from(seal.key.buffer, seal.key.byteOffset, seal.key.byteLength);
  const nonce = Buffer.from(target.subarray(NONCE_AT, TAG_AT));
  const { tag } = sealInPlace(key, target, ENCRYPTED_CHUNK_HEADER_BYTES, payloadLength, chunkAad(target, id), nonce);
  tag.copy(target, TAG_AT);
  const end = ENCRYPTED_CHUNK_HEADER_BYTES + payloadLength;
  target.writeBigUInt64LE(xxh64(target.subarray(ENCRYPTED_CHUNK_HEADER_BYTES, end)), 16);
}

/** An encrypted chunk object in a new buffer (tests, import). */
export function encodeSealedChunk(payload: Buffer, rawLength: number, compression: Compression, id: Uint8Array, seal: ChunkSealKey): Buffer {
  const obj = Buffer.allocUnsafe(ENCRYPTED_CHUNK_HEADER_BYTES + payload.length);
  payload.copy(obj, ENCRYPTED_CHUNK_HEADER_BYTES);
  sealChunkInto(obj, payload.length, rawLength, compression, id, seal);
  return obj;
}
