// `key add|remove` on an open vault: a new way into a key domain, wrapped with the domain's
// secret, which the keys the vault was opened with unlocked; or one removed. No data object
// is read or written. Removing needs a key that opens the domain too (whoever edits the ways
// in must hold one), and the last way in is never removed (crypto/keyring.ts).
import type { NewKey } from '../crypto/keyring.js';
import { credentialsOf } from '../crypto/vault-crypto.js';
import type { KeyRecord } from '../crypto/key-record.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { VaultEncryption } from './vault-encryption.js';

export type { KeyRecord };

/** A new key: a passphrase (scrypt parameters optional) or a key file (bytes or a path). */
export type NewKeyInput = { passphrase: string | Buffer; kdf?: { N: number; r: number; p: number } } | { keyFile: Buffer | string };

export async function addVaultKey(enc: VaultEncryption, url: string, key: NewKeyInput, opts: { domain?: string; label?: string }): Promise<KeyRecord> {
  const domain = opts.domain ?? enc.crypto.header.defaultDomain;
  if (!domain) {
    throw new BlockvaultError(ErrorCodes.badInput, `vault ${url} has no default key domain; say which domain the key is for`, {
      hint: 'list the domains with `blockvault key list`',
    });
  }
  let k: NewKey;
  if ('passphrase' in key) k = key.kdf ? { passphrase: key.passphrase, kdf: key.kdf } : { passphrase: key.passphrase };
  else k = { keyFile: (await credentialsOf({ keyFile: key.keyFile })).keyFile! };
  return enc.crypto.keyring.addKey(domain, k, opts.label ? { label: opts.label } : {});
}

export async function removeVaultKey(enc: VaultEncryption, keyId: string): Promise<KeyRecord> {
  const rec = (await enc.crypto.keyring.listKeys()).find((r) => r.id === keyId);
  if (rec) await enc.crypto.domain(rec.domain); // proof of a key to this domain
  return enc.crypto.keyring.removeKey(keyId);
}
