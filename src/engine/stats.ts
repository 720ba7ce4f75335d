// Stats: what the vault holds and what each volume and backup costs.
//   vault:   used bytes (every object, whole MB rounded up as the service's `used`), objects,
//            chunk objects and bytes, and the unreferenced (garbage) part GC would reclaim
//   volume:  backup count, stored bytes of the distinct chunks its backups need (GB = 2^30,
//            rounded up as units.ts does, plus the exact bytes)
//   backup:  the chunks its restore point needs (the resolved chain, not only its own
//            manifest): exclusive = bytes of those chunks no other backup's restore point
//            needs (what deleting it and running GC would free); shared = the rest; and
//            CS = stored bytes of every backup in its chain, whole MB, as service-fields.ts.
// Chunk sizes are the object sizes from one LIST of chunks/ (the manifests' stored lengths
// where an object is missing).
import { idToHex } from '../chunk/identity.js';
import { PhaseProgress } from '../metrics/phase-progress.js';
import type { ProgressOptions } from '../metrics/progress.js';
import { wholeGB, wholeMB } from '../metrics/units.js';
import { BlockMap } from '../vault/block-map.js';
import { EntryKind, entries, type ManifestHeader } from '../vault/manifest.js';
import { Layout } from '../vault/layout.js';
import type { Vault } from '../vault/vault.js';
import { withOperationSignal } from '../vault/operation.js';

export interface BackupStats {
  backupId: string;
  volumeId: string;
  type: ManifestHeader['type'];
  parentId: string | null;
  createdAt: string;
  /** Distinct chunks its restore point needs, and their bytes. */
  chunks: number;
  referencedBytes: number;
  exclusiveBytes: number;
  sharedBytes: number;
  /** Chain size, whole MB (service CS). */
  chainSizeMB: number;
}

export interface VolumeStats {
  volumeId: string;
  backupCount: number;
  storedBytes: number;
  /** storedBytes in whole GB (2^30), rounded up. */
  storedGB: number;
  backups: BackupStats[];
}

export interface VaultStats {
  vault: string;
  usedBytes: number;
  usedMB: number;
  usedGB: number;
  objectCount: number;
  chunkObjects: number;
  chunkBytes: number;
  referencedChunkBytes: number;
  unreferencedChunks: number;
  unreferencedBytes: number;
  volumes: VolumeStats[];
}

export type StatsOptions = ProgressOptions & { signal?: AbortSignal };

/** The phases, in order: listObjects, resolveChains, countNamed (see the functions below). */
export function vaultStats(vault: Vault, opts: StatsOptions = {}): Promise<VaultStats> {
  return withOperationSignal(opts?.signal, () => vaultStatsInScope(vault, opts));
}

async function vaultStatsInScope(vault: Vault, opts: StatsOptions = {}): Promise<VaultStats> {
  const progress = new PhaseProgress('stats', opts);
  const objects = await listObjects(vault, progress);
  vault.refresh();
  const headers = await vault.listBackups();
  const needs = await resolveChains(vault, headers, progress);
  const named = await countNamed(vault, headers, progress);
  return summarize(vault, objects, headers, needs, named);
}

interface Objects {
  usedBytes: number;
  objectCount: number;
  /** Chunk (hex) → object size. */
  chunkSize: Map<string, number>;
}

/** One LIST of the whole vault: bytes, objects, chunk sizes. */
async function listObjects(vault: Vault, progress: PhaseProgress): Promise<Objects> {
  progress.start('listObjects');
  const out: Objects = { usedBytes: 0, objectCount: 0, chunkSize: new Map() };
  for await (const o of vault.meta.list('')) {
    out.usedBytes += o.size;
    out.objectCount++;
    const hex = Layout.chunkHexFromKey(o.key);
    if (hex) out.chunkSize.set(hex, o.size);
    progress.advance();
  }
  progress.end();
  return out;
}

/** Each backup's needed chunks (latin1 id → stored length), from its resolved chain. */
async function resolveChains(vault: Vault, headers: ManifestHeader[], progress: PhaseProgress): Promise<Map<string, Map<string, number>>> {
  progress.start('resolveChains', headers.length);
  const needs = new Map<string, Map<string, number>>();
  for (const h of headers) {
    const map = BlockMap.fromChain(await vault.chain(h.backupId));
    const mine = new Map<string, number>();
    for (let i = 0; i < map.blockCount; i++) {
      if (!map.hasChunk(i)) continue;
      const k = map.idAt(i).toString('latin1');
      if (!mine.has(k)) mine.set(k, map.storedLengths[i]!);
    }
    needs.set(h.backupId, mine);
    progress.advance();
  }
  progress.end();
  return needs;
}

