// One manifest per backup, written last (put-if-absent): its presence is the backup.
//
//   0  4  magic "BVMF"
//   4  1  format version (1)
//   5  3  reserved, zero
//   8  4  header length H (u32 LE)
//  12  H  header: UTF-8 JSON (ManifestHeader) — ids, chain link, sizes, counters
//  ..     entries: entryCount × 48 bytes, sorted by block index, one block each:
//           0 8  block index (u64 LE)
//           8 1  kind: 1 chunk, 2 zero (the block became zero: incrementals only)
//           9 3  reserved
//          12 4  stored length of the chunk object (header + payload)
//          16 32 chunk id (keyed BLAKE3 of the raw block)
//  end-8  8  xxh64 of everything before it
//
// A full backup lists every non-zero block; an incremental only the blocks that changed
// since its parent. The header comes first and has its own length, so `list` reads a few
// KiB per backup, and entries are fixed-size, so a reader can stream them.
import { xxh64 } from '@node-rs/xxhash';
import * as v from 'valibot';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import { MANIFEST_ENTRY_BYTES, MANIFEST_MAGIC as MANIFEST_MAGIC_TEXT, MANIFEST_PREFIX_BYTES, MANIFEST_VERSION } from '../chunk/format.js';

import { IsoTime, NonNegativeInt, PositiveInt, describeIssues } from './schema.js';

export { MANIFEST_PREFIX_BYTES, MANIFEST_VERSION };
export const MANIFEST_MAGIC = Buffer.from(MANIFEST_MAGIC_TEXT, 'ascii');
export const ENTRY_BYTES = MANIFEST_ENTRY_BYTES;

export const EntryKind = { chunk: 1, zero: 2 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export type BackupType = 'full' | 'incremental';

export interface SourceInfo {
  path: string;
  kind: 'file' | 'block-device';
  size: number;
  /** Device identity (major:minor, serial…) where known. */
  identity?: string;
}

export interface ManifestHeader {
  backupId: string;
  volumeId: string;
  /** The backup this one is an increment of; null for a full. */
  parentId: string | null;
  type: BackupType;
  /** What was asked: an incremental request can become a full (first backup, --full). */
  requestedType: BackupType;
  createdAt: string;
  completedAt: string;
  blockSize: number;
  volumeSize: number;
  entryCount: number;
  source: SourceInfo;
  snapshotId?: string;
  bootable?: boolean;
  /** Distinct chunks this manifest names and their stored bytes (header + payload). */
  chunkCount: number;
  storedBytes: number;
  /** Chunks and bytes this backup itself uploaded (the rest were already in the vault). */
  newChunkCount: number;
  newStoredBytes: number;
  /** Logical bytes covered by chunk entries (non-zero data this manifest maps). */
  dataBytes: number;
  elapsedMs: number;
  counters: Record<string, number>;
  /** Dedup (1) and compression (2) flags as the service's DL field. */
  dl: 0 | 1 | 2 | 3;
  // ---- service-contract fields (issue 12): all optional, absent in older manifests
  /** The data's point in time: the snapshot's time when given, else the start of the read. */
  dataTimestamp?: string;
  /** Made by a policy (the service's auto_trigger); max_backups counts only these. */
  automatic?: boolean;
  /** The backup's description (the service's DESC). */
  description?: string;
  /** Why a full was made although an incremental was asked (full-decision.ts). */
  fullReason?: string;
  /** When a delete last rewrote this manifest (merge or promotion to full). */
  updatedAt?: string;
  /** The values as the backup was made, kept when a merge changes the current ones. */
  asMade?: { type: BackupType; storedBytes: number; chunkCount: number };
  // ---- encryption (issue 11): absent in a plain vault
  /** Encrypted vaults: the key domain of this backup's chunks (its chain stays in it). */
  keyDomain?: string;
  /** The control plane's encryption context, verbatim (service_metadata VK and CMKID). */
  encryption?: { cmkId: string; vk: string };
  /** Set only on a backup this vault received from another (copy or archive import). */
  origin?: BackupOrigin;
}

// ---- Where a copied or imported backup came from (replication, src/engine/copy.ts). One
// block of its own, so the rest of the header still describes the backup as it was made.
export interface BackupOrigin {
  /** replica: made by copyBackups (the service's replication: ST 4/5, image_type
   *  replication); import: read from an archive (image_type sync). */
  kind: 'replica' | 'import';
  /** The vault and backup it was first made in (a copy of a copy keeps the first). */
  sourceVaultId: string;
  sourceBackupId: string;
  /** When this vault received it. */
  receivedAt: string;
  /** Replicas: the service's ST for the copy, 4 (disk backup copy) or 5 (VM backup copy). */
  serviceType?: 4 | 5;
  /** Replicas: the replication record this copy was made under, when the caller gave one. */
  replicationRecordId?: string;
}

const BackupTypeSchema = v.picklist(['full', 'incremental']);
const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(256));

