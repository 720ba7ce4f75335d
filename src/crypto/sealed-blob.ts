// The sealed form of a metadata object (manifest, index segment): a short public header that
// names the key domain, then AES-256-GCM ciphertext.
//
//   0  4  magic "BVSB"
//   4  1  format version (1)
//   5  1  algorithm: 1 AES-256-GCM
//   6  2  reserved, zero
//   8 16  key domain id
//  24 12  nonce (random per object)
//  36 16  tag
//  52 ..  ciphertext
//
// The associated data is the header up to the tag plus the object's name (its key in the
// vault), so a sealed object copied or swapped under another name, or cut short, fails to open.
import { AeadError, NONCE_BYTES, TAG_BYTES, newNonce, open, seal } from './aead.js';
import { DOMAIN_ID_BYTES, type KeyDomain } from './domain.js';

export const SEALED_MAGIC = Buffer.from('BVSB', 'ascii');
export const SEALED_VERSION = 1;
const ALG_AES_256_GCM = 1;
const NONCE_AT = 8 + DOMAIN_ID_BYTES;
const TAG_AT = NONCE_AT + NONCE_BYTES;
export const SEALED_HEADER_BYTES = TAG_AT + TAG_BYTES;

export class SealedBlobError extends Error {
  constructor(
    message: string,
    /** The object's name (its key in the vault). */
    readonly object: string,
  ) {
    super(message);
    this.name = 'SealedBlobError';
  }
}

export function isSealed(buf: Buffer): boolean {
  return buf.length >= 4 && buf.subarray(0, 4).equals(SEALED_MAGIC);
}

function aad(header: Buffer, name: string): Buffer {
  return Buffer.concat([Buffer.from(`blockvault/sealed\0${name}\0`, 'utf8'), header.subarray(0, TAG_AT)]);
}

/** The domain a sealed blob needs, from its public header (no key required). */
export function sealedDomainId(buf: Buffer, name: string): string {
  if (buf.length < SEALED_HEADER_BYTES || !isSealed(buf)) throw new SealedBlobError(`${name} is not a sealed object (bad magic or too short)`, name);
  if (buf[4]! > SEALED_VERSION) throw new SealedBlobError(`${name} is sealed with format version ${buf[4]}, newer than this blockvault reads`, name);
  if (buf[5] !== ALG_AES_256_GCM) throw new SealedBlobError(`${name} is sealed with unknown algorithm ${buf[5]}`, name);
  return buf.subarray(8, 8 + DOMAIN_ID_BYTES).toString('hex');
}

export function sealBlob(domain: KeyDomain, name: string, plaintext: Uint8Array): Buffer {
  const header = Buffer.alloc(SEALED_HEADER_BYTES);
  SEALED_MAGIC.copy(header, 0);
  header[4] = SEALED_VERSION;
  header[5] = ALG_AES_256_GCM;
  domain.idBytes.copy(header, 8);
  // The nonce is part of the header, and the header is part of the associated data.
  const nonce = newNonce();
  nonce.copy(header, NONCE_AT);
  const sealed = seal(domain.metaKey, plaintext, aad(header, name), nonce);
  sealed.tag.copy(header, TAG_AT);
  return Buffer.concat([header, sealed.ciphertext]);
}

/** Opens a sealed blob named `name` with its domain's key; SealedBlobError when it does not open. */
export function openBlob(domain: KeyDomain, name: string, buf: Buffer): Buffer {
  const id = sealedDomainId(buf, name);
  if (id !== domain.id) throw new SealedBlobError(`${name} is sealed in key domain ${id}, not ${domain.id}`, name);
  const header = buf.subarray(0, SEALED_HEADER_BYTES);
  try {
    return open(
      domain.metaKey,
      { nonce: Buffer.from(header.subarray(NONCE_AT, TAG_AT)), tag: Buffer.from(header.subarray(TAG_AT)), ciphertext: buf.subarray(SEALED_HEADER_BYTES) },
      aad(header, name),
    );
  } catch (e) {
    if (e instanceof AeadError) throw new SealedBlobError(`${name} does not authenticate: it was changed, cut short or moved from another name`, name);
    throw e;
  }
}

// A sealed pair: a small head and a large body, sealed apart so a reader can open the head
// from the first few KiB (a manifest's header, for `list`) and the body only when needed.
//
//   0  4  magic "BVSP"
//   4  1  format version (1)
//   5  3  reserved, zero
//   8  4  length L of the sealed head (u32 LE)
//  12  L  sealed head (name "<name>#head")
//  ..     sealed body (name "<name>#body#<the head's tag>": a body only opens beside its own head)
export const PAIR_MAGIC = Buffer.from('BVSP', 'ascii');
export const PAIR_PREFIX_BYTES = 12;

export function isSealedPair(buf: Buffer): boolean {
  return buf.length >= 4 && buf.subarray(0, 4).equals(PAIR_MAGIC);
}

const headTag = (sealedHead: Buffer) => sealedHead.subarray(TAG_AT, SEALED_HEADER_BYTES).toString('hex');

export function sealPair(domain: KeyDomain, name: string, head: Uint8Array, body: Uint8Array): Buffer {
  const h = sealBlob(domain, `${name}#head`, head);
  const b = sealBlob(domain, `${name}#body#${headTag(h)}`, body);
  const prefix = Buffer.alloc(PAIR_PREFIX_BYTES);
  PAIR_MAGIC.copy(prefix, 0);
  prefix[4] = 1;
  prefix.writeUInt32LE(h.length, 8);
  return Buffer.concat([prefix, h, b]);
}

/** Bytes of the object needed to open the head: 0 when `prefix` is too short to tell. */
export function pairHeadBytes(prefix: Buffer, name: string): number {
  if (prefix.length < PAIR_PREFIX_BYTES) return 0;
  if (!isSealedPair(prefix)) throw new SealedBlobError(`${name} is not a sealed object (bad magic)`, name);
  if (prefix[4]! > 1) throw new SealedBlobError(`${name} is sealed with format version ${prefix[4]}, newer than this blockvault reads`, name);
  return PAIR_PREFIX_BYTES + prefix.readUInt32LE(8);
}

function pairHead(buf: Buffer, name: string): Buffer {
  const need = pairHeadBytes(buf, name);
  if (need === 0 || buf.length < need) throw new SealedBlobError(`${name} is cut short (its sealed head is incomplete)`, name);
  return buf.subarray(PAIR_PREFIX_BYTES, need);
}

/** The domain the pair needs (from its public header). */
export function pairDomainId(buf: Buffer, name: string): string {
  return sealedDomainId(pairHead(buf, name), `${name}#head`);
}

/** Opens the head only; buf may be just the object's first pairHeadBytes() bytes. */
export function openPairHead(domain: KeyDomain, name: string, buf: Buffer): Buffer {
  return openBlob(domain, `${name}#head`, pairHead(buf, name));
}

export function openPair(domain: KeyDomain, name: string, buf: Buffer): { head: Buffer; body: Buffer } {
  const h = pairHead(buf, name);
  const head = openBlob(domain, `${name}#head`, h);
  const rest = buf.subarray(PAIR_PREFIX_BYTES + h.length);
  if (rest.length < SEALED_HEADER_BYTES) throw new SealedBlobError(`${name} is cut short (no sealed body)`, name);
  return { head, body: openBlob(domain, `${name}#body#${headTag(h)}`, rest) };
}
