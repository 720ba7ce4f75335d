// exportBackup: one backup as an archive (format.ts) on any Writable — a file, stdout, a
// socket. Its point is resolved to one full manifest; the chunks follow in block order,
// read a few ahead and written one at a time, so memory holds `concurrency` chunk objects
// whatever the volume size. With a base, chunks the base's point names are left out.
import type { Writable } from 'node:stream';
import { BlockvaultError, ErrorCodes, abortError, throwIfAborted } from '../../errors.js';
import { BlockMap } from '../../vault/block-map.js';
import { EntryKind, chunkStats, encodeManifest, type ManifestEntry } from '../../vault/manifest.js';
import type { Vault } from '../../vault/vault.js';
import { withOperationSignal } from '../../vault/operation.js';
import { ARCHIVE_FORMAT, ARCHIVE_VERSION, HEADER_ENTRY, MANIFEST_ENTRY, blake3Hex, chunkKeyId, type ArchiveHeader } from './format.js';
import { ArchiveWriter } from './writer.js';

export interface ArchiveProgress {
  event: 'progress';
  op: 'export' | 'import';
  backupId: string;
  chunksDone: number;
  chunksTotal: number;
  /** Archive body bytes so far. */
  bytes: number;
  /** Integer 0–100. */
  progress: number;
  elapsedMs: number;
}

export interface ExportOptions {
  out: Writable;
  /** Leave out the chunks this backup's point names (the importer must already hold them). */
  base?: string;
  /** Chunks read ahead (default: the vault's figure). */
  concurrency?: number;
  /** End `out` when done (default true). */
  end?: boolean;
  signal?: AbortSignal;
  onProgress?: (e: ArchiveProgress) => void;
}

export interface ExportResult {
  backupId: string;
  volumeId: string;
  baseBackupId: string | null;
  chunks: number;
  /** Archive body bytes (entries, without tar headers and padding). */
  bytes: number;
  elapsedMs: number;
}

export function exportBackup(vault: Vault, backupId: string, opts: ExportOptions): Promise<ExportResult> {
  return withOperationSignal(opts?.signal, () => exportBackupInScope(vault, backupId, opts));
}

async function exportBackupInScope(vault: Vault, backupId: string, opts: ExportOptions): Promise<ExportResult> {
  const started = Date.now();
  const signal = opts.signal;
  throwIfAborted(signal);
  vault.refresh();
  const chain = await vault.chain(backupId);
  const head = chain[0]!.header;
  refuseEncrypted(vault, head);
  const map = BlockMap.fromChain(chain);
  const list: ManifestEntry[] = [];
  for (let i = 0; i < map.blockCount; i++) {
    if (map.hasChunk(i)) list.push({ blockIndex: i, kind: EntryKind.chunk, storedLength: map.storedLengths[i]!, id: Buffer.from(map.idAt(i)) });
  }
  const stats = chunkStats(list, head.blockSize, head.volumeSize);
  // One full point: nothing in it depends on a manifest the importer may not have.
  const manifest = encodeManifest(
    { ...head, parentId: null, type: 'full', entryCount: list.length, chunkCount: stats.count, storedBytes: stats.bytes, dataBytes: stats.dataBytes },
    list,
  );

  const skip = new Set<string>();
  if (opts.base) {
    const base = await vault.blockMap(opts.base);
    for (let i = 0; i < base.blockCount; i++) if (base.hasChunk(i)) skip.add(base.idAt(i).toString('latin1'));
  }
  const send: ManifestEntry[] = [];
  const seen = new Set<string>();
  for (const e of list) {
    const k = e.id.toString('latin1');
    if (seen.has(k) || skip.has(k)) continue;
    seen.add(k);
    send.push(e);
  }
  skip.clear();
  seen.clear();

  const header: ArchiveHeader = {
    format: ARCHIVE_FORMAT,
    version: ARCHIVE_VERSION,
    createdAt: new Date().toISOString(),
    source: { vaultId: vault.config.vaultId, chunkKeyId: chunkKeyId(vault.chunkCodec.hashKey) },
    blockSize: vault.blockSize,
    backup: { backupId, volumeId: head.volumeId, volumeSize: head.volumeSize, chain: chain.map((m) => m.header.backupId), baseBackupId: opts.base ?? null },
    manifest: { size: manifest.length, blake3: blake3Hex(manifest) },
    chunks: { count: send.length, bytes: send.reduce((n, e) => n + e.storedLength, 0) },
  };

  const writer = new ArchiveWriter(opts.out, { end: opts.end ?? true });
  const progress = (done: number) =>
    opts.onProgress?.({
      event: 'progress', op: 'export', backupId, chunksDone: done, chunksTotal: send.length, bytes: writer.bytes,
      progress: send.length ? Math.floor((done / send.length) * 100) : 100, elapsedMs: Date.now() - started,
    });
  let lastTick = 0;
  try {
    await writer.add(HEADER_ENTRY, Buffer.from(JSON.stringify(header, null, 1) + '\n', 'utf8'));
    await writer.add(MANIFEST_ENTRY, manifest);
    // Read ahead a window of chunks; write them in order.
    const ahead = Math.max(1, opts.concurrency ?? vault.defaultConcurrency);
    const reads: Promise<Buffer>[] = [];
    const read = (e: ManifestEntry) => {
      const p = vault.readChunkObject(e.id, signal ? { signal } : undefined);
      p.catch(() => {}); // awaited in order below
      return p;
    };
    let next = 0;
    for (let done = 0; done < send.length; done++) {
      while (next < send.length && reads.length < ahead) reads.push(read(send[next++]!));
      if (signal?.aborted) throw abortError(signal.reason);
      const obj = await reads.shift()!;
      await writer.addChunk(send[done]!.id.toString('hex'), obj);
      if (Date.now() - lastTick >= 500) {
        lastTick = Date.now();
        progress(done + 1);
      }
    }
    await writer.finish();
  } catch (e) {
    writer.abort(e);
    throw e;
  }
  progress(send.length);
  return { backupId, volumeId: head.volumeId, baseBackupId: opts.base ?? null, chunks: send.length, bytes: writer.bytes, elapsedMs: Date.now() - started };
}

/**
 * An archive holds chunks as their vault stores them, so one from an encrypted backup would
 * name ids and seals of a key domain no other vault has: no importer could check or open it.
 * Rather than write an archive that imports nowhere, or one in the clear unasked, export says
 * so and points to the ways that keep the backup's protection (copy) or drop it on purpose.
 */
function refuseEncrypted(vault: Vault, head: { backupId: string; keyDomain?: string; encryption?: { cmkId: string } }): void {
  if (head.keyDomain === undefined && head.encryption === undefined) return;
  throw new BlockvaultError(ErrorCodes.badInput, `backup ${head.backupId} in ${vault.url} is encrypted: export writes archives of unencrypted backups only`, {
    hint: 'copy it into another vault with `blockvault copy` (re-encrypted there); to take it out in the clear on purpose, copy it into an unencrypted vault with --allow-unencrypted-destination and export from that vault',
    details: { backupId: head.backupId, ...(head.keyDomain ? { keyDomain: head.keyDomain } : {}), ...(head.encryption ? { cmkId: head.encryption.cmkId } : {}) },
  });
}
