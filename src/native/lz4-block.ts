// LZ4 blocks into the caller's buffers, from the addon (native/src/lz4_block.c, the system's
// liblz4.so.1 opened at first use): no buffer per 64 KiB segment to allocate, copy and
// collect, and liblz4 itself ran 1.7× lz4-napi's compression on the bench image's text (488
// against 281 MB/s a core) and 1.8× its decompression. Undefined when the addon is not built
// or the system has no liblz4: chunk/compress.ts then uses lz4-napi, with the same bytes.
import { loadAddon } from './addon.js';

export interface Lz4Blocks {
  /** Writes a 4-byte LE size prefix and the LZ4 block of src at dst[offset]; returns the
   *  bytes written, or 0 when that would exceed capacity (store the bytes raw). */
  compress(src: Uint8Array, dst: Uint8Array, offset: number, capacity: number): number;
  /** Decodes a size-prefixed LZ4 block into dst[offset, offset + length); returns length,
   *  or -1 when src is not a valid block of exactly that size. */
  decompress(src: Uint8Array, dst: Uint8Array, offset: number, length: number): number;
}

let lz4: Lz4Blocks | undefined | null = null;

export function nativeLz4(): Lz4Blocks | undefined {
  if (lz4 === null) {
    const b = loadAddon();
    lz4 = b?.lz4Available?.() && b.lz4Compress && b.lz4Decompress ? { compress: b.lz4Compress.bind(b), decompress: b.lz4Decompress.bind(b) } : undefined;
  }
  return lz4;
}