/** The header as read back: every known field checked, unknown fields kept (a newer writer
 *  may add optional fields, e.g. the service's job fields, without a version bump). */
const ManifestHeaderSchema = v.looseObject({
  backupId: Id,
  volumeId: Id,
  parentId: v.nullable(Id),
  type: BackupTypeSchema,
  requestedType: BackupTypeSchema,
  createdAt: IsoTime,
  completedAt: IsoTime,
  blockSize: PositiveInt,
  volumeSize: NonNegativeInt,
  entryCount: NonNegativeInt,
  source: v.looseObject({
    path: v.string(),
    kind: v.picklist(['file', 'block-device']),
    size: NonNegativeInt,
    identity: v.optional(v.string()),
  }),
  snapshotId: v.optional(v.string()),
  bootable: v.optional(v.boolean()),
  chunkCount: NonNegativeInt,
  storedBytes: NonNegativeInt,
  newChunkCount: NonNegativeInt,
  newStoredBytes: NonNegativeInt,
  dataBytes: NonNegativeInt,
  elapsedMs: v.pipe(v.number(), v.minValue(0)),
  counters: v.record(v.string(), v.number()),
  dl: v.picklist([0, 1, 2, 3]),
  // The service-contract and job fields are kept unchecked (see above); the encryption block
  // is checked: it names the key domain a chain stays in.
  keyDomain: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, 'is not 16 bytes of hex'))),
  encryption: v.optional(v.looseObject({ cmkId: v.string(), vk: v.string() })),
  origin: v.optional(
    v.looseObject({
      kind: v.picklist(['replica', 'import']),
      sourceVaultId: Id,
      sourceBackupId: Id,
      receivedAt: IsoTime,
      serviceType: v.optional(v.picklist([4, 5])),
      replicationRecordId: v.optional(Id),
    }),
  ),
});

// The schema and the interface describe the same object: this fails to compile if they drift.
type HeaderFromSchema = v.InferOutput<typeof ManifestHeaderSchema>;
const _sameShape: (h: HeaderFromSchema) => ManifestHeader = (h) => h;
void _sameShape;

export interface ManifestEntry {
  blockIndex: number;
  kind: EntryKind;
  storedLength: number;
  id: Buffer;
}

export interface Manifest {
  header: ManifestHeader;
  /** Entries packed as in the file; use entryAt() to read one. */
  entries: Buffer;
}

export class ManifestFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestFormatError';
  }
}

