// Builds archives in memory: whole ones through ArchiveWriter, crafted ones entry by entry
// through tar-stream, so the reader's tests can hand it exactly the bytes they mean.
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import { encodeChunk } from '../../src/chunk/chunk-format.js';
import { ChunkHasher } from '../../src/chunk/identity.js';
import { ArchiveWriter } from '../../src/engine/archive/writer.js';
import {
  ARCHIVE_FORMAT,
  CHECKSUM_PAX,
  EntryDigest,
  HEADER_ENTRY,
  MANIFEST_ENTRY,
  TRAILER_ENTRY,
  blake3Hex,
  chunkEntryName,
  chunkKeyId,
  type ArchiveHeader,
} from '../../src/engine/archive/format.js';
import { readArchive, type ArchivePart } from '../../src/engine/archive/reader.js';
import { EntryKind, encodeManifest, type ManifestEntry, type ManifestHeader } from '../../src/vault/manifest.js';

export const BLOCK = 64 * 1024;

export interface Parts {
  header: ArchiveHeader;
  manifest: Buffer;
  chunks: { idHex: string; object: Buffer }[];
}

/** A 4-block volume: three random chunks and one zero block, as full manifest and objects. */
export function sampleParts(): Parts {
  const hasher = new ChunkHasher(randomBytes(32));
  const chunks: Parts['chunks'] = [];
  const list: ManifestEntry[] = [];
  for (let i = 0; i < 3; i++) {
    const raw = randomBytes(BLOCK);
    const id = hasher.id(raw);
    const object = encodeChunk(raw, raw.length, 'none');
    chunks.push({ idHex: id.toString('hex'), object });
    list.push({ blockIndex: i, kind: EntryKind.chunk, storedLength: object.length, id });
  }
  const now = new Date().toISOString();
  const mh: ManifestHeader = {
    backupId: 'b-1', volumeId: 'vol-1', parentId: null, type: 'full', requestedType: 'full',
    createdAt: now, completedAt: now, blockSize: BLOCK, volumeSize: 4 * BLOCK, entryCount: 0,
    source: { path: 'disk.img', kind: 'file', size: 4 * BLOCK }, chunkCount: 3,
    storedBytes: chunks.reduce((n, c) => n + c.object.length, 0), newChunkCount: 3, newStoredBytes: 0,
    dataBytes: 3 * BLOCK, elapsedMs: 1, counters: {}, dl: 3,
  };
  const manifest = encodeManifest(mh, list);
  const header: ArchiveHeader = {
    format: ARCHIVE_FORMAT, version: 1, createdAt: now,
    source: { vaultId: 'vault-a', chunkKeyId: chunkKeyId(randomBytes(32)) },
    blockSize: BLOCK,
    backup: { backupId: 'b-1', volumeId: 'vol-1', volumeSize: 4 * BLOCK, chain: ['b-1'], baseBackupId: null },
    manifest: { size: manifest.length, blake3: blake3Hex(manifest) },
    chunks: { count: 3, bytes: chunks.reduce((n, c) => n + c.object.length, 0) },
  };
  return { header, manifest, chunks };
}

export function collect(): { out: Writable; done: Promise<Buffer> } {
  const out = new PassThrough();
  const bufs: Buffer[] = [];
  out.on('data', (d: Buffer) => bufs.push(d));
  const done = new Promise<Buffer>((resolve) => out.on('end', () => resolve(Buffer.concat(bufs))));
  return { out, done };
}

/** A whole, valid archive written by ArchiveWriter. */
export async function writeArchive(p: Parts): Promise<Buffer> {
  const { out, done } = collect();
  const w = new ArchiveWriter(out);
  await w.add(HEADER_ENTRY, json(p.header));
  await w.add(MANIFEST_ENTRY, p.manifest);
  for (const c of p.chunks) await w.addChunk(c.idHex, c.object);
  await w.finish();
  return done;
}

export function json(x: unknown): Buffer {
  return Buffer.from(JSON.stringify(x), 'utf8');
}

export interface RawEntry {
  name: string;
  body?: Buffer;
  type?: tar.Header['type'];
  linkname?: string;
  pax?: Record<string, string>;
  /** Declared size when it differs from the body (for oversized entries). */
  size?: number;
}

/** The entries of a valid archive, for a test to edit before packRaw(). */
export function validEntries(p: Parts): RawEntry[] {
  const digest = new EntryDigest();
  const out: RawEntry[] = [];
  const push = (e: RawEntry) => {
    digest.add(e.name, e.body!);
    out.push(e);
  };
  push({ name: HEADER_ENTRY, body: json(p.header) });
  push({ name: MANIFEST_ENTRY, body: p.manifest });
  for (const c of p.chunks) push({ name: chunkEntryName(c.idHex), body: c.object, pax: { [CHECKSUM_PAX]: blake3Hex(c.object) } });
  out.push({ name: TRAILER_ENTRY, body: json({ format: ARCHIVE_FORMAT, entries: digest.entries, bytes: digest.bytes, blake3: digest.hex() }) });
  return out;
}

/** Packs entries exactly as given (links, devices, odd names and all). */
export async function packRaw(list: RawEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const bufs: Buffer[] = [];
  const done = (async () => {
    for await (const b of pack as AsyncIterable<Buffer>) bufs.push(b);
  })();
  for (const e of list) {
    const header: Partial<tar.Header> & { name: string } = { name: e.name, type: e.type ?? 'file', mode: 0o644 };
    if (e.linkname) header.linkname = e.linkname;
    if (e.pax) header.pax = e.pax;
    if (e.size !== undefined) {
      header.size = e.size;
      const sink = pack.entry(header);
      sink.write(e.body ?? Buffer.alloc(0));
      // Leave it short: tar-stream refuses a size mismatch, so pad to the declared size.
      if ((e.body?.length ?? 0) < e.size) sink.write(Buffer.alloc(e.size - (e.body?.length ?? 0)));
      await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
    } else if (header.type === 'file') {
      await new Promise<void>((resolve, reject) => pack.entry(header, e.body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
    } else {
      await new Promise<void>((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
    }
  }
  pack.finalize();
  await done;
  return Buffer.concat(bufs);
}

/** Reads a whole archive; returns its parts, or the error that stopped it. */
export async function readAll(bytes: Buffer): Promise<{ parts: ArchivePart[]; error?: any }> {
  const parts: ArchivePart[] = [];
  try {
    for await (const part of readArchive(Readable.from(slices(bytes, 16 * 1024)))) parts.push(part);
    return { parts };
  } catch (error) {
    return { parts, error };
  }
}

function* slices(b: Buffer, n: number): Iterable<Buffer> {
  for (let off = 0; off < b.length; off += n) yield b.subarray(off, off + n);
}
