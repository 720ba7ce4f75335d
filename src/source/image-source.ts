// A raw disk image (or any file) as a sequence of fixed-size blocks. Reads only the data
// extents of each block and zero-fills its holes in the caller's buffer.
import { constants as fsConstants, promises as fs, type Stats } from 'node:fs';
import { BlockvaultError, ErrorCodes, ioError } from '../errors.js';
import { dataRanges, rangesWithin, type Ranges } from './data-extents.js';
import type { PlannedReads, ReadFailure, ReadPlan } from './read-plan.js';

export interface BlockRead {
  /** Bytes of the block (the last block of a volume may be short). */
  length: number;
  /** Bytes actually read; the rest were holes. */
  dataBytes: number;
}

export interface BlockSource {
  readonly path: string;
  readonly kind: 'file' | 'block-device';
  readonly size: number;
  /** Device identity (major:minor) where known: recorded in the manifest's source. */
  readonly identity?: string;
  /** True when the whole block is a hole: no read needed, it is zero. */
  isHole(start: number, end: number): boolean;
  /** Bytes read straight from the device (O_DIRECT), where the source does that. */
  readonly bytesDirect?: number;
  /** Fills buf[0, end-start) with the bytes of [start, end): data extents read, holes zeroed. */
  read(start: number, end: number, buf: Buffer): Promise<BlockRead>;
  /** Present where a worker thread can read the blocks itself (read-plan.ts). */
  readonly planned?: PlannedReads;
  /** Fails if the input changed size since open: the backup would not be one point in time. */
  checkUnchanged(): Promise<void>;
  close(): Promise<void>;
}

/** What a path is, for messages: "a FIFO", "a character device"… */
export function describeFileType(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** Inputs are regular files and block devices only: a FIFO or socket would block or stream
 *  without a size, and a character device (/dev/zero, /dev/null) has no fixed size. */
export function notAnImage(path: string, st: Stats): BlockvaultError {
  return new BlockvaultError(ErrorCodes.badInput, `input ${path} is ${describeFileType(st)}, not an image file or block device`, {
    hint: 'back up a regular image file or a block device (copy a stream to a file first)',
    details: { path },
  });
}

export class ImageFileSource implements BlockSource, PlannedReads {
  readonly kind = 'file' as const;
  readonly path: string;
  readonly size: number;
  readonly #fh: fs.FileHandle;
  readonly #ranges: Ranges;
  readonly #mtimeMs: number;

  private constructor(path: string, fh: fs.FileHandle, size: number, mtimeMs: number) {
    this.path = path;
    this.#fh = fh;
    this.size = size;
    this.#mtimeMs = mtimeMs;
    this.#ranges = dataRanges(fh.fd, size);
  }

  static async open(path: string): Promise<ImageFileSource> {
    let fh: fs.FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
      // It changes nothing for a regular file, the only kind kept.
      fh = await fs.open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (e) {
      throw ioError(e, 'input', path);
    }
    const st = await fh.stat();
    if (st.isDirectory()) {
      await fh.close();
      throw ioError(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), 'input', path);
    }
    if (!st.isFile()) {
      await fh.close();
      throw notAnImage(path, st);
    }
    return new ImageFileSource(path, fh, st.size, st.mtimeMs);
  }

  /** Bytes the filesystem reports as data (for progress and the sparse tests). */
  get dataBytes(): number {
    return this.#ranges.reduce((n, [a, b]) => n + (b - a), 0);
  }

  isHole(start: number, end: number): boolean {
    return rangesWithin(this.#ranges, start, end).length === 0;
  }

  async read(start: number, end: number, buf: Buffer): Promise<BlockRead> {
    const length = end - start;
    let cursor = start;
    let dataBytes = 0;
    for (const [a, b] of rangesWithin(this.#ranges, start, end)) {
      if (a > cursor) buf.fill(0, cursor - start, a - start);
      await this.#readFully(buf, a - start, b - a, a);
      dataBytes += b - a;
      cursor = b;
    }
    if (cursor < end) buf.fill(0, cursor - start, length);
    return { length, dataBytes };
  }

  /** The backup's workers read an image file themselves, from its fd and data ranges. */
  get planned(): PlannedReads {
    return this;
  }

  readPlan(start: number, end: number): ReadPlan {
    return { fd: this.#fh.fd, ranges: rangesWithin(this.#ranges, start, end) };
  }

  readFailed(f: ReadFailure): BlockvaultError {
    if (f.endedAt !== undefined) return this.#endedEarly(f.endedAt);
    return ioError(Object.assign(new Error(f.message), { code: f.code }), 'input', this.path);
  }

  async #readFully(buf: Buffer, off: number, len: number, pos: number): Promise<void> {
    let done = 0;
    while (done < len) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.#fh.read(buf, off + done, len - done, pos + done));
      } catch (e) {
        throw ioError(e, 'input', this.path);
      }
      if (n === 0) throw this.#endedEarly(pos + done);
      done += n;
    }
  }

  #endedEarly(offset: number): BlockvaultError {
    return this.#changed(`it ended at offset ${offset}, before its size at open (${this.size})`);
  }

  #changed(why: string): BlockvaultError {
    return new BlockvaultError(ErrorCodes.inputChanged, `input ${this.path} changed during the backup: ${why}`, {
      hint: 'back up from a snapshot or a file nothing writes to; the backup was not made visible',
      details: { path: this.path },
    });
  }

  async checkUnchanged(): Promise<void> {
    const st = await this.#fh.stat();
    if (st.size !== this.size) throw this.#changed(`its size went from ${this.size} to ${st.size} bytes`);
  }

  get modifiedSinceOpen(): Promise<boolean> {
    return this.#fh.stat().then((st) => st.mtimeMs !== this.#mtimeMs);
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }
}
