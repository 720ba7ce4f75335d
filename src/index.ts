// blockvault's library API: what the control plane calls. The CLI is a thin layer over it.
//
//   const vault = await openVault('./vault', { create: true });
//   const b = await backup(vault, { source: 'disk.img', volumeId: 'vol-1', onProgress });
//   await restore(vault, { backupId: b.backupId, target: 'out.img' });
//   await vault.close();
import { Vault, type OpenVaultOptions } from './vault/vault.js';

export { Vault, validateVolumeId, type OpenVaultOptions } from './vault/vault.js';
export { backup, type BackupOptions, type BackupResult } from './engine/backup.js';
export { restore, type RestoreOptions, type RestoreResult } from './engine/restore.js';
export { BlockDeviceSource, openSource } from './source/block-device-source.js';
export { parseExtents, type Extent, type ExtentFormat } from './source/extents.js';
export { listBackups, showBackup, type BackupRecord, type BackupSummary } from './engine/catalog.js';
export { BlockvaultError, ErrorCodes, type ErrorCode } from './errors.js';
export { deleteBackup, type DeleteOptions, type DeleteResult } from './engine/delete.js';
export { prune, type PruneOptions, type PruneResult } from './engine/prune.js';
export {
  applyRetention,
  zoneParts,
  isoWeek,
  subtractDuration,
  type RetentionPolicy,
  type RetentionItem,
  type RetentionDecision,
  type RetentionPlan,
} from './engine/retention-policy.js';
export { gc, GC_LEASE_SCOPE, type GcOptions, type GcResult, type CondemnedRecord } from './engine/gc.js';
export { verify, type VerifyOptions, type VerifyResult, type DamagedChunk } from './engine/verify.js';
export { vaultStats, type VaultStats, type VolumeStats, type BackupStats } from './engine/stats.js';
export type { ProgressEvent } from './metrics/progress.js';
export type { BackupCounters, RestoreCounters } from './metrics/counters.js';
export type { ServiceFields, ServiceMetadata } from './metrics/service-fields.js';
export type { ManifestHeader, BackupType } from './vault/manifest.js';
export type { ObjectStore, ObjectInfo } from './store/object-store.js';
export { MB, GB, parseSize, formatBytes } from './metrics/units.js';
export type { VaultKeys, EncryptOptions } from './crypto/vault-crypto.js';
export type { EncryptionContext, UnwrapKey } from './crypto/keyring.js';
export type { KeyRecord, KeyKind } from './crypto/key-record.js';
export { newKeyFile } from './crypto/key-file.js';

/** Opens a vault: a directory path, or s3://bucket/prefix. With create, makes it if missing. */
export function openVault(location: string, opts: OpenVaultOptions = {}): Promise<Vault> {
  return Vault.open(location, opts);
}
