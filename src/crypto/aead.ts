// AES-256-GCM, the one cipher of blockvault (node:crypto, AES-NI where the CPU has it).
// Every object gets a fresh random 12-byte nonce: with random nonces one key stays within
// NIST's bound (2^-32 collision risk) for 2^32 objects, 16 PiB of 4 MiB chunks per domain.
// The associated data binds each ciphertext to what it claims to be (a chunk id, an object
// name), so an object moved, swapped or replayed under another name fails to open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

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

/**
 * Encrypts target[offset, offset + length) in place (the ciphertext is as long as the
 * plaintext) and returns the nonce and tag. Used for chunk payloads, which are already in
 * the buffer that becomes the stored object.
 */
export function sealInPlace(key: Buffer, target: Buffer, offset: number, length: number, aad: Uint8Array, nonce: Buffer = newNonce()): { nonce: Buffer; tag: Buffer } {
  checkKey(key);
  const c = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad);
  const out = c.update(target.subarray(offset, offset + length));
  out.copy(target, offset);
  c.final(); // GCM is a stream mode: final() emits nothing, it computes the tag
  return { nonce, tag: c.getAuthTag() };
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
