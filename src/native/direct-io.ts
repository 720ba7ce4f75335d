// Memory for direct I/O (O_DIRECT): the kernel moves the bytes straight between the buffer and
// the disk, so the buffer's address, the file offset and the length must all be aligned.
// 4096 covers the logical block of every Linux disk and file system. JavaScript cannot see an
// address, so the addon tells it (native/src/direct_io.c); without the addon there is no
// aligned memory and callers write through the page cache.
import { loadAddon } from './addon.js';

export const DIRECT_ALIGN = 4096;

const addressMod = loadAddon()?.addressMod;

/** Whether alignedBuffer() can give aligned memory here. */
export const alignedMemoryAvailable = typeof addressMod === 'function';

/** `size` bytes starting at a DIRECT_ALIGN boundary (over-allocated by one alignment, once);
 *  a plain buffer when the addon is not built. */
export function alignedBuffer(size: number): Buffer {
  if (!addressMod) return Buffer.allocUnsafeSlow(size);
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_ALIGN);
  const skip = (DIRECT_ALIGN - addressMod(raw, DIRECT_ALIGN)) % DIRECT_ALIGN;
  return raw.subarray(skip, skip + size);
}

/** True when buf, at file position pos, can be written with O_DIRECT as it is. */
export function directWritable(buf: Uint8Array, pos: number): boolean {
  return !!addressMod && pos % DIRECT_ALIGN === 0 && buf.length % DIRECT_ALIGN === 0 && addressMod(buf, DIRECT_ALIGN) === 0;
}
