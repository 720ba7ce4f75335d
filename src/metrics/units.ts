// The service's units, chosen once (the docs leave the bases open): MB = 2^20 bytes,
// GB = 2^30 bytes, as cloud disk sizes are counted.
export const MB = 1024 * 1024;
export const GB = 1024 * MB;

/** MB/s with one decimal, as AT wants. */
export function mbPerSecond(bytes: number, ms: number): number {
  if (ms <= 0 || bytes <= 0) return 0;
  return Math.round((bytes / MB / (ms / 1000)) * 10) / 10;
}

/** Whole MB, rounded up so that any stored data shows as at least 1. */
export function wholeMB(bytes: number): number {
  return Math.ceil(bytes / MB);
}

/** Whole GB, rounded up (a 1.5 GiB volume needs a 2 GB disk). */
export function wholeGB(bytes: number): number {
  return Math.ceil(bytes / GB);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Parses "4MiB", "64k", "2GiB", "1048576" into bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$/i.exec(text);
  if (!m) throw new Error(`not a size: ${JSON.stringify(text)} (try 4MiB, 64KiB, 2GiB)`);
  const exp = ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** exp);
}
