// A backup as the agent answers it: the VBS backup object's fields (contract §1.1), with the
// engine's own beside them. A backup that is still creating or that failed has no manifest:
// its service fields that need one are null, as in the service's error examples.
import type { BackupListEntry, BackupRecord, PendingBackup } from '../jobs/catalog.js';
import type { Vault } from '../vault/vault.js';

export interface ServiceBackup {
  id: string;
  status: string;
  fail_reason: string | null;
  volume_id: string;
  snapshot_id: string | null;
  size: number | null;
  object_count: number | null;
  container: string | null;
  created_at: string;
  updated_at: string;
  data_timestamp: string | null;
  has_dependent_backups: boolean;
  is_incremental: boolean | null;
  service_metadata: string | null;
  description: string | null;
  extend_info: unknown;
  /** The job that works on it now (creating, restoring, deleting) or that failed it. */
  job_id: string | null;
  /** Running backups: 0–100. */
  progress: number | null;
  error_code: string | null;
  cbr_error_code: string | null;
  /** The engine's view: parent in the chain, type, stored bytes… */
  engine: Record<string, unknown>;
}

function isPending(b: BackupListEntry | BackupRecord): b is PendingBackup {
  return b.status === 'creating' || b.status === 'error';
}

export function pendingView(p: PendingBackup): ServiceBackup {
  return {
    id: p.backupId,
    status: p.status,
    fail_reason: p.fail_reason,
    volume_id: p.volumeId,
    snapshot_id: p.snapshotId,
    size: null,
    object_count: null,
    container: null,
    created_at: p.created_at,
    updated_at: p.updated_at,
    data_timestamp: null,
    has_dependent_backups: false,
    is_incremental: null,
    service_metadata: null,
    description: null,
    extend_info: null,
    job_id: p.jobId,
    progress: p.progress,
    error_code: p.error_code,
    cbr_error_code: p.cbr_error_code,
    engine: {},
  };
}

export function recordView(r: BackupRecord): ServiceBackup {
  return {
    id: r.backupId,
    status: r.status,
    fail_reason: null,
    volume_id: r.volumeId,
    snapshot_id: r.snapshot_id,
    size: r.size,
    object_count: r.object_count,
    container: r.container,
    created_at: r.created_at,
    updated_at: r.updated_at,
    data_timestamp: r.data_timestamp,
    has_dependent_backups: r.has_dependent_backups,
    is_incremental: r.is_incremental,
    service_metadata: r.service_metadata,
    description: r.description,
    extend_info: r.extend_info,
    job_id: r.jobId,
    progress: null,
    error_code: null,
    cbr_error_code: null,
    engine: {
      parent_id: r.parentId,
      type: r.type,
      chain: r.chain,
      volume_size: r.volumeSize,
      stored_bytes: r.storedBytes,
      new_stored_bytes: r.newStoredBytes,
      block_size: r.blockSize,
      full_reason: r.full_reason,
      as_made: r.as_made,
    },
  };
}

/** One backup by id, in the service's shape (404 through VolumeBackup.0111 when absent). */
export async function backupView(vault: Vault, backupId: string): Promise<ServiceBackup> {
  const { showBackup } = await import('../jobs/catalog.js');
  const r = await showBackup(vault, backupId);
  return isPending(r) ? pendingView(r) : recordView(r);
}

/**
 * The backups, oldest first, in the service's shape, `limit` of them from `offset` (the VBS
 * paging: limit ≤ 1000). Each costs one read of its chain's manifests, so only the page is
 * shown; `total` counts them all.
 */
export async function backupViews(
  vault: Vault,
  filter: { volumeId?: string; status?: string; limit?: number; offset?: number },
): Promise<{ backups: ServiceBackup[]; total: number }> {
  const { listBackups, showBackup } = await import('../jobs/catalog.js');
  const list = await listBackups(vault, { volumeId: filter.volumeId, status: filter.status } as Parameters<typeof listBackups>[1]);
  const offset = filter.offset ?? 0;
  const page = list.slice(offset, offset + (filter.limit ?? 1000));
  const out: ServiceBackup[] = [];
  for (const b of page) {
    if (isPending(b)) out.push(pendingView(b));
    else {
      const r = await showBackup(vault, b.backupId);
      out.push(isPending(r) ? pendingView(r) : recordView(r));
    }
  }
  return { backups: out, total: list.length };
}
