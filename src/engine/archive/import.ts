// importArchive: an archive from any Readable (a file, stdin) into any vault of its block
// size. The reader (reader.ts) refuses what must not be trusted; this side checks each chunk
// against the vault — its identity under the vault's key when the archive came from a vault
// with the same chunk-id key, else it re-identifies the block for this vault — and writes the
// manifest only after every chunk it names is in the vault. A refused or broken archive
// leaves at most unreferenced chunks (invisible; GC reclaims them), never a backup.
import type { Readable } from 'node:stream';
import { decodeChunk } from '../../chunk/chunk-format.js';
import { decompress, maybeCompress } from '../../chunk/compress.js';
import { encodeChunk } from '../../chunk/chunk-format.js';
import { ChunkHasher } from '../../chunk/identity.js';
import { BlockvaultError, ErrorCodes, abortError, throwIfAborted } from '../../errors.js';
import type { Lease } from '../../vault/lease.js';
import { EntryKind, chunkStats, entries, type Manifest, type ManifestEntry } from '../../vault/manifest.js';
import type { Vault } from '../../vault/vault.js';
import { withOperationSignal, runCleanup } from '../../vault/operation.js';
import { importedHeader } from '../copy-replica.js';
import type { ArchiveProgress } from './export.js';
import { chunkEntryName, chunkKeyId, type ArchiveHeader } from './format.js';
import { damagedArchive, readArchive } from './reader.js';

export interface ImportOptions {
  /** Chunk writes in flight (default: the vault's figure). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: ArchiveProgress) => void;
}

export interface ImportResult {
  backupId: string;
  volumeId: string;
  /** verbatim: same chunk-id key as the archive's vault; reidentify: new ids for this vault. */
  mode: 'verbatim' | 'reidentify';
  /** The vault already held this backup: nothing was written. */
  alreadyPresent: boolean;
  chunksReceived: number;
  chunksWritten: number;
  elapsedMs: number;
}

export function importArchive(vault: Vault, input: Readable, opts: ImportOptions = {}): Promise<ImportResult> {
  return withOperationSignal(opts?.signal, () => importArchiveInScope(vault, input, opts));
}

