// What both restore targets (file, block device) share: the options and result, and reading
// one block's verified bytes through the vault's one read path, counted.
import type { RestoreCounters } from '../metrics/counters.js';
import type { ProgressOptions } from '../metrics/progress.js';
import type { BlockMap } from '../vault/block-map.js';
import type { Vault } from '../vault/vault.js';

export interface RestoreOptions extends ProgressOptions {
  backupId: string;
  /** Image file to write (created; an existing non-empty file needs `force`), or a block device
   *  (written in place; at least the volume's size, else VolumeBackup.0209). */
  target: string;
  force?: boolean;
  /** Block-device target only: it already reads as zeros (a fresh thin device), so zero
   *  blocks are left alone instead of zeroed. */
  targetIsZeroed?: boolean;
  concurrency?: number;
  signal?: AbortSignal;
}

export interface RestoreResult {
  backupId: string;
  volumeId: string;
  target: string;
  volumeSize: number;
  elapsedMs: number;
  /** MB/s (2^20) of logical volume bytes, one decimal. */
  throughputMBps: number;
  counters: RestoreCounters;
}

/** Block i's bytes, proven to be the block the manifest names (Vault.readChunk), counted. */
export async function fetchCounted(vault: Vault, map: BlockMap, i: number, backupId: string, counters: RestoreCounters): Promise<Buffer> {
  const offset = i * map.blockSize;
  const data = await vault.readChunk(map.idAt(i), {
    expectLength: map.blockLength(i),
    at: `block ${i} (offset ${offset}) of backup ${backupId}`,
    details: { backupId, blockIndex: i, offset },
  });
  counters.bytesFetched += map.storedLengths[i]!;
  counters.chunksFetched++;
  counters.chunksVerified++;
  return data;
}
