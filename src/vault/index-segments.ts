// Reading index segments (the BVIX format of chunk-index.ts) from the store into local records
// (id, stored length, segment ordinal), whole for small segments and in ranged pieces for large
// ones, so a merged or GC segment of millions of records never sits in memory at once.
//
// In an encrypted vault every segment is sealed (crypto/sealed-blob.ts, bound to its key):
// AEAD authenticates only the whole object, so a sealed segment is always fetched whole,
// opened, and then parsed exactly like a plain body. A sealed segment of a key domain not open
// in this process is SegmentLocked: listed, but it contributes no record.
import { Xxh64 } from '@node-rs/xxhash';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { LREC } from './index-run.js';

export const SEG_HEADER = 12;
export const SEG_REC = CHUNK_ID_BYTES + 4;
const MAGIC = Buffer.from('BVIX', 'ascii');
/** Segments up to this size are fetched whole; larger ones in pieces of this size. */
export const SEGMENT_PIECE_BYTES = 2 * 1024 * 1024 - ((2 * 1024 * 1024) % SEG_REC);

export class SegmentDamaged extends Error {
  constructor(key: string, what: string) {
    super(`chunk index segment ${key} is damaged: ${what}`);
    this.name = 'SegmentDamaged';
  }
}

/** A sealed segment whose key domain is not open here. */
export class SegmentLocked extends Error {
  constructor(
    key: string,
    readonly domain: string,
  ) {
    super(`chunk index segment ${key} is sealed in key domain ${domain}, which is not open`);
    this.name = 'SegmentLocked';
  }
}

/** How an encrypted vault seals its index segments (vault-encryption.ts). */
export interface SegmentCodec {
  /** Bytes sealing adds to a body (a fixed header holding nonce and tag). */
  readonly overhead: number;
  /** The stored form of `body` under `key`, in `domain` (default: the current backup's). */
  seal(key: string, body: Buffer, domain?: string): Buffer;
  /** The plain body and its key domain. Throws SegmentLocked for a domain not open here and
   *  SegmentDamaged for anything that does not open (a plain body included). */
  open(key: string, buf: Buffer): { body: Buffer; domain: string };
  /** Whether segments of this domain open here now. */
  isOpen(domain: string): boolean;
}

/** Records a segment of `size` stored bytes holds (0 when the size cannot be a segment). */
export function segmentRecordCount(size: number, codec?: SegmentCodec): number {
  const n = (size - (codec?.overhead ?? 0) - SEG_HEADER - 8) / SEG_REC;
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** The plain body of a stored segment, and its key domain when sealed. */
export function openSegment(key: string, stored: Buffer, codec?: SegmentCodec): { body: Buffer; domain?: string } {
  return codec ? codec.open(key, stored) : { body: stored };
}

/** Converts `n` BVIX records at `src[off..]` into local records tagged with `ord`. */
function toLocal(src: Buffer, off: number, n: number, ord: number, out: Buffer): void {
  for (let i = 0; i < n; i++) {
    const s = off + i * SEG_REC;
    src.copy(out, i * LREC, s, s + SEG_REC);
    out.writeUInt32LE(ord, i * LREC + SEG_REC);
  }
}

/** Checks a whole plain segment body and returns its records as local records. */
export function localRecordsOf(key: string, body: Buffer, ord: number): { buf: Buffer; count: number } {
  const n = checkBody(key, body);
  const buf = Buffer.alloc(n * LREC);
  toLocal(body, SEG_HEADER, n, ord, buf);
  return { buf, count: n };
}

/** The record count of a whole plain body whose header and checksum are good. */
function checkBody(key: string, body: Buffer): number {
  const n = checkHeader(key, body, body.length);
  const end = SEG_HEADER + n * SEG_REC;
  const h = new Xxh64().update(body.subarray(0, end)).digest();
  if (h !== body.readBigUInt64LE(end)) throw new SegmentDamaged(key, 'checksum');
  return n;
}

function checkHeader(key: string, head: Buffer, size: number): number {
  if (head.length < SEG_HEADER || !head.subarray(0, 4).equals(MAGIC)) throw new SegmentDamaged(key, 'not a chunk index segment');
  const n = head.readUInt32LE(8);
  if (size !== SEG_HEADER + n * SEG_REC + 8) throw new SegmentDamaged(key, `size ${size} does not match ${n} records`);
  return n;
}

/** Streams a segment's records as local records, piece by piece. The checksum covers the whole
 *  body, so it is known only at the end: on damage the pieces already given must be discarded
 *  (the caller drops the segment's ordinal). A sealed segment is fetched whole and opened
 *  first (nothing is given before it authenticates), then handed on in the same pieces. */
export async function streamSegment(
  store: ObjectStore,
  info: ObjectInfo,
  ord: number,
  onPiece: (buf: Buffer, count: number) => Promise<void>,
  codec?: SegmentCodec,
): Promise<{ count: number; domain?: string }> {
  if (codec) {
    const { body, domain } = codec.open(info.key, await store.get(info.key));
    const n = checkBody(info.key, body);
    const per = SEGMENT_PIECE_BYTES / SEG_REC;
    const out = Buffer.alloc(Math.min(n, per) * LREC);
    for (let done = 0; done < n; done += per) {
      const take = Math.min(n - done, per);
      toLocal(body, SEG_HEADER + done * SEG_REC, take, ord, out);
      await onPiece(out.subarray(0, take * LREC), take);
    }
    return { count: n, domain };
  }
  if (info.size <= SEGMENT_PIECE_BYTES + SEG_HEADER + 8) {
    const { buf, count } = localRecordsOf(info.key, await store.get(info.key), ord);
    await onPiece(buf, count);
    return { count };
  }
  const hash = new Xxh64();
  const head = await store.getRange(info.key, 0, SEG_HEADER);
  const n = checkHeader(info.key, head, info.size);
  hash.update(head);
  const out = Buffer.alloc((SEGMENT_PIECE_BYTES / SEG_REC) * LREC);
  let done = 0;
  while (done < n) {
    const take = Math.min(n - done, SEGMENT_PIECE_BYTES / SEG_REC);
    const piece = await store.getRange(info.key, SEG_HEADER + done * SEG_REC, take * SEG_REC);
    if (piece.length !== take * SEG_REC) throw new SegmentDamaged(info.key, 'shorter than listed');
    hash.update(piece);
    toLocal(piece, 0, take, ord, out);
    await onPiece(out, take);
    done += take;
  }
  const tail = await store.getRange(info.key, SEG_HEADER + n * SEG_REC, 8);
  if (tail.length !== 8 || hash.digest() !== tail.readBigUInt64LE(0)) throw new SegmentDamaged(info.key, 'checksum');
  return { count: n };
}
