// Which backups a copy must send, in which order. A selection (backup ids, a volume, or
// everything) is widened to the chains it needs — an incremental is useless without its
// parent — and narrowed by what the destination already holds, then ordered parents first,
// so every manifest the copy writes names a parent that is already there.
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { ManifestHeader } from '../vault/manifest.js';

export type CopySelection = { backupIds: string[] } | { volumeId: string } | { all: true };

/** What the planner needs of a vault: its catalog. */
export interface BackupCatalog {
  readonly url: string;
  listBackups(filter?: { volumeId?: string }): Promise<ManifestHeader[]>;
}

export interface CopyPlan {
  /** Backups the destination lacks, parents before children. */
  toCopy: ManifestHeader[];
  /** Backups selected or needed that the destination already holds (nothing to send). */
  present: ManifestHeader[];
  /** The selection resolved to backup ids, oldest first. */
  selected: string[];
}

export interface PlanOptions {
  /** Refuses a backup before it is planned (the replica rules use this). */
  check?: (h: ManifestHeader) => void;
}

export async function planCopy(from: BackupCatalog, to: BackupCatalog, selection: CopySelection, opts: PlanOptions = {}): Promise<CopyPlan> {
  const source = await from.listBackups();
  const byId = new Map(source.map((h) => [h.backupId, h]));
  const selected = select(source, byId, selection, from.url);
  const held = new Map((await to.listBackups()).map((h) => [h.backupId, h]));

  const has = (h: ManifestHeader): boolean => {
    const there = held.get(h.backupId);
    if (!there) return false;
    // Copies keep ids and creation times, so a match on both is the same backup.
    if (there.volumeId !== h.volumeId || there.createdAt !== h.createdAt) {
      throw new BlockvaultError(
        ErrorCodes.badInput,
        `${to.url} already holds a different backup with id ${h.backupId} (volume ${there.volumeId}, made ${there.createdAt})`,
        { hint: 'copy into another vault, or delete that backup from the destination first', details: { backupId: h.backupId } },
      );
    }
    return true;
  };

  const toCopy: ManifestHeader[] = [];
  const present: ManifestHeader[] = [];
  const planned = new Set<string>();
  for (const id of selected) {
    // Walk up until the destination has the ancestor (or the chain's full is reached).
    const path: ManifestHeader[] = [];
    for (let h: ManifestHeader | undefined = byId.get(id); h; ) {
      if (planned.has(h.backupId)) break;
      if (has(h)) {
        planned.add(h.backupId);
        present.push(h);
        break;
      }
      path.unshift(h);
      if (!h.parentId) break;
      const parent = byId.get(h.parentId);
      if (!parent) {
        throw new BlockvaultError(ErrorCodes.vaultDamaged, `backup ${h.backupId} in ${from.url} depends on ${h.parentId}, which is missing`, {
          hint: 'run `blockvault verify` on the source; that chain cannot be copied',
          details: { backupId: h.backupId, missingParent: h.parentId },
        });
      }
      h = parent;
    }
    for (const h of path) {
      opts.check?.(h);
      planned.add(h.backupId);
      toCopy.push(h);
    }
  }
  return { toCopy, present, selected };
}

function select(source: ManifestHeader[], byId: Map<string, ManifestHeader>, selection: CopySelection, url: string): string[] {
  if ('all' in selection) return source.map((h) => h.backupId);
  if ('volumeId' in selection) {
    const ids = source.filter((h) => h.volumeId === selection.volumeId).map((h) => h.backupId);
    if (ids.length === 0) {
      throw new BlockvaultError(ErrorCodes.backupNotFound, `no backups of volume ${selection.volumeId} in ${url}`, {
        hint: 'list the source with `blockvault list --vault …`',
        details: { volumeId: selection.volumeId },
      });
    }
    return ids;
  }
  if (selection.backupIds.length === 0) throw new BlockvaultError(ErrorCodes.badInput, 'no backups selected to copy', { hint: 'name backup ids, a --volume, or --all' });
  const missing = selection.backupIds.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw new BlockvaultError(ErrorCodes.backupNotFound, `backup ${missing.join(', ')} not found in ${url}`, {
      hint: 'list the source with `blockvault list --vault …`',
      details: { backupIds: missing },
    });
  }
  // Oldest first, whatever order they were named in.
  const want = new Set(selection.backupIds);
  return source.filter((h) => want.has(h.backupId)).map((h) => h.backupId);
}
