import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkFormatError, decodeChunk, encodeChunk } from '../../src/chunk/chunk-format.js';
import { decompress, looksCompressible, maybeCompress } from '../../src/chunk/compress.js';
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
