// The repository on top of a store: config, chunk objects, the chunk index, manifests
// and chains. The store is private: the engine reaches chunks through the chunk operations
// (chunk-access.ts), manifests through the methods below and small records through `meta`.
// Every key is built by Layout (layout.ts).
import { CHUNK_ID_BYTES, ChunkHasher } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { openStore, type StoreOptions } from '../store/open-store.js';
import { isNotFound, type ObjectInfo, type ObjectStore } from '../store/object-store.js';
import { BlockMap } from './block-map.js';
import {
  ChunkAccess,
  type ChunkCodec,
  type ChunkListing,
  type IndexFlushPolicy,
  type PutChunkInfo,
  type PutChunkResult,
  type ReadChunkOptions,
} from './chunk-access.js';
import { ChunkIndex } from './chunk-index.js';
import { readChecked, unstableReadError } from './chunk-reread.js';
import { loadChunkIndex, type IndexLoadOptions } from './index-loader.js';
import { decodeConfig, encodeConfig, newConfig, type VaultConfig } from './config.js';
import { Layout } from './layout.js';
import { acquireLease, leaseIsLive, liveLeases, type Lease, type LeaseOp, type LeaseRecord } from './lease.js';
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
import type { Compression } from '../chunk/compress.js';
import type { EncryptionContext } from '../crypto/keyring.js';
import type { KeyRecord, NewKeyInput } from './vault-keys.js';
import { VaultCrypto, type EncryptOptions, type VaultKeys } from '../crypto/vault-crypto.js';
import { VaultEncryption, encryptionOf, isLockedDomain, openEncryption } from './vault-encryption.js';
import { addVaultKey, removeVaultKey } from './vault-keys.js';
import { encodeSegment, decodeSegment, type IndexRecord } from './chunk-index.js';

const HEADER_PROBE_BYTES = 16 * 1024;
/** Blocks in flight when neither the caller nor the store says. */
const DEFAULT_CONCURRENCY = 8;

export type { ChunkCodec, ChunkListing, PutChunkInfo, PutChunkResult, ReadChunkOptions };
export type StoredObject = ObjectInfo;

/** Small non-chunk objects (records, jobs, keys): plain get/put/list/delete by key. */
export interface MetaObjects {
  /** undefined when absent. */
  get(key: string, opts?: { signal?: AbortSignal }): Promise<Buffer | undefined>;
  put(key: string, body: Buffer, opts?: { ifAbsent?: boolean; signal?: AbortSignal }): Promise<boolean>;
  list(prefix: string): AsyncIterable<StoredObject>;
  delete(key: string): Promise<void>;
  /** Makes every resolved put and delete durable (see ObjectStore.sync). */
  sync(): Promise<void>;
}

export interface OpenVaultOptions extends StoreOptions, IndexLoadOptions, IndexFlushPolicy {
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
}

const VOLUME_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function validateVolumeId(volumeId: string): void {
  if (!VOLUME_ID.test(volumeId)) {
    throw new BlockvaultError(ErrorCodes.badInput, `volume id ${JSON.stringify(volumeId)} is not valid`, {
      hint: 'use 1–128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (a UUID works)',
    });
  }
}

export class Vault {
  readonly #store: ObjectStore;
  readonly config: VaultConfig;
  readonly meta: MetaObjects;
  readonly #chunks: ChunkAccess;
  readonly #codec: ChunkCodec | undefined;
  /** Encrypted vaults only (vault-encryption.ts). */
  readonly #enc: VaultEncryption | undefined;
  #headers: Map<string, { key: string; header: ManifestHeader }> | undefined;
  /** Manifests left out of the catalog: their key domain is not open with the keys given. */
  #locked = new Set<string>();

