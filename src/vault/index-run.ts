// The host-local copy of the chunk index: one immutable file holding every record sorted by
// chunk id, in 4 KiB pages, with the first id of each page (the fences) and a Bloom filter.
// Only the fences and the filter are held in memory (≈ 1.6 B per chunk); a lookup is a filter
// probe, a binary search of the fences, then one 4 KiB pread into a reused buffer.
//
// It is a cache, never trusted blindly: every page carries its own xxh64 (checked on each read),
// the fences and the filter one more (checked when opened), the header one more. A failed check
// makes the caller rebuild the copy from the store's segments.
//
// File (format version 1, little endian):
//   page 0      header: "BVLR", version u8, 3 reserved, count f64, pages u32, bloomBits u32,
//               bloomK u32, xxh64 of fences+filter, then xxh64 of the 40 bytes before it
//   pages 1..P  102 records × (32-byte id, u32 stored length, u32 segment ordinal), zero pad,
//               xxh64 of the page's first 4088 bytes in its last 8
//   then        P × 32-byte fences, then the filter (bloomBits / 8 bytes)
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { xxh64 } from '@node-rs/xxhash';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';

export const RUN_VERSION = 1;
const MAGIC = Buffer.from('BVLR', 'ascii');
/** Bytes of one local record: id, stored length, ordinal of the segment that lists it. */
export const LREC = CHUNK_ID_BYTES + 8;
export const PAGE = 4096;
export const PER_PAGE = Math.floor((PAGE - 8) / LREC); // 102
const BLOOM_BITS_PER_KEY = 10;
const BLOOM_K = 7; // ≈ 0.8 % false positives at 10 bits per key

/** Thrown when the local copy fails a check: rebuild it from the store. */
export class LocalIndexDamaged extends Error {
  constructor(what: string) {
    super(`local chunk index copy is damaged: ${what}`);
    this.name = 'LocalIndexDamaged';
  }
}

export class Bloom {
  constructor(
    readonly bits: Uint8Array,
    readonly k: number,
  ) {}

  static forCount(n: number): Bloom {
    const bytes = Math.max(8, Math.ceil((Math.max(1, n) * BLOOM_BITS_PER_KEY) / 8));
    return new Bloom(new Uint8Array(bytes), BLOOM_K);
  }

  get mBits(): number {
    return this.bits.length * 8;
  }

  // Ids are keyed BLAKE3 output, uniform: two words of the id serve as the two hashes.
  add(buf: Uint8Array, off: number): void {
    const m = this.mBits;
    let h = readU32(buf, off + 16);
    const d = readU32(buf, off + 20) | 1;
    for (let j = 0; j < this.k; j++) {
      const b = h % m;
      this.bits[b >>> 3]! |= 1 << (b & 7);
      h = (h + d) >>> 0;
    }
  }

  mayContain(buf: Uint8Array, off = 0): boolean {
    const m = this.mBits;
    let h = readU32(buf, off + 16);
    const d = readU32(buf, off + 20) | 1;
    for (let j = 0; j < this.k; j++) {
      const b = h % m;
      if ((this.bits[b >>> 3]! & (1 << (b & 7))) === 0) return false;
      h = (h + d) >>> 0;
    }
    return true;
  }
}

const readU32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** Writes a run from records given in ascending id order (no duplicates). */
export class RunWriter {
  readonly #fh: FileHandle;
  readonly #buf = Buffer.alloc(256 * PAGE); // 1 MiB of pages per write
  #inBuf = 0; // bytes used in #buf (whole pages + the current partial page)
  #inPage = 0; // records in the current page
  #pos = PAGE; // file offset of #buf[0]
  #fences: Buffer;
  #pages = 0;
  readonly bloom: Bloom;
  count = 0;
  /** Records written per segment ordinal (so a deleted segment tells whether the run must go). */
  readonly perOrd = new Map<number, number>();

  private constructor(fh: FileHandle, maxCount: number) {
    this.#fh = fh;
    this.bloom = Bloom.forCount(maxCount);
    this.#fences = Buffer.alloc(Math.max(1, Math.ceil(maxCount / PER_PAGE)) * CHUNK_ID_BYTES);
  }

  /** `maxCount`: an upper bound of the records to come (sizes the filter). */
  static async create(file: string, maxCount: number): Promise<RunWriter> {
    return new RunWriter(await fs.open(file, 'w', 0o600), maxCount);
  }

