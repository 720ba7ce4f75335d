// Loading the chunk index the way a vault should: through the local segment cache for remote
// (S3) stores, then consolidating when the segment count has grown large.
//
// Consolidation writes one merged segment holding the records of many, then deletes exactly
// the segments it merged. Rules, so it can run beside backups and GC on other hosts:
//  - it only runs while holding GC's vault-wide lease (Layout.gcLeaseScope), so it never
//    overlaps a GC; when that lease is busy it is skipped, and the
//    next load tries again;
//  - it only merges segments last modified before this process started (never one a running
//    backup of this process is still adding to the vault), and only segments whose listing
//    under the lease (key, size, ETag) is still the one it read: a segment that GC rewrote or
//    deleted in between is left alone;
//  - the merged segment is written (put-if-absent, fresh name) before any source is deleted,
//    so at every moment the listed segments cover every chunk the index covered;
//  - it never deletes a segment it did not merge;
//  - its memory is bounded: it merges the smallest segments, at most CONSOLIDATE_MAX_RECORDS
//    records in all (a GC segment of the whole vault is never re-merged);
//  - in an encrypted vault it merges segments of one open key domain and seals the merged
//    segment in that domain, bound to its new key.
import { randomBytes } from 'node:crypto';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { ChunkIndex, type SegmentCodec } from './chunk-index.js';
import { localIndexDir, vaultCacheId } from './index-cache.js';
import { LREC } from './index-run.js';
import { SEG_HEADER, SEG_REC, SegmentDamaged, SegmentLocked, localRecordsOf, openSegment, segmentRecordCount } from './index-segments.js';
import { sortRecords } from './index-sort.js';
import { Layout } from './layout.js';
import { acquireLease } from './lease.js';
import { xxh64 } from '@node-rs/xxhash';

/** Consolidate when more segments than this are listed. */
export const CONSOLIDATE_ABOVE = 64;
/** Records one consolidation merges at most (≈ 4.5 MiB of segment, ≈ 10 MiB while merging). */
export const CONSOLIDATE_MAX_RECORDS = 128 * 1024;
/** Wall-clock time this process started. */
export const PROCESS_START_MS = Date.now() - Math.round(process.uptime() * 1000);

export interface IndexLoadOptions {
  /** Local index cache root; "off" disables it. Default $BLOCKVAULT_CACHE_DIR, XDG, ~/.cache.
   *  Used for every store: the local copy is what keeps a large vault's index off the heap. */
  indexCacheDir?: string;
  /** Consolidate when more than this many segments are listed (default 64; 0 = never). */
  consolidateAbove?: number;
  /** Only segments last modified before this time (ms) are merged (default: process start). */
  consolidateOlderThan?: number;
}

export interface ConsolidateResult {
  merged: string[];
  into: string;
  records: number;
}

const CACHE_DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

export function isRemoteStore(store: ObjectStore): boolean {
  return store.capabilities.remote ?? !store.url.startsWith('file:');
}

/** cacheId names this host's local copy: the vault's hash key (plain vaults) or another
 *  per-vault name with no secret in it (encrypted vaults: "encrypted:<vaultId>"). `codec`: an
 *  encrypted vault's, so segments are sealed when written and opened when read. */