/** Chunks any manifest names (its own entries), hex: what is not garbage. */
async function countNamed(vault: Vault, headers: ManifestHeader[], progress: PhaseProgress): Promise<Set<string>> {
  progress.start('countNamed', headers.length);
  const named = new Set<string>();
  for (const h of headers) {
    for (const e of entries(await vault.readManifest(h.backupId))) if (e.kind === EntryKind.chunk) named.add(idToHex(e.id));
    progress.advance();
  }
  progress.end();
  return named;
}

function summarize(
  vault: Vault,
  { usedBytes, objectCount, chunkSize }: Objects,
  headers: ManifestHeader[],
  needs: Map<string, Map<string, number>>,
  named: Set<string>,
): VaultStats {
  const byId = new Map(headers.map((h) => [h.backupId, h]));

  // How many backups need each chunk.
  const users = new Map<string, number>();
  for (const mine of needs.values()) for (const k of mine.keys()) users.set(k, (users.get(k) ?? 0) + 1);
  const sizeOf = (k: string, fallback: number) => chunkSize.get(Buffer.from(k, 'latin1').toString('hex')) ?? fallback;

  let referencedChunkBytes = 0;
  let chunkBytes = 0;
  let unreferencedChunks = 0;
  for (const [hex, size] of chunkSize) {
    chunkBytes += size;
    if (named.has(hex)) referencedChunkBytes += size;
    else unreferencedChunks++;
  }

  const chainOf = (id: string): ManifestHeader[] => {
    const up: ManifestHeader[] = [];
    for (let h = byId.get(id); h; h = h.parentId ? byId.get(h.parentId) : undefined) up.push(h);
    const below = new Set([id]);
    const down: ManifestHeader[] = [];
    for (const h of headers) {
      if (h.parentId && below.has(h.parentId)) {
        below.add(h.backupId);
        down.push(h);
      }
    }
    return [...up, ...down];
  };

  const volumes = new Map<string, VolumeStats>();
  const volumeChunks = new Map<string, Map<string, number>>();
  for (const h of headers) {
    const mine = needs.get(h.backupId)!;
    let referencedBytes = 0;
    let exclusiveBytes = 0;
    for (const [k, len] of mine) {
      const size = sizeOf(k, len);
      referencedBytes += size;
      if (users.get(k) === 1) exclusiveBytes += size;
    }
    const b: BackupStats = {
      backupId: h.backupId,
      volumeId: h.volumeId,
      type: h.type,
      parentId: h.parentId,
      createdAt: h.createdAt,
      chunks: mine.size,
      referencedBytes,
      exclusiveBytes,
      sharedBytes: referencedBytes - exclusiveBytes,
      chainSizeMB: wholeMB(chainOf(h.backupId).reduce((n, c) => n + c.storedBytes, 0)),
    };
    let v = volumes.get(h.volumeId);
    if (!v) {
      v = { volumeId: h.volumeId, backupCount: 0, storedBytes: 0, storedGB: 0, backups: [] };
      volumes.set(h.volumeId, v);
      volumeChunks.set(h.volumeId, new Map());
    }
    v.backupCount++;
    v.backups.push(b);
    const vc = volumeChunks.get(h.volumeId)!;
    for (const [k, len] of mine) vc.set(k, sizeOf(k, len));
  }
  for (const v of volumes.values()) {
    v.storedBytes = [...volumeChunks.get(v.volumeId)!.values()].reduce((a, b) => a + b, 0);
    v.storedGB = wholeGB(v.storedBytes);
  }
  return {
    vault: vault.url,
    usedBytes,
    usedMB: wholeMB(usedBytes),
    usedGB: wholeGB(usedBytes),
    objectCount,
    chunkObjects: chunkSize.size,
    chunkBytes,
    referencedChunkBytes,
    unreferencedChunks,
    unreferencedBytes: chunkBytes - referencedChunkBytes,
    volumes: [...volumes.values()].sort((a, b) => a.volumeId.localeCompare(b.volumeId)),
  };
}

