// Restore: resolve the chain to one chunk (or zero) per block, then fetch, check and write
// many blocks at once. Every chunk's frame checksum and keyed identity are checked before a
// byte of it is written; zero blocks stay holes. A file target is written under a temporary
// name and renamed into place only when complete, so a failed restore leaves nothing behind.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isAllZero } from '../chunk/zero.js';
import { BlockvaultError, ErrorCodes, ioError, throwIfAborted } from '../errors.js';
import { mbPerSecond } from '../metrics/units.js';
import type { BlockMap } from '../vault/block-map.js';
import type { Vault } from '../vault/vault.js';
import { withOperationSignal } from '../vault/operation.js';
import { BlockTasks } from './block-tasks.js';
import { checkRestorable } from './copy-replica.js';
import { BlockBuffers, DEFAULT_RESTORE_CONCURRENCY, fetchCounted, type RestoreOptions, type RestoreResult } from './restore-blocks.js';
import { isBlockDevice, restoreToDevice } from './restore-device.js';
import { checkRestoreOptions } from './option-checks.js';
import { removeStaleRestoreTemps, restoreTempName } from './restore-leftovers.js';
import { RestoreFile } from './restore-file.js';

export type { RestoreOptions, RestoreResult };


export function restore(vault: Vault, opts: RestoreOptions): Promise<RestoreResult> {
  return withOperationSignal(opts?.signal, () => restoreInScope(vault, opts));
}

async function restoreInScope(vault: Vault, opts: RestoreOptions): Promise<RestoreResult> {
  checkRestoreOptions(opts);
  throwIfAborted(opts.signal);
  const started = Date.now();
  vault.refresh();
  const header = await vault.header(opts.backupId);
  checkRestorable(header, opts.allowReplica ?? false);
  const lease = await vault.lease(header.volumeId, 'restore');
  try {
    const map = await vault.blockMap(opts.backupId);
    const target = path.resolve(opts.target);
    if (await isBlockDevice(target)) return await restoreToDevice(vault, map, opts, header.volumeId, target);
    await checkTarget(target, opts.force ?? false);
    await removeStaleRestoreTemps(target);
    const tmp = restoreTempName(target, randomBytes(4).toString('hex'));
    let file: RestoreFile;
    try {
      file = await RestoreFile.create(tmp, map.volumeSize, opts.directIo ?? true);
    } catch (e) {
      throw ioError(e, 'restore target', target);
    }
    try {
      const result = await writeBlocks(vault, map, file, opts, header.volumeId);
      await file.sync().catch((e) => {
        throw ioError(e, 'restore target', target);
      });
      await file.close();
      await fs.rename(tmp, target).catch((e) => {
        throw ioError(e, 'restore target', target);
      });
      const elapsedMs = Math.max(1, Date.now() - started);
      return { ...result, elapsedMs, throughputMBps: mbPerSecond(map.volumeSize, elapsedMs), target };
    } catch (e) {
      await file.close().catch(() => {});
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw e;
    }
  } finally {
    await lease.release().catch(() => {});
  }
}

async function checkTarget(target: string, force: boolean): Promise<void> {
  const st = await fs.stat(target).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw ioError(e, 'restore target', target);
  });
  if (!st) {
    await fs.access(path.dirname(target)).catch((e) => {
      throw ioError(e, 'directory of restore target', path.dirname(target));
    });
    return;
  }
  if (st.isDirectory()) throw ioError(Object.assign(new Error(''), { code: 'EISDIR' }), 'restore target', target);
  if (st.isBlockDevice()) {
    throw new BlockvaultError(ErrorCodes.unsupported, `restore target ${target} is a block device`, {
      hint: 'restoring to block devices needs the block-device support (see README)',
    });
  }
  if (st.size > 0 && !force) {
    throw new BlockvaultError(ErrorCodes.targetExists, `restore target ${target} exists and is not empty (${st.size} bytes)`, {
      hint: 'pass --force to replace it, or choose another path',
      details: { path: target },
    });
  }
}

/** Fetches, verifies and writes every chunk block of the map at its offset. */
export async function writeBlocks(vault: Vault, map: BlockMap, file: RestoreFile, opts: RestoreOptions, volumeId: string): Promise<Omit<RestoreResult, 'target'>> {
  const run = new BlockTasks(opts, { volumeId, volumeSize: map.volumeSize, blockCount: map.blockCount }, opts.concurrency ?? vault.storeConcurrency ?? DEFAULT_RESTORE_CONCURRENCY);
  const { counters } = run;
  // Blocks decompress into aligned memory, which can go straight to disk; a chunk stored
  // uncompressed is read in place (inside its object) and copied there first.
  const buffers = new BlockBuffers(map.blockSize);
  for (let i = 0; i < map.blockCount; i++) {
    const len = map.blockLength(i);
    if (!map.hasChunk(i)) {
      counters.bytesZero += len;
      run.done += len;
      continue;
    }
    run.add(async () => {
      await buffers.with(
        (into) => fetchCounted(vault, map, i, opts.backupId, counters, into),
        (data, into) =>
          writeSparse(file, file.direct ? inAligned(data, into.data) : data, len, i * map.blockSize).catch((e) => {
            throw ioError(e, 'restore target', opts.target);
          }),
      );
      counters.bytesRestored += len;
      run.done += len;
      run.ticker.advanced();
    });
  }
  try {
    const { elapsedMs, throughputMBps } = await run.finish(map.volumeSize);
    return { backupId: opts.backupId, volumeId, volumeSize: map.volumeSize, elapsedMs, throughputMBps, counters };
  } finally {
    counters.bytesDirect = file.bytesDirect;
  }
}

/** data in the aligned block buffer: itself when it is there already, else copied into it. */
function inAligned(data: Buffer, aligned: Buffer): Buffer {
  if (data.buffer === aligned.buffer && data.byteOffset === aligned.byteOffset) return data;
  data.copy(aligned);
  return aligned.subarray(0, data.length);
}

const HOLE_GRAIN = 64 * 1024;

/** Writes data at pos, skipping all-zero 64 KiB runs: on a fresh file they stay holes. */
async function writeSparse(
  fh: Pick<RestoreFile, 'write'>,
  data: Buffer,
  len: number,
  pos: number,
): Promise<void> {
  let runStart = -1;
  for (let off = 0; off < len; off += HOLE_GRAIN) {
    const end = Math.min(off + HOLE_GRAIN, len);
    const zero = isAllZero(data.subarray(off, end));
    if (!zero && runStart < 0) runStart = off;
    if (zero && runStart >= 0) {
      await fh.write(data, runStart, off - runStart, pos + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await fh.write(data, runStart, len - runStart, pos + runStart);
}
