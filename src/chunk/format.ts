// Every magic number and format version blockvault writes, in one place.
//
// WARNING: do not change a value here. Each one is in objects already stored in vaults;
// a codec that writes different bytes needs a new version number (and a reader for the old
// one), and test/vault/formats.test.ts fails until the golden fixtures under
// fixtures/formats/ are made again with `npm run format-fixtures`.
//
// It lives in src/chunk, the lowest layer that writes a format, so that every codec (the
// chunk frame here, the manifest, index segment and config in src/vault) imports it
// downwards. Magics are four ASCII letters, "BV" (blockvault) and two for the object,
// chosen so `head -c4` on any object names what it is; the first version of each is 1,
// and 0 is never used (a zeroed header is never mistaken for a valid one).

/** Chunk object (src/chunk/chunk-format.ts): "BlockVault ChunK". A 32-byte header
 *  (magic, version, compression, encryption, header length, raw and payload length,
 *  xxh64 of the payload), then the payload. */
export const CHUNK_MAGIC = 'BVCK';
export const CHUNK_FORMAT_VERSION = 1;
export const CHUNK_HEADER_BYTES = 32;
/** Byte 5 of the chunk header. 1 = lz4: the payload is the segmented LZ4 layout of
 *  src/chunk/compress.ts (segment count, a u32 per segment, the segments). The layout has
 *  no version of its own: a new one takes a new compression code. */
export const CHUNK_COMPRESSION_CODES = { none: 0, lz4: 1 } as const;
/** Byte 6: 0 = not encrypted. An AEAD mode takes a new code and a longer header (byte 7). */
export const CHUNK_ENCRYPTION_NONE = 0;
/** Byte 6 = 1: AES-256-GCM. The header grows to 76 bytes: the 32 above, the 16-byte key
 *  domain id, the 12-byte nonce and the 16-byte tag; the chunk id and header are the AEAD's
 *  associated data and the xxh64 covers the ciphertext (src/chunk/chunk-format.ts). */
export const CHUNK_ENCRYPTION_AES_256_GCM = 1;

/** Manifest (src/vault/manifest.ts): "BlockVault ManiFest". 12-byte prefix (magic, version,
 *  3 reserved, u32 header length), a UTF-8 JSON header, 48-byte entries, xxh64. */
export const MANIFEST_MAGIC = 'BVMF';
export const MANIFEST_VERSION = 1;
export const MANIFEST_PREFIX_BYTES = 12;
export const MANIFEST_ENTRY_BYTES = 48;

/** Chunk index segment (src/vault/chunk-index.ts): "BlockVault IndeX". Magic, version,
 *  3 reserved, u32 record count, records of (32-byte id, u32 stored length), xxh64. */
export const INDEX_SEGMENT_MAGIC = 'BVIX';
export const INDEX_SEGMENT_VERSION = 1;
export const INDEX_SEGMENT_HEADER_BYTES = 12;

/** Vault config (src/vault/config.ts): JSON `{ config, checksum }` where checksum is the
 *  xxh64 (16 hex digits) of JSON.stringify(config, null, 2). A JSON object, so its "magic"
 *  is the field `format: "blockvault"` and its version `formatVersion`. Readers accept
 *  versions up to this one and refuse newer ones (BV.VaultFormat). */
export const VAULT_FORMAT = 'blockvault';
export const VAULT_FORMAT_VERSION = 1;
/** An encrypted vault's config (an `encryption` header, no hash key in the clear); plain
 *  vaults stay at VAULT_FORMAT_VERSION. */
export const VAULT_ENCRYPTED_FORMAT_VERSION = 2;

/** Lease records (src/vault/lease.ts) are JSON without a version: they live for minutes,
 *  and a reader that cannot parse one treats it as absent (it expires). */
