import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compressSync } from 'lz4-napi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MiB,
  makeExt4Image,
  makeMixedImage,
  makeSparseImage,
  mkfsExt4Support,
  mutateImage,
  parseSize,
  readExtentsFile,
  type ImageDescription,
} from '../../bench/inputs.js';

const SIZE = 64 * MiB;
let dir: string;
let a: string;
let descA: ImageDescription;

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    fs.readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bv-inputs-'));
  a = path.join(dir, 'a.img');
  descA = await makeMixedImage(a, { size: SIZE, seed: 11 });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('parseSize', () => {
  it('reads binary units', () => {
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('64M')).toBe(64 * MiB);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize(4096)).toBe(4096);
    expect(() => parseSize('lots')).toThrow();
  });
});

describe('makeMixedImage', () => {
  it('is reproducible from the seed, and another seed differs', async () => {
    const b = path.join(dir, 'b.img');
    const c = path.join(dir, 'c.img');
    const descB = await makeMixedImage(b, { size: SIZE, seed: 11 });
    await makeMixedImage(c, { size: SIZE, seed: 12 });
    expect(sha(b)).toBe(sha(a));
    expect(descB.regions).toEqual(descA.regions);
    expect(sha(c)).not.toBe(sha(a));
    fs.rmSync(b);
    fs.rmSync(c);
  });

  it('has real holes: allocated bytes match the data, not the size', () => {
    const st = fs.statSync(a);
    expect(st.size).toBe(SIZE);
    const allocated = st.blocks * 512;
    expect(allocated).toBeLessThan(SIZE * 0.7);
    // ext4/xfs/btrfs allocate what was written (± metadata and alignment).
    expect(Math.abs(allocated - descA.dataBytes)).toBeLessThan(SIZE * 0.02);
  });

  it('hole regions read as zeros and data regions do not', () => {
    for (const r of descA.regions) {
      const b = readAt(a, r.offset, Math.min(r.length, 256 * 1024));
      const zero = b.every((x) => x === 0);
      expect(zero, `${r.kind} at ${r.offset}`).toBe(r.kind === 'hole');
    }
  });

  it('lands on the asked proportions (within a few %)', () => {
    const f = (k: keyof ImageDescription['bytes']): number => descA.bytes[k] / SIZE;
    expect(descA.bytes.hole + descA.bytes.text + descA.bytes.random + descA.bytes.repeat).toBe(SIZE);
    expect(Math.abs(f('hole') - 0.4)).toBeLessThan(0.03);
    expect(Math.abs(f('text') - 0.3)).toBeLessThan(0.03);
    expect(Math.abs(f('random') - 0.25)).toBeLessThan(0.03);
    expect(Math.abs(f('repeat') - 0.05)).toBeLessThan(0.03);
    // regions tile the image, 64 KiB aligned
    let end = 0;
    for (const r of descA.regions) {
      expect(r.offset).toBe(end);
      expect(r.offset % (64 * 1024)).toBe(0);
      expect(r.length % (64 * 1024)).toBe(0);
      end = r.offset + r.length;
    }
    expect(end).toBe(SIZE);
    // many blocks mix data and holes, as on real images
    expect(descA.mixedBlocks).toBeGreaterThan(16 * 0.3);
  });

  it('honours other proportions too', async () => {
    const d = path.join(dir, 'd.img');
    const desc = await makeMixedImage(d, { size: SIZE, seed: 3, holes: 0.7, text: 0.1, random: 0.2, repeats: 0 });
    expect(Math.abs(desc.bytes.hole / SIZE - 0.7)).toBeLessThan(0.03);
    expect(Math.abs(desc.bytes.text / SIZE - 0.1)).toBeLessThan(0.03);
    expect(desc.bytes.repeat).toBe(0);
    fs.rmSync(d);
  });

  it('text regions are text that LZ4 compresses to 0.3–0.5; random regions do not compress', () => {
    const sample = (kind: 'text' | 'random'): number => {
      let inB = 0;
      let outB = 0;
      for (const r of descA.regions.filter((x) => x.kind === kind && x.length >= 256 * 1024)) {
        const b = readAt(a, r.offset, Math.min(r.length, 4 * MiB));
        inB += b.length;
        outB += compressSync(b).length;
        if (kind === 'text') expect(b.every((x) => x === 10 || (x >= 32 && x < 127))).toBe(true);
      }
      return outB / inB;
    };
    const t = sample('text');
    expect(t).toBeGreaterThan(0.3);
    expect(t).toBeLessThan(0.5);
    expect(sample('random')).toBeGreaterThan(0.99);
  });

  it('repeated blocks really repeat earlier blocks', () => {
    expect(descA.repeatedBlocks.length).toBeGreaterThanOrEqual(1);
    const bs = descA.blockSize;
    for (const { block, source } of descA.repeatedBlocks) {
      expect(source).toBeLessThan(block);
      const x = readAt(a, block * bs, bs);
      const y = readAt(a, source * bs, bs);
      expect(x.equals(y)).toBe(true);
      expect(x.every((v) => v === 0)).toBe(false);
    }
  });
});

