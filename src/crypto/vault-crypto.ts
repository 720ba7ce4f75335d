// What an encrypted vault asks of crypto/: one object holding its keyring and its default
// domain, sealing and opening metadata objects, and the keys of chunk frames. The vault
// decides what is sealed (manifests, index segments) and what stays readable (config's
// public header, leases, key records); this module decides how.
import { readFile } from 'node:fs/promises';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { KeyDomain } from './domain.js';
import { Keyring, type EncryptionContext, type KeyCredentials, type MetaStore, type NewKey, type UnwrapKey } from './keyring.js';
import type { ScryptParams } from './kdf.js';
import {
  SealedBlobError,
  isSealed,
  isSealedPair,
  openBlob,
  openPair,
  openPairHead,
  pairDomainId,
  pairHeadBytes,
  sealBlob,
  sealPair,
  sealedDomainId,
} from './sealed-blob.js';

/** The public part of an encrypted vault's config. */
export interface EncryptionHeader {
  scheme: 'aes-256-gcm';
  /** The domain of backups made without a KMS context (passphrase and key-file vaults).
   *  Absent in a vault whose every domain is a control plane's KMS context. */
  defaultDomain?: string;
}

/** How a vault is opened: any of these (a key file as bytes or a path). */
export interface VaultKeys {
  passphrase?: string | Buffer;
  keyFile?: Buffer | string;
  unwrap?: UnwrapKey;
}

/** How a vault is created encrypted: its first way in (passphrase or key file), or `kms`
 *  for a vault whose domains come only from the control plane's encryption contexts. */
export interface EncryptOptions {
  passphrase?: string | Buffer;
  keyFile?: Buffer | string;
  /** scrypt parameters for the passphrase (stored with the key; default 2^17, 8, 1). */
  kdf?: ScryptParams;
  kms?: boolean;
  label?: string;
}

export async function credentialsOf(keys: VaultKeys | undefined): Promise<KeyCredentials> {
  if (!keys) return {};
  const out: KeyCredentials = {};
  if (keys.passphrase !== undefined) out.passphrase = keys.passphrase;
  if (keys.unwrap) out.unwrap = keys.unwrap;
  if (keys.keyFile !== undefined) out.keyFile = typeof keys.keyFile === 'string' ? await readKeyFile(keys.keyFile) : keys.keyFile;
  return out;
}

async function readKeyFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new BlockvaultError(ErrorCodes.badInput, `key file ${path} cannot be read: ${(e as Error).message}`, { cause: e, details: { path } });
  }
}

export class VaultCrypto {
  readonly keyring: Keyring;
  readonly header: EncryptionHeader;
  readonly #url: string;

  private constructor(keyring: Keyring, header: EncryptionHeader, url: string) {
    this.keyring = keyring;
    this.header = header;
    this.#url = url;
  }

  /** Makes the key material of a new encrypted vault (key records first; the config, which
   *  makes the vault exist, is written by the caller after). */
  static async create(meta: MetaStore, url: string, encrypt: EncryptOptions, keys?: VaultKeys): Promise<VaultCrypto> {
    const credentials = await credentialsOf({ ...keys, ...pick(encrypt) });
    const keyring = new Keyring(meta, { vault: url, credentials });
    const first: NewKey | undefined =
      encrypt.passphrase !== undefined
        ? { passphrase: encrypt.passphrase, ...(encrypt.kdf ? { kdf: encrypt.kdf } : {}) }
        : encrypt.keyFile !== undefined
          ? { keyFile: credentials.keyFile! }
          : undefined;
    if (!first && !encrypt.kms) {
      throw new BlockvaultError(ErrorCodes.badInput, `an encrypted vault at ${url} needs a passphrase, a key file, or kms: true`, {
        hint: 'give --password-file, --password-command or BLOCKVAULT_PASSWORD (or encrypt: { passphrase } in the library)',
      });
    }
    const header: EncryptionHeader = { scheme: 'aes-256-gcm' };
    if (first) header.defaultDomain = (await keyring.createDomain(first, encrypt.label ? { label: encrypt.label } : {})).domain.id;
    return new VaultCrypto(keyring, header, url);
  }

  /** An existing encrypted vault. Call unlock() to check the keys before writing anything. */
  static async open(meta: MetaStore, url: string, header: EncryptionHeader, keys?: VaultKeys): Promise<VaultCrypto> {
    return new VaultCrypto(new Keyring(meta, { vault: url, credentials: await credentialsOf(keys) }), header, url);
  }

  /** Opens the default domain now, so a wrong passphrase fails before anything is written. */
  async unlock(): Promise<void> {
    if (this.header.defaultDomain) {
      await this.keyring.domain(this.header.defaultDomain);
      return;
    }
    if (!this.keyring.hasCredentials) {
      const ids = (await this.keyring.listKeys()).map((r) => r.id);
      throw new BlockvaultError(ErrorCodes.badInput, `vault ${this.#url} is encrypted and no key was given`, {
        hint: "its domains are the control plane's KMS contexts: open it with keys: { unwrap }",
        details: { keyIds: ids },
      });
    }
  }

  /** The domain a backup writes into: its KMS context's, or the vault's default. */
  async domainFor(ctx?: EncryptionContext): Promise<KeyDomain> {
    if (ctx) {
      const d = await this.keyring.kmsDomain(ctx);
      this.#open.set(d.id, d);
      return d;
    }
    if (!this.header.defaultDomain) {
      throw new BlockvaultError(ErrorCodes.badInput, `vault ${this.#url} holds only KMS-encrypted volumes: a backup into it needs encryption: { cmkId, vk }`, {
        hint: 'pass the volume\'s CMKID and VK, or use a vault made with a passphrase',
      });
    }
    return this.domain(this.header.defaultDomain);
  }

