// Reads an archive as a sequence of checked parts: the header, the manifest, each chunk
// object, then the end. Everything that could make an importer write outside its vault or
// trust bytes it should not is refused here, before the caller sees the entry:
//   - names that leave the archive ("..", absolute, backslashes, NUL), and any entry that
//     is not a regular file (links, symlinks, directories, devices, FIFOs);
//   - unknown names, duplicates, entries out of order, anything after the trailer;
//   - entries larger than their kind allows (a chunk: the block size's frame capacity);
//   - a chunk the manifest does not name, or whose size differs from what it names;
//   - a checksum that does not match (each entry's, and the trailer's over all of them).
// A refused entry is bad input (exit 2); a damaged or truncated archive is damaged data
// (exit 3). The chunk's identity is the importer's to check: it needs a vault's key.
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import * as v from 'valibot';
import { BlockvaultError, ErrorCodes } from '../../errors.js';
import { validateBlockSize } from '../../vault/config.js';
import { EntryKind, decodeManifest, entries, type Manifest } from '../../vault/manifest.js';
import {
  ARCHIVE_VERSION,
  ArchiveHeaderSchema,
  ArchiveTrailerSchema,
  CHECKSUM_PAX,
  EntryDigest,
  HEADER_ENTRY,
  MANIFEST_ENTRY,
  MAX_JSON_ENTRY_BYTES,
  TRAILER_ENTRY,
  blake3Hex,
  chunkFrameCapacity,
  chunkIdHexOf,
  escapingName,
  manifestCapacity,
  type ArchiveHeader,
  type ArchiveTrailer,
} from './format.js';

export type ArchivePart =
  | { kind: 'header'; header: ArchiveHeader }
  | { kind: 'manifest'; manifest: Manifest; bytes: Buffer }
  | { kind: 'chunk'; id: Buffer; idHex: string; object: Buffer }
  | { kind: 'end'; trailer: ArchiveTrailer };

const HINT_REFUSED = 'this is not an archive blockvault wrote (or it was altered); nothing was imported';
const HINT_DAMAGED = 'the archive was truncated or altered after it was written: export it again; nothing was imported';

export function refusedEntry(name: string, why: string): BlockvaultError {
  return new BlockvaultError(ErrorCodes.badInput, `archive entry ${JSON.stringify(name)} refused: ${why}`, {
    hint: HINT_REFUSED,
    details: { entry: name },
  });
}

export function damagedArchive(where: string, why: string, cause?: unknown): BlockvaultError {
  return new BlockvaultError(ErrorCodes.corruptChunk, `archive damaged at ${where}: ${why}`, {
    hint: HINT_DAMAGED,
    cause,
    details: { entry: where },
  });
}

type Stage = 'header' | 'manifest' | 'chunks' | 'done';
type ArchiveEntry = AsyncIterable<Buffer> & { header: tar.Header };

/**
 * Yields the archive's parts in order, each checked. The caller handles one part before the
 * next is read, so a slow vault slows the input (backpressure) and memory holds one chunk.
 * Stop iterating (or throw) to abandon the input; it is destroyed either way.
 */
