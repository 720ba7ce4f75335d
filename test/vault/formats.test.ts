import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeConfig, encodeConfig, newConfig } from '../../src/vault/config.js';
import { BlockMap } from '../../src/vault/block-map.js';
import {
  EntryKind,
  decodeManifest,
  encodeManifest,
  entries,
  type ManifestEntry,
  type ManifestHeader,
} from '../../src/vault/manifest.js';
import { BlockvaultError } from '../../src/errors.js';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as format from '../../src/chunk/format.js';
import { decodeChunk, encodeChunk } from '../../src/chunk/chunk-format.js';
import { decompress, lz4Blocks, maybeCompress, napiLz4 } from '../../src/chunk/compress.js';
import { ChunkHasher } from '../../src/chunk/identity.js';
import { decodeSegment, encodeSegment } from '../../src/vault/chunk-index.js';
import { FIXTURE_DIR, buildFixtures } from '../../scripts/format-fixtures.mjs';

function header(over: Partial<ManifestHeader> = {}): ManifestHeader {
  return {
    backupId: 'b1',
    volumeId: 'v',
    parentId: null,
    type: 'full',
    requestedType: 'incremental',
    createdAt: '2026-11-24T00:00:00.000Z',
    completedAt: '2026-11-24T00:00:01.000Z',
    blockSize: 65536,
    volumeSize: 65536 * 10,
    entryCount: 0,
    source: { path: 'x.img', kind: 'file', size: 65536 * 10 },
    chunkCount: 0,
    storedBytes: 0,
    newChunkCount: 0,
    newStoredBytes: 0,
    dataBytes: 0,
    elapsedMs: 1,
    counters: {},
    dl: 3,
    ...over,
  };
}

const entry = (i: number, kind: number = EntryKind.chunk): ManifestEntry => ({
  blockIndex: i,
  kind: kind as ManifestEntry['kind'],
  storedLength: 100 + i,
  id: kind === EntryKind.chunk ? randomBytes(32) : Buffer.alloc(32),
});

describe('manifest', () => {
  it('round-trips entries sorted by block, and detects any flipped byte', () => {
    const list = [entry(7), entry(2), entry(5, EntryKind.zero)];
    const buf = encodeManifest(header(), list);
    const m = decodeManifest(buf);
    expect(m.header.entryCount).toBe(3);
    const got = [...entries(m)];
    expect(got.map((e) => e.blockIndex)).toEqual([2, 5, 7]);
    expect(got[0]!.id.equals(list[1]!.id)).toBe(true);
    expect(got[1]!.kind).toBe(EntryKind.zero);
    for (const at of [5, 40, buf.length - 20]) {
      const bad = Buffer.from(buf);
      bad[at]! ^= 0x80;
      expect(() => decodeManifest(bad), `flip at ${at}`).toThrow();
    }
  });

  it('resolves a chain newest first: a later zero entry hides an older chunk', () => {
    const full = decodeManifest(encodeManifest(header(), [entry(0), entry(1), entry(2)]));
    const inc = decodeManifest(
      encodeManifest(header({ backupId: 'b2', parentId: 'b1', type: 'incremental' }), [entry(1, EntryKind.zero), entry(3)]),
    );
    const map = BlockMap.fromChain([inc, full]);
    expect([0, 1, 2, 3, 4].map((i) => map.hasChunk(i))).toEqual([true, false, true, true, false]);
    expect(map.idAt(3).equals([...entries(inc)][1]!.id)).toBe(true);
    expect(map.origin[3]).toBe(0);
    expect(map.origin[0]).toBe(1);
  });
});

describe('vault config', () => {
  it('round-trips; refuses damage and a newer format with clear messages', () => {
    const cfg = newConfig({ blockSize: 1 << 20 });
    expect(decodeConfig(encodeConfig(cfg), 'x')).toEqual(cfg);
    const doc = JSON.parse(encodeConfig(cfg).toString());
    doc.config.blockSize = 2 << 20;
    expect(() => decodeConfig(Buffer.from(JSON.stringify(doc)), 'x')).toThrow(/damaged: checksum mismatch/);
    expect(() => decodeConfig(Buffer.from('{nope'), 'x')).toThrow(/damaged: not valid JSON/);
    const newer = { ...cfg, formatVersion: 99 };
    const err = (() => {
      try {
        decodeConfig(encodeConfig(newer), 'x');
      } catch (e) {
        return e as BlockvaultError;
      }
    })();
    expect(err?.code).toBe('BV.VaultFormat');
    expect(err?.message).toMatch(/format version 99/);
  });

  it('accepts only power-of-two block sizes from 64 KiB to 16 MiB', () => {
    expect(() => newConfig({ blockSize: 3 << 20 })).toThrow(/power of two/);
    expect(() => newConfig({ blockSize: 32 * 1024 })).toThrow(/power of two/);
    expect(() => newConfig({ blockSize: 32 << 20 })).toThrow(/power of two/);
    expect(newConfig({ blockSize: 64 * 1024 }).blockSize).toBe(65536);
  });
});

// ---- golden fixtures (fixtures/formats, made by scripts/format-fixtures.mjs)

