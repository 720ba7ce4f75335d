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
