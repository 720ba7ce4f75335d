// Restore onto a block device: written in place (a device has no temp + rename), so a failed
// restore leaves the device partly written — the error says so. Before a byte is written the
// device must be at least the volume's size (else VolumeBackup.0209); bytes past the volume's end
// are left alone. Chunk blocks are written whole, after their identity is checked; zero blocks are
// zeroed with BLKZEROOUT in pieces of at most 64 MiB (the ioctl is synchronous), falling back to
// writing zeros where the device refuses it — or left alone with targetIsZeroed (a fresh thin
// device), which also skips the all-zero 64 KiB runs inside chunk blocks, so they stay unmapped.
// The device is opened O_EXCL: Linux refuses that while it is mounted or otherwise held.
import { constants as fsConstants, promises as fs } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { isAllZero } from '../chunk/zero.js';
import { BlockvaultError, ErrorCodes, abortError, ioError } from '../errors.js';
import { blockDeviceSize, logicalSectorSize, zeroOut } from '../native/block-device.js';
import type { BlockMap } from '../vault/block-map.js';
import type { Vault } from '../vault/vault.js';
import { BlockTasks } from './block-tasks.js';
import { BlockBuffers, DEFAULT_RESTORE_CONCURRENCY, fetchCounted, type RestoreOptions, type RestoreResult } from './restore-blocks.js';

/** Largest single BLKZEROOUT call: bounds how long the event loop is blocked. */
export const ZERO_OUT_PIECE = 64 * 1024 * 1024;
const ZERO_WRITE_PIECE = 4 * 1024 * 1024;
const HOLE_GRAIN = 64 * 1024;

export async function isBlockDevice(path: string): Promise<boolean> {
  const st = await fs.stat(path).catch(() => undefined);
  return st?.isBlockDevice() ?? false;
}

export async function restoreToDevice(
  vault: Vault,
  map: BlockMap,
  opts: RestoreOptions & { targetIsZeroed?: boolean },
  volumeId: string,
  target: string,
): Promise<RestoreResult> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(target, fsConstants.O_RDWR | fsConstants.O_EXCL);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EBUSY') {
      throw new BlockvaultError(ErrorCodes.badInput, `restore target ${target} is in use (mounted, or held by another program)`, {
        hint: 'unmount it (and stop what holds it) before restoring onto it',
        details: { path: target },
        cause: e,
      });
    }
    throw ioError(e, 'restore target', target);
  }
  let written = false;
  try {
    const size = blockDeviceSize(fh.fd);
    const sector = logicalSectorSize(fh.fd);
    if (size < map.volumeSize) {
      throw new BlockvaultError(
        ErrorCodes.targetTooSmall,
        `restore target ${target} is ${size} bytes, smaller than backup ${opts.backupId}'s volume (${map.volumeSize} bytes)`,
        {
          hint: 'restore onto a device at least as large as the volume; nothing was written',
          details: { path: target, targetSize: size, volumeSize: map.volumeSize },
        },
      );
    }
    written = true;
    const result = await writeDevice(vault, map, fh, opts, volumeId, target, sector);
    await fh.sync().catch((e) => {
      throw ioError(e, 'restore target', target);
    });
    return result;
  } catch (e) {
    if (written && e instanceof BlockvaultError && e.code !== ErrorCodes.aborted) {
      e.details.partiallyWritten = true;
      e.message += ` (block device ${target} was written in place and now holds a partial restore)`;
    }
    throw e;
  } finally {
    await fh.close().catch(() => {});
  }
}