export async function loadChunkIndex(store: ObjectStore, cacheId: string, opts: IndexLoadOptions = {}, codec?: SegmentCodec): Promise<ChunkIndex> {
  const dir = await localIndexDir(vaultCacheId(cacheId), { dir: opts.indexCacheDir });
  const remote = isRemoteStore(store);
  let index: ChunkIndex;
  try {
    index = await ChunkIndex.load(store, { dir, remote, codec });
  } catch (e) {
    // The local copy is a cache: a full or read-only cache disk must not fail the operation.
    if (!dir || !CACHE_DISK_ERRORS.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
    index = await ChunkIndex.load(store, { remote, codec });
  }
  const above = opts.consolidateAbove ?? CONSOLIDATE_ABOVE;
  if (above > 0 && index.listed.length > above) {
    await consolidateIndex(store, index, { olderThan: opts.consolidateOlderThan }).catch(() => undefined);
  }
  return index;
}

const sameVersion = (a: ObjectInfo, b: ObjectInfo) => a.size === b.size && (a.etag ?? '') === (b.etag ?? '');

/** Merges the smallest segments listed at load and older than `olderThan` into one.
 *  Undefined when skipped. */
export async function consolidateIndex(
  store: ObjectStore,
  index: ChunkIndex,
  opts: { olderThan?: number | undefined; leaseTtlMs?: number; maxRecords?: number } = {},
): Promise<ConsolidateResult | undefined> {
  const olderThan = opts.olderThan ?? PROCESS_START_MS;
  const maxRecords = opts.maxRecords ?? CONSOLIDATE_MAX_RECORDS;
  const codec = index.codec;
  const count = (o: ObjectInfo) => segmentRecordCount(o.size, codec);
  // An encrypted vault merges the segments of one open key domain only, and seals the result
  // in it again: no domain's records ever move into another domain's segment.
  const groups = new Map<string, ObjectInfo[]>();
  const old = index.listed
    .filter((o) => o.lastModified && o.lastModified.getTime() < olderThan && count(o) <= maxRecords)
    .sort((a, b) => a.size - b.size);
  for (const o of old) {
    let domain = '';
    if (codec) {
      const e = index.segmentEntry(o.key);
      if (!e || e.locked || e.domain === undefined || !codec.isOpen(e.domain)) continue;
      domain = e.domain;
    }
    const group = groups.get(domain);
    if (group) group.push(o);
    else groups.set(domain, [o]);
  }
  let chosen: ObjectInfo[] = [];
  let domain = '';
  for (const [d, group] of groups) {
    let total = 0;
    const pick: ObjectInfo[] = [];
    for (const o of group) {
      if (total + count(o) > maxRecords) break;
      total += count(o);
      pick.push(o);
    }
    if (pick.length > chosen.length) [chosen, domain] = [pick, d];
  }
  if (chosen.length < 2) return undefined;
  let lease;
  try {
    lease = await acquireLease(store, Layout.gcLeaseScope, 'gc', { ttlMs: opts.leaseTtlMs ?? 60_000 });
  } catch {
    return undefined; // GC or another consolidation holds the vault: later
  }
  try {
    const now = new Map<string, ObjectInfo>();
    for await (const o of store.list(Layout.indexPrefix)) now.set(o.key, o);
    const parts: Buffer[] = [];
    const take: string[] = [];
    for (const o of chosen) {
      const cur = now.get(o.key);
      if (cur === undefined || !sameVersion(cur, o)) continue; // rewritten or deleted since: leave it
      try {
        const stored = await store.get(o.key);
        if (stored.length !== o.size) continue;
        const opened = openSegment(o.key, stored, codec);
        if ((opened.domain ?? '') !== domain) continue;
        parts.push(localRecordsOf(o.key, opened.body, 0).buf);
        take.push(o.key);
      } catch (e) {
        if (!(e instanceof SegmentDamaged) && !(e instanceof SegmentLocked)) throw e;
      }
    }
    if (take.length < 2) return undefined;
    const plain = encodeUnique(Buffer.concat(parts));
    const records = segmentRecordCount(plain.length);
    const into = Layout.indexSegmentKey(`merged-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`);
    const body = index.sealBody(into, plain, domain || undefined);
    if (!(await store.put(into, body, { ifAbsent: true }))) return undefined;
    await store.sync();
    await index.cacheWritten(into, body);
    await store.deleteMany(take);
    index.replaceSegments(take, into);
    return { merged: take, into, records };
  } finally {
    await lease.release().catch(() => {});
  }
}

/** A BVIX segment of the distinct records among local records `recs`. */
function encodeUnique(recs: Buffer): Buffer {
  const n = recs.length / LREC;
  const order = sortRecords(recs, n);
  const out = Buffer.alloc(SEG_HEADER + n * SEG_REC + 8);
  out.write('BVIX', 0, 'ascii');
  out[4] = 1;
  let k = 0;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const off = order[i]! * LREC;
    if (prev >= 0 && recs.compare(recs, prev, prev + CHUNK_ID_BYTES, off, off + CHUNK_ID_BYTES) === 0) continue;
    recs.copy(out, SEG_HEADER + k * SEG_REC, off, off + SEG_REC);
    prev = off;
    k++;
  }
  out.writeUInt32LE(k, 8);
  const end = SEG_HEADER + k * SEG_REC;
  out.writeBigUInt64LE(xxh64(out.subarray(0, end)), end);
  return out.subarray(0, end + 8);
}
