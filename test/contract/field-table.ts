// Every field of the contract's §1 tables, with where the engine produces it, its type and
// unit — or why the data plane does not produce it. contract.test.ts evaluates each `get`
// against a real vault, job and failed backup and fails on a field of the file missing here.
import type { BackupRecord, JobRecord, PendingBackup, VaultStats } from '../../src/index.js';

export interface FieldContext {
  /** showBackup of an incremental (bootable carried, snapshot given). */
  backup: BackupRecord;
  md: Record<string, unknown>;
  description: Record<string, unknown>;
  /** A job that succeeded, and one that failed. */
  job: JobRecord;
  failedJob: JobRecord;
  /** A backup listed as error. */
  failed: PendingBackup;
  stats: VaultStats;
}

export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'string|null';

export type FieldEntry =
  | { get: (c: FieldContext) => unknown; type: FieldType; unit?: string; note?: string }
  | { not: string };

const cp = (why = 'the control plane owns it (name, tenant, project, links, paging…); the engine echoes nothing it was not given'): FieldEntry => ({ not: why });
const noServer = { not: 'server (VM) backups, children and system-disk facts are the control plane\'s: the engine backs up one volume' };
const noRepl = { not: 'no replication in the data plane' };
const kmsOnly = { not: 'present only on a KMS-encrypted volume\'s backup, verbatim as given (test/crypto/vault-encryption.test.ts checks them)' };
const noCapacity = { not: 'no capacity or billing model: the engine reports used bytes (stats usedMB/usedGB) for the control plane to compare' };

