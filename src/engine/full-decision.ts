// Whether a backup is a full or an incremental of the volume's newest backup, and why. A full
// is made (and the reason recorded as the manifest's fullReason and the result's) when:
//   - it was asked for (`full`);
//   - the volume has no backup yet;
//   - the volume's size differs from the parent's (block indexes past the old end, or a
//     shrunken volume, would make the parent's map misleading);
//   - the chain has reached its cap: `fullBackupInterval` N (the service's
//     full_backup_interval, range -1..100) allows N incrementals after a full, so every
//     (N+1)th backup of a chain is a full; 0 makes every backup a full; -1 (or unset) never
//     forces one;
//   - the parent is in another key domain (a different encryption context);
//   - the parent is damaged or unreadable (its manifest or one of its chain's is missing or
//     fails its checksum): the new backup must not depend on it.
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { BlockMap } from '../vault/block-map.js';
import type { ManifestHeader } from '../vault/manifest.js';
import type { Vault } from '../vault/vault.js';

export interface FullDecisionInput {
  volumeId: string;
  full?: boolean;
  fullBackupInterval?: number;
  /** The source's size now. */
  volumeSize: number;
  /** The key domain the backup writes into (undefined: a plain vault). */
  keyDomain?: string;
}

export interface BackupBase {
  parent: ManifestHeader | undefined;
  parentMap: BlockMap | undefined;
  /** Set when the backup will be a full; absent for an incremental. */
  fullReason: string | undefined;
}

export function checkFullBackupInterval(n: number | undefined): void {
  if (n === undefined) return;
  if (!Number.isInteger(n) || n < -1 || n > 100) {
    throw new BlockvaultError(ErrorCodes.badInput, `full backup interval ${n} is out of range`, {
      hint: 'give an integer from -1 (never force a full) to 100 (incrementals allowed after a full)',
      details: { vbsCode: 'VolumeBackup.0002', cbrCode: 'BackupService.9900', fullBackupInterval: n },
    });
  }
}

/** Incrementals between the parent and its full (the parent itself counted when incremental). */
function incrementalsInChain(parent: ManifestHeader, all: ManifestHeader[]): number {
  const byId = new Map(all.map((h) => [h.backupId, h]));
  let n = 0;
  const seen = new Set<string>();
  for (let h: ManifestHeader | undefined = parent; h?.parentId && !seen.has(h.backupId); h = byId.get(h.parentId)) {
    seen.add(h.backupId);
    n++;
  }
  return n;
}

export async function decideBackupBase(vault: Vault, input: FullDecisionInput): Promise<BackupBase> {
  checkFullBackupInterval(input.fullBackupInterval);
  const full = (fullReason: string): BackupBase => ({ parent: undefined, parentMap: undefined, fullReason });
  if (input.full) return full('a full backup was requested');
  const parent = await vault.latestBackup(input.volumeId);
  if (!parent) return full('first backup of the volume');
  if (parent.volumeSize !== input.volumeSize) {
    return full(`the volume size changed from ${parent.volumeSize} to ${input.volumeSize} bytes since backup ${parent.backupId}`);
  }
  // A chain stays in one key domain: chunks of another domain cannot be named (nor deduped).
  if (parent.keyDomain !== input.keyDomain) {
    return full(`the volume's last backup ${parent.backupId} is in another key domain (encryption context): this backup is a new full`);
  }
  const cap = input.fullBackupInterval;
  if (cap !== undefined && cap >= 0) {
    const n = incrementalsInChain(parent, await vault.listBackups({ volumeId: input.volumeId }));
    if (n >= cap) return full(`the chain holds ${n} incremental backup(s): full backup interval ${cap} reached`);
  }
  try {
    return { parent, parentMap: await vault.blockMap(parent.backupId), fullReason: undefined };
  } catch (e) {
    if (e instanceof BlockvaultError && (e.code === ErrorCodes.vaultDamaged || e.code === ErrorCodes.backupNotFound)) {
      return full(`the parent backup ${parent.backupId} is damaged or unreadable: ${e.message}`);
    }
    throw e;
  }
}
