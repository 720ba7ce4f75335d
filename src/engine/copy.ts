// copyBackups: replicate backups, with the chains they need, from one vault to another.
//
//   plan (copy-plan.ts) ─▶ per backup, parents first:
//       read its manifest ─▶ each distinct chunk it names, N at a time:
//           destination index has it? → skip (no request)      [verbatim: same chunk-id key]
//           else read from the source, check, write if absent  [or re-identify: other key]
//                                                              [   and re-encrypt: other domain]
//       ─▶ flush the destination's index ─▶ write the manifest last (put-if-absent)
//
// Nothing half-made is visible: a backup appears in the destination only when its manifest
// is written, after every chunk it names is there and durable. An interrupted copy leaves
// chunks only; the rerun skips them by the index (or rewrites the few stored after the last
// index segment) and sends the rest. A second copy of the same backups plans nothing.
// The destination volumes' leases are held throughout, so the destination's GC keeps the
// chunks a copy stored or relied on until its manifests are written.
import { BlockvaultError, ErrorCodes, abortError, firstFailure, isAbort, throwIfAborted } from '../errors.js';
import type { Lease } from '../vault/lease.js';
import { EntryKind, chunkStats, entries, type ManifestEntry, type ManifestHeader } from '../vault/manifest.js';
import { Vault, type OpenVaultOptions } from '../vault/vault.js';
import { withOperationSignal, runCleanup } from '../vault/operation.js';
import { planCopy, type CopySelection } from './copy-plan.js';
import { checkReplicable, failRecord, newRecord, replicaHeader, type ReplicationRecord } from './copy-replica.js';
import { markSide, sideOf } from './copy-side.js';
import { checkDestinationHolds, targetOf, withDestinationKeys, type BackupTarget } from './copy-domains.js';
import { Reidentifier, TokenBucket, copyVerbatim, unthrottled, type TransferMode, type Transferred } from './copy-transfer.js';

export interface CopyOptions {
  /** What to copy: backup ids, one volume's backups, or every backup (exactly one). */
  backupIds?: string[];
  volumeId?: string;
  all?: boolean;
  /** Chunks in flight (default: the smaller of the two vaults' figures). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: CopyProgress) => void;
  progressIntervalMs?: number;
  /** Average bytes per second written to the destination (chunk objects). */
  limitBytesPerSec?: number;
  /** Copy replicas too (a fail-back after a disaster); the service refuses it (1002). */
  allowReplicaSource?: boolean;
  /** Store decrypted copies of encrypted backups in a destination without encryption (refused
   *  otherwise, exit 2: an encrypted backup is never stored in the clear by accident). */
  allowDecrypt?: boolean;
  /** The control plane's replication record id per source backup id. */
  recordIds?: Record<string, string>;
}

export interface CopyCounters {
  backupsCopied: number;
  backupsPresent: number;
  /** Distinct chunks the copied manifests name, and of those: already in the destination,
   *  sent (stored by this copy). */
  chunksConsidered: number;
  chunksPresent: number;
  chunksSent: number;
  bytesRead: number;
  bytesSent: number;
  manifestsWritten: number;
}

export interface CopyProgress {
  event: 'progress';
  op: 'copy';
  /** The backup being copied now. */
  backupId: string | undefined;
  backupsDone: number;
  backupsTotal: number;
  /** Integer 0–100 over the chunks of every backup to copy. */
  progress: number;
  elapsedMs: number;
  counters: CopyCounters;
  records: ReplicationRecord[];
}

export interface CopyResult {
  from: string;
  to: string;
  sourceVaultId: string;
  destinationVaultId: string;
  /** verbatim: same chunk-id key (and key domain), objects moved as stored; reidentify: new
   *  ids, re-framed (and re-encrypted for the destination's domain). Reidentify when any
   *  copied backup was. */
  mode: TransferMode;
  /** Backups written to the destination, parents first, and those it already held. */
  copied: string[];
  present: string[];
  records: ReplicationRecord[];
  counters: CopyCounters;
  elapsedMs: number;
}

export function copyBackups(from: Vault, to: Vault, opts: CopyOptions = {}): Promise<CopyResult> {
  return withOperationSignal(opts?.signal, () => copyBackupsInScope(from, to, opts));
}