export const FIELD_TABLE: Record<string, FieldEntry> = {
  // §1.1 VBS backup object
  '1.1:id': { get: (c) => c.backup.backupId, type: 'string', note: 'the control plane\'s backup id, echoed' },
  '1.1:name': cp(),
  '1.1:description': { get: (c) => c.backup.description, type: 'string', note: 'JSON {DESC?, INC}' },
  '1.1:status': { get: (c) => c.backup.status, type: 'string', note: 'available/restoring/deleting; creating/error for backups without a manifest' },
  '1.1:fail_reason': { get: (c) => c.failed.fail_reason, type: 'string', note: 'on a backup listed as error' },
  '1.1:size': { get: (c) => c.backup.size, type: 'integer', unit: 'GB (2^30), rounded up: the source volume size' },
  '1.1:object_count': { get: (c) => c.backup.object_count, type: 'integer', unit: 'objects: distinct chunks the restore point needs + the manifests of its chain' },
  '1.1:container': { get: (c) => c.backup.container, type: 'string', note: 'S3 bucket, or the vault directory' },
  '1.1:availability_zone': cp(),
  '1.1:volume_id': { get: (c) => c.backup.volumeId, type: 'string' },
  '1.1:snapshot_id': { get: (c) => c.backup.snapshot_id, type: 'string' },
  '1.1:created_at': { get: (c) => c.backup.created_at, type: 'string', unit: 'UTC YYYY-MM-DDTHH:MM:SS.ffffff' },
  '1.1:updated_at': { get: (c) => c.backup.updated_at, type: 'string', unit: 'UTC YYYY-MM-DDTHH:MM:SS.ffffff' },
  '1.1:data_timestamp': { get: (c) => c.backup.data_timestamp, type: 'string', unit: 'UTC; the snapshot time when given' },
  '1.1:has_dependent_backups': { get: (c) => c.backup.has_dependent_backups, type: 'boolean' },
  '1.1:is_incremental': { get: (c) => c.backup.is_incremental, type: 'boolean' },
  '1.1:os-bak-tenant-attr:tenant_id': cp(),
  '1.1:service_metadata': { get: (c) => c.backup.service_metadata, type: 'string', note: 'JSON-encoded §1.2 keys' },
  '1.1:links': cp(),
  '1.1:backups_links': cp(),
  // §1.2 service_metadata
  '1.2:DL': { get: (c) => c.md.DL, type: 'integer', unit: '0–3: bit 0 dedup, bit 1 compression (the vault mode)' },
  '1.2:VK': kmsOnly,
  '1.2:CMKID': kmsOnly,
  '1.2:bootable': { get: (c) => c.md.bootable, type: 'boolean', note: 'false unless given; carried by incrementals' },
  '1.2:backupurl': { get: (c) => c.md.backupurl, type: 'string' },
  '1.2:SP': { get: (c) => c.md.SP, type: 'string', note: 'the manifest key' },
  '1.2:BP': { get: (c) => c.md.BP, type: 'string', note: 'the vault URL' },
  '1.2:BT': { not: 'the docs give no values for the backup storage type' },
  '1.2:VMID': noServer,
  '1.2:ST': { not: 'absent means disk backup, which every engine backup is; copies (4/5) need replication' },
  '1.2:SS': { get: (c) => c.md.SS, type: 'integer', unit: 'percent 0–100 of the volume this run did not store' },
  '1.2:CS': { get: (c) => c.md.CS, type: 'integer', unit: 'MB (2^20), rounded up: each chunk of the chain counted once' },
  '1.2:progress': { get: (c) => c.md.progress, type: 'integer', unit: '0–100' },
  '1.2:VT': { not: 'the production disk type is the control plane\'s' },
  '1.2:OMID': { get: (c) => c.job.host, type: 'string', note: 'the job record\'s host' },
  '1.2:Type': { get: (c) => c.md.Type, type: 'integer', unit: '0 full, 1 incremental (now); as_made.Type as made' },
  '1.2:ebk_T_I': { get: (c) => c.job.job_id, type: 'string', note: 'the job id' },
  '1.2:AT': { get: (c) => c.md.AT, type: 'number', unit: 'MB/s (2^20) of the volume scanned, one decimal' },
  '1.2:BackupSize': { get: (c) => c.md.BackupSize, type: 'integer', unit: 'MB (2^20), rounded up: chunks this manifest names' },
  '1.2:snap_id': { get: (c) => c.md.snap_id, type: 'string' },
  // §1.3 description keys
  '1.3:DESC': { get: (c) => c.description.DESC, type: 'string' },
  '1.3:INC': { get: (c) => c.description.INC, type: 'integer', unit: '1 incremental asked, 0 full asked' },
  // §1.4 VBS job
  '1.4:status': { get: (c) => c.job.status, type: 'string', unit: 'INIT/RUNNING/SUCCESS/FAIL' },
  '1.4:entities': { get: (c) => c.job.entities, type: 'object', note: 'backup_id, volume_id, snapshot_id, target…' },
  '1.4:job_id': { get: (c) => c.job.job_id, type: 'string' },
  '1.4:job_type': { get: (c) => c.job.job_type, type: 'string', note: 'backup/restore/delete/prune/gc/verify' },
  '1.4:begin_time': { get: (c) => c.job.begin_time, type: 'string', unit: 'UTC ISO 8601 with ms and Z' },
  '1.4:end_time': { get: (c) => c.job.end_time, type: 'string', unit: 'UTC ISO 8601 with ms and Z' },
  '1.4:error_code': { get: (c) => c.failedJob.error_code, type: 'string', note: 'VBS code; cbr_error_code beside it' },
  '1.4:fail_reason': { get: (c) => c.failedJob.fail_reason, type: 'string' },
  '1.4:sub_jobs': { not: 'engine jobs have no sub-jobs; a prune reports its deletes in its result' },
  '1.4:message': { get: (c) => c.failedJob.fail_reason, type: 'string', note: 'the error envelope: fail_reason' },
  '1.4:code': { get: (c) => c.failedJob.error_code, type: 'string', note: 'the error envelope: error_code' },
  // §1.6 CBR backup
  '1.6:id': { get: (c) => c.backup.backupId, type: 'string' },
  '1.6:checkpoint_id': cp('restore points (checkpoints) group backups of one control-plane call'),
  '1.6:parent_id': noServer,
  '1.6:children': noServer,
  '1.6:incremental': { get: (c) => c.backup.is_incremental, type: 'boolean' },
  '1.6:resource_size': { get: (c) => c.backup.size, type: 'integer', unit: 'GB (2^30), rounded up' },
  '1.6:status': { get: (c) => c.backup.status, type: 'string', note: 'VBS names; the control plane maps creating→protecting' },
  '1.6:image_type': noRepl,
  '1.6:protected_at': { get: (c) => c.backup.data_timestamp, type: 'string' },
  '1.6:created_at': { get: (c) => c.backup.created_at, type: 'string' },
  '1.6:updated_at': { get: (c) => c.backup.updated_at, type: 'string' },
  '1.6:expired_at': cp('retention expiry is the control plane\'s policy'),
  '1.6:provider_id': cp(),
  '1.6:resource_id': { get: (c) => c.backup.volumeId, type: 'string' },
  '1.6:resource_name': cp(),
  '1.6:resource_type': cp(),
  '1.6:resource_az': cp(),
  '1.6:vault_id': cp(),
  '1.6:project_id': cp(),
  '1.6:enterprise_project_id': cp(),
  '1.6:name': cp(),
  '1.6:description': { get: (c) => c.description.DESC, type: 'string' },
  '1.6:replication_records': noRepl,
  '1.6:version': { not: 'undocumented ("Replica snapshot type")' },
  '1.6:extend_info': { get: (c) => c.backup.extend_info, type: 'object' },
  // §1.7 extend_info
  '1.7:auto_trigger': { get: (c) => c.backup.extend_info.auto_trigger, type: 'boolean' },
  '1.7:bootable': { get: (c) => c.backup.extend_info.bootable, type: 'boolean' },
  '1.7:snapshot_id': { get: (c) => c.backup.extend_info.snapshot_id, type: 'string' },
  '1.7:support_lld': { get: (c) => c.backup.extend_info.support_lld, type: 'boolean', note: 'false: no lazy restore' },
  '1.7:supported_restore_mode': { get: (c) => c.backup.extend_info.supported_restore_mode, type: 'string', unit: 'backup' },
  '1.7:os_images_data': { not: 'no image registration' },
  '1.7:contain_system_disk': noServer,
  '1.7:encrypted': { get: (c) => c.backup.extend_info.encrypted, type: 'boolean', note: 'true when the backup\'s chunks are in a key domain' },
  '1.7:system_disk': noServer,
  '1.7:is_multi_az': { not: 'storage placement is the object store\'s; the engine does not know it' },
  '1.7:progress': { get: (c) => c.md.progress, type: 'integer', unit: '0–100' },
  '1.7:app_consistency': { not: 'no quiesce hook: backups are crash-consistent' },
  '1.7:architecture': noServer,
  // §1.8 checkpoint
  '1.8:status': cp('checkpoints are the control plane\'s; per-backup status is in list/show'),
  '1.8:vault.resources[]': { get: (c) => c.stats.volumes[0]?.storedGB, type: 'integer', unit: 'backup_size GB per volume (stats volumes[].storedGB; backup_count: backupCount)' },
  '1.8:vault.skipped_resources[]': { not: 'checkpoints are the control plane\'s; a job the engine skips (busy volume) ends with operation_status skipped, error_code and fail_reason, from which it builds the entry' },
  '1.8:extra_info': cp(),
  '1.8:created_at': cp(),
  '1.8:id': cp(),
  '1.8:project_id': cp(),
  // §1.10 operation log
  '1.10:id': { get: (c) => c.job.job_id, type: 'string' },
  '1.10:checkpoint_id': cp(),
  '1.10:created_at': { get: (c) => c.job.begin_time, type: 'string' },
  '1.10:started_at': { get: (c) => c.job.begin_time, type: 'string' },
  '1.10:ended_at': { get: (c) => c.job.end_time, type: 'string' },
  '1.10:updated_at': { get: (c) => c.job.updated_at, type: 'string' },
  '1.10:operation_type': { get: (c) => c.job.job_type, type: 'string' },
  '1.10:status': { get: (c) => c.job.operation_status, type: 'string', unit: 'waiting/running/success/failed/timeout/skipped' },
  '1.10:policy_id': cp(),
  '1.10:project_id': cp(),
  '1.10:provider_id': cp(),
  '1.10:vault_id': cp(),
  '1.10:vault_name': cp(),
  '1.10:error_info': { get: (c) => ({ code: c.failedJob.cbr_error_code, message: c.failedJob.fail_reason }), type: 'object' },
  '1.10:extra_info': { get: (c) => ({ ...c.job.entities, counters: c.job.counters }), type: 'object' },
  '1.10:code': { get: (c) => c.failedJob.cbr_error_code, type: 'string' },
  '1.10:message': { get: (c) => c.failedJob.fail_reason, type: 'string' },
  '1.10:progress': { get: (c) => c.job.progress, type: 'integer', unit: '0–100' },
  '1.10:request_id': cp(),
  '1.10:task_id': { get: (c) => c.job.job_id, type: 'string' },
  // §1.11 vault capacity
  '1.11:size': noCapacity,
  '1.11:allocated': noCapacity,
  '1.11:used': { get: (c) => c.stats.usedMB, type: 'integer', unit: 'MB (2^20), rounded up, every object (garbage until gc)' },
  '1.11:storage_unit': { get: (c) => c.backup.container, type: 'string' },
  '1.11:status': noCapacity,
  '1.11:consistent_level': { not: 'crash-consistent always: no quiesce hook' },
  '1.11:is_multi_az': { not: 'storage placement is the object store\'s' },
  '1.11:threshold': noCapacity,
  '1.11:auto_expand': noCapacity,
  '1.11:demand_billing': noCapacity,
  '1.11:locked': { not: 'no vault lock' },
  '1.11:backup_size': { get: (c) => c.stats.volumes[0]?.storedGB, type: 'integer', unit: 'GB (2^30), rounded up, distinct chunks of the volume' },
  '1.11:backup_count': { get: (c) => c.stats.volumes[0]?.backupCount, type: 'integer' },
  '1.11:protect_status': cp(),
  '1.11:used_size': { get: (c) => c.stats.usedGB, type: 'integer', unit: 'GB (2^30), rounded up' },
  '1.11:backup_size_multiaz': { not: 'storage placement is the object store\'s' },
  '1.11:resource_id': { get: (c) => c.stats.volumes[0]?.volumeId, type: 'string' },
  '1.11:resource_name': cp(),
  '1.11:resource_type': cp(),
  '1.11:resource_count': { get: (c) => c.stats.volumes.length, type: 'integer' },
  '1.11:used_percent': noCapacity,
};
