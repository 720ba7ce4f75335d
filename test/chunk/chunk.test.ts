import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkFormatError, decodeChunk, encodeChunk } from '../../src/chunk/chunk-format.js';
import { decompress, looksCompressible, lz4Allocates, lz4Blocks, maybeCompress, napiLz4 } from '../../src/chunk/compress.js';
import { nativeLz4 } from '../../src/native/lz4-block.js';
import { ChunkHasher } from '../../src/chunk/identity.js';
import { isAllZero } from '../../src/chunk/zero.js';
import { prng, textLike } from '../helpers/images.js';

const MiB = 1024 * 1024;

describe('chunk identity', () => {
  it('is keyed: the same block gets different ids under different vault keys', () => {
    const data = randomBytes(64 * 1024);
    const a = new ChunkHasher(Buffer.alloc(32, 1));
    const b = new ChunkHasher(Buffer.alloc(32, 2));
    expect(a.id(data).equals(a.id(Buffer.from(data)))).toBe(true);
    expect(a.id(data).equals(b.id(data))).toBe(false);
    expect(a.id(data)).toHaveLength(32);
  });
});

describe('zero detection', () => {
  it('finds a single non-zero byte anywhere, including past the first MiB', () => {
    const buf = Buffer.alloc(4 * MiB);
    expect(isAllZero(buf)).toBe(true);
    buf[3 * MiB + 12345] = 1;
    expect(isAllZero(buf)).toBe(false);
    expect(isAllZero(Buffer.alloc(0))).toBe(true);
  });
});

describe('compression', () => {
  it('compresses text, keeps random data raw without trying the whole block', async () => {
    const text = textLike(4 * MiB, prng(3));
    const random = randomBytes(4 * MiB);
    const t = maybeCompress(text, 'lz4');
    expect(t.compression).toBe('lz4');
    expect(t.payload.length).toBeLessThan(text.length * 0.7);
    expect(decompress(t.payload, 'lz4', text.length).equals(text)).toBe(true);
    expect(looksCompressible(random)).toBe(false);
    const r = maybeCompress(random, 'lz4');
    expect(r.compression).toBe('none');
    expect(r.payload).toBe(random);
  });

  it('samples across the block: random first half, text second half still compresses', async () => {
    const mixed = Buffer.concat([randomBytes(2 * MiB), textLike(2 * MiB, prng(4))]);
    const c = maybeCompress(mixed, 'lz4');
    expect(c.compression).toBe('lz4');
    expect(c.payload.length).toBeLessThan(mixed.length * 0.85);
    expect(decompress(c.payload, 'lz4', mixed.length).equals(mixed)).toBe(true);
  });

  it('text then random within a block: text segments compressed, random ones stored raw', () => {
    // 1 MiB text, 1 MiB random, 2 MiB text: a random run right after compressed segments is
    // tried once, then sampled; the text after it is found again.
    const block = Buffer.concat([textLike(MiB, prng(7)), randomBytes(MiB), textLike(2 * MiB, prng(8))]);
    const c = maybeCompress(block, 'lz4');
    expect(c.compression).toBe('lz4');
    const count = c.payload.readUInt32LE(0);
    const packed = Array.from({ length: count }, (_, s) => (c.payload.readUInt32LE(4 + 4 * s) & 0x80000000) !== 0);
    expect(packed.slice(0, 16).every(Boolean)).toBe(true);
    expect(packed.slice(16, 32).some(Boolean)).toBe(false);
    expect(packed.slice(32).every(Boolean)).toBe(true);
    expect(decompress(c.payload, 'lz4', block.length).equals(block)).toBe(true);
  });

  it('stores raw when compression is off for the vault', async () => {
    const text = textLike(MiB, prng(5));
    expect(maybeCompress(text, 'none').compression).toBe('none');
  });
});