export async function* readArchive(input: Readable): AsyncGenerator<ArchivePart> {
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const digest = new EntryDigest();
  let stage: Stage = 'header';
  let last = 'the start of the archive';
  let header: ArchiveHeader | undefined;
  let expected: Map<string, number> | undefined; // chunk id (latin1) → stored length
  const seen = new Set<string>();
  let chunkCount = 0;
  let chunkBytes = 0;
  let ending: ArchiveTrailer | undefined;
  let complete = false;
  try {
    const it = (extract as AsyncIterable<ArchiveEntry>)[Symbol.asyncIterator]();
    for (;;) {
      let step: IteratorResult<ArchiveEntry>;
      try {
        step = await it.next();
      } catch (e) {
        throw readFailure(e, last);
      }
      if (step.done) break;
      const entry = step.value;
      const name = entry.header.name;
      const escape = escapingName(name);
      if (escape) throw refusedEntry(name, `its name has ${escape}, which would leave the archive`);
      // tar-stream gives null for a type flag it does not know (GNU sparse, volume labels…).
      const type = (entry.header.type as string | null) ?? 'entry of an unknown tar type';
      if (type !== 'file' && type !== 'contiguous-file') {
        const target = entry.header.linkname ? ` → ${JSON.stringify(entry.header.linkname)}` : '';
        throw refusedEntry(name, `it is a ${type}${target}; an archive holds regular files only`);
      }
      if (seen.has(name)) throw refusedEntry(name, 'it appears twice');
      const size = entry.header.size ?? 0;
      const limit = (what: string, max: number) => {
        if (size > max) throw refusedEntry(name, `it is ${size} bytes, more than a ${what} can be (${max})`);
      };
      if (stage === 'done') throw refusedEntry(name, 'it follows the trailer');

      if (stage === 'header') {
        if (name !== HEADER_ENTRY) throw refusedEntry(name, `the first entry must be ${HEADER_ENTRY}`);
        limit('header', MAX_JSON_ENTRY_BYTES);
        const body = await readBody(entry, name, size);
        header = parseHeader(body);
        digest.add(name, body);
        seen.add(name);
        stage = 'manifest';
        last = name;
        yield { kind: 'header', header };
        continue;
      }
      const h = header!;
      if (stage === 'manifest') {
        if (name !== MANIFEST_ENTRY) throw refusedEntry(name, `${MANIFEST_ENTRY} must follow the header`);
        limit('manifest of this volume', manifestCapacity(h.backup.volumeSize, h.blockSize));
        if (size !== h.manifest.size) throw refusedEntry(name, `it is ${size} bytes, the header says ${h.manifest.size}`);
        const body = await readBody(entry, name, size);
        if (blake3Hex(body) !== h.manifest.blake3) throw damagedArchive(name, 'checksum mismatch');
        const manifest = checkManifest(body, h);
        expected = new Map();
        for (const e of entries(manifest)) if (e.kind === EntryKind.chunk) expected.set(e.id.toString('latin1'), e.storedLength);
        digest.add(name, body);
        seen.add(name);
        stage = 'chunks';
        last = name;
        yield { kind: 'manifest', manifest, bytes: body };
        continue;
      }
      if (name === TRAILER_ENTRY) {
        limit('trailer', MAX_JSON_ENTRY_BYTES);
        const trailer = parseTrailer(await readBody(entry, name, size));
        if (trailer.entries !== digest.entries || trailer.bytes !== digest.bytes || trailer.blake3 !== digest.hex()) {
          throw damagedArchive(name, `the entries before it do not match it (${digest.entries} entries, ${digest.bytes} bytes read)`);
        }
        if (chunkCount !== h.chunks.count || chunkBytes !== h.chunks.bytes) {
          throw damagedArchive(name, `${chunkCount} chunks (${chunkBytes} bytes) arrived, the header promises ${h.chunks.count} (${h.chunks.bytes} bytes)`);
        }
        seen.add(name);
        stage = 'done';
        last = name;
        ending = trailer;
        continue;
      }
      const idHex = chunkIdHexOf(name);
      if (!idHex) throw refusedEntry(name, 'unknown entry (not a header, manifest, chunk or trailer)');
      const id = Buffer.from(idHex, 'hex');
      const stored = expected!.get(id.toString('latin1'));
      if (stored === undefined) throw refusedEntry(name, 'the manifest names no such chunk');
      limit(`chunk of ${h.blockSize}-byte blocks`, chunkFrameCapacity(h.blockSize));
      if (size !== stored) throw refusedEntry(name, `it is ${size} bytes, the manifest says ${stored}`);
      const sum = (entry.header.pax as Record<string, string> | null | undefined)?.[CHECKSUM_PAX];
      if (!sum) throw refusedEntry(name, `it has no ${CHECKSUM_PAX} checksum`);
      const object = await readBody(entry, name, size);
      if (blake3Hex(object) !== sum) throw damagedArchive(name, 'checksum mismatch');
      digest.add(name, object);
      seen.add(name);
      chunkCount++;
      chunkBytes += object.length;
      last = name;
      yield { kind: 'chunk', id, idHex, object };
    }
    if (!ending) throw damagedArchive(`the end, after ${last}`, 'the archive ends before its trailer (truncated)');
    // Only now, with the input read to its end and nothing after the trailer, is it whole.
    complete = true;
    yield { kind: 'end', trailer: ending };
  } finally {
    input.unpipe(extract as unknown as NodeJS.WritableStream);
    if (!extract.destroyed) extract.destroy();
    if (!complete) input.destroy();
  }
}

