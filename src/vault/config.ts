// The vault's config object: format version, block size, the per-vault hash key and the
// compression mode. Written once, put-if-absent; checksummed so damage is named, not guessed.
import { randomBytes, randomUUID } from 'node:crypto';
import { xxh64 } from '@node-rs/xxhash';
import type { Compression } from '../chunk/compress.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { EncryptionHeader } from '../crypto/vault-crypto.js';
import { Layout } from './layout.js';

export const VAULT_FORMAT = 'blockvault';
export const VAULT_FORMAT_VERSION = 1;
/** An encrypted vault (config.encryption, no hash key in the clear). Plain vaults stay at 1. */
export const ENCRYPTED_FORMAT_VERSION = 2;
const READS_UP_TO = ENCRYPTED_FORMAT_VERSION;
export const CONFIG_KEY = Layout.config;

export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;
export const MIN_BLOCK_SIZE = 64 * 1024;
export const MAX_BLOCK_SIZE = 16 * 1024 * 1024;

export interface VaultConfig {
  format: typeof VAULT_FORMAT;
  formatVersion: number;
  vaultId: string;
  createdAt: string;
  blockSize: number;
  compression: Compression;
  /** 32 bytes, hex: the key of the chunk identity hash. Whoever reads the vault has it.
   *  Absent in an encrypted vault: its chunk-id keys are derived per key domain. */
  hashKey?: string;
  /** Encrypted vaults only: the public header (cipher, default key domain; crypto/vault-crypto.ts). */
  encryption?: EncryptionHeader;
}

export function validateBlockSize(blockSize: number): void {
  const pow2 = Number.isInteger(blockSize) && blockSize > 0 && (blockSize & (blockSize - 1)) === 0;
  if (!pow2 || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new BlockvaultError(ErrorCodes.badInput, `block size ${blockSize} is not a power of two from 64 KiB to 16 MiB`, {
      hint: 'use e.g. --block-size 4MiB (the default), 1MiB or 64KiB',
    });
  }
}

export function newConfig(opts: { blockSize?: number; compression?: Compression; encryption?: EncryptionHeader; vaultId?: string } = {}): VaultConfig {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  validateBlockSize(blockSize);
  const base = {
    format: VAULT_FORMAT,
    vaultId: opts.vaultId ?? randomUUID(),
    createdAt: new Date().toISOString(),
    blockSize,
    compression: opts.compression ?? 'lz4',
  } as const;
  if (opts.encryption) return { ...base, formatVersion: ENCRYPTED_FORMAT_VERSION, encryption: opts.encryption };
  return { ...base, formatVersion: VAULT_FORMAT_VERSION, hashKey: randomBytes(32).toString('hex') };
}

export function encodeConfig(cfg: VaultConfig): Buffer {
  const body = JSON.stringify(cfg, null, 2);
  const sum = xxh64(Buffer.from(body, 'utf8')).toString(16).padStart(16, '0');
  return Buffer.from(JSON.stringify({ config: cfg, checksum: sum }, null, 2) + '\n', 'utf8');
}

export function decodeConfig(buf: Buffer, where: string): VaultConfig {
  const damaged = (why: string) =>
    new BlockvaultError(ErrorCodes.vaultDamaged, `vault config at ${where} is damaged: ${why}`, {
      hint: 'restore the config object from a copy of the vault; without its hash key the vault cannot be written to',
      details: { object: where },
    });
  let doc: { config?: VaultConfig; checksum?: string };
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch {
    throw damaged('not valid JSON');
  }
  const cfg = doc.config;
  if (!cfg || typeof doc.checksum !== 'string') throw damaged('missing config or checksum');
  const sum = xxh64(Buffer.from(JSON.stringify(cfg, null, 2), 'utf8')).toString(16).padStart(16, '0');
  if (sum !== doc.checksum) throw damaged('checksum mismatch');
  if (cfg.format !== VAULT_FORMAT) throw damaged(`format is ${JSON.stringify(cfg.format)}, not ${VAULT_FORMAT}`);
  if (typeof cfg.formatVersion !== 'number' || cfg.formatVersion > READS_UP_TO) {
    throw new BlockvaultError(
      ErrorCodes.vaultFormat,
      `vault at ${where} has format version ${cfg.formatVersion}; this blockvault reads up to ${READS_UP_TO}`,
      { hint: 'upgrade blockvault to open this vault', details: { object: where } },
    );
  }
  if (cfg.formatVersion >= ENCRYPTED_FORMAT_VERSION) {
    const e = cfg.encryption;
    if (!e || e.scheme !== 'aes-256-gcm') throw damaged('an encrypted vault (format 2) without an aes-256-gcm encryption header');
    if (e.defaultDomain !== undefined && !/^[0-9a-f]{32}$/.test(e.defaultDomain)) throw damaged('default key domain is not 16 bytes of hex');
    if (cfg.hashKey !== undefined) throw damaged('an encrypted vault must not hold its hash key in the clear');
  } else if (!/^[0-9a-f]{64}$/.test(cfg.hashKey ?? '')) throw damaged('hash key is not 32 bytes of hex');
  validateBlockSize(cfg.blockSize);
  return cfg;
}
