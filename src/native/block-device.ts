// The few system calls Node lacks for block devices, from the package's own addon (native/:
// Node-API, C, built by the package's install script, native/build.cjs, with node-gyp). The engine works without
// it on image files; only block devices need it. Every function here is synchronous, takes an
// open fd and throws:
//  - BlockvaultError(unsupported) when the addon is not built or the platform is not Linux;
//  - an Error with `code` = the errno name (ENOTTY, EOPNOTSUPP, EINVAL, EBADF, ...), `errno`,
//    `syscall: 'ioctl'` and `request` (the ioctl name) when the kernel refuses the call, so a
//    caller can branch on `code` (e.g. fall back to writing zeros on EOPNOTSUPP).

import { constants as fsConstants, fstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { BlockvaultError, ErrorCodes, ioError } from '../errors.js';
import { addonLoadError, loadAddon, type NativeBinding } from './addon.js';

/** An error the kernel (or the addon's argument checks) gave, with the errno name as code. */
export interface NativeError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  request?: string;
}

const REBUILD_HINT =
  'build it with `npm rebuild blockvault` (needs Linux, python3, make and a C compiler; npm 11 runs it only ' +
  'when your package.json\'s "allowScripts" names blockvault); image files work without it';

/** True when the addon is built and its functions work on this platform (Linux). */
export function nativeAvailable(): boolean {
  const b = loadAddon();
  return b !== undefined && b.supported === true;
}

/** Why nativeAvailable() is false, for logs and `doctor`-style output; undefined when it is true. */
export function nativeUnavailableReason(): string | undefined {
  const b = loadAddon();
  if (b === undefined) {
    const e = addonLoadError();
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return `blockvault's native addon is not built or failed to load (${why})`;
  }
  if (!b.supported) return `block-device ioctls are only supported on Linux (this is ${process.platform})`;
  return undefined;
}

function need(what: string): NativeBinding {
  const b = loadAddon();
  if (b === undefined || !b.supported) {
    throw new BlockvaultError(
      ErrorCodes.unsupported,
      `${what} needs the native block-device addon: ${nativeUnavailableReason() ?? 'unavailable'}`,
      { hint: REBUILD_HINT, cause: addonLoadError(), details: { platform: process.platform } },
    );
  }
  return b;
}

const EXPLAIN: Record<string, string> = {
  ENOTTY: 'not a block device',
  EOPNOTSUPP: 'the device does not support this operation',
  EINVAL: 'offset and length must be multiples of the logical sector size (at least 512) and inside the device',
  EBADF: 'the fd is not open, or not open for writing',
  EPERM: 'permission denied (the device may be read-only or in use)',
  EACCES: 'permission denied',
  EROFS: 'the device is read-only',
};

/** Rewrites the addon's error message to say what the errno means here; keeps code/errno/syscall. */
function rethrow(err: unknown, what: string): never {
  const e = err as NativeError;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    const explain = EXPLAIN[e.code];
    if (explain && !e.message.includes(explain)) e.message = `${what}: ${explain} (${e.message})`;
    else if (!e.message.startsWith(what)) e.message = `${what}: ${e.message}`;
  }
  throw err;
}

function call<T>(what: string, fn: (b: NativeBinding) => T): T {
  const b = need(what);
  try {
    return fn(b);
  } catch (err) {
    rethrow(err, what);
  }
}

/** Size in bytes of the block device open at fd (BLKGETSIZE64). */
export function blockDeviceSize(fd: number): number {
  return call('block device size', (b) => b.blockDeviceSize(fd));
}

/** Logical sector size (BLKSSZGET): the smallest unit the device addresses, 512 or 4096. */
export function logicalSectorSize(fd: number): number {
  return call('logical sector size', (b) => b.logicalSectorSize(fd));
}

/** Physical sector size (BLKPBSZGET): the device's natural write unit. */
export function physicalSectorSize(fd: number): number {
  return call('physical sector size', (b) => b.physicalSectorSize(fd));
}

/**
 * Makes [offset, offset+length) read as zeros (BLKZEROOUT: write-zeroes/unmap offload where the
 * device has it, else the kernel writes zero pages). fd must be open for writing; offset and
 * length multiples of the logical sector size. Synchronous: the kernel call can take a while on
 * large ranges without offload, so call it in bounded pieces.
 */
export function zeroOut(fd: number, offset: number, length: number): void {
  call('zero-out', (b) => b.zeroOut(fd, offset, length));
}

/**
 * Discards [offset, offset+length) (BLKDISCARD). What a discarded range reads back as depends on
 * the device; use zeroOut when zeros are required. Throws EOPNOTSUPP where discard is not supported.
 */
export function discard(fd: number, offset: number, length: number): void {
  call('discard', (b) => b.discard(fd, offset, length));
}

export interface DeviceInfo {
  isBlockDevice: boolean;
  /** Bytes: the device size, or the file size for a regular file. */
  size: number;
  /** Bytes; 512 for regular files. */
  logicalSectorSize: number;
  /** Bytes; 4096 for regular files. */
  physicalSectorSize: number;
}

/** Defaults for regular files: the common 512e layout, so alignment to them is never wrong. */
export const FILE_LOGICAL_SECTOR = 512;
export const FILE_PHYSICAL_SECTOR = 4096;

/** deviceInfo for an fd already open; `path` is only for messages. */
export function deviceInfoFromFd(fd: number, path = `fd ${fd}`): DeviceInfo {
  const st = fstatSync(fd);
  if (st.isBlockDevice()) {
    need(`reading block device ${path}`);
    return {
      isBlockDevice: true,
      size: blockDeviceSize(fd),
      logicalSectorSize: logicalSectorSize(fd),
      physicalSectorSize: physicalSectorSize(fd),
    };
  }
  if (st.isFile()) {
    return {
      isBlockDevice: false,
      size: st.size,
      logicalSectorSize: FILE_LOGICAL_SECTOR,
      physicalSectorSize: FILE_PHYSICAL_SECTOR,
    };
  }
  const kind = st.isDirectory() ? 'a directory' : st.isCharacterDevice() ? 'a character device' : 'not a regular file';
  throw new BlockvaultError(ErrorCodes.badInput, `${path} is ${kind}, not an image file or block device`, {
    hint: 'give a regular image file or a block device such as /dev/vdb',
    details: { path },
  });
}

/** Opens path read-only and says what it is: block device or image file, its size and sector sizes. */
export async function deviceInfo(path: string): Promise<DeviceInfo> {
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY);
  } catch (err) {
    throw ioError(err, 'input', path);
  }
  try {
    return deviceInfoFromFd(handle.fd, path);
  } finally {
    await handle.close();
  }
}
