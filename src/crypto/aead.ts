// AES-256-GCM, the one cipher of blockvault (node:crypto, AES-NI where the CPU has it).
// Every object gets a fresh random 12-byte nonce: with random nonces one key stays within
// NIST's bound (2^-32 collision risk) for 2^32 objects, 16 PiB of 4 MiB chunks per domain.
// The associated data binds each ciphertext to what it claims to be (a chunk id, an object
// name), so an object moved, swapped or replayed under another name fails to open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { inPlaceGcm, type InPlaceGcm } from '../native/aead-gcm.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

/** The tag did not verify: wrong key, or the bytes, nonce or associated data changed. */
export class AeadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AeadError';
  }
}

export interface Sealed {
  nonce: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error(`AES-256-GCM key must be ${KEY_BYTES} bytes, got ${key.length}`);
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** Encrypts plaintext under key with a fresh nonce; aad is authenticated, not encrypted. */
export function seal(key: Buffer, plaintext: Uint8Array, aad: Uint8Array, nonce: Buffer = newNonce()): Sealed {
  checkKey(key);
  const c = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad);
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return { nonce, tag: c.getAuthTag(), ciphertext };
}

/** The same cipher through node:crypto, writing back into the caller's bytes: the fallback
 *  where the addon is not built (node:crypto has no in-place call, hence the copies). */
export const nodeGcm: InPlaceGcm = {
  seal(key, nonce, aad, data, tag) {
    const c = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(aad);
    const out = c.update(data);
    data.set(out);
    c.final(); // GCM is a stream mode: final() emits nothing, it computes the tag
    tag.set(c.getAuthTag());
  },
  open(key, nonce, aad, tag, data) {
    const d = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(tag);
    const out = d.update(data);
    try {
      d.final();
    } catch {
      out.fill(0);
      return false;
    }
    data.set(out);
    return true;
  },
};

/** In place through the addon (no buffer to allocate, copy and collect), else node:crypto. */
export const gcmInPlace: InPlaceGcm = inPlaceGcm() ?? nodeGcm;
/** True when sealing leaves a block-sized buffer of garbage behind (the node:crypto fallback). */
export const gcmAllocates = gcmInPlace === nodeGcm;

/**
 * Encrypts target[offset, offset + length) in place (the ciphertext is as long as the
 * plaintext) and returns the nonce and tag. Used for chunk payloads, which are already in
 * the buffer that becomes the stored object.
 */
export function sealInPlace(key: Buffer, target: Buffer, offset: number, length: number, aad: Uint8Array, nonce: Buffer = newNonce()): { nonce: Buffer; tag: Buffer } {
  checkKey(key);
  const tag = Buffer.allocUnsafe(TAG_BYTES);
  gcmInPlace.seal(key, nonce, aad, target.subarray(offset, offset + length), tag);
  return { nonce, tag };
}

/**
 * Decrypts target[offset, offset + length) in place; throws AeadError when the tag does not
 * verify, and then the bytes are as they were (ciphertext), never unauthenticated plaintext.
 */
export function openInPlace(key: Buffer, nonce: Uint8Array, tag: Uint8Array, target: Buffer, offset: number, length: number, aad: Uint8Array): void {
  checkKey(key);
  if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) throw new AeadError('nonce or tag has the wrong length');
  if (!gcmInPlace.open(key, nonce, aad, tag, target.subarray(offset, offset + length))) {
    throw new AeadError('authentication failed (wrong key, or the object was changed)');
  }
}

/** Decrypts and authenticates; throws AeadError when anything does not match. */
export function open(key: Buffer, sealed: Sealed, aad: Uint8Array): Buffer {
  checkKey(key);
  if (sealed.nonce.length !== NONCE_BYTES || sealed.tag.length !== TAG_BYTES) {
    throw new AeadError('nonce or tag has the wrong length');
  }
  const d = createDecipheriv(ALGORITHM, key, sealed.nonce, { authTagLength: TAG_BYTES });
  d.setAAD(aad);
  d.setAuthTag(sealed.tag);
  const head = d.update(sealed.ciphertext);
  try {
    const tail = d.final();
    return tail.length ? Buffer.concat([head, tail]) : head;
  } catch {
    head.fill(0); // never hand out plaintext that did not authenticate
    throw new AeadError('authentication failed (wrong key, or the object was changed)');
  }
}
