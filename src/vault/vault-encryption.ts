// What an encrypted vault does differently, in one place: chunk frames sealed and opened
// per key domain (and hashed with that domain's chunk-id key), manifests and index segments
// sealed, the hash key nowhere in the clear. The keys themselves live in crypto/; this file
// maps them onto the vault's objects. Leases, key records and config's public header stay
// readable (they hold nothing secret, and a process without the key must read leases).
import { chunkDomain, decodeChunk, type ChunkFrame } from '../chunk/chunk-format.js';
import type { Compression } from '../chunk/compress.js';
import { ChunkHasher } from '../chunk/identity.js';
import type { KeyDomain } from '../crypto/domain.js';
import type { EncryptionContext, MetaStore } from '../crypto/keyring.js';
import { SEALED_HEADER_BYTES, SealedBlobError, sealedDomainId } from '../crypto/sealed-blob.js';
import { VaultCrypto, keysFromEnv, type EncryptOptions, type VaultKeys } from '../crypto/vault-crypto.js';
import type { VaultConfig } from './config.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { ChunkCodec } from './chunk-access.js';
import { SegmentDamaged, SegmentLocked, type SegmentCodec } from './index-segments.js';
import {
  MANIFEST_PREFIX_BYTES,
  ManifestFormatError,
  decodeHeader,
  decodeManifest,
  encodeManifest,
  headerLength,
  type Manifest,
  type ManifestEntry,
  type ManifestHeader,
} from './manifest.js';

/** A sealed-object failure as the manifest error the vault already names as damage. */
function asManifestError(e: unknown): unknown {
  return e instanceof SealedBlobError ? new ManifestFormatError(e.message) : e;
}

export class VaultEncryption {
  readonly crypto: VaultCrypto;
  readonly defaultDomain: KeyDomain | undefined;
  readonly #compression: Compression;
  readonly #hashers = new Map<string, ChunkHasher>();
  /** Seals the index segments this vault object writes: the domain of the latest backup
   *  codec asked for, else the default. (Segments name no plaintext; a reader without their
   *  domain only loses dedup against them.) */
  #segmentDomain: KeyDomain | undefined;

  constructor(crypto: VaultCrypto, compression: Compression, defaultDomain: KeyDomain | undefined) {
    this.crypto = crypto;
    this.#compression = compression;
    this.defaultDomain = defaultDomain;
    this.#segmentDomain = defaultDomain;
  }

  hasherOf(d: KeyDomain): ChunkHasher {
    let h = this.#hashers.get(d.id);
    if (!h) {
      h = new ChunkHasher(d.chunkIdKey);
      this.#hashers.set(d.id, h);
    }
    return h;
  }

  codecOf(d: KeyDomain): ChunkCodec {
    return {
      hashKey: d.chunkIdKey,
      compression: this.#compression,
      seal: { domainId: d.idBytes, key: d.chunkKey },
      hasher: this.hasherOf(d),
      keyDomain: d.id,
    };
  }

  /** The codec of a backup: its KMS context's domain, or the vault's default. */
  async codecFor(ctx: EncryptionContext | undefined): Promise<ChunkCodec> {
    const d = await this.crypto.domainFor(ctx);
    this.#segmentDomain = d;
    return this.codecOf(d);
  }

  // ---- chunks

  /** Opens the domain a chunk object names (once), so decodeChunk can run synchronously. A
   *  domain no key record knows is left alone: the frame is damaged, and decode says so. */
  async prepareChunk(obj: Buffer): Promise<void> {
    const id = chunkDomain(obj);
    if (!id || this.crypto.opened(id)) return;
    if (!(await this.crypto.keyring.listKeys()).some((r) => r.domain === id)) return;
    await this.crypto.domain(id);
  }

  /** Frame checked and opened (id bound), and the hasher of its domain. */
  decodeChunk(obj: Buffer, id: Uint8Array, inPlace = false): { frame: ChunkFrame; hasher: ChunkHasher } {
    const frame = decodeChunk(obj, { id, key: (d) => this.crypto.chunkKeyOf(d), requireEncrypted: true, inPlace });
    return { frame, hasher: this.hasherOf(this.crypto.opened(frame.domainId!)!) };
  }

  // ---- index segments

