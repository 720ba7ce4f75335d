// Key derivation. A passphrase becomes a key-encryption key through scrypt (memory-hard, in
// node:crypto, run on the libuv pool so it does not block the event loop); its parameters
// and salt are stored beside the wrapped key, so they can be raised later for new keys
// without touching old ones. Everything else is derived from high-entropy secrets with
// HKDF-SHA256, one label per purpose, so no key is ever used for two things.
import { hkdfSync, scrypt } from 'node:crypto';
import { BlockvaultError, ErrorCodes } from '../errors.js';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** 2^17 × 8 × 128 bytes = 128 MiB and a fraction of a second per try: restic's and
 *  OWASP's order of magnitude. Tests pass smaller parameters (they are stored per key). */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

/** Parameters a key record may ask for: enough to be useful, not enough to exhaust memory
 *  when a hostile record is read (N·r·128 at most 1 GiB). */
export function checkScryptParams(params: ScryptParams, where: string): void {
  const { N, r, p } = params;
  const pow2 = Number.isInteger(N) && N >= 2 ** 10 && (N & (N - 1)) === 0;
  const mem = 128 * N * r;
  if (!pow2 || !Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16 || mem > 2 ** 30) {
    throw new BlockvaultError(ErrorCodes.vaultDamaged, `key ${where} has scrypt parameters out of range (N=${N}, r=${r}, p=${p})`, {
      hint: 'the key record was damaged or not written by blockvault; open the vault with another key',
      details: { key: where },
    });
  }
}

export function scryptKey(passphrase: string | Buffer, salt: Buffer, params: ScryptParams, length = 32): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, length, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** HKDF-SHA256(secret, salt) with a purpose label: "blockvault/<label>". */
export function deriveKey(secret: Buffer, salt: Buffer, label: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, `blockvault/${label}`, length));
}