  private constructor(store: ObjectStore, config: VaultConfig, opts: IndexLoadOptions & IndexFlushPolicy = {}, enc?: VaultEncryption) {
    this.#store = store;
    this.config = config;
    this.#enc = enc;
    if (enc) {
      this.#codec = enc.defaultDomain ? enc.codecOf(enc.defaultDomain) : undefined;
      // The segment cache holds segments as stored (sealed); it is named by the vault id.
      const load = () => loadChunkIndex(store, `encrypted:${config.vaultId}`, opts, enc.segmentCodec);
      this.#chunks = new ChunkAccess(store, this.#codec?.hasher, load, opts, enc);
    } else {
      const hashKey = Buffer.from(config.hashKey!, 'hex');
      this.#codec = { hashKey, compression: config.compression, hasher: new ChunkHasher(hashKey) };
      this.#chunks = new ChunkAccess(store, this.#codec.hasher, () => loadChunkIndex(store, config.hashKey!, opts), opts);
    }
    this.meta = metaObjects(store);
  }

  /** The chunk-id hasher of plain backups (an encrypted vault's default key domain). */
  get hasher(): ChunkHasher {
    return this.chunkCodec.hasher!;
  }

  /** What the worker pool needs to hash, compress (and, encrypted, seal) a block. In an
   *  encrypted vault this is the default key domain's; see chunkCodecFor for KMS contexts. */
  get chunkCodec(): ChunkCodec {
    if (this.#codec) return this.#codec;
    throw new BlockvaultError(ErrorCodes.badInput, `vault ${this.url} holds only KMS-encrypted volumes: its chunk codec depends on the backup's encryption context`, {
      hint: 'use chunkCodecFor({ cmkId, vk })',
    });
  }

  /** True for an encrypted vault (format 2). */
  get encrypted(): boolean {
    return this.#enc !== undefined;
  }

  /**
   * The codec of one backup: in an encrypted vault, the key domain of the control plane's
   * encryption context (made on first use, the VK stored verbatim) or the default domain;
   * in a plain vault, the vault's codec (an encryption context there is refused).
   */
  async chunkCodecFor(ctx?: EncryptionContext): Promise<ChunkCodec> {
    if (this.#enc) return this.#enc.codecFor(ctx);
    if (ctx) {
      throw new BlockvaultError(ErrorCodes.badInput, `vault ${this.url} is not encrypted; a backup with CMK ${ctx.cmkId} needs an encrypted vault`, {
        hint: 'back encrypted volumes up into a vault made with encryption (openVault(url, { create: true, encrypt: { kms: true } }))',
        details: { cmkId: ctx.cmkId },
      });
    }
    return this.chunkCodec;
  }

  // ---- keys (encrypted vaults)

  /** The key records (public: id, domain, kind, created; never a clear key). */
  async listKeys(): Promise<KeyRecord[]> {
    return this.#enc ? this.#enc.crypto.keyring.listKeys() : [];
  }

  /** Adds a way into a key domain (default: the vault's default domain), opened with the
   *  keys this vault was opened with. Data is not touched. */
  async addKey(key: NewKeyInput, opts: { domain?: string; label?: string } = {}): Promise<KeyRecord> {
    return addVaultKey(this.#requireEnc(), this.url, key, opts);
  }

  /** Removes a key record; refused for the last way into its domain. */
  async removeKey(keyId: string): Promise<KeyRecord> {
    return removeVaultKey(this.#requireEnc(), keyId);
  }

  #requireEnc(): VaultEncryption {
    if (this.#enc) return this.#enc;
    throw new BlockvaultError(ErrorCodes.badInput, `vault ${this.url} is not encrypted: it has no keys`, {
      hint: 'make an encrypted vault with `blockvault init --encrypt`',
    });
  }

  /** An index segment as stored (sealed in an encrypted vault), for GC's rewrite. */
  encodeIndexSegment(key: string, recs: IndexRecord[]): Buffer {
    return this.#enc ? this.#enc.segmentCodec.seal(key, encodeSegment(recs)) : encodeSegment(recs);
  }

  /** An index segment's records from its stored form (GC). Throws on damage. */
  async decodeIndexSegment(key: string, buf: Buffer): Promise<IndexRecord[]> {
    return decodeSegment(this.#enc ? await this.#enc.openSegment(key, buf) : buf);
  }

  get url(): string {
    return this.#store.url;
  }

  /** Blocks in flight an operation should use when the caller gives no `concurrency`. */
  get defaultConcurrency(): number {
    return this.#store.defaultConcurrency ?? DEFAULT_CONCURRENCY;
  }

  /** The store's own figure, undefined for a store that gives none (a local directory). */
  get storeConcurrency(): number | undefined {
    return this.#store.defaultConcurrency;
  }

  get blockSize(): number {
    return this.config.blockSize;
  }

  static async open(location: string, opts: OpenVaultOptions = {}): Promise<Vault> {
    const store = await openStore(location, opts);
    try {
      return await Vault.onStore(store, opts);
    } catch (e) {
      await store.close().catch(() => {});
      throw e;
    }
  }

  /** A vault on an already-open store (tests, replication). */
  static async onStore(store: ObjectStore, opts: OpenVaultOptions = {}): Promise<Vault> {
    let raw: Buffer | undefined;
    try {
      raw = await store.get(Layout.config);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!raw) {
      if (!opts.create) {
        throw new BlockvaultError(ErrorCodes.notFound, `no blockvault vault at ${store.url} (no config object)`, {
          hint: 'check --vault, or run a backup or `blockvault init` to create one',
        });
      }
      // An encrypted vault's key records are written first: the config makes the vault exist.
      const crypto = opts.encrypt ? await VaultCrypto.create(metaObjects(store), store.url, opts.encrypt, opts.keys) : undefined;
      const cfg = newConfig({ blockSize: opts.blockSize, compression: opts.compression, ...(crypto ? { encryption: crypto.header } : {}) });
      // put-if-absent: of two processes creating one vault, one config wins and both use it.
      if (!(await store.put(Layout.config, encodeConfig(cfg), { ifAbsent: true }))) raw = await store.get(Layout.config);
      else return new Vault(store, cfg, opts, crypto && (await encryptionOf(crypto, cfg.compression)));
    } else if (opts.encrypt && opts.create) {
      const existing = decodeConfig(raw, `${store.url}/${Layout.config}`);
      if (!existing.encryption) {
        throw new BlockvaultError(ErrorCodes.badInput, `vault ${store.url} exists and is not encrypted; it cannot be made encrypted in place`, {
          hint: 'make a new encrypted vault and copy the backups into it',
        });
      }
    }
    const cfg = decodeConfig(raw, `${store.url}/${Layout.config}`);
    if (opts.blockSize !== undefined && opts.blockSize !== cfg.blockSize) {
      throw new BlockvaultError(
        ErrorCodes.badInput,
        `vault ${store.url} uses ${cfg.blockSize}-byte blocks; --block-size ${opts.blockSize} cannot change it`,
        { hint: 'omit --block-size for an existing vault (the block size is fixed per vault)' },
      );
    }
    if (!cfg.encryption) return new Vault(store, cfg, opts);
    // A wrong or missing key fails here, before anything is written.
    return new Vault(store, cfg, opts, await openEncryption(metaObjects(store), store.url, cfg, opts));
  }

  async close(): Promise<void> {
    await this.#chunks.flushIndex().catch(() => {});
    await this.#store.close();
  }

  // ---- chunks (chunk-access.ts)

  /** Key of a chunk object, for messages and reports (keys are built by Layout). */
  chunkKey(id: Uint8Array): string {
    return Layout.chunkKey(id);
  }

  chunkIndex(): Promise<ChunkIndex> {
    return this.#chunks.index();
  }

  /** Loads the index anew. A backup calls this after taking its lease: GC relies on every
   *  backup that saw an index from before its rewrite holding a lease GC could see. */
  reloadChunkIndex(): Promise<ChunkIndex> {
    return this.#chunks.index(true);
  }

  /** Names the index segments written from now on <tag>-0000, … (a backup passes its id). */
  nameIndexSegments(tag: string): void {
    this.#chunks.nameSegments(tag);
  }

  putChunk(id: Buffer, obj: Buffer, info: PutChunkInfo): Promise<PutChunkResult> {
    return this.#chunks.putChunk(id, obj, info);
  }

  readChunk(id: Uint8Array, opts?: ReadChunkOptions): Promise<Buffer> {
    return this.#chunks.readChunk(id, opts);
  }

  readChunkObject(id: Uint8Array, opts?: { signal?: AbortSignal }): Promise<Buffer> {
    return this.#chunks.readChunkObject(id, opts);
  }

  importChunkObject(id: Uint8Array, obj: Buffer, opts?: { signal?: AbortSignal }): Promise<boolean> {
    return this.#chunks.importChunkObject(id, obj, opts);
  }

  hasChunk(id: Uint8Array): Promise<boolean> {
    return this.#chunks.hasChunk(id);
  }

  /** One request (HEAD, or a stat): is the object there now? Drops a gone one from dedup. */
  confirmChunk(id: Uint8Array): Promise<boolean> {
    return this.#chunks.confirmChunk(id);
  }

  statChunk(id: Uint8Array): Promise<StoredObject | undefined> {
    return this.#chunks.statChunk(id);
  }

  listChunks(opts?: { signal?: AbortSignal }): AsyncIterable<ChunkListing> {
    return this.#chunks.listChunks(opts);
  }

  deleteChunks(ids: Uint8Array[]): Promise<void> {
    return this.#chunks.deleteChunks(ids);
  }

  flushIndex(): Promise<void> {
    return this.#chunks.flushIndex();
  }

  /** Index segments this vault object wrote. */
  get indexSegmentsWritten(): number {
    return this.#chunks.segmentsWritten;
  }

  // ---- manifests

  manifestKey(volumeId: string, backupId: string): string {
    return Layout.manifestKey(volumeId, backupId);
  }

  /** Reads and decodes the manifest object at `key` (re-read on a bad body); undefined when
   *  gone. A damaged one is BV.VaultDamaged naming the object. */
  async readManifestAt(key: string, opts: { signal?: AbortSignal } = {}): Promise<Manifest | undefined> {
    try {
      return await this.#readManifestObject(key, opts.signal);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  #readManifestObject(key: string, signal?: AbortSignal): Promise<Manifest> {
    const enc = this.#enc;
    const get = async () => {
      const buf = await this.#store.get(key, signal ? { signal } : undefined);
      await enc?.prepareManifest(key, buf);
      return buf;
    };
    return readChecked(
      get,
      enc ? (buf: Buffer) => enc.decodeManifest(key, buf) : decodeManifest,
      (o) => (o.stable ? this.#manifestError(o.error, key) : unstableReadError(key, this.url, o)) as Error,
      signal,
    );
  }

  /** Forgets cached headers (after another process may have changed the vault). */
  refresh(): void {
    this.#headers = undefined;
    this.#locked.clear();
  }

  async #catalog(): Promise<Map<string, { key: string; header: ManifestHeader }>> {
    if (this.#headers) return this.#headers;
    const found = new Map<string, { key: string; header: ManifestHeader }>();
    const keys: string[] = [];
    for await (const o of this.#store.list(Layout.manifestPrefix)) if (Layout.isManifestKey(o.key)) keys.push(o.key);
    await Promise.all(
      keys.map(async (key) => {
        let header: ManifestHeader;
        try {
          header = await this.#readHeader(key);
        } catch (e) {
          if (isNotFound(e)) return; // deleted (or merged away) since the listing
          if (isLockedDomain(e)) return void this.#locked.add(key); // another key domain's
          throw e;
        }
        found.set(header.backupId, { key, header });
      }),
    );
    this.#headers = found;
    return found;
  }

  async #readHeader(key: string): Promise<ManifestHeader> {
    const enc = this.#enc;
    if (enc) {
      const getSealed = async () => {
        const buf = await this.#store.getRange(key, 0, HEADER_PROBE_BYTES);
        let need: number;
        try {
          need = enc.headBytes(key, buf);
        } catch {
          return buf; // the check below names the damage
        }
        const head = need > buf.length ? await this.#store.getRange(key, 0, need) : buf;
        await enc.prepareManifest(key, head);
        return head;
      };
      return readChecked(getSealed, (buf) => enc.decodeHeader(key, buf), (o) => (o.stable ? this.#manifestError(o.error, key) : unstableReadError(key, this.url, o)) as Error);
    }
    const get = async () => {
      const buf = await this.#store.getRange(key, 0, HEADER_PROBE_BYTES);
      let need: number;
      try {
        need = MANIFEST_PREFIX_BYTES + headerLength(buf);
      } catch {
        return buf; // the check below names the damage
      }
      return buf.length < need ? this.#store.getRange(key, 0, need) : buf;
    };
    return readChecked(get, decodeHeader, (o) => (o.stable ? this.#manifestError(o.error, key) : unstableReadError(key, this.url, o)) as Error);
  }

  #manifestError(e: unknown, key: string): unknown {
    if (e instanceof ManifestFormatError) {
      return new BlockvaultError(ErrorCodes.vaultDamaged, `manifest ${key} in ${this.url} is damaged: ${e.message}`, {
        hint: 'run `blockvault verify`; restore the object from a copy of the vault, or delete that backup',
        details: { object: key },
      });
    }
    return e;
  }

  /** Every backup's header, oldest first; optionally one volume's. */
  async listBackups(filter: { volumeId?: string } = {}): Promise<ManifestHeader[]> {
    const all = [...(await this.#catalog()).values()].map((v) => v.header);
    return all
      .filter((h) => !filter.volumeId || h.volumeId === filter.volumeId)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.backupId.localeCompare(b.backupId));
  }

  async header(backupId: string): Promise<ManifestHeader> {
    const hit = (await this.#catalog()).get(backupId);
    if (!hit) throw this.#notFound(backupId);
    return hit.header;
  }

  #notFound(backupId: string): BlockvaultError {
    const locked = this.#locked.size;
    return new BlockvaultError(ErrorCodes.backupNotFound, `backup ${backupId} not found in ${this.url}`, {
      hint: locked
        ? `${locked} backup(s) are in key domains the keys given do not open (${[...this.#locked].slice(0, 3).join(', ')}${locked > 3 ? ', …' : ''}): open the vault with their key`
        : 'list the backups with `blockvault list --vault …`',
      details: { backupId },
    });
  }

  async readManifest(backupId: string): Promise<Manifest> {
    const hit = (await this.#catalog()).get(backupId);
    if (!hit) throw this.#notFound(backupId);
    return this.#readManifestObject(hit.key);
  }

  /** The backup and its ancestors, newest first, ending with the full. */
  async chain(backupId: string): Promise<Manifest[]> {
    const out: Manifest[] = [];
    const seen = new Set<string>();
    let id: string | null = backupId;
    while (id) {
      if (seen.has(id)) throw new BlockvaultError(ErrorCodes.vaultDamaged, `backup chain of ${backupId} loops at ${id}`);
      seen.add(id);
      let m: Manifest;
      try {
        m = await this.readManifest(id);
      } catch (e) {
        if (e instanceof BlockvaultError && e.code === ErrorCodes.backupNotFound && id !== backupId) {
          throw new BlockvaultError(ErrorCodes.vaultDamaged, `backup ${backupId} depends on ${id}, which is missing`, {
            hint: 'run `blockvault verify`; the chain below that backup cannot be restored',
            details: { backupId, missingParent: id },
          });
        }
        throw e;
      }
      out.push(m);
      id = m.header.parentId;
    }
    return out;
  }

  async blockMap(backupId: string): Promise<BlockMap> {
    return BlockMap.fromChain(await this.chain(backupId));
  }

  /** The volume's newest backup: the parent of its next incremental. */
  async latestBackup(volumeId: string): Promise<ManifestHeader | undefined> {
    const list = await this.listBackups({ volumeId });
    return list[list.length - 1];
  }

  /** Headers of the chain a backup sits in: its ancestors, itself and its descendants. */
  async chainOf(backupId: string): Promise<ManifestHeader[]> {
    const all = await this.listBackups();
    const byId = new Map(all.map((h) => [h.backupId, h]));
    const up: ManifestHeader[] = [];
    for (let h = byId.get(backupId); h; h = h.parentId ? byId.get(h.parentId) : undefined) up.unshift(h);
    const down: ManifestHeader[] = [];
    const below = new Set([backupId]);
    for (const h of all) {
      if (h.parentId && below.has(h.parentId)) {
        below.add(h.backupId);
        down.push(h);
      }
    }
    return [...up, ...down];
  }

  async hasDependents(backupId: string): Promise<boolean> {
    return (await this.listBackups()).some((h) => h.parentId === backupId);
  }

  /** Writes a manifest: last, after every chunk it names is durable, and only once. */
  async writeManifest(header: ManifestHeader, list: ManifestEntry[]): Promise<void> {
    await this.#store.sync();
    const key = this.manifestKey(header.volumeId, header.backupId);
    const created = await this.#store.put(key, this.#encodeManifest(key, header, list), { ifAbsent: true });
    if (!created) {
      throw new BlockvaultError(ErrorCodes.badInput, `backup ${header.backupId} already exists in ${this.url}`, {
        hint: 'use a new backup id',
        details: { object: key },
      });
    }
    this.#headers?.set(header.backupId, { key, header: { ...header, entryCount: list.length } });
  }

  /**
   * Replaces an existing manifest in place (delete/merge rewrites a child this way). A plain
   * put is an atomic replace on both stores: the local store writes a temp file, fsyncs it
   * and rename(2)s it over the key, and an S3 PUT replaces the whole object at once (readers
   * get the old or the new object, never a mix; S3 is strongly read-after-write consistent).
   * Every chunk it names must already be durable, as for writeManifest.
   */
  async replaceManifest(header: ManifestHeader, list: ManifestEntry[]): Promise<void> {
    await this.#store.sync();
    const key = this.manifestKey(header.volumeId, header.backupId);
    await this.#store.put(key, this.#encodeManifest(key, header, list));
    await this.#store.sync();
    this.#headers?.set(header.backupId, { key, header: { ...header, entryCount: list.length } });
  }

  /** Sealed in an encrypted vault, in the key domain its header names (default: the vault's). */
  #encodeManifest(key: string, header: ManifestHeader, list: ManifestEntry[]): Buffer {
    if (!this.#enc) return encodeManifest(header, list);
    const h = header.keyDomain ? header : { ...header, keyDomain: this.chunkCodec.keyDomain! };
    return this.#enc.encodeManifest(key, h, list);
  }

  /** Manifests the catalog left out: no key given opens their domain. */
  get lockedManifests(): readonly string[] {
    return [...this.#locked];
  }

  /** Removes a backup's manifest (the backup is gone once this returns). Idempotent. */
  async removeManifest(volumeId: string, backupId: string): Promise<void> {
    await this.#store.delete(this.manifestKey(volumeId, backupId));
    await this.#store.sync();
    this.#headers?.delete(backupId);
  }

  lease(scope: string, op: LeaseOp, opts: { ttlMs?: number } = {}): Promise<Lease> {
    return acquireLease(this.#store, scope, op, opts);
  }

  /** The id of GC's vault-wide lease while a GC holds it (one GET), else undefined. */
  async gcLeaseHolder(): Promise<string | undefined> {
    const body = await this.meta.get(Layout.leaseKey(Layout.gcLeaseScope));
    if (!body) return undefined;
    try {
      const rec = JSON.parse(body.toString('utf8')) as LeaseRecord;
      return typeof rec.leaseId === 'string' && typeof rec.expiresAt === 'string' && leaseIsLive(rec) ? rec.leaseId : undefined;
    } catch {
      return undefined; // torn by hand: treated as absent, as lease.ts does
    }
  }

  /** The leases held now (expired ones and those of dead local processes left out). */
  liveLeases(): Promise<LeaseRecord[]> {
    return liveLeases(this.#store);
  }
}

export { CHUNK_ID_BYTES };

function metaObjects(store: ObjectStore): MetaObjects {
  return {
    get: async (key, o) => {
      try {
        return await store.get(key, o);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    put: (key, body, o) => store.put(key, body, o),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
    sync: () => store.sync(),
  };
}

