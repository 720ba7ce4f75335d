// AES-256-GCM in place from the addon (native/src/aead_gcm.c, OpenSSL as Node carries it):
// no output buffer to allocate, copy back and collect, which for 4 MiB chunks costs as much as
// the cipher. Undefined when the addon is not built (or is an older build): crypto/aead.ts
// then uses node:crypto, with the same bytes on disk.
import { loadAddon } from './addon.js';

export interface InPlaceGcm {
  /** Encrypts data where it lies; writes the 16-byte tag into tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): void;
  /** Decrypts data where it lies -> true; false (data as it was) when the tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, tag: Uint8Array, data: Uint8Array): boolean;
}

let gcm: InPlaceGcm | undefined | null = null;

export function inPlaceGcm(): InPlaceGcm | undefined {
  if (gcm === null) {
    const b = loadAddon();
    gcm = b?.gcmSeal && b.gcmOpen ? { seal: b.gcmSeal.bind(b), open: b.gcmOpen.bind(b) } : undefined;
  }
  return gcm;
}
