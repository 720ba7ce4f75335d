// The service's fields for one backup, computed from its manifest header and its chain
// (control-plane-contract.md §1.1–1.2, §1.12). The docs leave several units and formulas
// open; the choices are made here, once, and documented in the README's metrics table.
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import { EntryKind, entries, type ManifestHeader } from '../vault/manifest.js';
import type { Vault } from '../vault/vault.js';
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
  /** Whether the source is a boot disk: false unless given; an incremental carries its parent's. */
  bootable: boolean;
  /** Backup service type: present on a replica only, 4 disk backup copy (5 VM backup copy). */
  ST?: 4 | 5;
  /** An encrypted volume's VK and CMK id, exactly as the control plane gave them (§6). */
  VK?: string;
  CMKID?: string;
}

/** CBR extend_info (CBR25:12231-12327): the keys the data plane knows. */
export interface ExtendInfo {
  /** Made by a policy (BackupOptions.automatic). */
  auto_trigger: boolean;
  bootable: boolean;
  snapshot_id: string | null;
  /** "backup": the backup restores a disk directly (every backup with a manifest does). */
  supported_restore_mode: 'na' | 'backup' | 'snapshot';
  /** No lazy (on-demand) restore exists: always false. */
  support_lld: boolean;
  /** Encrypted at rest: the backup's chunks are in a key domain. */
  encrypted: boolean;
}

/** Facts that need the chain's manifests (chainFacts), not just the headers. */
export interface ChainFacts {
  /** Distinct chunks the restore point needs (its resolved block map). */
  restorePointChunks: number;
  /** Manifests the restore point needs: itself and its ancestors. */
  restorePointManifests: number;
  /** Stored bytes of the distinct chunks named anywhere in the chain, each chunk once. */
  chainChunkBytes: number;
}

/** Reads the chain's manifests (ancestors, the backup, its descendants) once. */
export async function chainFacts(vault: Vault, backupId: string): Promise<ChainFacts> {
  const members = await vault.chainOf(backupId);
  const chain = await vault.chain(backupId);
  const needed = new Set<string>();
  const decided = new Set<number>();
  for (const m of chain) {
    for (const e of entries(m)) {
      if (decided.has(e.blockIndex)) continue;
      decided.add(e.blockIndex);
      if (e.kind === EntryKind.chunk) needed.add(e.id.toString('latin1'));
    }
  }
  const seen = new Map<string, number>();
  for (const h of members) {
    const m = chain.find((c) => c.header.backupId === h.backupId) ?? (await vault.readManifest(h.backupId));
    for (const e of entries(m)) if (e.kind === EntryKind.chunk) seen.set(e.id.subarray(0, CHUNK_ID_BYTES).toString('latin1'), e.storedLength);
  }
  let bytes = 0;
  for (const n of seen.values()) bytes += n;
  return { restorePointChunks: needed.size, restorePointManifests: chain.length, chainChunkBytes: bytes };
}