async function importArchiveInScope(vault: Vault, input: Readable, opts: ImportOptions = {}): Promise<ImportResult> {
  const started = Date.now();
  const signal = opts.signal;
  throwIfAborted(signal);
  let header: ArchiveHeader | undefined;
  let manifest: Manifest | undefined;
  let mode: ImportResult['mode'] = 'verbatim';
  let hasher: ChunkHasher | undefined;
  let lease: Lease | undefined;
  const renamed = new Map<string, { id: Buffer; storedLength: number }>();
  const received = new Set<string>();
  let written = 0;
  let receivedBytes = 0;
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  const window = Math.max(1, opts.concurrency ?? vault.defaultConcurrency);
  let lastTick = 0;
  const result = (alreadyPresent: boolean): ImportResult => ({
    backupId: header!.backup.backupId, volumeId: header!.backup.volumeId, mode, alreadyPresent,
    chunksReceived: received.size, chunksWritten: written, elapsedMs: Date.now() - started,
  });

  try {
    for await (const part of readArchive(input)) {
      if (signal?.aborted) throw abortError(signal.reason);
      if (failure) throw failure;
      if (part.kind === 'header') {
        header = part.header;
        if (header.blockSize !== vault.blockSize) {
          throw new BlockvaultError(ErrorCodes.badInput, `the archive holds ${header.blockSize}-byte blocks; ${vault.url} uses ${vault.blockSize}-byte blocks`, {
            hint: 'import into a vault with the same block size',
          });
        }
        mode = header.source.chunkKeyId === chunkKeyId(vault.chunkCodec.hashKey) ? 'verbatim' : 'reidentify';
        if (mode === 'reidentify' && header.backup.baseBackupId) {
          throw new BlockvaultError(
            ErrorCodes.badInput,
            `the archive leaves out the chunks of base backup ${header.backup.baseBackupId}, and ${vault.url} does not share its source vault's chunk-id key, so they cannot be found here`,
            { hint: 'import it into the source vault or a replica of it, or export without a base', details: { baseBackupId: header.backup.baseBackupId } },
          );
        }
        if (mode === 'reidentify') hasher = new ChunkHasher(vault.chunkCodec.hashKey);
        continue;
      }
      if (part.kind === 'manifest') {
        manifest = part.manifest;
        const h = manifest.header;
        vault.refresh();
        const there = (await vault.listBackups()).find((x) => x.backupId === h.backupId);
        if (there) {
          if (there.volumeId === h.volumeId && there.createdAt === h.createdAt) return result(true);
          throw new BlockvaultError(ErrorCodes.badInput, `${vault.url} already holds a different backup with id ${h.backupId}`, {
            hint: 'import into another vault, or delete that backup first',
            details: { backupId: h.backupId },
          });
        }
        if (!header!.backup.baseBackupId && header!.chunks.count !== chunkStats(entries(manifest), h.blockSize, h.volumeSize).count) {
          throw damagedArchive('manifest.bvm', `the header promises ${header!.chunks.count} chunks, the manifest names a different number and no base`);
        }
        // Lease, then index: the vault's GC spares what this import relies on until it ends.
        lease = await vault.lease(h.volumeId, 'import');
        await vault.reloadChunkIndex();
        continue;
      }
      if (part.kind === 'chunk') {
        received.add(part.id.toString('latin1'));
        receivedBytes += part.object.length;
        while (inflight.size >= window) await Promise.race(inflight);
        if (failure) throw failure;
        const work = storeChunk(vault, part.id, part.object, hasher, renamed, signal).then(
          (w) => {
            if (w) written++;
          },
          (e) => {
            failure ??= e;
          },
        );
        inflight.add(work);
        void work.finally(() => inflight.delete(work));
        if (opts.onProgress && Date.now() - lastTick >= 500) {
          lastTick = Date.now();
          const total = header!.chunks.count;
          opts.onProgress({ event: 'progress', op: 'import', backupId: header!.backup.backupId, chunksDone: received.size, chunksTotal: total, bytes: receivedBytes, progress: total ? Math.floor((received.size / total) * 100) : 100, elapsedMs: Date.now() - started });
        }
        continue;
      }
      // The end: the archive was whole. Only now may the backup become visible.
      await Promise.all(inflight);
      if (failure) throw failure;
      const m = manifest!;
      const list: ManifestEntry[] = [];
      let missing = 0;
      for (const e of entries(m)) {
        if (e.kind !== EntryKind.chunk) {
          list.push(e);
          continue;
        }
        const k = e.id.toString('latin1');
        if (mode === 'reidentify') {
          const r = renamed.get(k)!;
          list.push({ ...e, id: r.id, storedLength: r.storedLength });
          continue;
        }
        if (!received.has(k) && !(await vault.hasChunk(e.id))) missing++;
        list.push(e);
      }
      if (missing > 0) {
        throw new BlockvaultError(ErrorCodes.missingChunk, `${missing} chunks the archive leaves to base backup ${header!.backup.baseBackupId} are not in ${vault.url}`, {
          hint: `import the archive of ${header!.backup.baseBackupId} first (or export this one without a base); nothing was made visible`,
          details: { baseBackupId: header!.backup.baseBackupId, missing },
        });
      }
      await vault.flushIndex();
      let mh = importedHeader(m.header, header!.source.vaultId);
      if (mode === 'reidentify') {
        const stats = chunkStats(list, mh.blockSize, mh.volumeSize);
        mh = { ...mh, chunkCount: stats.count, storedBytes: stats.bytes };
      }
      await vault.writeManifest(mh, list);
    }
    if (!manifest) throw damagedArchive('the end', 'no manifest');
    return result(false);
  } finally {
    await Promise.allSettled(inflight);
    await runCleanup(() => vault.flushIndex()).catch(() => {});
    await lease?.release().catch(() => {});
  }
}

/** Stores one chunk object: as it is, after the vault checks its identity, or re-identified. */
async function storeChunk(
  vault: Vault,
  id: Buffer,
  obj: Buffer,
  hasher: ChunkHasher | undefined,
  renamed: Map<string, { id: Buffer; storedLength: number }>,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const entry = chunkEntryName(id.toString('hex'));
  if (!hasher) {
    try {
      return await vault.importChunkObject(id, obj, signal ? { signal } : undefined);
    } catch (e) {
      if (e instanceof BlockvaultError && e.code === ErrorCodes.corruptChunk) throw damagedArchive(entry, 'its content does not match its chunk id', e);
      throw e;
    }
  }
  let raw: Buffer;
  try {
    const frame = decodeChunk(obj);
    raw = decompress(frame.payload, frame.compression, frame.rawLength);
  } catch (e) {
    throw damagedArchive(entry, `not a valid chunk object: ${(e as Error).message}`, e);
  }
  if (raw.length > vault.blockSize) throw damagedArchive(entry, `it holds ${raw.length} bytes, more than a block`);
  const newId = hasher.id(raw);
  const { compression, payload } = maybeCompress(raw, vault.chunkCodec.compression);
  const framed = encodeChunk(payload, raw.length, compression);
  const r = await vault.putChunk(newId, framed, { rawLength: raw.length, payloadLength: payload.length, ...(signal ? { signal } : {}) });
  renamed.set(id.toString('latin1'), { id: newId, storedLength: r.storedLength });
  return r.written;
}
