// A key domain: one secret (the data key, 32 random bytes, or what the control plane's KMS
// unwraps for a VK) and the keys derived from it, one per purpose:
//   chunk    AES-256-GCM of chunk payloads
//   chunk-id keyed BLAKE3 of raw blocks: chunk ids are per domain, so dedup never crosses
//            domains and nobody without the key learns whether two disks hold the same block
//   meta     AES-256-GCM of manifests and index segments (sealed blobs, see sealed-blob.ts)
//   check    a public 16-byte value stored with every key record, so a key that unwraps to
//            the wrong secret (a KMS answering for another VK) is caught before use
// The domain id (16 random bytes; for a KMS domain, derived from its CMKID and VK) salts
// every derivation, so equal secrets in two domains still give unrelated keys.
import { createHash, randomBytes } from 'node:crypto';
import { KEY_BYTES } from './aead.js';
import { deriveKey } from './kdf.js';

export const DOMAIN_ID_BYTES = 16;
export const DOMAIN_ID_HEX = /^[0-9a-f]{32}$/;
export const CHECK_BYTES = 16;

export class KeyDomain {
  readonly id: string;
  readonly idBytes: Buffer;
  /** AES-256-GCM key of chunk payloads (handed to the worker threads). */
  readonly chunkKey: Buffer;
  /** Keyed-BLAKE3 key of chunk ids. */
  readonly chunkIdKey: Buffer;
  /** AES-256-GCM key of sealed metadata objects. */
  readonly metaKey: Buffer;
  readonly #secret: Buffer;

  constructor(id: string, secret: Buffer) {
    if (!DOMAIN_ID_HEX.test(id)) throw new Error(`not a key domain id: ${id}`);
    if (secret.length < 16) throw new Error(`a domain secret must be at least 16 bytes, got ${secret.length}`);
    this.id = id;
    this.idBytes = Buffer.from(id, 'hex');
    this.#secret = Buffer.from(secret);
    this.chunkKey = deriveKey(this.#secret, this.idBytes, 'chunk');
    this.chunkIdKey = deriveKey(this.#secret, this.idBytes, 'chunk-id');
    this.metaKey = deriveKey(this.#secret, this.idBytes, 'meta');
  }

  /** A new domain with a random 32-byte data key. */
  static generate(): KeyDomain {
    return new KeyDomain(randomBytes(DOMAIN_ID_BYTES).toString('hex'), randomBytes(KEY_BYTES));
  }

  /** The secret, for wrapping under another key-encryption key. Never stored in the clear. */
  get secret(): Buffer {
    return this.#secret;
  }

  /** The public check value every key record of this domain carries. */
  get check(): string {
    return checkValue(this.id, this.#secret);
  }
}

export function checkValue(domainId: string, secret: Buffer): string {
  return deriveKey(secret, Buffer.from(domainId, 'hex'), 'check', CHECK_BYTES).toString('hex');
}

/** The domain of a KMS encryption context: the same CMKID and VK always land in the same
 *  domain (so a volume's incrementals stay in its chain's domain), another context never. */
export function kmsDomainId(cmkId: string, vk: string): string {
  return createHash('sha256').update('blockvault/kms-domain\0').update(cmkId).update('\0').update(vk).digest().subarray(0, DOMAIN_ID_BYTES).toString('hex');
}
