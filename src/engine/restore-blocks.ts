// What both restore targets (file, block device) share: the options and result, and reading
// one block's verified bytes through the vault's one read path, counted.
import type { RestoreCounters } from '../metrics/counters.js';
import type { ProgressOptions } from '../metrics/progress.js';
import type { BlockMap } from '../vault/block-map.js';
import type { Vault } from '../vault/vault.js';
import { objectCapacity } from '../chunk/block-work.js';
import { alignedBuffer } from '../native/direct-io.js';

export interface RestoreOptions extends ProgressOptions<'restore'> {
  backupId: string;
  /** Image file to write (created; an existing non-empty file needs `force`), or a block device
   *  (written in place; at least the volume's size, else VolumeBackup.0209). */
  target: string;
  force?: boolean;
  /** Block-device target only: it already reads as zeros (a fresh thin device), so zero
   *  blocks are left alone instead of zeroed. */
  targetIsZeroed?: boolean;
  concurrency?: number;
  /** File targets: write straight to disk (O_DIRECT) where the file system allows (default
   *  true); false: through the page cache, as every write was before. */
  directIo?: boolean;
  signal?: AbortSignal;
  /** Restore a replica (a copy made by copyBackups) anyway: the service refuses (2004). */
  allowReplica?: boolean;
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

// Blocks in flight on a local vault (S3 gives its own figure). Each holds its object buffer
// and its block buffer (~8 MiB, reused: BlockBuffers); the main thread's verify and the disk
// bind a local restore, so 4 restored the 2 GiB bench image as fast as 8 (1.55–2.28 s against
// 1.55–2.22 s) at 113–126 MiB peak RSS against 150–157 MiB.
export const DEFAULT_RESTORE_CONCURRENCY = 4;

/** Block i's bytes, proven to be the block the manifest names (Vault.readChunk), counted;
 *  into: a reused block buffer that may receive them (see BlockBuffers). */
export async function fetchCounted(vault: Vault, map: BlockMap, i: number, backupId: string, counters: RestoreCounters, into?: BlockBuffer): Promise<Buffer> {
  const offset = i * map.blockSize;
  const data = await vault.readChunk(map.idAt(i), {
    ...(into ? { into: into.data, objectInto: into.object } : {}),
    expectLength: map.blockLength(i),
    at: `block ${i} (offset ${offset}) of backup ${backupId}`,
    details: { backupId, blockIndex: i, offset },
  });
  counters.bytesFetched += map.storedLengths[i]!;
  counters.chunksFetched++;
  counters.chunksVerified++;
  return data;
}

/** The two buffers a block in flight reuses: its stored object and its raw bytes. */
export interface BlockBuffer {
  object: Buffer;
  data: Buffer;
}

/**
 * Buffers for the blocks in flight, taken for a fetch and given back once the block is
 * written: a restore reads each object and decompresses each block into them instead of
 * allocating both per block. On the 2 GiB bench image those allocations and their collection
 * were 0.3 s of the main thread's 2 s (GC as costly as decompression), and dead blocks made
 * up ~50 MiB of peak RSS.
 */
export class BlockBuffers {
  readonly #free: BlockBuffer[] = [];
  constructor(readonly blockSize: number) {}

  /** The block buffer starts on a direct-I/O boundary: a file target takes it with O_DIRECT. */
  take(): BlockBuffer {
    return this.#free.pop() ?? { object: Buffer.allocUnsafeSlow(objectCapacity(this.blockSize)), data: alignedBuffer(this.blockSize) };
  }

  give(b: BlockBuffer): void {
    this.#free.push(b);
  }

  /** fetch with buffers taken, then use, then the buffers given back (also on failure). */
  async with<T>(fetch: (into: BlockBuffer) => Promise<Buffer>, use: (data: Buffer, into: BlockBuffer) => Promise<T>): Promise<T> {
    const b = this.take();
    try {
      return await use(await fetch(b), b);
    } finally {
      this.give(b);
    }
  }
}