async function copyBackupsInScope(from: Vault, to: Vault, opts: CopyOptions = {}): Promise<CopyResult> {
  const started = Date.now();
  const signal = opts.signal;
  throwIfAborted(signal);
  const selection = selectionOf(opts);
  checkPositive(opts.concurrency, 'concurrency', true);
  checkPositive(opts.limitBytesPerSec, 'limitBytesPerSec', false);
  if (from.blockSize !== to.blockSize) {
    throw new BlockvaultError(ErrorCodes.badInput, `${from.url} uses ${from.blockSize}-byte blocks and ${to.url} ${to.blockSize}-byte blocks; a copy needs the same block size`, {
      hint: 'copy into a vault made with the same block size (initReplica makes one from the source)',
    });
  }
  from.refresh();
  to.refresh();
  const sourceVaultId = from.config.vaultId;
  const destinationVaultId = to.config.vaultId;
  const allowReplicaSource = opts.allowReplicaSource ?? false;
  const plan = await planCopy(from, to, selection, { check: (h) => checkReplicable(h, allowReplicaSource) });
  checkDestinationHolds(to, plan.toCopy, opts.allowDecrypt ?? false);
  // Each backup's destination domain, before anything is written (a KMS context the
  // destination cannot unwrap fails here).
  const targets = new Map<string, BackupTarget>();
  for (const h of plan.toCopy) targets.set(h.backupId, await targetOf(from, to, h));
  const mode: TransferMode = [...targets.values()].some((t) => t.mode === 'reidentify') ? 'reidentify' : 'verbatim';
  const counters: CopyCounters = {
    backupsCopied: 0, backupsPresent: 0, chunksConsidered: 0, chunksPresent: 0, chunksSent: 0, bytesRead: 0, bytesSent: 0, manifestsWritten: 0,
  };
  const recordFor = (id: string) => newRecord(id, sourceVaultId, destinationVaultId, opts.recordIds?.[id]);
  const records = new Map<string, ReplicationRecord>();
  // A backup the destination already holds has been replicated: its record says so (1009).
  for (const h of plan.present) {
    if (!plan.selected.includes(h.backupId)) continue;
    const r = recordFor(h.backupId);
    r.status = 'success';
    r.extra_info.progress = 100;
    records.set(h.backupId, r);
    counters.backupsPresent++;
  }
  for (const h of plan.toCopy) records.set(h.backupId, recordFor(h.backupId));
  const result = (): CopyResult => ({
    from: from.url, to: to.url, sourceVaultId, destinationVaultId, mode,
    copied: plan.toCopy.map((h) => h.backupId), present: plan.present.map((h) => h.backupId),
    records: [...records.values()], counters, elapsedMs: Date.now() - started,
  });
  if (plan.toCopy.length === 0) return result();

  const chunksTotal = plan.toCopy.reduce((n, h) => n + h.chunkCount, 0);
  let chunksDone = 0;
  let current: string | undefined;
  let backupsDone = 0;
  const emit = () =>
    opts.onProgress?.({
      event: 'progress', op: 'copy', backupId: current, backupsDone, backupsTotal: plan.toCopy.length,
      progress: chunksTotal > 0 ? Math.min(100, Math.floor((chunksDone / chunksTotal) * 100)) : 100,
      elapsedMs: Date.now() - started, counters: { ...counters }, records: [...records.values()].map((r) => structuredClone(r)),
    });
  const ticker = opts.onProgress ? setInterval(emit, opts.progressIntervalMs ?? 500).unref() : undefined;

  const leases: Lease[] = [];
  try {
    // Leases first, then the index: GC spares what a lease holder may have seen (gc.ts).
    for (const v of [...new Set(plan.toCopy.map((h) => h.volumeId))].sort()) leases.push(await atDestination(to.lease(v, 'copy')));
    await atDestination(to.reloadChunkIndex());
    const concurrency = Math.max(1, opts.concurrency ?? Math.min(from.defaultConcurrency, to.defaultConcurrency));
    const throttle = opts.limitBytesPerSec ? new TokenBucket(opts.limitBytesPerSec) : unthrottled;
    /** One re-identifier per destination domain. */
    const reidentifiers = new Map<string, Reidentifier>();
    /** Re-identified chunks of this run, by destination domain and source id: each block is
     *  read once per domain. */
    const renamed = new Map<string, { id: Buffer; storedLength: number }>();

    for (const h of plan.toCopy) {
      throwIfAborted(signal);
      current = h.backupId;
      const record = records.get(h.backupId)!;
      record.status = 'running';
      const target = targets.get(h.backupId)!;
      const domain = target.codec.keyDomain ?? '';
      let reidentifier: Reidentifier | undefined;
      if (target.mode === 'reidentify') {
        reidentifier = reidentifiers.get(domain) ?? new Reidentifier(target.codec);
        reidentifiers.set(domain, reidentifier);
      }
      try {
        const m = await atSource(from.readManifest(h.backupId));
        const distinct = new Map<string, ManifestEntry>();
        for (const e of entries(m)) if (e.kind === EntryKind.chunk && !distinct.has(e.id.toString('latin1'))) distinct.set(e.id.toString('latin1'), e);
        const total = distinct.size;
        let done = 0;
        const account = (t: Transferred | undefined) => {
          counters.chunksConsidered++;
          if (!t || !t.written) counters.chunksPresent++;
          else counters.chunksSent++;
          if (t) {
            counters.bytesRead += t.bytesRead;
            counters.bytesSent += t.bytesWritten;
          }
          chunksDone++;
          record.extra_info.progress = Math.min(99, Math.floor((++done / Math.max(1, total)) * 100));
        };
        await inLanes(distinct, concurrency, signal, async (k, e, laneSignal) => {
          const id = Buffer.from(e.id);
          if (reidentifier) {
            if (renamed.has(domain + k)) return account(undefined);
            const t = await reidentifier.copy(sideReader(from), sideWriter(to), id, e.storedLength, throttle, laneSignal);
            renamed.set(domain + k, { id: t.id, storedLength: t.storedLength });
            return account(t);
          }
          // One index lookup: no request for a chunk the destination has.
          if (await atDestination(to.hasChunk(id))) return account(undefined);
          account(await copyVerbatim(sideReader(from), sideWriter(to), id, e.storedLength, throttle, laneSignal));
        });
        await atDestination(to.flushIndex());
        let list: ManifestEntry[] = [...entries(m)];
        let header = withDestinationKeys(replicaHeader(m.header, sourceVaultId, opts.recordIds?.[h.backupId]), target.codec);
        if (reidentifier) {
          list = list.map((e) => (e.kind === EntryKind.chunk ? { ...e, ...renamed.get(domain + e.id.toString('latin1'))! } : e));
          const stats = chunkStats(list, header.blockSize, header.volumeSize);
          header = { ...header, chunkCount: stats.count, storedBytes: stats.bytes };
        }
        await writeOnce(to, header, list);
        counters.manifestsWritten++;
        counters.backupsCopied++;
        record.status = 'success';
        record.extra_info.progress = 100;
        backupsDone++;
      } catch (e) {
        failRecord(record, e, sideOf(e));
        throw e;
      }
    }
    emit();
    return result();
  } catch (e) {
    const err = isAbort(e) ? abortError(signal?.reason) : e;
    for (const r of records.values()) {
      if (r.status === 'waiting' || r.status === 'running') failRecord(r, err, sideOf(e), 'not copied: ');
    }
    emit();
    if (err instanceof BlockvaultError) {
      err.details.replicationRecords = [...records.values()];
      err.details.copied = plan.toCopy.filter((h) => records.get(h.backupId)?.status === 'success').map((h) => h.backupId);
    }
    throw err;
  } finally {
    if (ticker) clearInterval(ticker);
    await runCleanup(() => to.flushIndex()).catch(() => {});
    for (const l of leases.reverse()) await l.release().catch(() => {});
  }
}

