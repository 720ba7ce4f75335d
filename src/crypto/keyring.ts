// The key records of a vault (keys/<id>.json) and the domains they open. Each record is one
// way into one domain: a passphrase, a key file, or the control plane's KMS (the VK kept
// verbatim, unwrapped through a callback). Keys are added and removed without touching any
// data: only the domain's secret is wrapped again. Removing the last way into a domain is
// refused. The store is the vault's small-object API (vault.meta), passed in: crypto/ sits
// beside chunk/ and imports nothing of vault/ or engine/.
import { randomBytes } from 'node:crypto';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { AeadError, open, seal } from './aead.js';
import { KeyDomain, checkValue, kmsDomainId } from './domain.js';
import { DEFAULT_SCRYPT, checkScryptParams, deriveKey, scryptKey, type ScryptParams } from './kdf.js';
import {
  KEY_PREFIX,
  KeyRecordError,
  decodeKeyRecord,
  encodeKeyRecord,
  keyIdFromKey,
  keyRecordKey,
  type KeyRecord,
  type WrappedKey,
} from './key-record.js';
import { parseKeyFile } from './key-file.js';

/** What the keyring needs of a store: the vault's `meta` API has exactly this shape. */
export interface MetaStore {
  get(key: string): Promise<Buffer | undefined>;
  put(key: string, body: Buffer, opts?: { ifAbsent?: boolean }): Promise<boolean>;
  list(prefix: string): AsyncIterable<{ key: string }>;
  delete(key: string): Promise<void>;
}

export interface EncryptionContext {
  /** The control plane's KMS master key id (a UUID), as given. */
  cmkId: string;
  /** The volume's VK: the data key wrapped by that CMK, as given (64 characters). */
  vk: string;
}

/** Unwraps a VK with the control plane's KMS; blockvault never sees a clear key otherwise. */
export type UnwrapKey = (ctx: EncryptionContext) => Promise<Buffer | Uint8Array>;

export interface KeyCredentials {
  passphrase?: string | Buffer;
  /** A key file's bytes: 32 random bytes (raw, hex or base64), or else a passphrase in a file. */
  keyFile?: Buffer;
  unwrap?: UnwrapKey;
}

/** A new way into a domain. */
export type NewKey = { passphrase: string | Buffer; kdf?: ScryptParams } | { keyFile: Buffer };

export interface KeyringOptions {
  /** The vault's URL, for messages. */
  vault: string;
  credentials?: KeyCredentials;
}

const wrapAad = (r: { id: string; domain: string; kind: string }) => Buffer.from(`blockvault/key\0${r.id}\0${r.domain}\0${r.kind}`, 'utf8');
const b64 = (b: Buffer) => b.toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64');

export function describeKey(r: KeyRecord): string {
  const what = r.kind === 'kms' ? `kms CMK ${r.cmkId}` : r.kind;
  return `${r.id} (${what}${r.label ? `, "${r.label}"` : ''})`;
}

export class Keyring {
  readonly #store: MetaStore;
  readonly #vault: string;
  readonly #cred: KeyCredentials;
  readonly #domains = new Map<string, Promise<KeyDomain>>();
  /** scrypt is slow on purpose: derive once per (salt, parameters) and passphrase. */
  readonly #keks = new Map<string, Promise<Buffer>>();
  #records: Promise<KeyRecord[]> | undefined;

  constructor(store: MetaStore, opts: KeyringOptions) {
    this.#store = store;
    this.#vault = opts.vault;
    this.#cred = opts.credentials ?? {};
  }

  get hasCredentials(): boolean {
    return this.#cred.passphrase !== undefined || this.#cred.keyFile !== undefined || this.#cred.unwrap !== undefined;
  }

