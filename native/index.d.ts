/** Size in bytes of the block device open at fd (BLKGETSIZE64). */
export function blockDeviceSize(fd: number): number;
/** Logical sector size in bytes (BLKSSZGET): the smallest addressable unit. */
export function logicalSectorSize(fd: number): number;
/** Physical sector size in bytes (BLKPBSZGET): the device's natural write unit. */
export function physicalSectorSize(fd: number): number;
/** Zeroes [offset, offset+length) on the device (BLKZEROOUT); both multiples of 512. */
export function zeroOut(fd: number, offset: number | bigint, length: number | bigint): void;
/** Discards [offset, offset+length) on the device (BLKDISCARD); both multiples of 512. */
export function discard(fd: number, offset: number | bigint, length: number | bigint): void;
/** false where the functions are stubs that throw code "UNSUPPORTED" (non-Linux). */
export const supported: boolean;
/** AES-256-GCM: encrypts data in place (key 32 bytes, nonce 12) and writes the 16-byte tag. */
export function gcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): void;
/** AES-256-GCM: decrypts data in place -> true; false when the tag fails, with data restored. */
export function gcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, tag: Uint8Array, data: Uint8Array): boolean;
/** True when the system's liblz4.so.1 was found (the lz4 functions below need it). */
export function lz4Available(): boolean;
/** Size-prefixed LZ4 block of src at dst[offset]; bytes written, or 0 if over capacity. */
export function lz4Compress(src: Uint8Array, dst: Uint8Array, offset: number, capacity: number): number;
/** Decodes a size-prefixed LZ4 block into dst[offset, +length); length, or -1 if invalid. */
export function lz4Decompress(src: Uint8Array, dst: Uint8Array, offset: number, length: number): number;
/** The address of buf's first byte modulo `modulus` (a power of two): what O_DIRECT alignment needs. */
export function addressMod(buf: Uint8Array, modulus: number): number;
