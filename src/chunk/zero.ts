// Zero detection: a block of zeros is never stored. memcmp against a shared zero page
// runs at memory speed and stops at the first non-zero byte.

const ZERO = Buffer.alloc(1 << 20);

export function isAllZero(data: Uint8Array): boolean {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 0; off < buf.length; off += ZERO.length) {
    const n = Math.min(ZERO.length, buf.length - off);
    if (buf.compare(ZERO, 0, n, off, off + n) !== 0) return false;
  }
  return true;
}
