// Where a file holds data, from SEEK_DATA/SEEK_HOLE (fs-ext, since Node has no lseek).
// Holes are never read: a 64 GiB sparse image with a few MiB of data costs a few reads.
// fs-ext is an optional dependency (it needs a compiler): without it the whole file counts
// as data, so holes are read (and, being zeros, still never stored).
import { createRequire } from 'node:module';

type FsExt = { seekSync(fd: number, offset: number, whence: number): number };
let fsExtLoaded: FsExt | null | undefined;
function loadFsExt(): FsExt | null {
  if (fsExtLoaded === undefined) {
    try {
      fsExtLoaded = createRequire(import.meta.url)('fs-ext') as FsExt;
    } catch {
      fsExtLoaded = null;
    }
  }
  return fsExtLoaded;
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/** Sorted, non-overlapping [start, end) ranges that may hold data. */
export type Ranges = Array<[number, number]>;

/** The file's data ranges; the whole file when the filesystem cannot say. */
export function dataRanges(fd: number, size: number): Ranges {
  const out: Ranges = [];
  let pos = 0;
  const fsExt = loadFsExt();
  if (!fsExt) return size > 0 ? [[0, size]] : [];
  try {
    while (pos < size) {
      let start: number;
      try {
        start = fsExt.seekSync(fd, pos, SEEK_DATA);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENXIO') break; // no data after pos
        throw e;
      }
      if (start >= size) break;
      const end = Math.min(fsExt.seekSync(fd, start, SEEK_HOLE), size);
      out.push([start, end]);
      pos = end;
    }
    return out;
  } catch {
    return size > 0 ? [[0, size]] : [];
  }
}

/** The parts of ranges inside [start, end), found by binary search from a cursor. */
export function rangesWithin(ranges: Ranges, start: number, end: number): Ranges {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]![1] <= start) lo = mid + 1;
    else hi = mid;
  }
  const out: Ranges = [];
  for (let i = lo; i < ranges.length; i++) {
    const [a, b] = ranges[i]!;
    if (a >= end) break;
    out.push([Math.max(a, start), Math.min(b, end)]);
  }
  return out;
}
