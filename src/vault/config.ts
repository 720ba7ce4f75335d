// The vault's config object: format version, block size, the per-vault hash key and the
// compression mode. Written once, put-if-absent; checksummed so damage is named, not guessed.
import { randomBytes, randomUUID } from 'node:crypto';
import { xxh64 } from '@node-rs/xxhash';
import * as v from 'valibot';
import type { Compression } from '../chunk/compress.js';
import { VAULT_ENCRYPTED_FORMAT_VERSION, VAULT_FORMAT, VAULT_FORMAT_VERSION } from '../chunk/format.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { EncryptionHeader } from '../crypto/vault-crypto.js';
import { Layout } from './layout.js';
import { IsoTime, PositiveInt, checkOptions, describeIssues } from './schema.js';

export { VAULT_FORMAT, VAULT_FORMAT_VERSION };
/** An encrypted vault (config.encryption, no hash key in the clear). Plain vaults stay at 1. */
export const ENCRYPTED_FORMAT_VERSION = VAULT_ENCRYPTED_FORMAT_VERSION;
const READS_UP_TO = ENCRYPTED_FORMAT_VERSION;
export const CONFIG_KEY = Layout.config;
/** A byte-identical copy of the config, written with it: what repairVaultConfig restores
 *  from when the config object is lost (issue 9.2). Under meta/ so no listing of the
 *  vault's data prefixes ever sees it. */
export const CONFIG_COPY_KEY = 'meta/config.copy';

/** The compressions a vault can be created with (and the chunk frame can encode). */
export const COMPRESSIONS = ['none', 'lz4'] as const satisfies readonly Compression[];

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

const ConfigSchema = v.strictObject({
  format: v.literal(VAULT_FORMAT),
  formatVersion: PositiveInt,
  vaultId: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  createdAt: IsoTime,
  blockSize: PositiveInt,
  compression: v.picklist(COMPRESSIONS),
  hashKey: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'is not 32 bytes of lower-case hex'))),
  encryption: v.optional(
    v.strictObject({
      scheme: v.literal('aes-256-gcm'),
      defaultDomain: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, 'is not 16 bytes of hex'))),
    }),
  ),
});

const ConfigDocSchema = v.strictObject({
  config: v.looseObject({ format: v.unknown(), formatVersion: v.unknown() }),
  checksum: v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/)),
});

/** Refuses a compression the vault cannot use (before anything is written). */
export function validateCompression(compression: unknown): asserts compression is Compression {
  if (!(COMPRESSIONS as readonly unknown[]).includes(compression)) {
    throw new BlockvaultError(ErrorCodes.badInput, `compression ${JSON.stringify(compression)} is not supported`, {
      hint: `use one of: ${COMPRESSIONS.join(', ')} (lz4 is the default)`,
      details: { field: 'compression' },
    });
  }
}

export function validateBlockSize(blockSize: number): void {
  const pow2 = Number.isInteger(blockSize) && blockSize > 0 && (blockSize & (blockSize - 1)) === 0;
  if (!pow2 || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new BlockvaultError(ErrorCodes.badInput, `block size ${blockSize} is not a power of two from 64 KiB to 16 MiB`, {
      hint: 'use e.g. --block-size 4MiB (the default), 1MiB or 64KiB',
    });
  }
}

/** The vault's own fields of OpenVaultOptions, checked before anything is listed or written. */
const OpenOptionsSchema = v.looseObject({
  create: v.optional(v.boolean()),
  blockSize: v.optional(v.pipe(v.number(), v.integer())),
  compression: v.optional(v.picklist(COMPRESSIONS, (i) => `must be one of ${COMPRESSIONS.join(', ')}, not ${i.received}`)),
});

export function validateOpenOptions(opts: unknown): void {
  checkOptions(OpenOptionsSchema, opts, 'vault options');
  const o = opts as { blockSize?: number };
  if (o.blockSize !== undefined) validateBlockSize(o.blockSize);
}

export function newConfig(opts: { blockSize?: number; compression?: Compression; encryption?: EncryptionHeader; vaultId?: string; hashKey?: string } = {}): VaultConfig {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  validateBlockSize(blockSize);
  const compression = opts.compression ?? 'lz4';
  validateCompression(compression);
  // formatVersion second, as every version wrote it (readers check the order-sensitive checksum)
  const base = (formatVersion: number) =>
    ({ format: VAULT_FORMAT, formatVersion, vaultId: opts.vaultId ?? randomUUID(), createdAt: new Date().toISOString(), blockSize, compression }) as const;
  if (opts.encryption) return { ...base(ENCRYPTED_FORMAT_VERSION), encryption: opts.encryption };
  return { ...base(VAULT_FORMAT_VERSION), hashKey: opts.hashKey ?? randomBytes(32).toString('hex') };
}

export function encodeConfig(cfg: VaultConfig): Buffer {
  const body = JSON.stringify(cfg, null, 2);
  const sum = xxh64(Buffer.from(body, 'utf8')).toString(16).padStart(16, '0');
  return Buffer.from(JSON.stringify({ config: cfg, checksum: sum }, null, 2) + '\n', 'utf8');
}

function checksumOf(cfg: unknown): string {
  return xxh64(Buffer.from(JSON.stringify(cfg, null, 2), 'utf8')).toString(16).padStart(16, '0');
}

export function decodeConfig(buf: Buffer, where: string): VaultConfig {
  const damaged = (why: string) =>
    new BlockvaultError(ErrorCodes.vaultDamaged, `vault config at ${where} is damaged: ${why}`, {
      hint: 'restore the config from its copy (repairVaultConfig, `blockvault repair-config`) or from a copy of the vault; without its hash key the vault cannot be written to',
      details: { object: where },
    });
  let json: unknown;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch {
    throw damaged('not valid JSON');
  }
  const doc = v.safeParse(ConfigDocSchema, json);
  if (!doc.success) throw damaged(`missing config or checksum (${describeIssues(doc.issues)})`);
  const raw = doc.output.config;
  // the checksum covers the config as written (the schema's output may order keys otherwise)
  if (checksumOf((json as { config: unknown }).config) !== doc.output.checksum) throw damaged('checksum mismatch');
  if (raw.format !== VAULT_FORMAT) throw damaged(`format is ${JSON.stringify(raw.format)}, not ${VAULT_FORMAT}`);
  if (typeof raw.formatVersion !== 'number' || raw.formatVersion > READS_UP_TO) {
    throw new BlockvaultError(
      ErrorCodes.vaultFormat,
      `vault at ${where} has format version ${String(raw.formatVersion)}; this blockvault reads up to ${READS_UP_TO}`,
      { hint: 'upgrade blockvault to open this vault', details: { object: where } },
    );
  }
  // Checked only now: a newer version may carry fields this one does not know.
  const cfg = v.safeParse(ConfigSchema, raw);
  if (!cfg.success) throw damaged(describeIssues(cfg.issues));
  const out = cfg.output;
  if (out.formatVersion >= ENCRYPTED_FORMAT_VERSION) {
    if (!out.encryption) throw damaged('an encrypted vault (format 2) without an aes-256-gcm encryption header');
    if (out.hashKey !== undefined) throw damaged('an encrypted vault must not hold its hash key in the clear');
  } else if (out.hashKey === undefined) throw damaged('hash key is missing');
  validateBlockSize(out.blockSize);
  return out;
}