/** Writes the manifest (put-if-absent); one that appeared meanwhile with the same identity
 *  (another copy of the same backup finished first) counts as written. */
async function writeOnce(to: Vault, header: ManifestHeader, list: ManifestEntry[]): Promise<void> {
  try {
    await atDestination(to.writeManifest(header, list));
  } catch (e) {
    to.refresh();
    const there = await to.header(header.backupId).catch(() => undefined);
    if (there && there.volumeId === header.volumeId && there.createdAt === header.createdAt) return;
    throw e;
  }
}

/**
 * Opens (making it if missing) a vault at `location` to hold replicas of `from`: same block
 * size, compression and chunk-id key, so copies move chunk objects as stored. An existing
 * vault is opened as it is (a copy into it re-identifies chunks if its key differs).
 */
export function initReplica(from: Vault, location: string, opts: OpenVaultOptions = {}): Promise<Vault> {
  return Vault.open(location, { ...opts, create: true, replicaOf: from });
}

function checkPositive(value: number | undefined, name: string, integer: boolean): void {
  if (value === undefined) return;
  if (!(Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value)))) {
    throw new BlockvaultError(ErrorCodes.badInput, `copy option ${name} must be a positive ${integer ? 'integer' : 'number'}, not ${value}`, {
      hint: integer ? 'e.g. concurrency: 8' : 'bytes per second, e.g. limitBytesPerSec: 50 * 1024 * 1024',
    });
  }
}

