// Garbage collection: delete chunk objects no manifest references, beside running backups.
//
//   1. Take the vault-wide lease "vault-gc" (two GCs never overlap; backups do not take it).
//   2. List the index segments that exist now (S_old).
//   3. Mark: list every manifest and collect every chunk it names. A manifest that vanishes
//      while being read was deleted by a concurrent delete/prune, which first rewrote its
//      child to hold its blocks; the child may have been read before that rewrite, so the
//      whole mark is repeated (marks only accumulate) until a pass sees nothing vanish.
//   4. List chunks/. U = chunk objects that are not marked.
//   5. Rewrite the index: write one segment index/gc-<run>.idx listing every listed chunk
//      not in U (with its object size as stored length), then delete the segments of S_old.
//      Segments written since step 2 by running backups are left alone.
//   6. Only now snapshot the live leases L (GC's own excluded).
//   7. Close the windows between the steps above: re-list the manifests and mark what any new
//      or rewritten one names (a backup that loaded the old index and finished between the
//      mark and step 6 holds no lease in L but has a manifest now); read every index segment
//      written since step 2 and take the chunks it lists out of U (an index must never list
//      a deleted chunk).
//   8. Earlier condemned records gc/condemned-<run>.json: a record whose leases are all gone
//      has its chunks deleted — only those still in this run's U — and is then deleted.
//   9. If L is empty, delete U now. Otherwise write gc/condemned-<run>.json
//      { runId, at, chunks: U, leases: ids of L } and delete none of U in this run.
//
// Why it is safe: a chunk is deleted only after the index no longer lists it (step 5, and
// step 7 for segments written meanwhile), so a backup that loads the index after step 5
// cannot dedup against it. A backup that could dedup against a chunk in U loaded its index
// before step 5, so it took its lease before step 6 (backups take the volume lease, then
// reload the index): either it still runs at step 6 — its lease is in L and nothing of U is
// deleted until that lease has ended, by which time its manifest (if it wrote one) marks
// what it used in the run that does the deleting — or it finished before step 6, and then
// its manifest exists at step 7 and is marked there. Chunks written after step 4 are never
// in U. Deleting a backup never deletes a chunk; a concurrent delete is covered by step 3.
// No clock is trusted beyond lease expiry (a lease is live until it expires or, on the
// same host, its process is gone).
//
// Interrupted at any point the vault stays consistent: before step 5 nothing was written;
// the gc segment lists only chunks that exist and stay; old segments are deleted before
// any chunk; chunks of U are named by no manifest and no index segment; a condemned record
// is deleted only after its chunks are, and a re-run redoes whatever was left.
//
// A backup that loaded the index after step 5 and stores a block whose chunk is in U finds
// the object still present. It does not trust it: it rewrites the object (backup.ts), which
// moves its modification time, and the sweep HEADs each object just before deleting it and
// spares any newer than when it was listed. What remains is the gap between that HEAD and
// the DELETE of one object (milliseconds), hit only if a backup that started during this
// sweep rewrites exactly that garbage chunk inside the gap; a deep verify would name it.
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { idToHex } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes, throwIfAborted } from '../errors.js';
import type { IndexRecord } from '../vault/chunk-index.js';
import { Layout } from '../vault/layout.js';
import { EntryKind, entries } from '../vault/manifest.js';
import type { StoredObject, Vault } from '../vault/vault.js';
import { crashPoint } from './crash-points.js';

export const GC_LEASE_SCOPE = Layout.gcLeaseScope;
const MAX_MARK_PASSES = 8;
const IO_CONCURRENCY = 16;

