// blockvault's library API: what the control plane calls. The CLI is a thin layer over it.
//
//   const vault = await openVault('./vault', { create: true });
//   const b = await backup(vault, { source: 'disk.img', volumeId: 'vol-1', onProgress });
//   await restore(vault, { backupId: b.backupId, target: 'out.img' });
//   await vault.close();
import { validateOpenOptions } from './vault/config.js';
import { Vault, type OpenVaultOptions } from './vault/vault.js';

//
// Only the public API is exported here. Internals (helpers the tests reach, key layout,
// codecs) are imported from their own modules.
export { Vault, validateVolumeId, type OpenVaultOptions } from './vault/vault.js';
export { validateBackupId } from './vault/ids.js';
export { repairVaultConfig, type RepairConfigOptions, type RepairConfigResult } from './vault/config-store.js';
export { backup, type BackupOptions, type BackupResult } from './engine/backup.js';
export { preflightBackup } from './engine/option-checks.js';
export { restore, type RestoreOptions, type RestoreResult } from './engine/restore.js';
export { openSource } from './source/block-device-source.js';
export type { BlockSource, BlockRead } from './source/image-source.js';
export { parseExtents, type Extent, type ExtentFormat } from './source/extents.js';
export { listBackups, showBackup, isPendingBackup, type BackupRecord, type BackupSummary, type PendingBackup, type BackupListEntry, type ListBackupsOptions } from './jobs/catalog.js';
export { BlockvaultError, ErrorCodes, exitCodeFor, toBlockvaultError, type ErrorCode } from './errors.js';
export { deleteBackup, type DeleteOptions, type DeleteResult } from './engine/delete.js';
export { prune, type PruneOptions, type PruneResult } from './engine/prune.js';
export {
  applyRetention,
  validateRetentionPolicy,
  type RetentionPolicy,
  type RetentionItem,
  type RetentionDecision,
  type RetentionPlan,
} from './engine/retention-policy.js';
export { decideBackupBase, checkFullBackupInterval, type BackupBase } from './engine/full-decision.js';
export { gc, type GcOptions, type GcResult } from './engine/gc.js';
export { verify, type VerifyOptions, type VerifyResult, type DamagedChunk } from './engine/verify.js';
export { vaultStats, type VaultStats, type VolumeStats, type BackupStats } from './engine/stats.js';
export { copyBackups, initReplica, type CopyOptions, type CopyResult, type CopyProgress, type CopyCounters } from './engine/copy.js';
export { planCopy, type CopyPlan, type CopySelection } from './engine/copy-plan.js';
export { ReplicationCodes, isReplica, type ReplicationRecord, type ReplicationStatus } from './engine/copy-replica.js';
export { exportBackup, type ExportOptions, type ExportResult, type ArchiveProgress } from './engine/archive/export.js';
export { importArchive, type ImportOptions, type ImportResult } from './engine/archive/import.js';
export type { ProgressEvent, ProgressEventOf, ProgressOp, OperationCounters } from './metrics/progress.js';
export type { BackupCounters, RestoreCounters } from './metrics/counters.js';
export type { ServiceFields, ServiceMetadata } from './metrics/service-fields.js';
export type { ManifestHeader, BackupType, SourceInfo, BackupOrigin } from './vault/manifest.js';
export type { ObjectStore, ObjectInfo } from './store/object-store.js';
export type { StoreOptions } from './store/open-store.js';
export type { S3StoreOptions } from './store/s3/options.js';
export { StoreError, type StoreErrorCategory } from './store/store-errors.js';
export type { Compression } from './chunk/compress.js';
// Size parsing and formatting as the CLI and the control plane show sizes ("4MiB", "1.5 GiB").
export { parseSize, formatBytes } from './metrics/units.js';
export type { VaultKeys, EncryptOptions } from './crypto/vault-crypto.js';
export type { EncryptionContext, UnwrapKey } from './crypto/keyring.js';
export type { KeyRecord, KeyKind } from './crypto/key-record.js';
export { newKeyFile } from './crypto/key-file.js';

/** Opens a vault: a directory path, or s3://bucket/prefix. With create, makes it if missing. */
export async function openVault(location: string, opts: OpenVaultOptions = {}): Promise<Vault> {
  validateOpenOptions(opts); // before the store is opened: a refused option creates nothing
  return Vault.open(location, opts);
}
export * from './jobs/index.js';
export { serviceCodes, busyCodes, isBusy, type ServiceCodes, type ServiceOp } from './errors.js';
