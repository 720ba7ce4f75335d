// Opening a vault's config on a store, or creating it: what Vault.onStore needs before it can
// build a Vault. A new encrypted vault writes its key records first (the config makes the vault
// exist); an existing one is opened with its keys, so a wrong or missing key fails here,
// before anything is written.
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import type { Compression } from '../chunk/compress.js';
import { VaultCrypto, type EncryptOptions, type VaultKeys } from '../crypto/vault-crypto.js';
import { readChecked, unstableReadError } from './chunk-reread.js';
import { decodeConfig, encodeConfig, newConfig, validateOpenOptions, type VaultConfig } from './config.js';
import { anyVaultObject, configLostError, ensureConfigCopy } from './config-store.js';
import { Layout } from './layout.js';
import { encryptionOf, openEncryption, type VaultEncryption } from './vault-encryption.js';
import { metaObjects } from './vault-meta.js';

export interface VaultConfigOptions {
  /** Make the vault if there is none (the first backup does this). */
  create?: boolean;
  /** For a new vault only: block size (power of two, 64 KiB–16 MiB) and compression. */
  blockSize?: number;
  compression?: Compression;
  /** For a new vault only: make it encrypted, with this first way in (or kms: true). */
  encrypt?: EncryptOptions;
  /** An encrypted vault's keys: a passphrase, a key file, the control plane's unwrap.
   *  Default: BLOCKVAULT_PASSWORD / BLOCKVAULT_PASSWORD_FILE / BLOCKVAULT_KEY_FILE. */
  keys?: VaultKeys;
  /** For a new vault only: a replica of this vault, with its block size, compression and
   *  chunk-id key, so copies between them move chunk objects as stored (src/engine/copy.ts). */
  replicaOf?: { config: VaultConfig };
}

export interface OpenedConfig {
  config: VaultConfig;
  enc: VaultEncryption | undefined;
}

export async function openVaultConfig(store: ObjectStore, opts: VaultConfigOptions): Promise<OpenedConfig> {
  validateOpenOptions(opts);
  let raw: Buffer | undefined;
  try {
    raw = await store.get(Layout.config);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  if (!raw) {
    // Options are checked before anything is written (or listed).
    const fresh = opts.create ? newConfig(freshConfigOptions(opts)) : undefined;
    const found = await anyVaultObject(store);
    // A creator racing us may have written its config (and copy) since our get.
    if (found !== undefined) raw = await store.get(Layout.config).catch(() => undefined);
    if (found !== undefined && !raw) throw configLostError(store.url, found);
    if (!raw && !fresh) {
      throw new BlockvaultError(ErrorCodes.notFound, `no blockvault vault at ${store.url} (no config object)`, {
        hint: 'check --vault, or run a backup or `blockvault init` to create one',
      });
    }
    if (!raw && fresh) {
      // An encrypted vault's key records are written first: the config makes the vault exist.
      const crypto = opts.encrypt ? await VaultCrypto.create(metaObjects(store), store.url, opts.encrypt, opts.keys) : undefined;
      const cfg = crypto ? newConfig({ blockSize: fresh.blockSize, compression: fresh.compression, encryption: crypto.header }) : fresh;
      // put-if-absent: of two processes creating one vault, one config wins and both use it.
      const encoded = encodeConfig(cfg);
      if (!(await store.put(Layout.config, encoded, { ifAbsent: true }))) raw = await store.get(Layout.config);
      else {
        await ensureConfigCopy(store, encoded);
        return { config: cfg, enc: crypto && (await encryptionOf(crypto, cfg.compression)) };
      }
    }
  }
  // A body that fails its checksum is read again: damaged only when the bad bytes repeat.
  let first: Buffer | undefined = raw!;
  const read = async () => {
    const b = first ?? (await store.get(Layout.config));
    first = undefined;
    return b;
  };
  const where = `${store.url}/${Layout.config}`;
  const cfg = await readChecked(read, (b) => decodeConfig(b, where), (o) => (o.stable ? o.error : unstableReadError(Layout.config, store.url, o)));
  if (opts.blockSize !== undefined && opts.blockSize !== cfg.blockSize) {
    throw new BlockvaultError(
      ErrorCodes.badInput,
      `vault ${store.url} uses ${cfg.blockSize}-byte blocks; --block-size ${opts.blockSize} cannot change it`,
      { hint: 'omit --block-size for an existing vault (the block size is fixed per vault)' },
    );
  }
  if (opts.encrypt && opts.create && !cfg.encryption) {
    throw new BlockvaultError(ErrorCodes.badInput, `vault ${store.url} exists and is not encrypted; it cannot be made encrypted in place`, {
      hint: 'make a new encrypted vault and copy the backups into it',
    });
  }
  if (!cfg.encryption) return { config: cfg, enc: undefined };
  // A wrong or missing key fails here, before anything is written.
  return { config: cfg, enc: await openEncryption(metaObjects(store), store.url, cfg, opts) };
}

/** A new vault's settings: the caller's, or a replica's source's (its chunk-id key included). */
function freshConfigOptions(opts: VaultConfigOptions): Parameters<typeof newConfig>[0] {
  const src = opts.replicaOf?.config;
  if (!src) return { blockSize: opts.blockSize, compression: opts.compression };
  if (src.encryption || !src.hashKey) {
    throw new BlockvaultError(ErrorCodes.badInput, 'a replica of an encrypted vault cannot share its chunk-id key', {
      hint: 'copy into a vault created on its own (copyBackups then re-identifies every block through the destination)',
      details: { field: 'replicaOf' },
    });
  }
  return { blockSize: src.blockSize, compression: src.compression, hashKey: src.hashKey };
}
