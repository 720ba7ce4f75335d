// Loads the package's addon (native/: Node-API, C, built by the install script native/build.cjs
// with node-gyp) once per thread. A missing or broken build is not an error here: each user
// says what it needs the addon for (block-device.ts) or falls back to Node (aead-gcm.ts).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What native/index.js exports (native/index.d.ts). */
export interface NativeBinding {
  blockDeviceSize(fd: number): number;
  logicalSectorSize(fd: number): number;
  physicalSectorSize(fd: number): number;
  zeroOut(fd: number, offset: number | bigint, length: number | bigint): void;
  discard(fd: number, offset: number | bigint, length: number | bigint): void;
  supported: boolean;
  /** Older builds lack these: callers check. */
  gcmSeal?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): void;
  gcmOpen?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, tag: Uint8Array, data: Uint8Array): boolean;
  lz4Available?(): boolean;
  lz4Compress?(src: Uint8Array, dst: Uint8Array, offset: number, capacity: number): number;
  lz4Decompress?(src: Uint8Array, dst: Uint8Array, offset: number, length: number): number;
  addressMod?(buf: Uint8Array, modulus: number): number;
}

/** native/index.js of this package: two levels up from src/native/, three from dist/src/native/. */
function addonEntry(): string {
  for (const rel of ['../../native/index.js', '../../../native/index.js']) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(file)) return file;
  }
  return '@blockvault/native';
}

let binding: NativeBinding | undefined;
let loadError: unknown;
let loaded = false;

/** The addon, or undefined when it is not built or fails to load (see addonLoadError). */
export function loadAddon(): NativeBinding | undefined {
  if (!loaded) {
    loaded = true;
    try {
      const require = createRequire(import.meta.url);
      binding = require(addonEntry()) as NativeBinding;
    } catch (err) {
      loadError = err;
      binding = undefined;
    }
  }
  return binding;
}

/** Why loadAddon() returned undefined. */
export function addonLoadError(): unknown {
  loadAddon();
  return loadError;
}
