// Backup: read the input block by block, skip holes and zero blocks, identify each block
// by keyed BLAKE3, skip blocks the parent already has, store new chunks (LZ4 when it
// pays) at most once vault-wide, then write the manifest — last, and only if everything
// before it succeeded. A few lanes share one cursor over the blocks; each block is hashed and
// compressed in a worker thread (chunk/block-pool.ts), which reads it too when the source can
// say where its bytes are (an image file: source/read-plan.ts), while the lanes keep the
// stores in flight.
import { randomUUID } from 'node:crypto';
import { BlockPool } from '../chunk/block-pool.js';
import { objectCapacity, type BlockVerdict } from '../chunk/block-work.js';
import { BlockvaultError, ErrorCodes, abortError, isAbort, throwIfAborted } from '../errors.js';
import { newBackupCounters, type BackupCounters } from '../metrics/counters.js';
import { ProgressTicker, type ProgressOptions } from '../metrics/progress.js';
import { chainFacts, contractHeaderFields, serviceFields, type ServiceFields } from '../metrics/service-fields.js';
import { openSource } from '../source/block-device-source.js';
import { withReadLimit } from '../source/rate-limited-source.js';
import type { Extent } from '../source/extents.js';
import type { BlockSource } from '../source/image-source.js';
import { PlannedReadError } from '../source/read-plan.js';
import { ChunkConfirmer, type MissingChunk } from './backup-confirm.js';
import { BlockPlan, planExtents, type ExtentPlan } from './changed-blocks.js';
import { decideBackupBase } from './full-decision.js';
import type { BlockMap } from '../vault/block-map.js';
import { EntryKind, chunkStats, type BackupType, type ManifestEntry, type ManifestHeader } from '../vault/manifest.js';
import { validateVolumeId, type ChunkCodec, type Vault } from '../vault/vault.js';
import { withOperationSignal, runCleanup } from '../vault/operation.js';
import type { Lease } from '../vault/lease.js';
import { checkBackupOptions } from './option-checks.js';
import { ReadBuffers } from './read-buffers.js';
import { alignedArrayBuffer } from '../native/direct-io.js';
import type { EncryptionContext } from '../crypto/keyring.js';

export interface BackupOptions extends ProgressOptions<'backup'> {
  /** Image file or block device to back up. */
  source: string;
  volumeId: string;
  /** The control plane's id for the backup (a UUID); one is made when absent. */
  backupId?: string;
  /** Make a full backup even when the volume has one to be incremental against. */
  full?: boolean;
  snapshotId?: string;
  bootable?: boolean;
  /** Blocks in flight (read, compress, store). */
  concurrency?: number;
  /** Worker threads for hashing and compression (default: one per core; 0: inline). */
  workers?: number;
  signal?: AbortSignal;
  /** Opened source (block device, tests); `source` is then only its name. */
  openedSource?: BlockSource;
  /** Changed-extent list (file, or parsed): read only blocks it touches (see changed-blocks.ts). */
  changedExtents?: string | Extent[];
  /** Allocated-extent list (file, or parsed): bytes outside it are zeros, never read. */
  allocatedExtents?: string | Extent[];
  /** Percent (0–100) of the blocks a list lets the backup skip to re-read and check first. */
  verifyUnchanged?: number;
  /** Average bytes per second read from the input (data bytes; holes are free), so a backup
   *  does not starve the disk it reads. Absent or 0: no limit. */
  limitReadBytesPerSec?: number;
  // ---- service-contract options (issue 12)
  /** The service's full_backup_interval: incrementals allowed after a full (-1 or unset: no cap). */
  fullBackupInterval?: number;
  /** Made by a policy (auto_trigger); retention's max_backups counts only these. */
  automatic?: boolean;
  /** The snapshot's time: the backup's data_timestamp (default: when the read starts). */
  snapshotTime?: string | Date;
  /** The service's DESC. */
  description?: string;
  /** An encrypted volume's context from the control plane: its chunks go into the key
   *  domain of this CMKID and VK (kept verbatim, returned as VK and CMKID). The vault must be
   *  encrypted and opened with keys: { unwrap }. A chain stays in one context: a different one
   *  starts a new full. */
  encryption?: EncryptionContext;
}