export interface GcOptions {
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface CondemnedRecord {
  runId: string;
  at: string;
  /** Chunk ids, hex. */
  chunks: string[];
  /** Lease ids that were live when the record was written. */
  leases: string[];
}

export interface GcResult {
  runId: string;
  dryRun: boolean;
  manifests: number;
  markPasses: number;
  chunksListed: number;
  chunksReferenced: number;
  /** Chunk objects no manifest names (U), and their bytes. */
  unreferenced: number;
  unreferencedBytes: number;
  /** Deleted in this run (with dryRun: would be). */
  reclaimedObjects: number;
  reclaimedBytes: number;
  /** Unreferenced chunks a backup wrote again during this run: kept. */
  spared: number;
  /** Chunks of U left for a later run because leases were live (with dryRun: would be). */
  condemned: number;
  condemnedRecord: string | null;
  liveLeases: string[];
  /** Earlier condemned records finished (their chunks deleted) and still waiting. */
  recordsFinished: number;
  recordsWaiting: number;
  segmentsWritten: number;
  segmentsDeleted: number;
}

export async function gc(vault: Vault, opts: GcOptions = {}): Promise<GcResult> {
  throwIfAborted(opts.signal);
  if (opts.dryRun) return run(vault, undefined, opts); // reads only
  const lease = await vault.lease(GC_LEASE_SCOPE, 'gc');
  try {
    crashPoint('gc:after-lease');
    return await run(vault, lease.record.leaseId, opts);
  } finally {
    await lease.release().catch(() => {});
  }
}

const sig = (o: StoredObject) => `${o.size}:${o.lastModified?.getTime() ?? ''}:${o.etag ?? ''}`;

async function run(vault: Vault, ownLease: string | undefined, opts: GcOptions): Promise<GcResult> {
  const { meta } = vault;
  const dry = !!opts.dryRun;
  const runId = `${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  const limit = pLimit(IO_CONCURRENCY);
  const check = () => throwIfAborted(opts.signal);

  // 2. the segments that exist now
  const oldSegments: string[] = [];
  for await (const o of meta.list(Layout.indexPrefix)) oldSegments.push(o.key);

  // 3. mark
  const marked = new Set<string>();
  const seen = new Map<string, string>();
  let passes = 0;
  let manifests = 0;
  for (;;) {
    check();
    if (++passes > MAX_MARK_PASSES) {
      throw new BlockvaultError(ErrorCodes.volumeBusy, `gc: manifests kept vanishing while being read (${MAX_MARK_PASSES} passes)`, {
        hint: 'deletes are running; run gc again when they are done',
      });
    }
    const listed = await listManifests(vault);
    const r = await readManifests(vault, listed, marked, seen, limit, false);
    manifests = r.read;
    if (!r.vanished) break;
  }
  crashPoint('gc:after-mark');

  // 4. list chunks; U
  const chunks = new Map<string, number>();
  const listedAt = new Map<string, number>();
  for await (const c of vault.listChunks(opts.signal ? { signal: opts.signal } : {})) {
    const hex = idToHex(c.id);
    chunks.set(hex, c.size);
    if (c.lastModified) listedAt.set(hex, c.lastModified.getTime());
  }
  const unref = new Set<string>();
  for (const id of chunks.keys()) if (!marked.has(id)) unref.add(id);
  check();

  // 5. rewrite the index
  const gcSegment = Layout.indexSegmentKey(`gc-${runId}`);
  let segmentsWritten = 0;
  let segmentsDeleted = 0;
  if (!dry) {
    const recs: IndexRecord[] = [];
    for (const [id, size] of chunks) if (!unref.has(id)) recs.push({ id: Buffer.from(id, 'hex'), storedLength: size });
    await meta.put(gcSegment, vault.encodeIndexSegment(gcSegment, recs));
    await meta.sync();
    segmentsWritten = 1;
    crashPoint('gc:after-segment');
    const stale = oldSegments.filter((k) => k !== gcSegment);
    await Promise.all(stale.map((k) => limit(() => meta.delete(k))));
    await meta.sync();
    segmentsDeleted = stale.length;
    crashPoint('gc:after-old-segments');
  }

  // 6. live leases, after the rewrite
  const leases = (await vault.liveLeases()).filter((l) => l.leaseId !== ownLease && l.scope !== GC_LEASE_SCOPE);
  const liveIds = new Set(leases.map((l) => l.leaseId));

  // 7. what appeared or changed since the mark
  const relisted = await listManifests(vault);
  await readManifests(vault, relisted, marked, seen, limit, true);
  for (const id of [...unref]) if (marked.has(id)) unref.delete(id);
  const known = new Set([...oldSegments, gcSegment]);
  for await (const o of meta.list(Layout.indexPrefix)) {
    if (known.has(o.key)) continue;
    const body = await meta.get(o.key);
    if (!body) continue;
    try {
      for (const r of await vault.decodeIndexSegment(o.key, body)) unref.delete(idToHex(r.id));
    } catch (e) {
      if (!(e instanceof Error && /segment/.test(e.message))) throw e;
    }
  }
  check();

  const result: GcResult = {
    runId,
    dryRun: dry,
    manifests,
    markPasses: passes,
    chunksListed: chunks.size,
    chunksReferenced: [...chunks.keys()].filter((id) => marked.has(id)).length,
    unreferenced: unref.size,
    unreferencedBytes: 0,
    reclaimedObjects: 0,
    reclaimedBytes: 0,
    spared: 0,
    condemned: 0,
    condemnedRecord: null,
    liveLeases: leases.map((l) => l.leaseId),
    recordsFinished: 0,
    recordsWaiting: 0,
    segmentsWritten,
    segmentsDeleted,
  };
  for (const id of unref) result.unreferencedBytes += chunks.get(id)!;

  const sweep = async (ids: string[]) => {
    let n = 0;
    await Promise.all(
      ids.map((id) =>
        limit(async () => {
          const chunkId = Buffer.from(id, 'hex');
          if (!dry) {
            // A backup that found this object present but not in its index rewrites it
            // (chunk-access.ts): a newer object than the one listed is in use again, so spare it.
            const now = await vault.statChunk(chunkId);
            const was = listedAt.get(id);
            if (!now || (was !== undefined && now.lastModified && now.lastModified.getTime() > was)) {
              result.spared++;
              return;
            }
            await meta.delete(Layout.chunkKey(chunkId));
          }
          result.reclaimedObjects++;
          result.reclaimedBytes += chunks.get(id) ?? 0;
          if (++n === Math.ceil(ids.length / 2)) crashPoint('gc:mid-sweep');
        }),
      ),
    );
    if (!dry) await meta.sync();
  };

  // 8. earlier condemned records
  const records: string[] = [];
  for await (const o of meta.list(Layout.condemnedPrefix)) if (Layout.isCondemnedKey(o.key)) records.push(o.key);
  records.sort();
  for (const key of records) {
    check();
    const body = await meta.get(key);
    if (!body) continue;
    let rec: CondemnedRecord;
    try {
      rec = JSON.parse(body.toString('utf8')) as CondemnedRecord;
    } catch {
      // A torn or damaged record: its chunks are still in U, so this run's own rule covers them.
      if (!dry) await meta.delete(key);
      continue;
    }
    if (rec.leases.some((id) => liveIds.has(id))) {
      result.recordsWaiting++;
      continue;
    }
    const due = rec.chunks.filter((id) => unref.has(id));
    for (const id of due) unref.delete(id);
    await sweep(due);
    if (!dry) await meta.delete(key);
    result.recordsFinished++;
  }

  // 9. this run's U
  if (unref.size) {
    if (leases.length === 0) {
      await sweep([...unref]);
    } else {
      result.condemned = unref.size;
      const rec: CondemnedRecord = { runId, at: new Date().toISOString(), chunks: [...unref].sort(), leases: [...liveIds] };
      const key = Layout.condemnedKey(runId);
      if (!dry) {
        await meta.put(key, Buffer.from(JSON.stringify(rec)));
        await meta.sync();
        crashPoint('gc:after-condemn');
      }
      result.condemnedRecord = key;
    }
  }
  return result;
}

async function listManifests(vault: Vault): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of vault.meta.list(Layout.manifestPrefix)) if (Layout.isManifestKey(o.key)) out.push(o);
  return out;
}

/** Reads the manifests and marks their chunks. onlyChanged: skip versions already read. */
async function readManifests(
  vault: Vault,
  listed: StoredObject[],
  marked: Set<string>,
  seen: Map<string, string>,
  limit: ReturnType<typeof pLimit>,
  onlyChanged: boolean,
): Promise<{ read: number; vanished: boolean }> {
  let vanished = false;
  let read = 0;
  await Promise.all(
    listed.map((o) =>
      limit(async () => {
        const s = sig(o);
        if (onlyChanged && seen.get(o.key) === s) return;
        let m;
        try {
          m = await vault.readManifestAt(o.key);
        } catch (e) {
          if (!(e instanceof BlockvaultError && e.code === ErrorCodes.vaultDamaged)) throw e;
          throw new BlockvaultError(ErrorCodes.vaultDamaged, `gc: ${e.message}; nothing was deleted`, {
            hint: 'GC cannot know what a damaged manifest needs: run `blockvault verify`, then restore that object from a copy or delete the backup',
            details: { object: o.key },
          });
        }
        if (!m) {
          vanished = true;
          return;
        }
        for (const e of entries(m)) if (e.kind === EntryKind.chunk) marked.add(idToHex(e.id));
        seen.set(o.key, s);
        read++;
      }),
    ),
  );
  return { read, vanished };
}