  /** Segments are sealed bound to their key; one of a domain not open here is SegmentLocked
   *  (the index covers it with no record), anything that does not open is SegmentDamaged. */
  readonly segmentCodec: SegmentCodec = {
    overhead: SEALED_HEADER_BYTES,
    seal: (key, body, domain) => {
      const d = domain === undefined ? (this.#segmentDomain ?? this.#anyOpen()) : this.crypto.opened(domain);
      if (!d) throw new SegmentLocked(key, domain!);
      return this.crypto.sealMeta(d, key, body);
    },
    open: (key, buf) => {
      let id: string;
      try {
        id = sealedDomainId(buf, key);
      } catch (e) {
        throw new SegmentDamaged(key, (e as Error).message);
      }
      if (!this.crypto.opened(id)) throw new SegmentLocked(key, id);
      try {
        return { body: this.crypto.openMetaSync(key, buf), domain: id };
      } catch (e) {
        throw new SegmentDamaged(key, (e as Error).message);
      }
    },
    isOpen: (domain) => this.crypto.opened(domain) !== undefined,
  };

  #anyOpen(): KeyDomain {
    // A KMS-only vault's GC has opened every domain its manifests name: any of them will do.
    const d = this.crypto.openDomains[0];
    if (d) return d;
    throw new BlockvaultError(ErrorCodes.badInput, 'no key domain of this encrypted vault is open to seal an index segment with', {
      hint: 'open the vault with a key (or, for KMS domains, run a backup with its encryption context first)',
    });
  }

  /** A segment another process wrote, opening its domain when needed (GC). Throws on damage. */
  async openSegment(key: string, buf: Buffer): Promise<Buffer> {
    await this.crypto.prepare(key, buf);
    try {
      return this.crypto.openMetaSync(key, buf);
    } catch (e) {
      throw this.crypto.damaged(e, key);
    }
  }

  // ---- manifests: the header and the entries sealed apart (a sealed pair), so `list`
  // still reads only the first few KiB of each manifest.

  encodeManifest(key: string, header: ManifestHeader, list: ManifestEntry[]): Buffer {
    const domainId = header.keyDomain;
    const d = domainId ? this.crypto.opened(domainId) : undefined;
    if (!d) {
      throw new BlockvaultError(ErrorCodes.badInput, `manifest ${key} names key domain ${domainId ?? '(none)'}, which is not open`, {
        details: { object: key },
      });
    }
    const plain = encodeManifest(header, list);
    const split = MANIFEST_PREFIX_BYTES + headerLength(plain);
    return this.crypto.sealManifest(d, key, plain.subarray(0, split), plain.subarray(split));
  }

  /** Bytes needed for the header (0: read more). Throws ManifestFormatError. */
  headBytes(key: string, prefix: Buffer): number {
    try {
      return this.crypto.manifestHeadBytes(key, prefix);
    } catch (e) {
      throw asManifestError(e);
    }
  }

  /** Opens the key domain a sealed manifest needs (a wrong or missing key fails here). */
  prepareManifest(key: string, buf: Buffer): Promise<void> {
    return this.crypto.prepare(key, buf);
  }

  decodeHeader(key: string, buf: Buffer): ManifestHeader {
    try {
      return decodeHeader(this.crypto.openManifestHeadSync(key, buf));
    } catch (e) {
      throw asManifestError(e);
    }
  }

  decodeManifest(key: string, buf: Buffer): Manifest {
    let plain: Buffer;
    try {
      const { head, body } = this.crypto.openManifestSync(key, buf);
      plain = Buffer.concat([head, body]);
    } catch (e) {
      throw asManifestError(e);
    }
    return decodeManifest(plain);
  }
}

/** Whether an error says only that no key given here opens a domain (so a listing can leave
 *  that domain's backups out instead of failing). */
export function isLockedDomain(e: unknown): boolean {
  return e instanceof BlockvaultError && e.code === ErrorCodes.badInput && e.details.locked === true;
}

/** The keys to open an existing encrypted vault with: those given; else, when the caller
 *  asked to create it encrypted (and another process was first), that passphrase or key file;
 *  else the environment's (BLOCKVAULT_PASSWORD, BLOCKVAULT_PASSWORD_FILE, BLOCKVAULT_KEY_FILE). */
export async function keysFor(opts: { keys?: VaultKeys; encrypt?: EncryptOptions }): Promise<VaultKeys | undefined> {
  const k = opts.keys;
  if (k && (k.passphrase !== undefined || k.keyFile !== undefined || k.unwrap)) return k;
  const e = opts.encrypt;
  if (e && (e.passphrase !== undefined || e.keyFile !== undefined)) {
    return { ...(e.passphrase !== undefined ? { passphrase: e.passphrase } : {}), ...(e.keyFile !== undefined ? { keyFile: e.keyFile } : {}) };
  }
  return keysFromEnv();
}

export async function encryptionOf(crypto: VaultCrypto, compression: Compression): Promise<VaultEncryption> {
  const id = crypto.header.defaultDomain;
  return new VaultEncryption(crypto, compression, id ? await crypto.domain(id) : undefined);
}

/** An existing encrypted vault's encryption, its keys checked (a wrong or missing key throws). */
export async function openEncryption(
  meta: MetaStore,
  url: string,
  cfg: VaultConfig,
  opts: { keys?: VaultKeys; encrypt?: EncryptOptions },
): Promise<VaultEncryption> {
  const crypto = await VaultCrypto.open(meta, url, cfg.encryption!, await keysFor(opts));
  await crypto.unlock();
  return encryptionOf(crypto, cfg.compression);
}