async function writeDevice(
  vault: Vault,
  map: BlockMap,
  fh: fs.FileHandle,
  opts: RestoreOptions & { targetIsZeroed?: boolean },
  volumeId: string,
  target: string,
  sector: number,
): Promise<RestoreResult> {
  const run = new BlockTasks(opts, { volumeId, volumeSize: map.volumeSize, blockCount: map.blockCount }, opts.concurrency ?? vault.storeConcurrency ?? DEFAULT_RESTORE_CONCURRENCY);
  const buffers = new BlockBuffers(map.blockSize);
  const { counters } = run;
  counters.bytesZeroedOut = 0;
  counters.bytesZeroWritten = 0;
  const zeroed = opts.targetIsZeroed ?? false;
  const write = async (buf: Buffer, off: number, len: number, pos: number) => {
    try {
      for (let n = 0; n < len; ) n += (await fh.write(buf, off + n, len - n, pos + n)).bytesWritten;
    } catch (e) {
      throw ioError(e, 'restore target', target);
    }
  };
  const zeroRanges: Array<[number, number]> = [];
  for (let i = 0; i < map.blockCount; i++) {
    const len = map.blockLength(i);
    const pos = i * map.blockSize;
    if (!map.hasChunk(i)) {
      counters.bytesZero += len;
      if (zeroed) run.done += len;
      else {
        const last = zeroRanges[zeroRanges.length - 1];
        if (last && last[1] === pos) last[1] = pos + len;
        else zeroRanges.push([pos, pos + len]);
      }
      continue;
    }
    run.add(async () => {
      await buffers.with(
        (into) => fetchCounted(vault, map, i, opts.backupId, counters, into),
        (data) => (zeroed ? writeNonZero(write, data, len, pos) : write(data, 0, len, pos)),
      );
      counters.bytesRestored += len;
      run.done += len;
      run.ticker.advanced();
    });
  }
  // Zeroing runs beside the chunk writes (disjoint ranges), one bounded piece at a time.
  run.addUnbounded(
    (async () => {
      let ioctlWorks = true;
      for (const [a, b] of zeroRanges) {
        for (let pos = a; pos < b; ) {
          if (run.signal.aborted) throw abortError(run.signal.reason);
          const end = Math.min(b, pos + ZERO_OUT_PIECE);
          const alignedEnd = end - ((end - pos) % sector); // a volume not a sector multiple ends short
          if (ioctlWorks && alignedEnd > pos) {
            try {
              zeroOut(fh.fd, pos, alignedEnd - pos);
              counters.bytesZeroedOut! += alignedEnd - pos;
              run.done += alignedEnd - pos;
              pos = alignedEnd;
            } catch {
              ioctlWorks = false; // EOPNOTSUPP, EINVAL…: write zeros from here on
            }
          }
          if (pos < end) {
            await writeZeros(write, pos, end);
            counters.bytesZeroWritten! += end - pos;
            run.done += end - pos;
            pos = end;
          }
          run.ticker.advanced();
          await yieldToLoop();
        }
      }
    })(),
  );
  const { elapsedMs, throughputMBps } = await run.finish(map.volumeSize);
  return { backupId: opts.backupId, volumeId, target, volumeSize: map.volumeSize, elapsedMs, throughputMBps, counters };
}

type Write = (buf: Buffer, off: number, len: number, pos: number) => Promise<void>;

const ZEROS = Buffer.alloc(ZERO_WRITE_PIECE);

async function writeZeros(write: Write, start: number, end: number): Promise<void> {
  for (let pos = start; pos < end; pos += ZERO_WRITE_PIECE) await write(ZEROS, 0, Math.min(ZERO_WRITE_PIECE, end - pos), pos);
}

/** On a device known to read zeros, writes only the non-zero 64 KiB runs (stays thin). */
async function writeNonZero(write: Write, data: Buffer, len: number, pos: number): Promise<void> {
  let runStart = -1;
  for (let off = 0; off < len; off += HOLE_GRAIN) {
    const end = Math.min(off + HOLE_GRAIN, len);
    const zero = isAllZero(data.subarray(off, end));
    if (!zero && runStart < 0) runStart = off;
    if (zero && runStart >= 0) {
      await write(data, runStart, off - runStart, pos + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await write(data, runStart, len - runStart, pos + runStart);
}