export function encodeManifest(header: ManifestHeader, entries: ManifestEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => a.blockIndex - b.blockIndex);
  const json = Buffer.from(JSON.stringify({ ...header, entryCount: sorted.length }), 'utf8');
  const out = Buffer.alloc(MANIFEST_PREFIX_BYTES + json.length + sorted.length * ENTRY_BYTES + 8);
  MANIFEST_MAGIC.copy(out, 0);
  out[4] = MANIFEST_VERSION;
  out.writeUInt32LE(json.length, 8);
  json.copy(out, MANIFEST_PREFIX_BYTES);
  let off = MANIFEST_PREFIX_BYTES + json.length;
  let prev = -1;
  for (const e of sorted) {
    if (e.blockIndex === prev) throw new Error(`duplicate manifest entry for block ${e.blockIndex}`);
    prev = e.blockIndex;
    out.writeBigUInt64LE(BigInt(e.blockIndex), off);
    out[off + 8] = e.kind;
    out.writeUInt32LE(e.storedLength, off + 12);
    if (e.kind === EntryKind.chunk) e.id.copy(out, off + 16, 0, CHUNK_ID_BYTES);
    off += ENTRY_BYTES;
  }
  out.writeBigUInt64LE(xxh64(out.subarray(0, off)), off);
  return out;
}

/** Parses the fixed prefix; returns the header length so a caller can fetch just the header. */
export function headerLength(prefix: Buffer): number {
  if (prefix.length < MANIFEST_PREFIX_BYTES || !prefix.subarray(0, 4).equals(MANIFEST_MAGIC)) {
    throw new ManifestFormatError('not a blockvault manifest (bad magic)');
  }
  if (prefix[4]! > MANIFEST_VERSION) {
    throw new ManifestFormatError(`manifest format version ${prefix[4]} is newer than this blockvault understands`);
  }
  return prefix.readUInt32LE(8);
}

export function decodeHeader(buf: Buffer): ManifestHeader {
  const len = headerLength(buf);
  if (buf.length < MANIFEST_PREFIX_BYTES + len) throw new ManifestFormatError('manifest header truncated');
  let json: unknown;
  try {
    json = JSON.parse(buf.subarray(MANIFEST_PREFIX_BYTES, MANIFEST_PREFIX_BYTES + len).toString('utf8'));
  } catch {
    throw new ManifestFormatError('manifest header is not valid JSON');
  }
  const r = v.safeParse(ManifestHeaderSchema, json);
  if (!r.success) throw new ManifestFormatError(`manifest header is not valid: ${describeIssues(r.issues)}`);
  return r.output;
}

export function decodeManifest(buf: Buffer): Manifest {
  const header = decodeHeader(buf);
  const start = MANIFEST_PREFIX_BYTES + headerLength(buf);
  const end = start + header.entryCount * ENTRY_BYTES;
  if (buf.length !== end + 8) {
    throw new ManifestFormatError(`manifest is ${buf.length} bytes, its header implies ${end + 8}`);
  }
  if (xxh64(buf.subarray(0, end)) !== buf.readBigUInt64LE(end)) {
    throw new ManifestFormatError('manifest checksum mismatch');
  }
  return { header, entries: buf.subarray(start, end) };
}

export function entryCount(m: Manifest): number {
  return m.entries.length / ENTRY_BYTES;
}

export function entryAt(m: Manifest, i: number): ManifestEntry {
  const off = i * ENTRY_BYTES;
  const e = m.entries;
  return {
    blockIndex: Number(e.readBigUInt64LE(off)),
    kind: e[off + 8] as EntryKind,
    storedLength: e.readUInt32LE(off + 12),
    id: e.subarray(off + 16, off + 16 + CHUNK_ID_BYTES),
  };
}

export function* entries(m: Manifest): Iterable<ManifestEntry> {
  const n = entryCount(m);
  for (let i = 0; i < n; i++) yield entryAt(m, i);
}

/** Distinct chunks, their stored bytes, and the logical bytes the chunk entries cover. */
export function chunkStats(list: Iterable<ManifestEntry>, blockSize: number, volumeSize: number) {
  const seen = new Set<string>();
  let bytes = 0;
  let dataBytes = 0;
  for (const e of list) {
    if (e.kind !== EntryKind.chunk) continue;
    dataBytes += Math.min(blockSize, volumeSize - e.blockIndex * blockSize);
    const k = e.id.toString('latin1');
    if (seen.has(k)) continue;
    seen.add(k);
    bytes += e.storedLength;
  }
  return { count: seen.size, bytes, dataBytes };
}
