// The service's fields for one backup, computed from its manifest header and its chain
// (control-plane-contract.md §1.1–1.2, §1.12). The docs leave several units and formulas
// open; the choices are made here, once, and documented in the README's metrics table.
import type { ManifestHeader } from '../vault/manifest.js';
import { mbPerSecond, wholeGB, wholeMB } from './units.js';

export interface ServiceMetadata {
  /** 0 none, 1 dedup, 2 compression, 3 both. */
  DL: 0 | 1 | 2 | 3;
  /** Space saving rate, integer percent: the share of the volume's logical size this
   *  backup did not have to store (zero blocks, unchanged blocks, dedup, compression). */
  SS: number;
  /** Stored bytes of every backup in this backup's chain, whole MB (2^20), rounded up. */
  CS: number;
  /** Average throughput, MB/s (2^20) of logical volume bytes processed, one decimal. */
  AT: number;
  /** Integer 0–100. */
  progress: number;
  /** 0 full, 1 incremental: the type actually produced. */
  Type: 0 | 1;
  /** Stored bytes of the chunks this backup's manifest names, whole MB, rounded up. */
  BackupSize: number;
  /** The engine's id for the stored backup: the backup id. */
  backupurl: string;
  /** Path of the backup's manifest in the storage unit. */
  SP: string;
  /** The storage unit: the vault's URL. */
  BP: string;
  snap_id?: string;
  bootable?: boolean;
  /** An encrypted volume's VK and CMK id, exactly as the control plane gave them (§6). */
  VK?: string;
  CMKID?: string;
}

export interface ServiceFields {
  /** JSON-encoded string of ServiceMetadata, as the service stores it. */
  service_metadata: string;
  /** Source volume size, whole GB (2^30) rounded up: compared with disk sizes (0209). */
  size: number;
  /** Objects the backup's data lives in: distinct chunks its manifest names, plus the manifest. */
  object_count: number;
  is_incremental: boolean;
  has_dependent_backups: boolean;
  snapshot_id: string | null;
  /** Whether the backup's data is encrypted at rest (CBR extend_info.encrypted). */
  encrypted: boolean;
}

export function serviceMetadata(
  h: ManifestHeader,
  ctx: { chain: ManifestHeader[]; manifestKey: string; vaultUrl: string; progress?: number },
): ServiceMetadata {
  const scanned = h.counters.bytesScanned ?? h.volumeSize;
  const saved = h.volumeSize > 0 ? 1 - h.newStoredBytes / h.volumeSize : 1;
  const md: ServiceMetadata = {
    DL: h.dl,
    SS: Math.max(0, Math.min(100, Math.floor(saved * 100))),
    CS: wholeMB(ctx.chain.reduce((n, c) => n + c.storedBytes, 0)),
    AT: mbPerSecond(scanned, h.elapsedMs),
    progress: ctx.progress ?? 100,
    Type: h.type === 'incremental' ? 1 : 0,
    BackupSize: wholeMB(h.storedBytes),
    backupurl: h.backupId,
    SP: ctx.manifestKey,
    BP: ctx.vaultUrl,
  };
  if (h.snapshotId !== undefined) md.snap_id = h.snapshotId;
  if (h.bootable !== undefined) md.bootable = h.bootable;
  if (h.encryption) {
    md.VK = h.encryption.vk;
    md.CMKID = h.encryption.cmkId;
  }
  return md;
}

export function serviceFields(
  h: ManifestHeader,
  ctx: { chain: ManifestHeader[]; hasDependents: boolean; manifestKey: string; vaultUrl: string },
): ServiceFields {
  return {
    service_metadata: JSON.stringify(serviceMetadata(h, ctx)),
    size: wholeGB(h.volumeSize),
    object_count: h.chunkCount + 1,
    is_incremental: h.type === 'incremental',
    has_dependent_backups: ctx.hasDependents,
    snapshot_id: h.snapshotId ?? null,
    encrypted: h.keyDomain !== undefined,
  };
}
