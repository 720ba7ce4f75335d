// Builds a run (index-run.ts) from records in any order with bounded memory: records are
// distributed by the top bits of their id into bucket files (ids are uniform, so the buckets
// are even), then each bucket is sorted in memory and written out in order. Memory is the
// bucket write buffers (≤ 8 MiB) plus one bucket (≈ 64 Ki records, 2.5 MiB), whatever the
// total. Of records with the same id, the one with the highest segment ordinal is kept.
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import { LREC, RunWriter } from './index-run.js';

const BUCKET_TARGET = 64 * 1024;
const MAX_BUCKET_BITS = 8;
const WRITE_BUFFERS_BYTES = 8 * 1024 * 1024;

// A rebuild streams hundreds of MiB through short-lived Buffers (segment pieces, buckets) on a
// heap that is otherwise tiny, so V8 lets ~60 MiB of them pile up between collections. A
// rebuild is rare: collecting every 32 MiB it moves keeps its peak near its live set. `gc`
// comes from a fresh context made after --expose-gc is set (as in chunk/block-worker.ts).
let collector: (() => void) | undefined;
function collect(): void {
  if (!collector) {
    v8.setFlagsFromString('--expose-gc');
    collector = vm.runInNewContext('gc') as () => void;
  }
  collector();
}
const COLLECT_EVERY_BYTES = 32 * 1024 * 1024;

interface Bucket {
  buf: Buffer;
  n: number;
  fh?: FileHandle;
  written: number;
}

export class RunBuilder {
  readonly #dir: string;
  readonly #bits: number;
  readonly #buckets: Bucket[];
  #pushed = 0;
  #sinceCollect = 0;

  private constructor(dir: string, expected: number, bucketRecords: number) {
    this.#dir = dir;
    let bits = 0;
    while (bits < MAX_BUCKET_BITS && expected / 2 ** bits > bucketRecords) bits++;
    this.#bits = bits;
    const nb = 2 ** bits;
    const perBucket = bits === 0 ? Math.max(1024, expected) : Math.max(256, Math.floor(WRITE_BUFFERS_BYTES / nb / LREC));
    this.#buckets = Array.from({ length: nb }, () => ({ buf: Buffer.alloc(perBucket * LREC), n: 0, written: 0 }));
  }

  /** `expected`: about how many records will be pushed (chooses the bucket count). */
  static async create(tmpDir: string, expected: number, bucketRecords = BUCKET_TARGET): Promise<RunBuilder> {
    await fs.mkdir(tmpDir, { recursive: true, mode: 0o700 });
    return new RunBuilder(tmpDir, expected, bucketRecords);
  }

  get pushed(): number {
    return this.#pushed;
  }

  /** Adds `count` records of LREC bytes from `buf` (copied: the caller may reuse it). */
  async push(buf: Buffer, count: number, keep?: (ord: number) => boolean): Promise<void> {
    this.#sinceCollect += count * LREC;
    if (this.#sinceCollect >= COLLECT_EVERY_BYTES) {
      this.#sinceCollect = 0;
      collect();
    }
    const shift = 32 - this.#bits;
    for (let i = 0; i < count; i++) {
      const off = i * LREC;
      if (keep && !keep(buf.readUInt32LE(off + CHUNK_ID_BYTES + 4))) continue;
      const b = this.#bits === 0 ? 0 : buf.readUInt32BE(off) >>> shift;
      const bucket = this.#buckets[b]!;
      if (bucket.n * LREC === bucket.buf.length) {
        if (this.#bits === 0) {
          const grown = Buffer.alloc(bucket.buf.length * 2);
          bucket.buf.copy(grown);
          bucket.buf = grown;
        } else await this.#spill(b, bucket);
      }
      buf.copy(bucket.buf, bucket.n * LREC, off, off + LREC);
      bucket.n++;
      this.#pushed++;
    }
  }

  async #spill(b: number, bucket: Bucket): Promise<void> {
    const fh = (bucket.fh ??= await fs.open(path.join(this.#dir, `bucket-${b}`), 'w+', 0o600));
    const data = bucket.buf.subarray(0, bucket.n * LREC);
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, bucket.written + done);
      done += bytesWritten;
    }
    bucket.written += data.length;
    bucket.n = 0;
  }