describe('LZ4 through the addon (system liblz4) and through lz4-napi', () => {
  const native = nativeLz4();

  it('uses the addon where it is built and liblz4.so.1 is there (as on CI): no buffer per segment', () => {
    expect(native, 'addon with lz4Compress/lz4Decompress and liblz4.so.1 (npm rebuild)').toBeDefined();
    expect(lz4Blocks).not.toBe(napiLz4);
    expect(lz4Allocates).toBe(false);
  });

  it('each reads the other\'s size-prefixed blocks: old chunks stay readable either way', () => {
    const seg = textLike(65536, prng(11));
    for (const [w, r] of [
      [native!, napiLz4],
      [napiLz4, native!],
    ] as const) {
      const dst = Buffer.alloc(70000);
      const n = w.compress(seg, dst, 7, 65536);
      expect(n).toBeGreaterThan(4);
      expect(n).toBeLessThan(seg.length * 0.7);
      expect(dst.readUInt32LE(7)).toBe(seg.length); // the size prefix
      const out = Buffer.alloc(65536 + 9);
      expect(r.decompress(dst.subarray(7, 7 + n), out, 9, 65536)).toBe(65536);
      expect(out.subarray(9).equals(seg)).toBe(true);
    }
  });

  for (const [name, impl] of [['addon', () => native!], ['lz4-napi', () => napiLz4]] as const) {
    it(`${name}: 0 when it does not fit the capacity; -1 for a wrong size or a cut block`, () => {
      const random = randomBytes(65536);
      expect(impl().compress(random, Buffer.alloc(70000), 0, 60000)).toBe(0);
      const seg = textLike(65536, prng(12));
      const dst = Buffer.alloc(70000);
      const n = impl().compress(seg, dst, 0, 65536);
      const out = Buffer.alloc(65536);
      expect(impl().decompress(dst.subarray(0, n), out, 0, 65535)).toBe(-1);
      expect(impl().decompress(dst.subarray(0, n - 40), out, 0, 65536)).toBe(-1);
      expect(impl().decompress(dst.subarray(0, 3), out, 0, 65536)).toBe(-1);
    });
  }

  it('the addon checks its bounds instead of writing past the buffer', () => {
    const seg = textLike(65536, prng(13));
    expect(() => native!.compress(seg, Buffer.alloc(100), 50, 100)).toThrow(/runs past dst/);
    expect(() => native!.decompress(seg, Buffer.alloc(100), 0, 65536)).toThrow(/runs past dst/);
  });

  it('a damaged segment is reported by its number, not read past', () => {
    const block = textLike(4 * MiB, prng(14));
    const c = maybeCompress(block, 'lz4');
    const bad = Buffer.from(c.payload);
    const firstLen = bad.readUInt32LE(4) & 0x7fffffff;
    bad.writeUInt32LE((0x80000000 | (firstLen - 30)) >>> 0, 4); // segment 0 cut short
    expect(() => decompress(bad, 'lz4', block.length)).toThrow(/segment 0/);
  });
});

describe('segment table', () => {
  it('round-trips a short last segment and rejects a damaged table', () => {
    const data = textLike(3 * 65536 + 1000, prng(6));
    const c = maybeCompress(data, 'lz4');
    expect(c.compression).toBe('lz4');
    expect(decompress(c.payload, 'lz4', data.length).equals(data)).toBe(true);
    expect(() => decompress(c.payload, 'lz4', data.length + 65536)).toThrow(/segments/);
    const bad = Buffer.from(c.payload);
    bad.writeUInt32LE(bad.readUInt32LE(4) + 1, 4);
    expect(() => decompress(bad, 'lz4', data.length)).toThrow();
  });
});

describe('chunk frame', () => {
  it('round-trips and rejects a flipped payload byte, a truncation and a newer version', () => {
    const payload = randomBytes(1000);
    const obj = encodeChunk(payload, 1000, 'none');
    const frame = decodeChunk(obj);
    expect(frame.payload.equals(payload)).toBe(true);
    expect(frame.rawLength).toBe(1000);

    const flipped = Buffer.from(obj);
    flipped[obj.length - 10]! ^= 0x01;
    expect(() => decodeChunk(flipped)).toThrow(/checksum mismatch/);
    expect(() => decodeChunk(obj.subarray(0, obj.length - 1))).toThrow(ChunkFormatError);
    const newer = Buffer.from(obj);
    newer[4] = 9;
    expect(() => decodeChunk(newer)).toThrow(/version 9 is newer/);
    const encrypted = Buffer.from(obj);
    encrypted[6] = 1;
    expect(() => decodeChunk(encrypted)).toThrow(/encrypted/);
  });
});
