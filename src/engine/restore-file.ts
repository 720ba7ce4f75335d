// A restore's image file, written under its temporary name (restore.ts renames it into place).
// Blocks go straight to the disk (O_DIRECT) where the file system takes it, so a restore does
// not copy every byte into the page cache only to flush it again: on the bench host that copy
// was 0.5–1.4 CPU-s for 1.2 GiB (page-cache memory the host hands out slowly), and the final
// fsync waited for all of it. Where O_DIRECT is refused (EINVAL: a file system without it,
// memory or a length that is not aligned), the bytes go through the page cache, flushed in the
// background so the final fsync finds little left.
import { constants, promises as fs } from 'node:fs';
import { directIoAvailable, writeFully, writeHeadDirect } from '../native/direct-io.js';

/** Page-cache bytes written between background flushes. */
const FLUSH_EVERY = 256 * 1024 * 1024;

type Handle = Pick<fs.FileHandle, 'write' | 'datasync' | 'sync' | 'close'>;

export class RestoreFile {
  /** Bytes written with O_DIRECT (the rest went through the page cache). */
  bytesDirect = 0;
  /** The O_DIRECT handle while it is used; #directHandle until close (writes may be in flight). */
  #direct: Handle | undefined;
  readonly #directHandle: Handle | undefined;
  #sinceFlush = 0;
  #flushing: Promise<void> | undefined;

  /** fh: the file, opened for writing; direct: the same file opened with O_DIRECT, if any. */
  constructor(
    private readonly fh: Handle,
    direct: Handle | undefined,
  ) {
    this.#direct = direct;
    this.#directHandle = direct;
  }

  /** Creates `path` (it must not exist) at `size` bytes, all holes. direct: try O_DIRECT. */
  static async create(path: string, size: number, direct: boolean): Promise<RestoreFile> {
    const fh = await fs.open(path, 'wx', 0o644);
    try {
      await fh.truncate(size);
      const d = direct && directIoAvailable ? await fs.open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined) : undefined;
      return new RestoreFile(fh, d);
    } catch (e) {
      await fh.close().catch(() => {});
      await fs.rm(path, { force: true }).catch(() => {}); // ours: 'wx' made it
      throw e;
    }
  }

  /** Whether blocks should arrive in aligned memory (alignedBuffer) to go straight to disk. */
  get direct(): boolean {
    return this.#direct !== undefined;
  }

  /** Writes buf[off, off+len) at pos: the aligned head straight to disk, the rest cached. */
  async write(buf: Buffer, off: number, len: number, pos: number): Promise<void> {
    const piece = buf.subarray(off, off + len);
    if (this.#direct) {
      const n = await writeHeadDirect(this.#direct, piece, pos, (p, at) => this.#cached(p, at));
      if (n !== 'refused') {
        this.bytesDirect += n;
        return;
      }
      this.#direct = undefined; // refused after all: everything through the page cache now
    }
    return this.#cached(piece, pos);
  }

  /** Everything written is on disk (fsync: data, size and allocation). */
  async sync(): Promise<void> {
    await this.#flushing;
    await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.#flushing?.catch(() => {});
    this.#direct = undefined;
    await this.#directHandle?.close().catch(() => {});
    await this.fh.close();
  }

  async #cached(piece: Buffer, pos: number): Promise<void> {
    await writeFully(this.fh, piece, pos);
    this.#sinceFlush += piece.length;
    if (this.#flushing || this.#sinceFlush < FLUSH_EVERY) return;
    this.#sinceFlush = 0;
    // A failed flush shows again in the final fsync.
    this.#flushing = this.fh
      .datasync()
      .catch(() => {})
      .finally(() => (this.#flushing = undefined));
  }
}
