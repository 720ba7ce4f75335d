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

/** The offset into `ab` at which a DIRECT_ALIGN boundary starts (0 without the addon). */
export function alignedOffset(ab: ArrayBuffer): number {
  return addressMod ? (DIRECT_ALIGN - addressMod(new Uint8Array(ab), DIRECT_ALIGN)) % DIRECT_ALIGN : 0;
}

/** True when buf, at file position pos, can be written or read with O_DIRECT as it is:
 *  aligned memory, and position and length multiples of `unit` (a device's logical sector;
 *  DIRECT_ALIGN when unknown). */
export function directWritable(buf: Uint8Array, pos: number, unit = DIRECT_ALIGN): boolean {
  return !!addressMod && pos % unit === 0 && buf.length % unit === 0 && addressMod(buf, DIRECT_ALIGN) === 0;
}

/** Writes all of piece at pos (a regular file's write returns short only on an error still to
 *  come: write the rest). */
export async function writeFully(h: { write(b: Buffer, off: number, len: number, pos: number): Promise<{ bytesWritten: number }> }, piece: Buffer, pos: number): Promise<void> {
  for (let done = 0; done < piece.length; ) {
    const { bytesWritten } = await h.write(piece, done, piece.length - done, pos + done);
    if (bytesWritten <= 0) throw Object.assign(new Error(`write at offset ${pos + done} wrote nothing`), { code: 'EIO' });
    done += bytesWritten;
  }
}