async function readBody(entry: ArchiveEntry, name: string, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of entry) {
      n += c.length;
      if (n > size) throw refusedEntry(name, `it holds more than its declared ${size} bytes`);
      parts.push(c);
    }
  } catch (e) {
    throw readFailure(e, name);
  }
  if (n !== size) throw damagedArchive(name, `${n} of its ${size} bytes arrived (truncated)`);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}

/** Input errors pass through; tar-level failures mean the bytes are not a whole archive. */
function readFailure(e: unknown, after: string): unknown {
  if (e instanceof BlockvaultError) return e;
  if ((e as NodeJS.ErrnoException)?.code) return e; // the input itself failed (EIO, EPIPE…)
  const msg = (e as Error)?.message ?? String(e);
  const truncated = /unexpected end|premature/i.test(msg);
  return damagedArchive(`the entry after ${after}`, truncated ? 'the archive ends in the middle of an entry (truncated)' : msg, e);
}

function parseJson(body: Buffer, name: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw damagedArchive(name, 'not valid JSON');
  }
}

function parseHeader(body: Buffer): ArchiveHeader {
  const raw = parseJson(body, HEADER_ENTRY) as { version?: unknown };
  if (typeof raw?.version === 'number' && raw.version > ARCHIVE_VERSION) {
    throw new BlockvaultError(ErrorCodes.vaultFormat, `archive format version ${raw.version} is newer than this blockvault reads (${ARCHIVE_VERSION})`, {
      hint: 'import it with a newer blockvault',
    });
  }
  const parsed = v.safeParse(ArchiveHeaderSchema, raw);
  if (!parsed.success) throw refusedEntry(HEADER_ENTRY, `not a blockvault archive header (${issuePath(parsed.issues)})`);
  try {
    validateBlockSize(parsed.output.blockSize);
  } catch {
    throw refusedEntry(HEADER_ENTRY, `block size ${parsed.output.blockSize} is not one a vault can have`);
  }
  return parsed.output;
}

function parseTrailer(body: Buffer): ArchiveTrailer {
  const parsed = v.safeParse(ArchiveTrailerSchema, parseJson(body, TRAILER_ENTRY));
  if (!parsed.success) throw damagedArchive(TRAILER_ENTRY, `not a blockvault archive trailer (${issuePath(parsed.issues)})`);
  return parsed.output;
}

function issuePath(issues: v.BaseIssue<unknown>[]): string {
  const first = issues[0];
  const where = first?.path?.map((p) => String(p.key)).join('.') || 'document';
  return `${where}: ${first?.message ?? 'invalid'}`;
}

/** The manifest must be whole and must be the backup the header names. */
function checkManifest(body: Buffer, h: ArchiveHeader): Manifest {
  let m: Manifest;
  try {
    m = decodeManifest(body);
  } catch (e) {
    throw damagedArchive(MANIFEST_ENTRY, (e as Error).message, e);
  }
  const mh = m.header;
  const mismatch =
    mh.backupId !== h.backup.backupId ? 'backup id' :
    mh.volumeId !== h.backup.volumeId ? 'volume id' :
    mh.blockSize !== h.blockSize ? 'block size' :
    mh.volumeSize !== h.backup.volumeSize ? 'volume size' :
    mh.type !== 'full' || mh.parentId !== null ? 'type (an archive holds one full point)' : undefined;
  if (mismatch) throw refusedEntry(MANIFEST_ENTRY, `its ${mismatch} differs from the archive header`);
  const blocks = Math.ceil(mh.volumeSize / mh.blockSize);
  for (const e of entries(m)) {
    if (e.blockIndex >= blocks) throw refusedEntry(MANIFEST_ENTRY, `it maps block ${e.blockIndex}, past the volume's ${blocks} blocks`);
  }
  return m;
}