  async add(src: Buffer, off: number): Promise<void> {
    if (this.#inPage === 0) {
      if (this.#pages * CHUNK_ID_BYTES >= this.#fences.length) {
        const grown = Buffer.alloc(this.#fences.length * 2);
        this.#fences.copy(grown);
        this.#fences = grown;
      }
      src.copy(this.#fences, this.#pages * CHUNK_ID_BYTES, off, off + CHUNK_ID_BYTES);
      this.#pages++;
    }
    src.copy(this.#buf, this.#inBuf + this.#inPage * LREC, off, off + LREC);
    this.bloom.add(src, off);
    const ord = src.readUInt32LE(off + CHUNK_ID_BYTES + 4);
    this.perOrd.set(ord, (this.perOrd.get(ord) ?? 0) + 1);
    this.count++;
    if (++this.#inPage === PER_PAGE) await this.#closePage();
  }

  async #closePage(): Promise<void> {
    const page = this.#buf.subarray(this.#inBuf, this.#inBuf + PAGE);
    page.fill(0, this.#inPage * LREC, PAGE - 8);
    page.writeBigUInt64LE(xxh64(page.subarray(0, PAGE - 8)), PAGE - 8);
    this.#inBuf += PAGE;
    this.#inPage = 0;
    if (this.#inBuf === this.#buf.length) await this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#inBuf === 0) return;
    await writeAll(this.#fh, this.#buf.subarray(0, this.#inBuf), this.#pos);
    this.#pos += this.#inBuf;
    this.#inBuf = 0;
  }

  async finish(): Promise<void> {
    try {
      if (this.#inPage > 0) await this.#closePage();
      await this.#drain();
      const fences = this.#fences.subarray(0, this.#pages * CHUNK_ID_BYTES);
      const bloom = Buffer.from(this.bloom.bits.buffer, this.bloom.bits.byteOffset, this.bloom.bits.byteLength);
      await writeAll(this.#fh, fences, this.#pos);
      await writeAll(this.#fh, bloom, this.#pos + fences.length);
      const tailSum = xxh64(Buffer.concat([fences, bloom]));
      const h = Buffer.alloc(PAGE);
      MAGIC.copy(h, 0);
      h[4] = RUN_VERSION;
      h.writeDoubleLE(this.count, 8);
      h.writeUInt32LE(this.#pages, 16);
      h.writeUInt32LE(this.bloom.mBits, 20);
      h.writeUInt32LE(this.bloom.k, 24);
      h.writeBigUInt64LE(tailSum, 32);
      h.writeBigUInt64LE(xxh64(h.subarray(0, 40)), 40);
      await writeAll(this.#fh, h, 0);
    } finally {
      await this.#fh.close();
    }
  }

  async abort(): Promise<void> {
    await this.#fh.close().catch(() => {});
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, pos + done);
    done += bytesWritten;
  }
}

async function readExactly(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, pos + done);
    if (bytesRead === 0) throw new LocalIndexDamaged('file is shorter than its header says');
    done += bytesRead;
  }
}

export interface RunHit {
  storedLength: number;
  ord: number;
}

// A reader dropped without close() (a vault reloads its index per backup) closes its file when
// collected, instead of leaking the descriptor.
const unclosed = new FinalizationRegistry<FileHandle>((fh) => void fh.close().catch(() => {}));

/** An open run: fences and filter in memory, pages read on demand. */
export class RunReader {
  readonly #fh: FileHandle;
  readonly count: number;
  readonly pages: number;
  readonly #fences: Buffer;
  readonly bloom: Bloom;
  readonly #free: Buffer[] = [];
  /** Page reads made (for tests and the bench). */
  pageReads = 0;

  private constructor(fh: FileHandle, count: number, pages: number, fences: Buffer, bloom: Bloom) {
    this.#fh = fh;
    this.count = count;
    this.pages = pages;
    this.#fences = fences;
    this.bloom = bloom;
    unclosed.register(this, fh, this);
  }

  /** Bytes this reader holds in memory. */
  get memoryBytes(): number {
    return this.#fences.length + this.bloom.bits.length + (this.#free.length + 1) * PAGE;
  }

  static async open(file: string): Promise<RunReader> {
    const fh = await fs.open(file, 'r');
    try {
      const h = Buffer.alloc(48);
      await readExactly(fh, h, 0);
      if (!h.subarray(0, 4).equals(MAGIC)) throw new LocalIndexDamaged(`${file}: not a local index run`);
      if (h[4] !== RUN_VERSION) throw new LocalIndexDamaged(`${file}: version ${h[4]} (this build reads ${RUN_VERSION})`);
      if (xxh64(h.subarray(0, 40)) !== h.readBigUInt64LE(40)) throw new LocalIndexDamaged(`${file}: header checksum`);
      const count = h.readDoubleLE(8);
      const pages = h.readUInt32LE(16);
      const mBits = h.readUInt32LE(20);
      const k = h.readUInt32LE(24);
      if (pages !== Math.ceil(count / PER_PAGE) || mBits % 8 !== 0 || k < 1 || k > 16) throw new LocalIndexDamaged(`${file}: header fields`);
      const st = await fh.stat();
      const tailAt = PAGE + pages * PAGE;
      if (st.size !== tailAt + pages * CHUNK_ID_BYTES + mBits / 8) throw new LocalIndexDamaged(`${file}: size ${st.size}`);
      const tail = Buffer.alloc(pages * CHUNK_ID_BYTES + mBits / 8);
      await readExactly(fh, tail, tailAt);
      if (xxh64(tail) !== h.readBigUInt64LE(32)) throw new LocalIndexDamaged(`${file}: fences or filter checksum`);
      const fences = tail.subarray(0, pages * CHUNK_ID_BYTES);
      const bits = new Uint8Array(tail.buffer, tail.byteOffset + fences.length, mBits / 8);
      return new RunReader(fh, count, pages, fences, new Bloom(bits, k));
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
  }

  mayContain(id: Uint8Array): boolean {
    return this.count > 0 && this.bloom.mayContain(id);
  }

  /** The record of `id`, or undefined. Throws LocalIndexDamaged when its page fails its check. */
  async lookup(id: Uint8Array): Promise<RunHit | undefined> {
    if (!this.mayContain(id)) return undefined;
    const idBuf = Buffer.from(id.buffer, id.byteOffset, CHUNK_ID_BYTES);
    // last page whose first id <= id
    let lo = 0;
    let hi = this.pages - 1;
    if (idBuf.compare(this.#fences, 0, CHUNK_ID_BYTES) < 0) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (idBuf.compare(this.#fences, mid * CHUNK_ID_BYTES, (mid + 1) * CHUNK_ID_BYTES) >= 0) lo = mid;
      else hi = mid - 1;
    }
    const page = await this.readPage(lo);
    try {
      const n = lo === this.pages - 1 ? this.count - lo * PER_PAGE : PER_PAGE;
      let a = 0;
      let b = n - 1;
      while (a <= b) {
        const m = (a + b) >>> 1;
        const c = idBuf.compare(page, m * LREC, m * LREC + CHUNK_ID_BYTES);
        if (c === 0) return { storedLength: page.readUInt32LE(m * LREC + CHUNK_ID_BYTES), ord: page.readUInt32LE(m * LREC + CHUNK_ID_BYTES + 4) };
        if (c < 0) b = m - 1;
        else a = m + 1;
      }
      return undefined;
    } finally {
      this.#free.push(page);
    }
  }

  /** Page `p` (checked), in a buffer the caller must give back via the pool (lookup does). */
  async readPage(p: number): Promise<Buffer> {
    const page = this.#free.pop() ?? Buffer.alloc(PAGE);
    await readExactly(this.#fh, page, PAGE + p * PAGE);
    this.pageReads++;
    if (xxh64(page.subarray(0, PAGE - 8)) !== page.readBigUInt64LE(PAGE - 8)) {
      this.#free.push(page);
      throw new LocalIndexDamaged(`page ${p} checksum`);
    }
    return page;
  }

  /** Every record in id order, `max` pages at a time (bounded memory). */
  async *scan(pagesPerRead = 256): AsyncGenerator<{ buf: Buffer; count: number }> {
    const buf = Buffer.alloc(pagesPerRead * PAGE);
    const out = Buffer.alloc(pagesPerRead * PER_PAGE * LREC);
    for (let p = 0; p < this.pages; p += pagesPerRead) {
      const np = Math.min(pagesPerRead, this.pages - p);
      const chunk = buf.subarray(0, np * PAGE);
      await readExactly(this.#fh, chunk, PAGE + p * PAGE);
      let n = 0;
      for (let i = 0; i < np; i++) {
        const page = chunk.subarray(i * PAGE, (i + 1) * PAGE);
        if (xxh64(page.subarray(0, PAGE - 8)) !== page.readBigUInt64LE(PAGE - 8)) throw new LocalIndexDamaged(`page ${p + i} checksum`);
        const inPage = p + i === this.pages - 1 ? this.count - (p + i) * PER_PAGE : PER_PAGE;
        page.copy(out, n * LREC, 0, inPage * LREC);
        n += inPage;
      }
      yield { buf: out, count: n };
    }
  }

  async close(): Promise<void> {
    unclosed.unregister(this);
    await this.#fh.close().catch(() => {});
  }
}