export interface BackupResult extends ServiceFields {
  backupId: string;
  volumeId: string;
  parentId: string | null;
  type: BackupType;
  requestedType: BackupType;
  createdAt: string;
  completedAt: string;
  volumeSize: number;
  blockSize: number;
  elapsedMs: number;
  chunkCount: number;
  storedBytes: number;
  newChunkCount: number;
  newStoredBytes: number;
  counters: BackupCounters;
  /** Things the operator should know (an extent list ignored or found wrong). */
  warnings?: string[];
  /** Why a full was made; absent for an incremental. */
  fullReason?: string;
}

// Blocks in flight on a local vault (S3 gives its own figure). A lane holds its chunk
// object's buffer (~4 MiB; the read buffers are shared, read-buffers.ts). Since chunk objects
// go to disk with O_DIRECT, a lane waits on its store ~11 ms a chunk, half its time: on the
// 2 GiB bench image 6 lanes took 6–7 % less wall time than 4 (paired, 2 × 6 runs), at 123
// against 114 MiB peak RSS; incrementals, which store little, the same. (When stores went
// through the page cache, 4 were as fast as 6.)
const DEFAULT_CONCURRENCY = 6;

export function backup(vault: Vault, opts: BackupOptions): Promise<BackupResult> {
  return withOperationSignal(opts?.signal, () => backupInScope(vault, opts));
}

async function backupInScope(vault: Vault, opts: BackupOptions): Promise<BackupResult> {
  checkBackupOptions(opts);
  validateVolumeId(opts.volumeId);
  throwIfAborted(opts.signal);
  const backupId = opts.backupId ?? randomUUID();
  const createdAt = new Date().toISOString();
  // Keys first: a wrong key or a failing unwrap ends the backup before anything is written.
  const codec = await vault.chunkCodecFor(opts.encryption);
  // The input is opened and checked before the lease: a missing file or a FIFO is refused
  // without taking (or waiting for) the volume.
  const opened: BlockSource = opts.openedSource ?? (await openSource(opts.source));
  const source = withReadLimit(opened, opts.limitReadBytesPerSec, opts.signal);
  let lease: Lease;
  try {
    lease = await vault.lease(opts.volumeId, 'backup');
  } catch (e) {
    if (!opts.openedSource) await source.close().catch(() => {});
    throw e;
  }
  try {
    vault.refresh(); // another host may have added backups since this vault was opened
    const { parent, parentMap, fullReason } = await decideBackupBase(vault, { ...opts, volumeSize: source.size, keyDomain: codec.keyDomain });
    const extents = await planExtents(vault, source, parentMap, opts, codec.hasher);
    await vault.reloadChunkIndex();
    const run = new BackupRun(vault, source, backupId, parentMap, opts, codec, extents);
    const { entries, counters, elapsedMs } = await run.execute();
    if (opened.bytesDirect !== undefined) counters.bytesReadDirect = opened.bytesDirect;

    const stats = chunkStats(entries, vault.blockSize, source.size);
    const header: ManifestHeader = {
      backupId,
      volumeId: opts.volumeId,
      parentId: parent?.backupId ?? null,
      type: parent ? 'incremental' : 'full',
      requestedType: opts.full ? 'full' : 'incremental',
      createdAt,
      completedAt: new Date().toISOString(),
      blockSize: vault.blockSize,
      volumeSize: source.size,
      entryCount: entries.length,
      source: { path: opts.source, kind: source.kind, size: source.size, ...(source.identity ? { identity: source.identity } : {}) },
      chunkCount: stats.count,
      storedBytes: stats.bytes,
      newChunkCount: counters.chunksWritten,
      newStoredBytes: run.newStoredBytes,
      dataBytes: stats.dataBytes,
      elapsedMs,
      counters: { ...counters },
      dl: vault.config.compression === 'none' ? 1 : 3,
    };
    if (opts.snapshotId !== undefined) header.snapshotId = opts.snapshotId;
    Object.assign(header, contractHeaderFields(opts, parent, createdAt), fullReason ? { fullReason } : {});
    if (codec.keyDomain) header.keyDomain = codec.keyDomain;
    if (opts.encryption) header.encryption = { cmkId: opts.encryption.cmkId, vk: opts.encryption.vk };
    await vault.writeManifest(header, entries);
    counters.objectsWritten++;

    const key = vault.manifestKey(header.volumeId, backupId);
    const chain = await vault.chainOf(backupId);
    return {
      ...pick(header),
      elapsedMs,
      counters,
      ...(extents?.warnings.length ? { warnings: [...extents.warnings] } : {}),
      ...(fullReason ? { fullReason } : {}),
      ...serviceFields(header, { chain, hasDependents: false, manifestKey: key, vaultUrl: vault.url, facts: await chainFacts(vault, backupId) }),
    };
  } finally {
    if (!opts.openedSource) await source?.close().catch(() => {});
    await lease.release().catch(() => {});
  }
}

