// Test images built from a seed: each block (or sub-block run) is one of zero-as-hole,
// zero-as-written-zeros, random, text-like or a repeat of an earlier block.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type Kind = 'hole' | 'zeros' | 'random' | 'text' | 'repeat';

/** xorshift128+: fast, seeded, good enough for test data. */
export function prng(seed: number) {
  let s0 = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
  let s1 = s0 ^ 0x6a09e667f3bcc908n;
  const M = (1n << 64n) - 1n;
  return {
    next(): bigint {
      let x = s0;
      const y = s1;
      s0 = y;
      x = (x ^ (x << 23n)) & M;
      s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
      return (s1 + y) & M;
    },
    int(n: number): number {
      return Number(this.next() % BigInt(n));
    },
    fill(buf: Buffer): void {
      // Hash-counter mode: fast enough for tens of MiB.
      const seedBytes = Buffer.alloc(8);
      seedBytes.writeBigUInt64LE(this.next());
      for (let off = 0, ctr = 0; off < buf.length; off += 64, ctr++) {
        const h = createHash('sha512').update(seedBytes).update(String(ctr)).digest();
        h.copy(buf, off, 0, Math.min(64, buf.length - off));
      }
    },
  };
}

const WORDS = 'the quick brown fox jumps over lazy dog kernel block device sector inode journal extent superblock lib usr bin etc var log'.split(' ');

export function textLike(len: number, rnd: ReturnType<typeof prng>): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < len) {
    const line = Array.from({ length: 4 + rnd.int(8) }, () => WORDS[rnd.int(WORDS.length)]).join(' ') + ` ${rnd.int(100000)}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, len);
}

export interface ImageSpec {
  /** One kind per block; the image is blocks.length blocks of blockSize, minus `shortBy`. */
  blocks: Kind[];
  blockSize: number;
  seed?: number;
  /** Make the last block short by this many bytes (size not a multiple of the block size). */
  shortBy?: number;
}

/** Writes the image; holes are real holes (never written). Returns its size. */
export async function makeImage(file: string, spec: ImageSpec): Promise<number> {
  const rnd = prng(spec.seed ?? 1);
  const size = spec.blocks.length * spec.blockSize - (spec.shortBy ?? 0);
  const fh = await fs.open(file, 'w');
  try {
    await fh.truncate(size);
    const written: Buffer[] = [];
    for (let i = 0; i < spec.blocks.length; i++) {
      const len = Math.min(spec.blockSize, size - i * spec.blockSize);
      if (len <= 0) break;
      let buf: Buffer | undefined;
      switch (spec.blocks[i]) {
        case 'hole':
          break;
        case 'zeros':
          buf = Buffer.alloc(len);
          break;
        case 'random':
          buf = Buffer.alloc(len);
          rnd.fill(buf);
          break;
        case 'text':
          buf = textLike(len, rnd);
          break;
        case 'repeat':
          buf = written.length ? written[rnd.int(written.length)]!.subarray(0, len) : Buffer.alloc(len, 7);
          if (buf.length < len) buf = Buffer.concat([buf, Buffer.alloc(len - buf.length, 1)]);
          break;
      }
      if (buf) {
        await fh.write(buf, 0, len, i * spec.blockSize);
        if (buf.length === spec.blockSize && spec.blocks[i] !== 'zeros') written.push(buf);
      }
    }
  } finally {
    await fh.close();
  }
  return size;
}

export async function overwrite(file: string, offset: number, data: Buffer): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (!bytesRead) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

export async function tempDir(name: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `bv-${name}-`));
}

/** Allocated bytes on disk (holes excluded). */
export async function allocatedBytes(file: string): Promise<number> {
  return (await fs.stat(file)).blocks * 512;
}