  /** Every key record, by id. Damaged records are reported, not skipped silently. */
  listKeys(): Promise<KeyRecord[]> {
    this.#records ??= this.#readRecords().catch((e) => {
      this.#records = undefined;
      throw e;
    });
    return this.#records;
  }

  async #readRecords(): Promise<KeyRecord[]> {
    const out: KeyRecord[] = [];
    const keys: string[] = [];
    for await (const o of this.#store.list(KEY_PREFIX)) if (keyIdFromKey(o.key)) keys.push(o.key);
    for (const key of keys.sort()) {
      const buf = await this.#store.get(key);
      if (!buf) continue; // removed since the listing
      try {
        out.push(decodeKeyRecord(buf, key));
      } catch (e) {
        if (!(e instanceof KeyRecordError)) throw e;
        throw new BlockvaultError(ErrorCodes.vaultDamaged, `${e.message} in vault ${this.#vault}`, {
          hint: 'remove or restore that object; the other key records are unaffected',
          details: { object: key },
        });
      }
    }
    return out;
  }

  #forget(): void {
    this.#records = undefined;
  }

  /** The domain with this id, opened with the credentials given (cached). */
  domain(id: string): Promise<KeyDomain> {
    let p = this.#domains.get(id);
    if (!p) {
      p = this.#open(id);
      this.#domains.set(id, p);
      p.catch(() => this.#domains.delete(id));
    }
    return p;
  }

  /** Whether the domain was opened already (no I/O, no unwrap). */
  isOpen(id: string): boolean {
    return this.#domains.has(id);
  }

  async #open(id: string): Promise<KeyDomain> {
    const all = await this.listKeys();
    const mine = all.filter((r) => r.domain === id);
    if (mine.length === 0) {
      throw new BlockvaultError(ErrorCodes.vaultDamaged, `vault ${this.#vault} has no key record for key domain ${id}`, {
        hint: 'the keys/ objects of that domain are gone; its data cannot be decrypted without one',
        details: { domain: id },
      });
    }
    if (!this.hasCredentials) {
      throw new BlockvaultError(ErrorCodes.badInput, `vault ${this.#vault} is encrypted and no key was given`, {
        hint: `give a passphrase (BLOCKVAULT_PASSWORD, --password-file, --password-command) or a key file; keys that open it: ${mine.map(describeKey).join(', ')}`,
        details: { domain: id, keyIds: mine.map((r) => r.id), locked: true },
      });
    }
    for (const r of mine) {
      const secret = await this.#tryRecord(r);
      if (secret) return new KeyDomain(id, secret);
    }
    const tried = [this.#cred.passphrase !== undefined && 'passphrase', this.#cred.keyFile !== undefined && 'key file', this.#cred.unwrap && 'KMS unwrap']
      .filter(Boolean)
      .join(', ');
    throw new BlockvaultError(ErrorCodes.badInput, `the key given (${tried}) does not open vault ${this.#vault}`, {
      hint: `use one of the keys that open key domain ${id}: ${mine.map(describeKey).join(', ')}`,
      details: { domain: id, keyIds: mine.map((r) => r.id), locked: true },
    });
  }

  /** The secret when the credentials open this record; undefined when they do not apply or do not match. */
  async #tryRecord(r: KeyRecord): Promise<Buffer | undefined> {
    if (r.kind === 'kms') {
      if (!this.#cred.unwrap) return undefined;
      const secret = await this.#unwrap(r);
      if (checkValue(r.domain, secret) !== r.check) {
        throw new BlockvaultError(ErrorCodes.badInput, `the control plane's unwrap of CMK ${r.cmkId} returned a key that is not the one of key domain ${r.domain} in vault ${this.#vault}`, {
          hint: 'check that the KMS answers for this CMKID and VK',
          details: { cmkId: r.cmkId, domain: r.domain, keyIds: [r.id] },
        });
      }
      return secret;
    }
    const kek = await this.#kekFor(r);
    if (!kek) return undefined;
    let secret: Buffer;
    try {
      secret = unwrapWith(kek, r);
    } catch (e) {
      if (e instanceof AeadError) return undefined; // another passphrase or key file
      throw e;
    }
    if (checkValue(r.domain, secret) !== r.check) {
      throw new BlockvaultError(ErrorCodes.vaultDamaged, `key record ${keyRecordKey(r.id)} in vault ${this.#vault} unwraps to a key its check value rejects`, {
        details: { object: keyRecordKey(r.id) },
      });
    }
    return secret;
  }

  async #unwrap(r: Extract<KeyRecord, { kind: 'kms' }>): Promise<Buffer> {
    let out: Buffer | Uint8Array;
    try {
      out = await this.#cred.unwrap!({ cmkId: r.cmkId, vk: r.vk });
    } catch (e) {
      const err = e as { message?: string; code?: unknown; name?: string };
      throw new BlockvaultError(ErrorCodes.badInput, `the control plane's unwrap of CMK ${r.cmkId} failed: ${err?.message ?? String(e)}`, {
        cause: e,
        hint: 'the KMS refused or could not be reached; nothing was written',
        details: { cmkId: r.cmkId, domain: r.domain, controlPlaneError: { name: err?.name, code: err?.code, message: err?.message } },
      });
    }
    const secret = Buffer.from(out);
    if (secret.length < 16) {
      throw new BlockvaultError(ErrorCodes.badInput, `the control plane's unwrap of CMK ${r.cmkId} returned ${secret.length} bytes; a data key has at least 16`, {
        details: { cmkId: r.cmkId },
      });
    }
    return secret;
  }

  /** The key-encryption key the credentials give for a passphrase or key-file record. */
  async #kekFor(r: Exclude<KeyRecord, { kind: 'kms' }>): Promise<Buffer | undefined> {
    const file = this.#cred.keyFile ? parseKeyFile(this.#cred.keyFile) : undefined;
    if (r.kind === 'keyfile') {
      if (file?.kind !== 'key') return undefined;
      return deriveKey(file.key, unb64(r.kdf.salt), 'keyfile-kek');
    }
    const passphrase = this.#cred.passphrase ?? (file?.kind === 'passphrase' ? file.passphrase : undefined);
    if (passphrase === undefined) return undefined;
    const params = { N: r.kdf.N, r: r.kdf.r, p: r.kdf.p };
    checkScryptParams(params, keyRecordKey(r.id));
    const memo = `${r.kdf.salt}:${params.N}:${params.r}:${params.p}`;
    let p = this.#keks.get(memo);
    if (!p) {
      p = scryptKey(passphrase, unb64(r.kdf.salt), params);
      this.#keks.set(memo, p);
    }
    return p;
  }

  /** A new domain with a random data key, and its first way in. */
  async createDomain(key: NewKey, opts: { label?: string } = {}): Promise<{ domain: KeyDomain; record: KeyRecord }> {
    const domain = KeyDomain.generate();
    const record = await this.#write(domain, key, opts.label);
    this.#domains.set(domain.id, Promise.resolve(domain));
    return { domain, record };
  }

  /**
   * The domain of a KMS encryption context: found when a backup with the same CMKID and VK
   * made it, else made now with one kms record holding the VK verbatim. Unwraps the VK once
   * either way (the data key is what the domain's keys are derived from).
   */
  async kmsDomain(ctx: EncryptionContext): Promise<KeyDomain> {
    const id = kmsDomainId(ctx.cmkId, ctx.vk);
    if ((await this.listKeys()).some((r) => r.domain === id)) return this.domain(id);
    if (!this.#cred.unwrap) {
      throw new BlockvaultError(ErrorCodes.badInput, `a backup with CMK ${ctx.cmkId} needs the control plane's unwrap callback (openVault(url, { keys: { unwrap } }))`, {
        details: { cmkId: ctx.cmkId },
      });
    }
    const rec = { version: 1 as const, id: id.slice(0, 16), domain: id, kind: 'kms' as const, created: new Date().toISOString(), cmkId: ctx.cmkId, vk: ctx.vk };
    const secret = await this.#unwrap({ ...rec, check: '0'.repeat(32) });
    const domain = new KeyDomain(id, secret);
    const record: KeyRecord = { ...rec, check: domain.check };
    // put-if-absent: two backups of one volume starting at once make one record.
    await this.#store.put(keyRecordKey(record.id), encodeKeyRecord(record), { ifAbsent: true });
    this.#forget();
    this.#domains.set(id, Promise.resolve(domain));
    return domain;
  }

  /** Another way into an open domain (a passphrase or key file). Data is not touched. */
  async addKey(domainId: string, key: NewKey, opts: { label?: string } = {}): Promise<KeyRecord> {
    return this.#write(await this.domain(domainId), key, opts.label);
  }

  async #write(domain: KeyDomain, key: NewKey, label: string | undefined): Promise<KeyRecord> {
    const id = randomBytes(8).toString('hex');
    const base = { version: 1 as const, id, domain: domain.id, created: new Date().toISOString(), check: domain.check, ...(label ? { label } : {}) };
    const salt = randomBytes(32);
    let record: KeyRecord;
    if ('passphrase' in key) {
      const params = key.kdf ?? DEFAULT_SCRYPT;
      checkScryptParams(params, keyRecordKey(id));
      const kek = await scryptKey(key.passphrase, salt, params);
      const kdf = { name: 'scrypt' as const, ...params, salt: b64(salt) };
      record = { ...base, kind: 'passphrase', kdf, wrapped: wrapWith(kek, domain.secret, { ...base, kind: 'passphrase' }) };
    } else {
      const file = parseKeyFile(key.keyFile);
      if (file.kind !== 'key') {
        throw new BlockvaultError(ErrorCodes.badInput, 'a new key file must hold 32 random bytes (raw, hex or base64)', {
          hint: 'make one with `head -c 32 /dev/urandom > vault.key`, or add the text as a passphrase',
        });
      }
      const kek = deriveKey(file.key, salt, 'keyfile-kek');
      record = { ...base, kind: 'keyfile', kdf: { name: 'hkdf-sha256', salt: b64(salt) }, wrapped: wrapWith(kek, domain.secret, { ...base, kind: 'keyfile' }) };
    }
    await this.#store.put(keyRecordKey(id), encodeKeyRecord(record), { ifAbsent: true });
    this.#forget();
    return record;
  }

  /** Removes one way in. Refused when it is the last one into its domain. */
  async removeKey(keyId: string): Promise<KeyRecord> {
    this.#forget();
    const all = await this.listKeys();
    const rec = all.find((r) => r.id === keyId);
    if (!rec) {
      throw new BlockvaultError(ErrorCodes.notFound, `vault ${this.#vault} has no key ${keyId}`, {
        hint: `its keys: ${all.map(describeKey).join(', ') || 'none'}`,
        details: { keyId },
      });
    }
    const last = () =>
      new BlockvaultError(ErrorCodes.badInput, `key ${keyId} is the last way into key domain ${rec.domain} of vault ${this.#vault}; refusing to remove it`, {
        hint: 'add another key first (`blockvault key add`), then remove this one',
        details: { keyId, domain: rec.domain },
      });
    if (all.filter((r) => r.domain === rec.domain).length < 2) throw last();
    await this.#store.delete(keyRecordKey(keyId));
    this.#forget();
    // Two removals racing could each leave the other's key as the last: look again and put
    // this record back if the domain would be left without a way in.
    if (!(await this.listKeys()).some((r) => r.domain === rec.domain)) {
      await this.#store.put(keyRecordKey(keyId), encodeKeyRecord(rec), { ifAbsent: true });
      this.#forget();
      throw last();
    }
    return rec;
  }
}

function wrapWith(kek: Buffer, secret: Buffer, r: { id: string; domain: string; kind: string }): WrappedKey {
  const s = seal(kek, secret, wrapAad(r));
  return { alg: 'aes-256-gcm', nonce: b64(s.nonce), tag: b64(s.tag), ciphertext: b64(s.ciphertext) };
}

function unwrapWith(kek: Buffer, r: Exclude<KeyRecord, { kind: 'kms' }>): Buffer {
  const w = r.wrapped;
  return open(kek, { nonce: unb64(w.nonce), tag: unb64(w.tag), ciphertext: unb64(w.ciphertext) }, wrapAad(r));
}
