#!/usr/bin/env node
// The golden fixtures of fixtures/formats/: fixed inputs, encoded once by this script and
// committed. test/vault/formats.test.ts encodes the same inputs with the current codecs
// and compares byte for byte, so an encoder whose output changes fails the test until
// its format version is bumped and new fixtures are made (old ones stay: readers must
// still read them).
//
//   npm run format-fixtures      (builds, then writes fixtures/formats/*.bin)
//
// Inputs are fixed bytes, not random: a text-like 128 KiB block (two LZ4 segments), then a
// zero block, then a short last block of 4 KiB of xorshift bytes (stored raw), under a
// fixed hash key.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/formats/', import.meta.url));

export const HASH_KEY_HEX = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex');

export function textBlock() {
  const lines = [];
  for (let i = 0; lines.join('').length < 128 * 1024; i++) lines.push(`line ${i}: blockvault keeps every block once, framed and checked\n`);
  return Buffer.from(lines.join(''), 'ascii').subarray(0, 128 * 1024);
}

export function noiseBlock(bytes = 4096) {
  const out = Buffer.alloc(bytes);
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const CONFIG = {
  format: 'blockvault',
  formatVersion: 1,
  vaultId: '00000000-0000-4000-8000-000000000001',
  createdAt: '2026-12-01T00:00:00.000Z',
  blockSize: 65536 * 2,
  compression: 'lz4',
  hashKey: HASH_KEY_HEX,
};

/**
 * Every fixture, encoded with the given codecs (the built ones from this script, the
 * sources from the test). Names carry the format version they pin.
 * @param {Record<string, any>} m codecs: encodeChunk, maybeCompress, encodeManifest,
 *   encodeSegment, encodeConfig, ChunkHasher, EntryKind, and the versions from format.ts
 */
export function buildFixtures(m) {
  const hasher = new m.ChunkHasher(Buffer.from(HASH_KEY_HEX, 'hex'));
  const text = textBlock();
  const noise = noiseBlock();
  const lz4 = m.maybeCompress(text, 'lz4');
  if (lz4.compression !== 'lz4') throw new Error('the text block did not compress: fixture inputs are wrong');
  const textId = hasher.id(text);
  const noiseId = hasher.id(noise);
  const chunkRaw = m.encodeChunk(noise, noise.length, 'none');
  const chunkLz4 = m.encodeChunk(lz4.payload, text.length, 'lz4');
  const header = {
    backupId: 'backup-0001',
    volumeId: 'vol-fixture',
    parentId: null,
    type: 'full',
    requestedType: 'incremental',
    createdAt: '2026-12-01T00:00:00.000Z',
    completedAt: '2026-12-01T00:00:01.000Z',
    blockSize: CONFIG.blockSize,
    volumeSize: CONFIG.blockSize * 2 + noise.length,
    entryCount: 3,
    source: { path: 'disk.img', kind: 'file', size: CONFIG.blockSize * 2 + noise.length },
    snapshotId: 'snap-1',
    chunkCount: 2,
    storedBytes: chunkRaw.length + chunkLz4.length,
    newChunkCount: 2,
    newStoredBytes: chunkRaw.length + chunkLz4.length,
    dataBytes: text.length + noise.length,
    elapsedMs: 1000,
    counters: { bytesRead: text.length + noise.length, chunksWritten: 2 },
    dl: 3,
  };
  const entries = [
    { blockIndex: 0, kind: m.EntryKind.chunk, storedLength: chunkLz4.length, id: textId },
    { blockIndex: 1, kind: m.EntryKind.zero, storedLength: 0, id: Buffer.alloc(32) },
    { blockIndex: 2, kind: m.EntryKind.chunk, storedLength: chunkRaw.length, id: noiseId },
  ];
  const records = [
    { id: textId, storedLength: chunkLz4.length },
    { id: noiseId, storedLength: chunkRaw.length },
  ];
  return {
    inputs: { text, noise, textId, noiseId, header, entries, records, config: CONFIG },
    files: {
      [`chunk-raw.v${m.CHUNK_FORMAT_VERSION}.bin`]: chunkRaw,
      [`chunk-lz4.v${m.CHUNK_FORMAT_VERSION}.bin`]: chunkLz4,
      [`manifest.v${m.MANIFEST_VERSION}.bin`]: m.encodeManifest(header, entries),
      [`index-segment.v${m.INDEX_SEGMENT_VERSION}.bin`]: m.encodeSegment(records),
      [`config.v${m.VAULT_FORMAT_VERSION}.bin`]: m.encodeConfig(CONFIG),
    },
  };
}

async function main() {
  const dist = (p) => import(new URL(`../dist/src/${p}`, import.meta.url).href);
  const m = {
    ...(await dist('chunk/format.js')),
    ...(await dist('chunk/chunk-format.js')),
    ...(await dist('chunk/compress.js')),
    ...(await dist('chunk/identity.js')),
    ...(await dist('vault/manifest.js')),
    ...(await dist('vault/chunk-index.js')),
    ...(await dist('vault/config.js')),
  };
  // The fixtures pin lz4-napi's blocks (LZ4's output is not part of the format; see the test).
  const plain = m.maybeCompress;
  m.maybeCompress = (data, mode) => plain(data, mode, m.napiLz4);
  mkdirSync(FIXTURE_DIR, { recursive: true });
  for (const [name, bytes] of Object.entries(buildFixtures(m).files)) {
    writeFileSync(path.join(FIXTURE_DIR, name), bytes);
    process.stdout.write(`${name}: ${bytes.length} bytes\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