  /** Writes the sorted, deduplicated run to `file`, leaving out records of ordinals in `drop`
   *  (segments found damaged after their pieces were pushed). Returns the writer (count, perOrd). */
  async finish(file: string, drop?: ReadonlySet<number>): Promise<RunWriter> {
    const out = await RunWriter.create(file, Math.max(this.#pushed, 1));
    let whole = Buffer.alloc(0); // one buffer for every bucket read back: less garbage
    try {
      for (let b = 0; b < this.#buckets.length; b++) {
        const bucket = this.#buckets[b]!;
        let all = bucket.buf.subarray(0, bucket.n * LREC);
        if (bucket.fh) {
          const need = bucket.written + all.length;
          if (whole.length < need) whole = Buffer.alloc(Math.ceil(need * 1.25));
          for (let done = 0; done < bucket.written; ) {
            const { bytesRead } = await bucket.fh.read(whole, done, bucket.written - done, done);
            if (bytesRead === 0) throw new Error('bucket file shrank while building the local index');
            done += bytesRead;
          }
          all.copy(whole, bucket.written);
          all = whole.subarray(0, need);
          await bucket.fh.close();
          bucket.fh = undefined;
        }
        bucket.buf = Buffer.alloc(0); // free as we go
        if ((b & 31) === 31) collect();
        const n = all.length / LREC;
        const order = sortRecords(all, n, this.#bits);
        let prev = -1;
        for (let i = 0; i < n; i++) {
          const off = order[i]! * LREC;
          if (drop?.size && drop.has(all.readUInt32LE(off + CHUNK_ID_BYTES + 4))) continue;
          if (prev >= 0 && all.compare(all, prev, prev + CHUNK_ID_BYTES, off, off + CHUNK_ID_BYTES) === 0) continue;
          await out.add(all, off);
          prev = off;
        }
      }
      await out.finish();
      collect();
      return out;
    } catch (e) {
      await out.abort();
      throw e;
    } finally {
      await this.cleanup();
    }
  }

  async cleanup(): Promise<void> {
    for (const b of this.#buckets) await b.fh?.close().catch(() => {});
    await fs.rm(this.#dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** The order of `n` records of `buf` by id, and for equal ids by ordinal, highest first.
 *  Records share their top `skipBits` bits; a counting sort on the next 16 bits does most of
 *  the work (uniform ids), an insertion sort fixes the small groups left. */
export function sortRecords(buf: Buffer, n: number, skipBits = 0): Uint32Array {
  const keyOf = (i: number) => ((buf.readUInt32BE(i * LREC) << skipBits) >>> 16) & 0xffff;
  const counts = new Uint32Array(65537);
  const keys = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const k = keyOf(i);
    keys[i] = k;
    counts[k + 1]!++;
  }
  for (let k = 0; k < 65536; k++) counts[k + 1]! += counts[k]!;
  const starts = counts.slice(0, 65536);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[starts[keys[i]!]!++] = i;
  const cmp = (x: number, y: number) => {
    const c = buf.compare(buf, y * LREC, y * LREC + CHUNK_ID_BYTES, x * LREC, x * LREC + CHUNK_ID_BYTES);
    if (c !== 0) return c;
    return buf.readUInt32LE(y * LREC + CHUNK_ID_BYTES + 4) - buf.readUInt32LE(x * LREC + CHUNK_ID_BYTES + 4);
  };
  for (let k = 0; k < 65536; k++) {
    const a = counts[k]!;
    const b = counts[k + 1]!;
    if (b - a < 2) continue;
    if (b - a > 32) {
      const part = Array.from(order.subarray(a, b)).sort(cmp);
      order.set(part, a);
      continue;
    }
    for (let i = a + 1; i < b; i++) {
      const v = order[i]!;
      let j = i - 1;
      while (j >= a && cmp(order[j]!, v) > 0) {
        order[j + 1] = order[j]!;
        j--;
      }
      order[j + 1] = v;
    }
  }
  return order;
}
