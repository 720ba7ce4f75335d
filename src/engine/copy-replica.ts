// What a replica is and may do, as the service documents it (control-plane-contract.md
// §1.2, §1.6, §1.9, §3.5), and the replication record a copy reports:
//   - a copy made by copyBackups is a replica: ST 4 (disk backup copy; 5 for a VM backup
//     copy), CBR image_type "replication", with its source vault and backup on record;
//   - a replica is not restored (BackupService.2004) and not replicated again
//     (BackupService.1002: "the image type must be backup or sync") unless the caller says so
//     explicitly — a disaster-recovery fail-back does (allowReplica / allowReplicaSource);
//   - a backup is replicated once per destination (1009): a second copy finds it present;
//   - a backup read from an archive is an import (image_type "sync"): restorable, replicable.
import { randomUUID } from 'node:crypto';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { BackupOrigin, ManifestHeader } from '../vault/manifest.js';
import type { CopySide } from './copy-side.js';

/** The service's codes for replication outcomes (CBR BackupService.*). */
export const ReplicationCodes = {
  /** Replication is not allowed for the current type of backups (a replica). */
  notReplicable: 'BackupService.1002',
  /** Failed to import the backup replica (any other failure of the copy). */
  importFailed: 'BackupService.1006',
  /** The system cannot detect the destination vault (unreachable, refused, missing). */
  destinationUnreachable: 'BackupService.1008',
  /** Backup replicas cannot be used for restoration. */
  replicaNotRestorable: 'BackupService.2004',
  /** The maximum capacity of the destination vault has been reached. */
  destinationFull: 'BackupService.6129',
} as const;

export function isReplica(h: ManifestHeader): boolean {
  return h.origin?.kind === 'replica';
}

/** VBS ST of a copy: 4 a disk backup copy, 5 a VM backup copy (source ST 1). */
export function replicaServiceType(sourceServiceType: number | undefined): 4 | 5 {
  return sourceServiceType === 1 || sourceServiceType === 5 ? 5 : 4;
}

/**
 * The header a destination stores for a copy: the backup as it was made, plus its origin.
 * A copy of a replica keeps the first origin, so provenance survives a chain of copies.
 */
export function replicaHeader(h: ManifestHeader, sourceVaultId: string, recordId?: string): ManifestHeader {
  const origin: BackupOrigin =
    h.origin?.kind === 'replica'
      ? { ...h.origin, receivedAt: new Date().toISOString() }
      : {
          kind: 'replica',
          sourceVaultId: h.origin?.sourceVaultId ?? sourceVaultId,
          sourceBackupId: h.backupId,
          receivedAt: new Date().toISOString(),
          serviceType: replicaServiceType(undefined),
        };
  if (recordId) origin.replicationRecordId = recordId;
  return { ...h, origin };
}

/** The header of a backup read from an archive: an import (restorable, replicable), naming
 *  the vault it was first made in. */
export function importedHeader(h: ManifestHeader, archiveVaultId: string): ManifestHeader {
  const origin: BackupOrigin = {
    kind: 'import',
    sourceVaultId: h.origin?.sourceVaultId ?? archiveVaultId,
    sourceBackupId: h.origin?.sourceBackupId ?? h.backupId,
    receivedAt: new Date().toISOString(),
  };
  return { ...h, origin };
}

/** Refuses to replicate a replica (1002) unless the caller allows it (fail-back). */
export function checkReplicable(h: ManifestHeader, allowReplicaSource: boolean): void {
  if (!isReplica(h) || allowReplicaSource) return;
  throw new BlockvaultError(
    ErrorCodes.badInput,
    `backup ${h.backupId} is a replica (of ${h.origin!.sourceBackupId} in vault ${h.origin!.sourceVaultId}); the service does not replicate replicas`,
    {
      hint: 'copy from the original vault; to copy replicas back after a disaster (fail-back), allow it explicitly (allowReplicaSource / --allow-replica-source)',
      details: { backupId: h.backupId, serviceCode: ReplicationCodes.notReplicable },
    },
  );
}

/** Refuses to restore a replica (2004) unless the caller allows it. For restore. */
export function checkRestorable(h: ManifestHeader, allowReplica: boolean): void {
  if (!isReplica(h) || allowReplica) return;
  throw new BlockvaultError(ErrorCodes.badInput, `backup ${h.backupId} is a replica; the service does not restore from replicas`, {
    hint: 'restore from the original vault; to restore this copy anyway (disaster recovery), allow it explicitly (allowReplica / --allow-replica)',
    details: { backupId: h.backupId, serviceCode: ReplicationCodes.replicaNotRestorable },
  });
}

// ---- replication records (CBR ReplicationRecordGet, §1.9): the fields the engine knows;
// region, project and checkpoint ids are the control plane's.

export type ReplicationStatus = 'waiting' | 'running' | 'success' | 'failed';

export interface ReplicationRecord {
  id: string;
  created_at: string;
  status: ReplicationStatus;
  /** The source vault. */
  vault_id: string;
  source_backup_id: string;
  destination_backup_id: string;
  destination_vault_id: string;
  extra_info: {
    /** 0–100. */
    progress: number;
    /** Empty when the replication succeeded. */
    fail_code: string;
    fail_reason: string;
    auto_trigger: boolean;
    destination_vault_id: string;
  };
}

export function newRecord(sourceBackupId: string, sourceVaultId: string, destinationVaultId: string, id?: string): ReplicationRecord {
  return {
    id: id ?? randomUUID(),
    created_at: new Date().toISOString(),
    status: 'waiting',
    vault_id: sourceVaultId,
    source_backup_id: sourceBackupId,
    // A copy keeps the backup's id: the destination backup is the same id in the other vault.
    destination_backup_id: sourceBackupId,
    destination_vault_id: destinationVaultId,
    extra_info: { progress: 0, fail_code: '', fail_reason: '', auto_trigger: false, destination_vault_id: destinationVaultId },
  };
}

export function failRecord(r: ReplicationRecord, err: unknown, side: CopySide | undefined, prefix = ''): void {
  r.status = 'failed';
  r.extra_info.fail_code = replicationFailCode(err, side);
  r.extra_info.fail_reason = prefix + ((err as Error)?.message ?? String(err));
}

/** The service code a failed copy reports: the destination's capacity and reachability
 *  have codes of their own; anything else is a failed import of the replica. */
export function replicationFailCode(err: unknown, side: CopySide | undefined): string {
  const e = err as { code?: string; details?: Record<string, unknown> };
  const service = e?.details?.serviceCode;
  if (typeof service === 'string') return service;
  if (side === 'destination') {
    const text = chainText(err);
    if (e?.code === ErrorCodes.noSpace || /QuotaExceeded|quota|no space|ENOSPC|EDQUOT/i.test(text)) return ReplicationCodes.destinationFull;
    if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|socket hang up|NoSuchBucket|timed? ?out|unreachable/i.test(text)) {
      return ReplicationCodes.destinationUnreachable;
    }
  }
  return ReplicationCodes.importFailed;
}

function chainText(err: unknown): string {
  const parts: string[] = [];
  for (let e: any = err, n = 0; e && n < 6; e = e.cause, n++) parts.push(`${e.code ?? ''} ${e.name ?? ''} ${e.message ?? String(e)}`);
  return parts.join(' | ');
}