/** The extent plan's warnings, and a note when a key context change forced a full. */

function pick(h: ManifestHeader) {
  return {
    backupId: h.backupId,
    volumeId: h.volumeId,
    parentId: h.parentId,
    type: h.type,
    requestedType: h.requestedType,
    createdAt: h.createdAt,
    completedAt: h.completedAt,
    volumeSize: h.volumeSize,
    blockSize: h.blockSize,
    chunkCount: h.chunkCount,
    storedBytes: h.storedBytes,
    newChunkCount: h.newChunkCount,
    newStoredBytes: h.newStoredBytes,
  };
}


class BackupRun {
  readonly counters = newBackupCounters();
  newStoredBytes = 0;
  readonly #entries: ManifestEntry[] = [];
  readonly #stop = new AbortController();
  #next = 0;
  #pool: BlockPool | undefined;
  #reads: ReadBuffers | undefined;
  #firstError: unknown;
  #segmentsBefore = 0;
  #confirm!: ChunkConfirmer;

  constructor(
    readonly vault: Vault,
    readonly source: BlockSource,
    readonly backupId: string,
    readonly parent: BlockMap | undefined,
    readonly opts: BackupOptions,
    readonly codec: ChunkCodec,
    readonly extents?: ExtentPlan,
  ) {}