  /** The chunk key of an open domain, for decodeChunk (synchronous). */
  chunkKeyOf(domainId: string): Buffer | undefined {
    return this.#open.get(domainId)?.chunkKey;
  }

  readonly #open = new Map<string, KeyDomain>();

  /** Every domain opened so far. */
  get openDomains(): KeyDomain[] {
    return [...this.#open.values()];
  }

  /** The domain if it is open already (no I/O). */
  opened(domainId: string): KeyDomain | undefined {
    return this.#open.get(domainId);
  }

  /** Opens (once) the domain with this id, keeping it for chunkKeyOf. */
  async domain(domainId: string): Promise<KeyDomain> {
    const hit = this.#open.get(domainId);
    if (hit) return hit;
    const d = await this.keyring.domain(domainId);
    this.#open.set(domainId, d);
    return d;
  }

  sealMeta(domain: KeyDomain, name: string, body: Uint8Array): Buffer {
    this.#open.set(domain.id, domain);
    return sealBlob(domain, name, body);
  }

  sealManifest(domain: KeyDomain, name: string, head: Uint8Array, body: Uint8Array): Buffer {
    this.#open.set(domain.id, domain);
    return sealPair(domain, name, head, body);
  }

  /**
   * Opens the domain a sealed object (blob or pair) names, so the synchronous open*Sync calls
   * can run in a read-check-reread loop. A wrong or missing key fails here (bad input); an
   * object that is not sealed or is damaged is left for the check to name.
   */
  async prepare(name: string, buf: Buffer): Promise<void> {
    let id: string;
    try {
      id = isSealedPair(buf) ? pairDomainId(buf, name) : sealedDomainId(buf, name);
    } catch (e) {
      if (e instanceof SealedBlobError) return;
      throw e;
    }
    await this.domain(id);
  }

  #opened(id: string, name: string): KeyDomain {
    const d = this.#open.get(id);
    if (!d) throw new SealedBlobError(`${name} is sealed in key domain ${id}, which is not open`, name);
    return d;
  }

  /** Opens a sealed metadata object (after prepare). A plain one is refused: in an encrypted
   *  vault nothing unsealed is trusted. Throws SealedBlobError. */
  openMetaSync(name: string, buf: Buffer): Buffer {
    if (!isSealed(buf)) throw new SealedBlobError(`${name} is not sealed, in an encrypted vault`, name);
    return openBlob(this.#opened(sealedDomainId(buf, name), name), name, buf);
  }

  /** Bytes of a sealed manifest needed for its head (0: read more to tell). Throws SealedBlobError. */
  manifestHeadBytes(name: string, prefix: Buffer): number {
    if (prefix.length >= 4 && !isSealedPair(prefix)) throw new SealedBlobError(`${name} is not sealed, in an encrypted vault`, name);
    return pairHeadBytes(prefix, name);
  }

  openManifestHeadSync(name: string, prefix: Buffer): Buffer {
    if (!isSealedPair(prefix)) throw new SealedBlobError(`${name} is not sealed, in an encrypted vault`, name);
    return openPairHead(this.#opened(pairDomainId(prefix, name), name), name, prefix);
  }

  openManifestSync(name: string, buf: Buffer): { head: Buffer; body: Buffer; domainId: string } {
    if (!isSealedPair(buf)) throw new SealedBlobError(`${name} is not sealed, in an encrypted vault`, name);
    const domainId = pairDomainId(buf, name);
    return { ...openPair(this.#opened(domainId, name), name, buf), domainId };
  }

  /** Async conveniences (prepare, then open), with damage as BV.VaultDamaged naming the object. */
  async openMeta(name: string, buf: Buffer): Promise<Buffer> {
    await this.prepare(name, buf);
    try {
      return this.openMetaSync(name, buf);
    } catch (e) {
      throw this.damaged(e, name);
    }
  }

  async openManifest(name: string, buf: Buffer): Promise<{ head: Buffer; body: Buffer; domainId: string }> {
    await this.prepare(name, buf);
    try {
      return this.openManifestSync(name, buf);
    } catch (e) {
      throw this.damaged(e, name);
    }
  }

  /** A SealedBlobError as BV.VaultDamaged naming the object; anything else as it is. */
  damaged(e: unknown, name: string): unknown {
    if (!(e instanceof SealedBlobError)) return e;
    return new BlockvaultError(ErrorCodes.vaultDamaged, `${e.message} (vault ${this.#url})`, {
      hint: 'run `blockvault verify`; restore the object from a copy of the vault, or delete that backup',
      details: { object: name },
    });
  }
}

function pick(e: EncryptOptions): VaultKeys {
  const out: VaultKeys = {};
  if (e.passphrase !== undefined) out.passphrase = e.passphrase;
  if (e.keyFile !== undefined) out.keyFile = e.keyFile;
  return out;
}

/**
 * Keys from the environment, for the command line and the bench: BLOCKVAULT_PASSWORD (a
 * passphrase), BLOCKVAULT_PASSWORD_FILE (a file holding a passphrase) and BLOCKVAULT_KEY_FILE
 * (a key file). Undefined when none is set.
 */
export async function keysFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<VaultKeys | undefined> {
  const keys: VaultKeys = {};
  if (env.BLOCKVAULT_PASSWORD) keys.passphrase = env.BLOCKVAULT_PASSWORD;
  else if (env.BLOCKVAULT_PASSWORD_FILE) {
    const text = (await readKeyFile(env.BLOCKVAULT_PASSWORD_FILE)).toString('utf8').replace(/\r?\n$/, '');
    keys.passphrase = text;
  }
  if (env.BLOCKVAULT_KEY_FILE) keys.keyFile = env.BLOCKVAULT_KEY_FILE;
  return Object.keys(keys).length ? keys : undefined;
}
