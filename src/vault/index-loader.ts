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
//  - it never deletes a segment it did not merge.
import { randomBytes } from 'node:crypto';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { ChunkIndex, type IndexRecord, type SegmentCodec } from './chunk-index.js';
import { IndexCache, vaultCacheId } from './index-cache.js';
import { Layout } from './layout.js';
import { acquireLease } from './lease.js';

/** Consolidate when more segments than this are listed. */
export const CONSOLIDATE_ABOVE = 64;
/** Wall-clock time this process started. */
export const PROCESS_START_MS = Date.now() - Math.round(process.uptime() * 1000);

export interface IndexLoadOptions {
  /** Segment cache root; "off" disables it. Default $BLOCKVAULT_CACHE_DIR, XDG, ~/.cache.
   *  Used for remote stores only (a local vault's segments are already local files). */
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

export function isRemoteStore(store: ObjectStore): boolean {
  return !store.url.startsWith('file:');
}

/** cacheId: the vault's hash key (plain vaults) or another per-vault secret-free name
 *  (encrypted vaults, whose cache holds the sealed segments as stored). */
export async function loadChunkIndex(store: ObjectStore, cacheId: string, opts: IndexLoadOptions = {}, codec?: SegmentCodec): Promise<ChunkIndex> {
  const cache = isRemoteStore(store) ? await IndexCache.open(vaultCacheId(cacheId), { dir: opts.indexCacheDir }) : undefined;
  const index = await ChunkIndex.load(store, { ...(cache ? { cache } : {}), ...(codec ? { codec } : {}) });
  const above = opts.consolidateAbove ?? CONSOLIDATE_ABOVE;
  if (above > 0 && index.loaded.size > above) {
    await consolidateIndex(store, index, { olderThan: opts.consolidateOlderThan }).catch(() => undefined);
  }
  index.loaded.clear(); // the per-segment records were only for consolidation: free their buffers
  return index;
}

const sameVersion = (a: ObjectInfo, b: ObjectInfo) => a.size === b.size && (a.etag ?? '') === (b.etag ?? '');

/** Merges the loaded segments older than `olderThan` into one. Undefined when skipped. */
export async function consolidateIndex(
  store: ObjectStore,
  index: ChunkIndex,
  opts: { olderThan?: number | undefined; leaseTtlMs?: number } = {},
): Promise<ConsolidateResult | undefined> {
  const olderThan = opts.olderThan ?? PROCESS_START_MS;
  const old = [...index.loaded.values()].filter((s) => s.info.lastModified && s.info.lastModified.getTime() < olderThan);
  if (old.length < 2) return undefined;
  let lease;
  try {
    lease = await acquireLease(store, Layout.gcLeaseScope, 'gc', { ttlMs: opts.leaseTtlMs ?? 60_000 });
  } catch {
    return undefined; // GC or another consolidation holds the vault: later
  }
  try {
    const now = new Map<string, ObjectInfo>();
    for await (const o of store.list(Layout.indexPrefix)) now.set(o.key, o);
    const take = old.filter((s) => {
      const cur = now.get(s.info.key);
      return cur !== undefined && sameVersion(cur, s.info);
    });
    if (take.length < 2) return undefined;
    const byId = new Map<string, IndexRecord>();
    for (const s of take) for (const r of s.records) byId.set(r.id.toString('latin1'), r);
    const records = [...byId.values()];
    const into = Layout.indexSegmentKey(`merged-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`);
    const body = index.encodeFor(into, records);
    if (!(await store.put(into, body, { ifAbsent: true }))) return undefined;
    await store.sync();
    await index.cacheWritten(into, body);
    const merged = take.map((s) => s.info.key);
    await store.deleteMany(merged);
    index.replaceSegments(merged, { info: { key: into, size: body.length, lastModified: new Date() }, records });
    return { merged, into, records: records.length };
  } finally {
    await lease.release().catch(() => {});
  }
}
