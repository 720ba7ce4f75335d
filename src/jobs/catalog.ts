// list and show: the vault's backups as the control plane sees them, with their states.
// A manifest is an `available` backup unless a live job marks it `restoring` or `deleting`;
// a backup that is running (`creating`) or failed (`error`, with fail_reason) has no
// manifest, only its state record (src/jobs/backup-records.ts).
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { backupStates, type ResolvedBackupState } from './backup-records.js';
import type { BackupStatus } from './schemas.js';
import { chainFacts, serviceFields, serviceTime, type ServiceFields } from '../metrics/service-fields.js';
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
  /** The service's backup status: available, restoring or deleting for a backup with a manifest. */
  status: 'available' | 'restoring' | 'deleting';
  /** The job working on it (restoring/deleting), if any. */
  jobId: string | null;
  fail_reason: null;
  /** Encrypted at rest (CBR extend_info.encrypted). */
  encrypted: boolean;
}

/** A backup without a manifest: still running, or failed. */
export interface PendingBackup {
  backupId: string;
  volumeId: string;
  status: 'creating' | 'error';
  /** Why it failed (error), null while creating. */
  fail_reason: string | null;
  /** The VBS and CBR codes of the failure. */
  error_code: string | null;
  cbr_error_code: string | null;
  jobId: string;
  /** The running job's progress, 0–100 (creating), null otherwise. */
  progress: number | null;
  createdAt: string;
  snapshotId: string | null;
  /** Not known until the backup completes. */
  parentId: null;
  type: null;
  volumeSize: 0;
  storedBytes: 0;
  newStoredBytes: 0;
  hasDependents: false;
  created_at: string;
  updated_at: string;
}

export type BackupListEntry = BackupSummary | PendingBackup;

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

export interface ListBackupsOptions {
  volumeId?: string;
  /** Only backups in this state (the service's status filter). */
  status?: BackupStatus;
}

function summary(h: ManifestHeader, all: ManifestHeader[], state: ResolvedBackupState | undefined): BackupSummary {
  const live = state && (state.status === 'restoring' || state.status === 'deleting') ? state : undefined;
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
    status: live ? (live.status as 'restoring' | 'deleting') : 'available',
    jobId: live?.record.job_id ?? null,
    fail_reason: null,
    encrypted: h.keyDomain !== undefined,
  };
}

function pending(s: ResolvedBackupState): PendingBackup {
  const r = s.record;
  return {
    backupId: r.backup_id,
    volumeId: r.volume_id,
    status: s.status as 'creating' | 'error',
    fail_reason: s.fail_reason,
    error_code: s.status === 'error' ? (r.error_code ?? s.job?.error_code ?? null) : null,
    cbr_error_code: s.status === 'error' ? (r.cbr_error_code ?? s.job?.cbr_error_code ?? null) : null,
    jobId: r.job_id,
    progress: s.status === 'creating' ? (s.job?.progress ?? 0) : null,
    createdAt: r.created_at,
    snapshotId: r.snapshot_id,
    parentId: null,
    type: null,
    volumeSize: 0,
    storedBytes: 0,
    newStoredBytes: 0,
    hasDependents: false,
    created_at: serviceTime(r.created_at),
    updated_at: serviceTime(r.updated_at),
  };
}

async function statesById(vault: Vault, volumeId?: string): Promise<Map<string, ResolvedBackupState>> {
  return new Map((await backupStates(vault, volumeId ? { volumeId } : {})).map((s) => [s.record.backup_id, s]));
}

/** Every backup, oldest first: those with a manifest and those still creating or failed. */
export async function listBackups(vault: Vault, filter: ListBackupsOptions = {}): Promise<BackupListEntry[]> {
  vault.refresh();
  const all = await vault.listBackups();
  const states = await statesById(vault, filter.volumeId);
  const made = new Set(all.map((h) => h.backupId));
  const out: BackupListEntry[] = all.filter((h) => !filter.volumeId || h.volumeId === filter.volumeId).map((h) => summary(h, all, states.get(h.backupId)));
  for (const s of states.values()) {
    if (made.has(s.record.backup_id) || (s.status !== 'creating' && s.status !== 'error')) continue;
    out.push(pending(s));
  }
  return out
    .filter((b) => !filter.status || b.status === filter.status)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.backupId.localeCompare(b.backupId));
}

export async function showBackup(vault: Vault, backupId: string): Promise<BackupRecord | PendingBackup> {
  vault.refresh();
  let h: ManifestHeader;
  try {
    h = await vault.header(backupId);
  } catch (e) {
    if (!(e instanceof BlockvaultError && e.code === ErrorCodes.backupNotFound)) throw e;
    const s = [...(await statesById(vault)).values()].find((x) => x.record.backup_id === backupId);
    if (s && (s.status === 'creating' || s.status === 'error')) return pending(s);
    throw e;
  }
  const all = await vault.listBackups();
  const chainOf = await vault.chainOf(backupId);
  const lineage: string[] = [];
  const byId = new Map(all.map((x) => [x.backupId, x]));
  for (let c: ManifestHeader | undefined = h; c; c = c.parentId ? byId.get(c.parentId) : undefined) lineage.push(c.backupId);
  const s = summary(h, all, (await statesById(vault, h.volumeId)).get(backupId));
  const fields = serviceFields(h, {
    chain: chainOf,
    hasDependents: s.hasDependents,
    manifestKey: vault.manifestKey(h.volumeId, h.backupId),
    vaultUrl: vault.url,
    facts: await chainFacts(vault, backupId),
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

/** True for a backup without a manifest (creating, or failed). */
export function isPendingBackup(b: BackupListEntry | BackupRecord): b is PendingBackup {
  return b.status === 'creating' || b.status === 'error';
}
