// Delete any backup of a chain. The newest just loses its manifest; one with a child is
// merged into that child first: the child's manifest is rewritten to hold the union of both
// (the child's entries win), to point at the deleted backup's parent, and — when the deleted
// one was the full — to be a full itself (parentId null, zero entries dropped, since a full
// lists only non-zero blocks). Chunks are never deleted here: GC reclaims them.
//
// Crash safety, in order, under the volume lease:
//   1. write the merged child over the child's key (Vault.replaceManifest: an atomic replace
//      on both stores). Before this instant nothing changed; after it the child restores on
//      its own — it no longer needs the deleted backup — and the deleted backup still
//      restores too (its own chain is untouched).
//   2. delete the parent's manifest.
// At every instant every remaining backup restores. A re-run after a crash between 1 and 2
// finds the backup without dependents (the child already points past it) and only has
// step 2 left to do.
import { BlockvaultError, ErrorCodes, throwIfAborted } from '../errors.js';
import { PhaseProgress } from '../metrics/phase-progress.js';
import type { ProgressOptions } from '../metrics/progress.js';
import { EntryKind, chunkStats, entries, type Manifest, type ManifestEntry, type ManifestHeader } from '../vault/manifest.js';
import type { Vault } from '../vault/vault.js';
import { withOperationSignal } from '../vault/operation.js';
import { crashPoint } from './crash-points.js';
import { checkDeleteOptions } from './option-checks.js';

export interface DeleteOptions extends ProgressOptions<'delete'> {
  signal?: AbortSignal;
  /** Succeed (alreadyGone: true) when the backup does not exist: a retried delete of a
   *  backup an earlier attempt removed is then a no-op. Without it: VolumeBackup.0111. */
  ifExists?: boolean;
}

export interface DeleteResult {
  backupId: string;
  /** null only when alreadyGone (the vault no longer says which volume it was on). */
  volumeId: string | null;
  /** True when ifExists was given and there was no such backup: nothing was done. */
  alreadyGone?: boolean;
  /** Children rewritten to hold this backup's blocks (empty for the newest backup). */
  mergedInto: string[];
  /** Children that became full backups because the deleted backup was their full. */
  promotedToFull: string[];
}

export function deleteBackup(vault: Vault, backupId: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
  return withOperationSignal(opts?.signal, () => deleteBackupInScope(vault, backupId, opts));
}

async function deleteBackupInScope(vault: Vault, backupId: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
  checkDeleteOptions(backupId, opts);
  throwIfAborted(opts.signal);
  vault.refresh();
  let first: ManifestHeader;
  try {
    first = await vault.header(backupId);
  } catch (e) {
    if (opts.ifExists && e instanceof BlockvaultError && e.code === ErrorCodes.backupNotFound) {
      return { backupId, volumeId: null, alreadyGone: true, mergedInto: [], promotedToFull: [] };
    }
    throw e;
  }
  const lease = await vault.lease(first.volumeId, 'delete');
  try {
    crashPoint('delete:after-lease');
    return await deleteUnderLease(vault, backupId, opts);
  } finally {
    await lease.release().catch(() => {});
  }
}

/** The delete itself; the caller holds the volume's lease (delete or prune). */
export async function deleteUnderLease(vault: Vault, backupId: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
  vault.refresh(); // what others did before we took the lease
  const header = await vault.header(backupId);
  const all = await vault.listBackups();
  const children = all.filter((h) => h.parentId === backupId);
  const result: DeleteResult = { backupId, volumeId: header.volumeId, mergedInto: [], promotedToFull: [] };
  const progress = new PhaseProgress('delete', opts, { volumeId: header.volumeId, backupId }, () => ({ mergedInto: result.mergedInto.length }));
  try {
    progress.start('mergeIntoChildren', children.length);
    if (children.length) {
      const parent = await vault.readManifest(backupId);
      for (const childHeader of children) {
        throwIfAborted(opts.signal);
        const child = await vault.readManifest(childHeader.backupId);
        const merged = mergeIntoChild(parent, child);
        await vault.replaceManifest(merged.header, merged.entries);
        crashPoint('delete:after-rewrite');
        result.mergedInto.push(childHeader.backupId);
        if (merged.header.type === 'full' && childHeader.type !== 'full') result.promotedToFull.push(childHeader.backupId);
        progress.advance();
      }
    }
    progress.end();
    throwIfAborted(opts.signal);
    progress.start('removeManifest', 1);
    await vault.removeManifest(header.volumeId, backupId);
    crashPoint('delete:after-remove');
    progress.end();
  } catch (e) {
    if (e instanceof BlockvaultError) throw e;
    throw new BlockvaultError(ErrorCodes.deleteFailed, `deleting backup ${backupId} failed: ${(e as Error)?.message ?? e}`, {
      cause: e,
      hint: 'run the delete again: it finishes what was started, and every remaining backup stays restorable meanwhile',
      details: { backupId },
    });
  }
  return result;
}

/**
 * The child's manifest with the parent's entries folded in (child wins, child's zero
 * entries override). Pure; exported for tests.
 */
export function mergeIntoChild(parent: Manifest, child: Manifest): { header: ManifestHeader; entries: ManifestEntry[] } {
  const ch = child.header;
  const blockCount = Math.ceil(ch.volumeSize / ch.blockSize);
  const byBlock = new Map<number, ManifestEntry>();
  for (const e of entries(child)) byBlock.set(e.blockIndex, copy(e));
  for (const e of entries(parent)) {
    if (e.blockIndex >= blockCount || byBlock.has(e.blockIndex)) continue;
    byBlock.set(e.blockIndex, copy(e));
  }
  const becomesFull = parent.header.parentId === null;
  let list = [...byBlock.values()].sort((a, b) => a.blockIndex - b.blockIndex);
  if (becomesFull) list = list.filter((e) => e.kind === EntryKind.chunk);
  const stats = chunkStats(list, ch.blockSize, ch.volumeSize);
  const header: ManifestHeader = {
    ...ch,
    parentId: becomesFull ? null : parent.header.parentId,
    type: becomesFull ? 'full' : ch.type,
    entryCount: list.length,
    chunkCount: stats.count,
    storedBytes: stats.bytes,
    dataBytes: stats.dataBytes,
    // The service's values as made (Type, BackupSize…) stay beside the merged ones.
    asMade: ch.asMade ?? { type: ch.type, storedBytes: ch.storedBytes, chunkCount: ch.chunkCount },
    updatedAt: new Date().toISOString(),
  };
  return { header, entries: list };
}

function copy(e: ManifestEntry): ManifestEntry {
  return { blockIndex: e.blockIndex, kind: e.kind, storedLength: e.storedLength, id: Buffer.from(e.id) };
}


