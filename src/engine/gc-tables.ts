// GC's two working sets, packed into typed arrays: the chunks the manifests name, and the
// chunk objects chunks/ lists. As Maps and Sets of 64-character hex strings they took ~270 B
// a chunk (and the rewritten index segment's records as many objects again): ~4 GB for a
// vault of 10 M chunks. Here: 16 B a named chunk, ~57 B a listed one.
//
// MarkedIds keeps only each id's first 8 bytes. Its one possible error is to call a chunk
// marked that is not (another marked id shares its 8-byte prefix), and a marked chunk is kept,
// never deleted: so the error can only leave a garbage chunk in place, with odds of about
// (marked chunks) / 2^64 per unreferenced chunk. Ids are keyed BLAKE3 (identity.ts): nobody
// can aim at a prefix. ListedChunks keeps whole ids: what it lists goes into the index.
import { CHUNK_ID_BYTES } from '../chunk/identity.js';

const START = 1024;

/** A set of chunk ids by their first 8 bytes (see the top): add, has. */
export class MarkedIds {
  #lo = new Uint32Array(START);
  #hi = new Uint32Array(START);
  #used = 0;
  /** The prefix 0,0 marks an empty slot, so an id with that prefix is kept aside. */
  #zero = false;

  get size(): number {
    return this.#used + (this.#zero ? 1 : 0);
  }

  add(id: Buffer): void {
    const a = id.readUInt32LE(0);
    const b = id.readUInt32LE(4);
    if (a === 0 && b === 0) {
      this.#zero = true;
      return;
    }
    if ((this.#used + 1) * 2 > this.#lo.length) this.#grow();
    this.#put(a, b);
  }

  has(id: Buffer): boolean {
    const a = id.readUInt32LE(0);
    const b = id.readUInt32LE(4);
    if (a === 0 && b === 0) return this.#zero;
    const i = this.#slotOf(a, b);
    return this.#lo[i] !== 0 || this.#hi[i] !== 0;
  }

  /** The slot holding prefix (a, b), or the empty slot where it would go. */
  #slotOf(a: number, b: number): number {
    const mask = this.#lo.length - 1;
    let i = a & mask;
    for (;;) {
      const x = this.#lo[i]!;
      const y = this.#hi[i]!;
      if ((x === 0 && y === 0) || (x === a && y === b)) return i;
      i = (i + 1) & mask;
    }
  }

  #put(a: number, b: number): void {
    const i = this.#slotOf(a, b);
    if (this.#lo[i] !== 0 || this.#hi[i] !== 0) return; // there already
    this.#lo[i] = a;
    this.#hi[i] = b;
    this.#used++;
  }

  #grow(): void {
    const lo = this.#lo;
    const hi = this.#hi;
    this.#lo = new Uint32Array(lo.length * 2);
    this.#hi = new Uint32Array(hi.length * 2);
    this.#used = 0;
    for (let i = 0; i < lo.length; i++) if (lo[i] !== 0 || hi[i] !== 0) this.#put(lo[i]!, hi[i]!);
  }
}

/** The chunk objects a listing found: id, size and last-modified time of each, by position,
 *  with a flag for "unreferenced" (GC's U), and a lookup by id. */
export class ListedChunks {
  #ids = Buffer.alloc(START * CHUNK_ID_BYTES);
  #sizes = new Float64Array(START);
  #at = new Float64Array(START);
  #unref = new Uint8Array(START);
  /** Open addressing by the id's first 4 bytes: position + 1, 0 for empty. */
  #slots = new Int32Array(START * 2);
  #count = 0;
  #unrefCount = 0;

  get count(): number {
    return this.#count;
  }

  get unrefCount(): number {
    return this.#unrefCount;
  }

  /** Adds a listed chunk (a second listing of the same id is ignored); lastModified in ms. */
  add(id: Buffer, size: number, lastModified: number | undefined): void {
    if (id.length !== CHUNK_ID_BYTES) throw new Error(`chunk id of ${id.length} bytes`);
    if (this.#count === this.#sizes.length) this.#grow();
    const slot = this.#slotOf(id);
    if (this.#slots[slot] !== 0) return;
    const i = this.#count++;
    id.copy(this.#ids, i * CHUNK_ID_BYTES);
    this.#sizes[i] = size;
    this.#at[i] = lastModified ?? Number.NaN;
    this.#slots[slot] = i + 1;
  }

  /** The position of `id`, or -1. */
  find(id: Buffer): number {
    if (id.length !== CHUNK_ID_BYTES) return -1;
    return this.#slots[this.#slotOf(id)]! - 1;
  }

  /** The id at position i (a view: copy it to keep it past a later add). */
  id(i: number): Buffer {
    return this.#ids.subarray(i * CHUNK_ID_BYTES, (i + 1) * CHUNK_ID_BYTES);
  }

  size(i: number): number {
    return this.#sizes[i]!;
  }

  /** Last-modified time in ms when the listing gave one. */
  listedAt(i: number): number | undefined {
    const t = this.#at[i]!;
    return Number.isNaN(t) ? undefined : t;
  }

  isUnref(i: number): boolean {
    return this.#unref[i] === 1;
  }

  setUnref(i: number, unref: boolean): void {
    const v = unref ? 1 : 0;
    if (this.#unref[i] === v) return;
    this.#unref[i] = v;
    this.#unrefCount += unref ? 1 : -1;
  }

  /** Positions flagged unreferenced, in listing order. */
  unrefPositions(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#count; i++) if (this.#unref[i] === 1) out.push(i);
    return out;
  }

  /** The slot holding `id`, or the empty slot where it would go. */
  #slotOf(id: Buffer): number {
    const mask = this.#slots.length - 1;
    for (let s = id.readUInt32LE(0) & mask; ; s = (s + 1) & mask) {
      const v = this.#slots[s]!;
      if (v === 0) return s;
      const at = (v - 1) * CHUNK_ID_BYTES;
      if (this.#ids.compare(id, 0, CHUNK_ID_BYTES, at, at + CHUNK_ID_BYTES) === 0) return s;
    }
  }

  #grow(): void {
    const n = this.#sizes.length * 2;
    const ids = Buffer.alloc(n * CHUNK_ID_BYTES);
    this.#ids.copy(ids);
    this.#ids = ids;
    const grown = <T extends Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#sizes = grown(this.#sizes, (k) => new Float64Array(k));
    this.#at = grown(this.#at, (k) => new Float64Array(k));
    this.#unref = grown(this.#unref, (k) => new Uint8Array(k));
    this.#slots = new Int32Array(n * 2);
    for (let i = 0; i < this.#count; i++) this.#slots[this.#slotOf(this.id(i))] = i + 1;
  }
}