describe('mutateImage', () => {
  it('changes about the asked fraction, only inside the extents it returns', async () => {
    const m = path.join(dir, 'm.img');
    fs.copyFileSync(a, m);
    const list = path.join(dir, 'changed.txt');
    const res = await mutateImage(m, { fraction: 0.02, seed: 5, extentsFile: list });
    expect(readExtentsFile(list)).toEqual(res.extents);
    const total = res.extents.reduce((s, e) => s + e.length, 0);
    expect(total).toBe(res.bytes);
    expect(Math.abs(total / SIZE - 0.02)).toBeLessThan(0.002);
    for (let i = 1; i < res.extents.length; i++) {
      const p = res.extents[i - 1]!;
      expect(res.extents[i]!.offset).toBeGreaterThan(p.offset + p.length);
    }

    const before = fs.readFileSync(a);
    const after = fs.readFileSync(m);
    expect(after.length).toBe(before.length);
    const inside = new Uint8Array(SIZE / 4096);
    for (const e of res.extents) for (let o = e.offset; o < e.offset + e.length; o += 4096) inside[o / 4096] = 1;
    let changed = 0;
    let changedOutside = 0;
    for (let page = 0; page < SIZE / 4096; page++) {
      const x = before.subarray(page * 4096, (page + 1) * 4096);
      const y = after.subarray(page * 4096, (page + 1) * 4096);
      if (x.equals(y)) continue;
      for (let i = 0; i < 4096; i++) if (x[i] !== y[i]) changed++;
      if (!inside[page]) changedOutside++;
    }
    expect(changedOutside).toBe(0);
    // New text over old text leaves some bytes equal by chance; most change.
    expect(changed / SIZE).toBeGreaterThan(0.02 * 0.8);
    expect(changed / SIZE).toBeLessThanOrEqual(0.02);
  });

  it('is reproducible from the seed', async () => {
    const m1 = path.join(dir, 'm1.img');
    const m2 = path.join(dir, 'm2.img');
    fs.copyFileSync(a, m1);
    fs.copyFileSync(a, m2);
    const r1 = await mutateImage(m1, { seed: 9 });
    const r2 = await mutateImage(m2, { seed: 9 });
    expect(r1.extents).toEqual(r2.extents);
    expect(sha(m1)).toBe(sha(m2));
    fs.rmSync(m1);
    fs.rmSync(m2);
  });
});

describe('makeSparseImage', () => {
  it('writes the asked data bytes and leaves the rest as holes', async () => {
    const s = path.join(dir, 's.img');
    const d = await makeSparseImage(s, { size: 256 * MiB, dataBytes: 8 * MiB, seed: 2 });
    expect(d.dataBytes).toBe(8 * MiB);
    expect(d.extents.reduce((x, e) => x + e.length, 0)).toBe(8 * MiB);
    const st = fs.statSync(s);
    expect(st.size).toBe(256 * MiB);
    expect(Math.abs(st.blocks * 512 - 8 * MiB)).toBeLessThan(1 * MiB);
    fs.rmSync(s);
  });
});

describe('makeExt4Image', () => {
  const support = mkfsExt4Support();
  it.skipIf(!support.ok)('builds an ext4 image from a directory of mixed files', async () => {
    const img = path.join(dir, 'e4.img');
    const r = await makeExt4Image(img, { size: 64 * MiB, dir: path.join(dir, 'e4'), seed: 4, fill: 0.4 });
    if ('missing' in r) throw new Error(r.missing);
    expect(r.files).toBeGreaterThan(5);
    expect(fs.statSync(img).size).toBe(64 * MiB);
    // ext4 superblock magic 0xEF53 at byte 1024 + 56
    expect(readAt(img, 1024 + 56, 2).readUInt16LE(0)).toBe(0xef53);
    expect(r.allocatedBytes).toBeLessThan(64 * MiB);
  });
});