// LZ4's output is not part of the format (any valid block decodes): the golden bytes pin the
// frame, the segment table and the records, encoded with lz4-napi as when they were made.
// liblz4 (the addon's path) writes other valid blocks; the test after the next checks those.
const pinnedCompress = (data: Buffer, mode: 'none' | 'lz4') => maybeCompress(data, mode, napiLz4);
const codecs = { ...format, encodeChunk, maybeCompress: pinnedCompress, encodeManifest, encodeSegment, encodeConfig, ChunkHasher, EntryKind };
const built = buildFixtures(codecs);
const golden = (name: string): Buffer => {
  const file = path.join(FIXTURE_DIR, name);
  try {
    return readFileSync(file);
  } catch {
    throw new Error(`no golden fixture ${name}: a format version changed; run \`npm run format-fixtures\` and commit the new file`);
  }
};

describe('formats pinned by golden fixtures', () => {
  it('every current encoder writes the golden bytes (change the bytes: bump the version)', () => {
    const names = Object.keys(built.files);
    expect(names.sort()).toEqual(['chunk-lz4.v1.bin', 'chunk-raw.v1.bin', 'config.v1.bin', 'index-segment.v1.bin', 'manifest.v1.bin']);
    for (const [name, bytes] of Object.entries(built.files)) {
      const want = golden(name);
      const at = want.findIndex((b, i) => bytes[i] !== b);
      expect(
        Buffer.compare(bytes, want),
        `${name}: the encoder's output differs from the golden fixture (${bytes.length} vs ${want.length} bytes, first difference at ${at}); ` +
          'a format change needs a new version in src/chunk/format.ts and new fixtures',
      ).toBe(0);
    }
  });

  it('the chunk frames decode to their blocks: raw and segmented LZ4, ids under the fixed key', () => {
    const hasher = new ChunkHasher(Buffer.from(built.inputs.config.hashKey, 'hex'));
    const raw = decodeChunk(golden('chunk-raw.v1.bin'));
    expect(raw.compression).toBe('none');
    expect(raw.payload.equals(built.inputs.noise)).toBe(true);
    const lz = decodeChunk(golden('chunk-lz4.v1.bin'));
    expect(lz.compression).toBe('lz4');
    expect(lz.payload.readUInt32LE(0)).toBe(2); // two 64 KiB segments
    const text = decompress(lz.payload, lz.compression, lz.rawLength);
    expect(text.equals(built.inputs.text)).toBe(true);
    expect(hasher.id(text).toString('hex')).toBe(built.inputs.textId.toString('hex'));
    // the frame's fixed fields, as documented in format.ts
    const head = golden('chunk-lz4.v1.bin');
    expect(head.subarray(0, 4).toString('ascii')).toBe(format.CHUNK_MAGIC);
    expect([head[4], head[5], head[6], head[7]]).toEqual([format.CHUNK_FORMAT_VERSION, format.CHUNK_COMPRESSION_CODES.lz4, 0, format.CHUNK_HEADER_BYTES]);
  });

  it('the encoder in use (liblz4 through the addon) writes the same frame and segment table shape, decoding to the same block', () => {
    const text = built.inputs.text as Buffer;
    const now = maybeCompress(text, 'lz4', lz4Blocks);
    const pinned = decodeChunk(golden('chunk-lz4.v1.bin'));
    expect(now.compression).toBe('lz4');
    expect(now.payload.readUInt32LE(0)).toBe(pinned.payload.readUInt32LE(0));
    const flags = (p: Buffer) => Array.from({ length: p.readUInt32LE(0) }, (_, s) => p.readUInt32LE(4 + 4 * s) >>> 31);
    expect(flags(now.payload)).toEqual(flags(pinned.payload));
    const frame = encodeChunk(now.payload, text.length, 'lz4');
    expect(frame.subarray(0, 12).equals(golden('chunk-lz4.v1.bin').subarray(0, 12))).toBe(true); // magic, version, codes, raw length
    const back = decodeChunk(frame);
    expect(decompress(back.payload, back.compression, back.rawLength).equals(text)).toBe(true);
  });

  it('the manifest, index segment and config decode to their inputs', () => {
    const m = decodeManifest(golden('manifest.v1.bin'));
    expect(m.header).toEqual(built.inputs.header);
    const got = [...entries(m)].map((e) => ({ ...e, id: e.id.toString('hex') }));
    expect(got).toEqual(built.inputs.entries.map((e: ManifestEntry) => ({ ...e, id: e.id.toString('hex') })));
    const recs = decodeSegment(golden('index-segment.v1.bin')).map((r) => ({ id: r.id.toString('hex'), storedLength: r.storedLength }));
    expect(recs).toEqual(built.inputs.records.map((r: { id: Buffer; storedLength: number }) => ({ id: r.id.toString('hex'), storedLength: r.storedLength })));
    expect(decodeConfig(golden('config.v1.bin'), 'fixtures/formats/config.v1.bin')).toEqual(built.inputs.config);
    expect(golden('manifest.v1.bin').subarray(0, 4).toString('ascii')).toBe(format.MANIFEST_MAGIC);
    expect(golden('index-segment.v1.bin').subarray(0, 4).toString('ascii')).toBe(format.INDEX_SEGMENT_MAGIC);
  });

  it('every committed fixture, older versions included, still decodes', () => {
    const files = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.bin'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) {
      const buf = readFileSync(path.join(FIXTURE_DIR, f));
      if (f.startsWith('chunk-')) {
        const c = decodeChunk(buf);
        decompress(c.payload, c.compression, c.rawLength);
      } else if (f.startsWith('manifest.')) decodeManifest(buf);
      else if (f.startsWith('index-segment.')) decodeSegment(buf);
      else if (f.startsWith('config.')) decodeConfig(buf, f);
      else throw new Error(`unknown fixture ${f}`);
    }
  });
});
