// Chunk identity: keyed BLAKE3 over the block's raw bytes. The key is per vault, so
// identical data in two vaults gets unrelated IDs and nobody can craft collisions
// against another tenant's chunks (an unkeyed 64/128-bit hash would allow both).
import { Blake3Hasher } from '@napi-rs/blake-hash';

export const CHUNK_ID_BYTES = 32;

export type ChunkId = Buffer;

export class ChunkHasher {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error(`chunk hash key must be 32 bytes, got ${key.length}`);
    this.#key = Buffer.from(key);
  }

  /** 32-byte keyed BLAKE3 of data. Synchronous: ~3 GB/s per core here, cheaper than a hop. */
  id(data: Uint8Array): ChunkId {
    return Blake3Hasher.newKeyed(this.#key).update(data).digestBuffer();
  }
}

export function idToHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

export function hexToId(hex: string): ChunkId {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a chunk id: ${hex}`);
  return Buffer.from(hex, 'hex');
}