  /** What blocks are read from: the input, limited to its allocated extents where a list gives them. */
  get #input(): BlockSource {
    return this.extents?.source ?? this.source;
  }

  async execute(): Promise<{ entries: ManifestEntry[]; counters: BackupCounters; elapsedMs: number }> {
    const { source, counters, opts } = this;
    const blockCount = Math.ceil(source.size / this.vault.blockSize);
    counters.blocksTotal = blockCount;
    const onAbort = () => this.#stop.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const ticker = new ProgressTicker(
      { op: 'backup', volumeId: opts.volumeId, backupId: this.backupId, bytesTotal: source.size },
      counters,
      () => counters.bytesScanned,
      opts,
    );
    try {
      const n = Math.max(1, opts.concurrency ?? this.vault.storeConcurrency ?? DEFAULT_CONCURRENCY);
      await this.extents?.verify(counters, this.#stop.signal, n); // may drop the lists
      this.vault.nameIndexSegments(this.backupId);
      // After this run's lease: a GC running now may still sweep (backup-confirm.ts).
      this.#confirm = new ChunkConfirmer(this.vault, counters, this.#stop.signal, await this.vault.gcLeaseHolder());
      this.#confirm.planInherited(this.parent, (await this.vault.chunkIndex()).size, this.vault.listPageKeys);
      this.#segmentsBefore = this.vault.indexSegmentsWritten;
      const { codec } = this;
      this.#pool = new BlockPool({
        hasher: codec.hasher!,
        hashKey: codec.hashKey,
        compression: codec.compression,
        ...(codec.seal ? { seal: codec.seal } : {}),
        workers: opts.workers,
      });
      if (!this.#input.planned) this.#reads = new ReadBuffers(this.vault.blockSize, ReadBuffers.countFor(n, this.#pool.size));
      const results = await Promise.allSettled(Array.from({ length: n }, () => this.#worker(blockCount, ticker)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      // The lane that failed first stopped the others, which then fail as "aborted": report the cause.
      if (failed) throw this.#firstError ?? failed.reason;
      for (const m of await this.#confirm.finish()) await this.#storeAgain(m);
      await source.checkUnchanged();
      await this.#flushIndex();
      ticker.emit();
      return { entries: this.#entries, counters, elapsedMs: Math.max(1, ticker.elapsedMs) };
    } catch (e) {
      // Keep what was stored findable, so the next run reuses it (resume); bounded on its
      // own, so a cancel or a hung server does not hold the failure up.
      await runCleanup(() => this.#flushIndex()).catch(() => {});
      if (opts.signal?.aborted && isAbort(e)) throw abortError(opts.signal.reason);
      throw wrapBackupError(e, opts);
    } finally {
      ticker.stop();
      opts.signal?.removeEventListener('abort', onAbort);
      await this.#pool?.close();
    }
  }

  async #worker(blockCount: number, ticker: ProgressTicker): Promise<void> {
    const bs = this.vault.blockSize;
    // The block's memory travels to a worker thread and back (transferred, not copied): the
    // read buffer only until the block is hashed (ReadBuffers), the output for the lane's life.
    // A source a worker can read itself (an image file) needs no read buffer here at all.
    const reads = this.#reads;
    // The object starts on a direct-I/O boundary too, so a local store can write it straight to disk.
    const out = alignedArrayBuffer(objectCapacity(bs));
    let outAb = out.ab;
    const outOffset = out.offset;
    const { counters, parent } = this;
    const source = this.#input;
    const planned = source.planned;
    const plan = this.extents?.blocks;
    try {
      for (;;) {
        if (this.#stop.signal.aborted) throw abortError(this.#stop.signal.reason);
        const i = this.#next++;
        if (i >= blockCount) return;
        const start = i * bs;
        const end = Math.min(start + bs, source.size);
        const len = end - start;
        const p = plan?.[i];
        if (p === BlockPlan.unchanged) {
          // The changed-extent list says the parent has it as it is: no read, no entry.
          if (parent?.hasChunk(i)) this.#confirm.add(parent.idAt(i), i, 'inherited');
          counters.bytesSkippedByExtents += len;
          counters.bytesScanned += len;
          ticker.advanced();
          continue;
        }
        let zero = p === BlockPlan.zero || source.isHole(start, end);
        let verdict: BlockVerdict | undefined;
        if (p === BlockPlan.zero) {
          counters.bytesSkippedByExtents += len;
        } else if (zero) {
          counters.bytesSparse += len;
        } else {
          const parentId = parent?.hasChunk(i) ? parent.idAt(i) : undefined;
          let dataBytes: number;
          if (planned) {
            // The worker reads the block itself: no read buffer, no hop through this thread.
            const r = await this.#pool!.readAndProcess(planned.readPlan(start, end), start, len, outAb, parentId, outOffset).catch((e: unknown) => {
              throw e instanceof PlannedReadError ? planned.readFailed(e.failure) : e;
            });
            planned.readDone?.(r.read);
            ({ verdict } = r);
            dataBytes = r.read.dataBytes;
            outAb = r.out;
          } else {
            const rb = await reads!.take(this.#stop.signal);
            try {
              ({ dataBytes } = await source.read(start, end, Buffer.from(rb.ab, rb.offset, bs)));
            } catch (e) {
              reads!.give(rb);
              throw e;
            }
            const r = await this.#pool!.process(rb.ab, outAb, len, parentId, rb.offset, outOffset);
            reads!.give({ ab: r.buffer, offset: rb.offset });
            outAb = r.out;
            verdict = r.verdict;
          }
          counters.bytesRead += dataBytes;
          counters.bytesSparse += len - dataBytes;
          zero = verdict.kind === 'zero';
        }
        if (zero) {
          counters.bytesZero += len;
          counters.blocksZero++;
          // An incremental must say that a block the parent had is now zero.
          if (parent?.hasChunk(i)) this.#entries.push({ blockIndex: i, kind: EntryKind.zero, storedLength: 0, id: ZERO_ID });
        } else if (verdict?.kind === 'unchanged') {
          this.#confirm.add(verdict.id, i, 'inherited');
          counters.bytesUnchanged += len;
          counters.blocksUnchanged++;
        } else if (verdict?.kind === 'changed') {
          const obj = Buffer.from(outAb, outOffset, verdict.objectLength);
          const storedLength = await this.#store(verdict.id, i, len, obj, verdict.payloadLength);
          this.#entries.push({ blockIndex: i, kind: EntryKind.chunk, storedLength, id: verdict.id });
        }
        counters.bytesScanned += len;
        ticker.advanced();
      }
    } catch (e) {
      if (!this.#stop.signal.aborted) this.#firstError ??= e;
      this.#stop.abort(e); // the first failure stops the other lanes
      throw e;
    }
  }

  /** Stores a chunk through the vault (dedup, write, index); returns its stored length. */
  async #store(id: Buffer, blockIndex: number, rawLength: number, obj: Buffer, payloadLength: number): Promise<number> {
    const { counters } = this;
    const r = await this.vault.putChunk(id, obj, { rawLength, payloadLength, signal: this.#stop.signal });
    if (!r.written) {
      this.#confirm.add(id, blockIndex, 'dedup');
      counters.bytesDeduplicated += rawLength;
      counters.blocksDeduplicated++;
      return r.storedLength;
    }
    this.#confirm.written(id);
    if (r.rewritten) {
      this.#confirm.add(id, blockIndex, 'rewritten');
      counters.chunksRewritten++;
    }
    counters.bytesCompressedIn += rawLength;
    counters.bytesCompressedOut += payloadLength;
    counters.bytesWritten += obj.length;
    counters.chunksWritten++;
    counters.objectsWritten++;
    this.newStoredBytes += obj.length;
    return r.storedLength;
  }

  /**
   * A chunk this run named was found gone: read its blocks from the input again and store
   * them. A block with an entry (a dedup hit) must read back as that chunk, else the input
   * changed. An inherited block gets an entry of its own (whatever it now holds: a
   * changed-extent list that called it unchanged is not trusted for it). Once one block has
   * written the chunk again, the others that name it are whole too.
   */
  async #storeAgain(m: MissingChunk): Promise<void> {
    const { counters } = this;
    for (const b of m.blocks) {
      const { verdict, obj, len } = await this.#reread(b.blockIndex);
      const same = verdict.kind === 'changed' && verdict.id.equals(m.id);
      if (!b.inherited && !same) {
        throw new BlockvaultError(ErrorCodes.inputChanged, `input ${this.opts.source} changed during the backup: block ${b.blockIndex} reads differently now`, {
          hint: 'back up from a snapshot or a file nothing writes to; the backup was not made visible',
          details: { path: this.opts.source, blockIndex: b.blockIndex },
        });
      }
      if (verdict.kind === 'changed') {
        let r = await this.vault.putChunk(verdict.id, obj!, { rawLength: len, payloadLength: verdict.payloadLength, signal: this.#stop.signal });
        // Another chunk the index knows: it must exist too.
        if (!r.written && !(await this.vault.confirmChunk(verdict.id))) {
          r = await this.vault.putChunk(verdict.id, obj!, { rawLength: len, payloadLength: verdict.payloadLength, signal: this.#stop.signal });
        }
        if (r.written) {
          counters.chunksWritten++;
          counters.objectsWritten++;
          counters.bytesWritten += obj!.length;
          this.newStoredBytes += obj!.length;
        }
        if (b.inherited) this.#entries.push({ blockIndex: b.blockIndex, kind: EntryKind.chunk, storedLength: r.storedLength, id: verdict.id });
      } else if (verdict.kind === 'zero') {
        this.#entries.push({ blockIndex: b.blockIndex, kind: EntryKind.zero, storedLength: 0, id: ZERO_ID });
      }
      if (same) {
        counters.chunksRestored++;
        return;
      }
    }
  }

  /** Block i read and processed again, into buffers of its own. */
  async #reread(i: number): Promise<{ verdict: BlockVerdict; obj: Buffer | undefined; len: number }> {
    const bs = this.vault.blockSize;
    const source = this.#input;
    const start = i * bs;
    const end = Math.min(start + bs, source.size);
    if (source.isHole(start, end)) return { verdict: { kind: 'zero' }, obj: undefined, len: end - start };
    const ab = new ArrayBuffer(bs);
    await source.read(start, end, Buffer.from(ab));
    const r = await this.#pool!.process(ab, new ArrayBuffer(objectCapacity(bs)), end - start, undefined);
    const obj = r.verdict.kind === 'changed' ? Buffer.from(r.out, 0, r.verdict.objectLength) : undefined;
    return { verdict: r.verdict, obj, len: end - start };
  }

  /** Writes the index segment for what is stored so far, counting the segments written. */
  async #flushIndex(): Promise<void> {
    try {
      await this.vault.flushIndex();
    } finally {
      this.counters.objectsWritten += this.vault.indexSegmentsWritten - this.#segmentsBefore;
      this.#segmentsBefore = this.vault.indexSegmentsWritten;
    }
  }
}

const ZERO_ID = Buffer.alloc(32);

function wrapBackupError(e: unknown, opts: BackupOptions): unknown {
  if (e instanceof BlockvaultError) return e;
  return new BlockvaultError(ErrorCodes.backupFailed, `backup of ${opts.source} failed: ${(e as Error)?.message ?? e}`, {
    cause: e,
    hint: 'nothing was made visible; run it again (chunks already stored are reused)',
  });
}
