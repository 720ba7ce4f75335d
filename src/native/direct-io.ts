// Memory for direct I/O (O_DIRECT): the kernel moves the bytes straight between the buffer and
// the disk, so the buffer's address, the file offset and the length must all be aligned.
// 4096 covers the logical block of every Linux disk and file system. JavaScript cannot see an
// address, so the addon tells it (native/src/direct_io.c); without the addon there is no
// aligned memory and callers write through the page cache.
import { constants } from 'node:fs';
import { loadAddon } from './addon.js';

export const DIRECT_ALIGN = 4096;

const addressMod = loadAddon()?.addressMod;

/** Whether alignedBuffer() can give aligned memory here. */
export const alignedMemoryAvailable = typeof addressMod === 'function';

/** Whether O_DIRECT is worth trying here: aligned memory and a platform that has the flag. */
export const directIoAvailable = alignedMemoryAvailable && !!constants.O_DIRECT;

/** An ArrayBuffer with `size` bytes from `offset` on a DIRECT_ALIGN boundary (one alignment
 *  over-allocated; offset 0 without the addon). For memory that travels to a worker. */
export function alignedArrayBuffer(size: number): { ab: ArrayBuffer; offset: number } {
  if (!addressMod) return { ab: new ArrayBuffer(size), offset: 0 };
  const ab = new ArrayBuffer(size + DIRECT_ALIGN);
  return { ab, offset: (DIRECT_ALIGN - addressMod(new Uint8Array(ab), DIRECT_ALIGN)) % DIRECT_ALIGN };
}

/** `size` bytes starting at a DIRECT_ALIGN boundary; a plain buffer without the addon. */
export function alignedBuffer(size: number): Buffer {
  const { ab, offset } = alignedArrayBuffer(size);
  return Buffer.from(ab, offset, size);
}

/** True when buf, at file position pos, can be written or read with O_DIRECT as it is:
 *  aligned memory, and position and length multiples of `unit` (a device's logical sector;
 *  DIRECT_ALIGN when unknown). */
export function directAligned(buf: Uint8Array, pos: number, unit = DIRECT_ALIGN): boolean {
  return !!addressMod && pos % unit === 0 && buf.length % unit === 0 && addressMod(buf, DIRECT_ALIGN) === 0;
}

/** The length of piece's head that O_DIRECT can write at pos (a DIRECT_ALIGN multiple), or 0. */
export function directHead(piece: Uint8Array, pos: number): number {
  const head = piece.length - (piece.length % DIRECT_ALIGN);
  return head > 0 && directAligned(piece.subarray(0, head), pos) ? head : 0;
}

type Writable = { write(b: Buffer, off: number, len: number, pos: number): Promise<{ bytesWritten: number }> };

/** Writes all of piece at pos (a regular file's write returns short only on an error still to
 *  come: write the rest). */
export async function writeFully(h: Writable, piece: Buffer, pos: number): Promise<void> {
  for (let done = 0; done < piece.length; ) {
    const { bytesWritten } = await h.write(piece, done, piece.length - done, pos + done);
    if (bytesWritten <= 0) throw Object.assign(new Error(`write at offset ${pos + done} wrote nothing`), { code: 'EIO' });
    done += bytesWritten;
  }
}

/**
 * Writes piece at pos: its aligned head (directHead) through `direct`, an O_DIRECT handle, and
 * the rest with `plain`. Returns the bytes that went direct (0: nothing aligned, all plain), or
 * 'refused' when the kernel answered EINVAL: the caller then writes the whole piece plainly,
 * and stops trying O_DIRECT.
 */
export async function writeHeadDirect(direct: Writable, piece: Buffer, pos: number, plain: (p: Buffer, at: number) => Promise<void>): Promise<number | 'refused'> {
  const head = directHead(piece, pos);
  if (head === 0) {
    await plain(piece, pos);
    return 0;
  }
  try {
    await writeFully(direct, piece.subarray(0, head), pos);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return 'refused';
    throw e;
  }
  if (head < piece.length) await plain(piece.subarray(head), pos + head);
  return head;
}
