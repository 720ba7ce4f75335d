// The portable archive (.bvtar): one backup as a plain tar stream, readable by any tar tool,
// written and read entry by entry so memory stays bounded whatever the volume size.
//
//   blockvault-archive.json   header: format version, source vault, the backup, block size,
//                             and each fixed entry's size and BLAKE3 (the manifest's)
//   manifest.bvm              the backup's point resolved to one full manifest: the list of
//                             every chunk entry that can follow (id = name, stored length = size)
//   chunks/<64 hex>           one per chunk object, stored as in the vault; each carries its
//                             own BLAKE3 in a pax record (`BLOCKVAULT.blake3`), known when it
//                             is written because a chunk is read whole before it is packed
//   blockvault-trailer.json   entry count, body bytes, and a BLAKE3 over every entry before
//                             it (name, size, body, in order): truncation or reordering shows
//
// Why the manifest and not the header lists the chunks: a 1 TiB volume has 262,144 of them;
// as JSON that header would be tens of MB, while the binary manifest (48 bytes a block) is
// needed anyway. Why a per-entry checksum besides the chunk id: the id is keyed with the
// source vault's secret hash key, which the archive does not carry, so an importer with a
// different key can check a chunk only through the checksum (and then re-identifies it).
import { Blake3Hasher } from '@napi-rs/blake-hash';
import * as v from 'valibot';
import { payloadCapacity } from '../../chunk/compress.js';

export const ARCHIVE_FORMAT = 'blockvault-archive';
export const ARCHIVE_VERSION = 1;

export const HEADER_ENTRY = 'blockvault-archive.json';
export const MANIFEST_ENTRY = 'manifest.bvm';
export const TRAILER_ENTRY = 'blockvault-trailer.json';
export const CHUNK_ENTRY_PREFIX = 'chunks/';
export const CHECKSUM_PAX = 'BLOCKVAULT.blake3';

const CHUNK_ENTRY = /^chunks\/[0-9a-f]{64}$/;

/** Header and trailer are small JSON documents; anything bigger is not ours. */
export const MAX_JSON_ENTRY_BYTES = 1024 * 1024;
/** A manifest is read whole (as restore does): bounded by its volume, and by this. */
export const MAX_MANIFEST_BYTES = 1024 * 1024 * 1024;
/** Largest chunk header a frame can declare (its length is one byte). */
const MAX_CHUNK_HEADER_BYTES = 255;

/** The largest chunk object a vault of this block size can hold. */
export function chunkFrameCapacity(blockSize: number): number {
  return MAX_CHUNK_HEADER_BYTES + payloadCapacity(blockSize);
}

/** The largest manifest a volume of this size can have (prefix, header JSON, entries, sum). */
export function manifestCapacity(volumeSize: number, blockSize: number): number {
  const blocks = Math.ceil(volumeSize / blockSize);
  return Math.min(MAX_MANIFEST_BYTES, 12 + MAX_JSON_ENTRY_BYTES + blocks * 48 + 8);
}

export function chunkEntryName(idHex: string): string {
  return `${CHUNK_ENTRY_PREFIX}${idHex}`;
}

/** The chunk id an entry name carries, or undefined when it is not a chunk entry. */
export function chunkIdHexOf(name: string): string | undefined {
  return CHUNK_ENTRY.test(name) ? name.slice(CHUNK_ENTRY_PREFIX.length) : undefined;
}

/** Why a name would leave the directory it is extracted into, or undefined if it stays. */
export function escapingName(name: string): string | undefined {
  if (name.length === 0) return 'an empty name';
  if (name.includes('\0')) return 'a NUL byte';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'an absolute path';
  if (name.includes('\\')) return 'a backslash';
  if (name.split('/').some((p) => p === '..')) return 'a ".." component';
  return undefined;
}

export function blake3Hex(data: Uint8Array): string {
  return new Blake3Hasher().update(data).digest('hex');
}

/**
 * A fingerprint of a vault's chunk-id key: two vaults with the same fingerprint name the
 * same block with the same id (so chunk objects can move verbatim), and the key stays secret.
 */
export function chunkKeyId(hashKey: Buffer): string {
  return Blake3Hasher.newKeyed(hashKey).update('blockvault chunk-key id v1').digestBuffer().subarray(0, 16).toString('hex');
}

/** The running digest of an archive's entries, identical on the writing and reading side. */
export class EntryDigest {
  readonly #hash = new Blake3Hasher();
  entries = 0;
  bytes = 0;

  add(name: string, body: Uint8Array): void {
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(body.length));
    this.#hash.update(Buffer.from(name + '\0', 'utf8')).update(size).update(body);
    this.entries++;
    this.bytes += body.length;
  }

  hex(): string {
    return this.#hash.digest('hex');
  }
}

const Hex = (len: number) => v.pipe(v.string(), v.regex(new RegExp(`^[0-9a-f]{${len}}$`)));
const Count = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));

export const ArchiveHeaderSchema = v.object({
  format: v.literal(ARCHIVE_FORMAT),
  version: v.pipe(v.number(), v.integer(), v.minValue(1)),
  createdAt: v.string(),
  source: v.object({
    vaultId: Id,
    /** chunkKeyId() of the source vault's hash key. */
    chunkKeyId: Hex(32),
  }),
  blockSize: Count,
  backup: v.object({
    backupId: Id,
    volumeId: Id,
    volumeSize: Count,
    /** The chain the point was resolved from, newest first. */
    chain: v.array(Id),
    /** Chunks the base's point names are left out; the importer must already hold them. */
    baseBackupId: v.nullable(Id),
  }),
  manifest: v.object({ size: Count, blake3: Hex(64) }),
  chunks: v.object({ count: Count, bytes: Count }),
});
export type ArchiveHeader = v.InferOutput<typeof ArchiveHeaderSchema>;

export const ArchiveTrailerSchema = v.object({
  format: v.literal(ARCHIVE_FORMAT),
  /** Entries before the trailer, and their body bytes. */
  entries: Count,
  bytes: Count,
  /** EntryDigest over every entry before the trailer. */
  blake3: Hex(64),
});
export type ArchiveTrailer = v.InferOutput<typeof ArchiveTrailerSchema>;
