// list and show: the vault's backups as the control plane sees them.
import { serviceFields, type ServiceFields } from '../metrics/service-fields.js';
import type { BackupType, ManifestHeader } from '../vault/manifest.js';
import type { Vault } from '../vault/vault.js';

export interface BackupSummary {
  backupId: string;
  volumeId: string;
  parentId: string | null;
  type: BackupType;
  createdAt: string;
  volumeSize: number;
  /** Stored bytes of the chunks its manifest names. */
  storedBytes: number;
  /** Stored bytes it added to the vault when it ran. */
  newStoredBytes: number;
  hasDependents: boolean;
  /** Encrypted at rest (CBR extend_info.encrypted). */
  encrypted: boolean;
}

export interface BackupRecord extends BackupSummary, ServiceFields {
  requestedType: BackupType;
  completedAt: string;
  blockSize: number;
  snapshotId: string | null;
  source: ManifestHeader['source'];
  chunkCount: number;
  newChunkCount: number;
  entryCount: number;
  elapsedMs: number;
  counters: Record<string, number>;
  /** The backups this one needs to restore, newest first (itself included). */
  chain: string[];
  /** The service's fields, as an object (serviceMetadata is the same, as the string it stores). */
  serviceMetadata: string;
}

function summary(h: ManifestHeader, all: ManifestHeader[]): BackupSummary {
  return {
    backupId: h.backupId,
    volumeId: h.volumeId,
    parentId: h.parentId,
    type: h.type,
    createdAt: h.createdAt,
    volumeSize: h.volumeSize,
    storedBytes: h.storedBytes,
    newStoredBytes: h.newStoredBytes,
    hasDependents: all.some((o) => o.parentId === h.backupId),
    encrypted: h.keyDomain !== undefined,
  };
}

export async function listBackups(vault: Vault, filter: { volumeId?: string } = {}): Promise<BackupSummary[]> {
  vault.refresh();
  const all = await vault.listBackups();
  return all.filter((h) => !filter.volumeId || h.volumeId === filter.volumeId).map((h) => summary(h, all));
}

export async function showBackup(vault: Vault, backupId: string): Promise<BackupRecord> {
  vault.refresh();
  const h = await vault.header(backupId);
  const all = await vault.listBackups();
  const chainOf = await vault.chainOf(backupId);
  const lineage: string[] = [];
  const byId = new Map(all.map((x) => [x.backupId, x]));
  for (let c: ManifestHeader | undefined = h; c; c = c.parentId ? byId.get(c.parentId) : undefined) lineage.push(c.backupId);
  const s = summary(h, all);
  const fields = serviceFields(h, {
    chain: chainOf,
    hasDependents: s.hasDependents,
    manifestKey: vault.manifestKey(h.volumeId, h.backupId),
    vaultUrl: vault.url,
  });
  return {
    ...s,
    ...fields,
    serviceMetadata: fields.service_metadata,
    requestedType: h.requestedType,
    completedAt: h.completedAt,
    blockSize: h.blockSize,
    snapshotId: h.snapshotId ?? null,
    source: h.source,
    chunkCount: h.chunkCount,
    newChunkCount: h.newChunkCount,
    entryCount: h.entryCount,
    elapsedMs: h.elapsedMs,
    counters: h.counters,
    chain: lineage,
  };
}