function selectionOf(opts: CopyOptions): CopySelection {
  const given = [opts.backupIds !== undefined, opts.volumeId !== undefined, opts.all === true].filter(Boolean).length;
  if (given !== 1) {
    throw new BlockvaultError(ErrorCodes.badInput, 'say what to copy: backup ids, a volume, or all (exactly one)', {
      hint: 'e.g. copyBackups(from, to, { volumeId: "vol-1" }) or `blockvault copy --from … --to … --all`',
    });
  }
  if (opts.backupIds) return { backupIds: opts.backupIds };
  if (opts.volumeId !== undefined) return { volumeId: opts.volumeId };
  return { all: true };
}

/**
 * Runs fn over every item with `lanes` calls in flight, pulling items as lanes free up (so
 * nothing is queued ahead: memory holds `lanes` chunks). The first failure stops the rest.
 */
async function inLanes<K, V>(items: Map<K, V>, lanes: number, signal: AbortSignal | undefined, fn: (k: K, v: V, signal: AbortSignal) => Promise<void>): Promise<void> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const it = items.entries();
  const lane = async () => {
    for (let next = it.next(); !next.done; next = it.next()) {
      if (stop.signal.aborted) throw abortError(stop.signal.reason);
      try {
        await fn(next.value[0], next.value[1], stop.signal);
      } catch (e) {
        stop.abort(e);
        throw e;
      }
    }
  };
  try {
    const results = await Promise.allSettled(Array.from({ length: Math.min(lanes, Math.max(1, items.size)) }, lane));
    const failed = firstFailure(results);
    if (failed) throw failed.reason;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

const atSource = <T>(p: Promise<T>) => p.catch((e) => Promise.reject(markSide(e, 'source')));
const atDestination = <T>(p: Promise<T>) => p.catch((e) => Promise.reject(markSide(e, 'destination')));

/** The vaults seen through wrappers that mark which side a failure came from. */
function sideReader(v: Vault) {
  return {
    get chunkCodec() { return v.chunkCodec; },
    readChunk: (id: Uint8Array, o?: { signal?: AbortSignal; storedLength?: number }) => atSource(v.readChunk(id, o)),
    readChunkObject: (id: Uint8Array, o?: { signal?: AbortSignal }) => atSource(v.readChunkObject(id, o)),
  };
}

function sideWriter(v: Vault) {
  return {
    get chunkCodec() { return v.chunkCodec; },
    hasChunk: (id: Uint8Array) => atDestination(v.hasChunk(id)),
    // A chunk that fails the destination's identity check is the source's damage.
    importChunkObject: (id: Uint8Array, obj: Buffer, o?: { signal?: AbortSignal }) =>
      v.importChunkObject(id, obj, o).catch((e) => Promise.reject(markSide(e, e instanceof BlockvaultError && e.code === ErrorCodes.corruptChunk ? 'source' : 'destination'))),
    putChunk: (id: Buffer, obj: Buffer, info: { rawLength: number; payloadLength: number; signal?: AbortSignal }) => atDestination(v.putChunk(id, obj, info)),
  };
}