/** The service's time format: UTC, microseconds, no zone (VBS example 2013-06-27T08:48:03.000000). */
export function serviceTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 23)}000`;
}

/** The container the backup's objects are in: the bucket on S3, the vault directory locally. */
export function containerOf(vaultUrl: string): string {
  const s3 = /^s3:\/\/([^/]+)/.exec(vaultUrl);
  if (s3) return s3[1]!;
  return vaultUrl.startsWith('file://') ? decodeURIComponent(new URL(vaultUrl).pathname) : vaultUrl;
}

/** Header fields the service needs that come from the request and the parent (backup.ts). */
export function contractHeaderFields(
  opts: { bootable?: boolean; automatic?: boolean; description?: string; snapshotTime?: string | Date },
  parent: ManifestHeader | undefined,
  createdAt: string,
): Pick<ManifestHeader, 'bootable' | 'automatic' | 'dataTimestamp' | 'description'> {
  const t = opts.snapshotTime instanceof Date ? opts.snapshotTime.toISOString() : opts.snapshotTime;
  return {
    bootable: opts.bootable ?? parent?.bootable ?? false,
    automatic: opts.automatic ?? false,
    dataTimestamp: t ? new Date(t).toISOString() : createdAt,
    ...(opts.description !== undefined ? { description: opts.description } : {}),
  };
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
  /** JSON-encoded {DESC?, INC}: INC 1 when an incremental was asked, 0 when a full was (VBS:1089-1093). */
  description: string;
  /** The data's point in time (the snapshot's when given), service time format. */
  data_timestamp: string;
  created_at: string;
  /** The last change to the backup's manifest (a merge), else its completion. */
  updated_at: string;
  container: string;
  extend_info: ExtendInfo;
  /** The values as the backup was made; they differ from the current ones after a merge. */
  as_made: { Type: 0 | 1; SS: number; AT: number; BackupSize: number };
  /** Why a full was made (first backup, asked, size change, chain cap, damaged parent). */
  full_reason: string | null;
  /** CBR image_type: backup, replication (a replica) or sync (imported from an archive). */
  image_type: 'backup' | 'replication' | 'sync';
  /** Whether the backup's data is encrypted at rest (CBR extend_info.encrypted). */
  encrypted: boolean;
}

export function serviceMetadata(
  h: ManifestHeader,
  ctx: { chain: ManifestHeader[]; manifestKey: string; vaultUrl: string; progress?: number; facts?: ChainFacts },
): ServiceMetadata {
  const scanned = h.counters.bytesScanned ?? h.volumeSize;
  const saved = h.volumeSize > 0 ? 1 - h.newStoredBytes / h.volumeSize : 1;
  const md: ServiceMetadata = {
    DL: h.dl,
    SS: Math.max(0, Math.min(100, Math.floor(saved * 100))),
    CS: wholeMB(ctx.facts?.chainChunkBytes ?? ctx.chain.reduce((n, c) => n + c.storedBytes, 0)),
    AT: mbPerSecond(scanned, h.elapsedMs),
    progress: ctx.progress ?? 100,
    Type: h.type === 'incremental' ? 1 : 0,
    BackupSize: wholeMB(h.storedBytes),
    backupurl: h.backupId,
    SP: ctx.manifestKey,
    BP: ctx.vaultUrl,
    bootable: h.bootable ?? false,
  };
  if (h.snapshotId !== undefined) md.snap_id = h.snapshotId;
  if (h.origin?.kind === 'replica') md.ST = h.origin.serviceType ?? 4;
  if (h.encryption) {
    md.VK = h.encryption.vk;
    md.CMKID = h.encryption.cmkId;
  }
  return md;
}

export function serviceFields(
  h: ManifestHeader,
  ctx: { chain: ManifestHeader[]; hasDependents: boolean; manifestKey: string; vaultUrl: string; facts?: ChainFacts },
): ServiceFields {
  const md = serviceMetadata(h, ctx);
  const made = h.asMade ?? { type: h.type, storedBytes: h.storedBytes, chunkCount: h.chunkCount };
  const extend: ExtendInfo = {
    auto_trigger: h.automatic ?? false,
    bootable: h.bootable ?? false,
    snapshot_id: h.snapshotId ?? null,
    supported_restore_mode: 'backup',
    support_lld: false,
    encrypted: h.keyDomain !== undefined,
  };
  return {
    service_metadata: JSON.stringify(md),
    size: wholeGB(h.volumeSize),
    // Without the chain's manifests: this manifest's chunks and itself (a lower bound).
    object_count: ctx.facts ? ctx.facts.restorePointChunks + ctx.facts.restorePointManifests : h.chunkCount + 1,
    is_incremental: h.type === 'incremental',
    has_dependent_backups: ctx.hasDependents,
    snapshot_id: h.snapshotId ?? null,
    description: JSON.stringify({ ...(h.description !== undefined ? { DESC: h.description } : {}), INC: h.requestedType === 'incremental' ? 1 : 0 }),
    data_timestamp: serviceTime(h.dataTimestamp ?? h.createdAt),
    created_at: serviceTime(h.createdAt),
    updated_at: serviceTime(h.updatedAt ?? h.completedAt),
    container: containerOf(ctx.vaultUrl),
    extend_info: extend,
    as_made: { Type: made.type === 'incremental' ? 1 : 0, SS: md.SS, AT: md.AT, BackupSize: wholeMB(made.storedBytes) },
    full_reason: h.fullReason ?? null,
    image_type: h.origin?.kind === 'replica' ? 'replication' : h.origin?.kind === 'import' ? 'sync' : 'backup',
    encrypted: h.keyDomain !== undefined,
  };
}
