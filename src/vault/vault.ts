// The repository on top of a store: config, chunk objects, the chunk index, manifests
// and chains. The store is private: the engine reaches chunks through the chunk operations
// (chunk-access.ts), manifests through the methods below and small records through `meta`.
// Every key is built by Layout (layout.ts). An encrypted vault's differences (sealed chunks,
// manifests and index segments, key domains) are in vault-encryption.ts.
import { CHUNK_ID_BYTES, ChunkHasher } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { openStore, type StoreOptions } from '../store/open-store.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { instrumentStore, type StoreObserver } from '../store/instrumented-store.js';
import type { EncryptionContext } from '../crypto/keyring.js';
import { runCleanup, withOperationSignal } from '../store/operation-signal.js';
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
import { ChunkIndex, decodeSegment, encodeSegment, type CountedRecords, type IndexRecord } from './chunk-index.js';
import { indexCacheName, vaultCacheId } from './index-cache.js';
import { loadChunkIndex, type IndexLoadOptions } from './index-loader.js';
import type { VaultConfig } from './config.js';
import { Layout } from './layout.js';
import { breakLease, listLeases, type BreakResult, type LeaseEntry } from './lease-admin.js';
import { acquireLease, liveLeases, type Lease, type LeaseOp, type LeaseRecord } from './lease.js';
import type { Manifest, ManifestEntry, ManifestHeader } from './manifest.js';
import { ManifestIO } from './manifest-io.js';
import { chainHeaders, predictedChain, readingAhead, walkChain } from './vault-chains.js';
import { gcLeaseHolder, metaObjects, type MetaObjects, type StoredObject } from './vault-meta.js';
import type { VaultEncryption } from './vault-encryption.js';
import { ManifestCatalog } from './manifest-catalog.js';
import { addVaultKey, removeVaultKey, type KeyRecord, type NewKeyInput } from './vault-keys.js';
import { openVaultConfig, type VaultConfigOptions } from './vault-open.js';

export { validateVolumeId } from './vault-meta.js';
export type { MetaObjects, StoredObject };

/** Blocks in flight when neither the caller nor the store says. */
const DEFAULT_CONCURRENCY = 8;
/** Manifests of a chain read at once: enough to hide the round trips of a long chain. */
const CHAIN_READS = 16;

/** Catalog entries' headers, oldest first (ties by id). */
function oldestFirst(entries: ReadonlyMap<string, { header: ManifestHeader }>): ManifestHeader[] {
  return [...entries.values()].map((v) => v.header).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.backupId.localeCompare(b.backupId));
}

export type { ChunkCodec, ChunkListing, PutChunkInfo, PutChunkResult, ReadChunkOptions };

export interface OpenVaultOptions extends StoreOptions, IndexLoadOptions, IndexFlushPolicy, VaultConfigOptions {
  /** Told of every store request (metrics, logs): see src/store/instrumented-store.ts. */
  observe?: StoreObserver;
  /** Cancels the open (every request it makes); each operation takes its own signal after. */
  signal?: AbortSignal;
}

export class Vault {
  readonly #store: ObjectStore;
  readonly config: VaultConfig;
  readonly meta: MetaObjects;
  readonly #chunks: ChunkAccess;
  readonly #manifests: ManifestIO;
  readonly #codec: ChunkCodec | undefined;
  /** Encrypted vaults only (vault-encryption.ts). */
  readonly #enc: VaultEncryption | undefined;
  readonly #catalog: ManifestCatalog;

  private constructor(store: ObjectStore, config: VaultConfig, opts: IndexLoadOptions & IndexFlushPolicy = {}, enc?: VaultEncryption) {
    this.#store = store;
    this.config = config;
    this.#enc = enc;
    this.#manifests = new ManifestIO(store, enc);
    this.#catalog = new ManifestCatalog(store, this.#manifests);
    // The local index copy is named by the hash key, or by the vault id in an encrypted vault.
    const cacheName = indexCacheName(config);
    if (enc) {
      this.#codec = enc.defaultDomain ? enc.codecOf(enc.defaultDomain) : undefined;
      const load = () => loadChunkIndex(store, cacheName, opts, enc.segmentCodec);
      this.#chunks = new ChunkAccess(store, this.#codec?.hasher, load, opts, enc);
    } else {
      const hashKey = Buffer.from(config.hashKey!, 'hex');
      this.#codec = { hashKey, compression: config.compression, hasher: new ChunkHasher(hashKey) };
      this.#chunks = new ChunkAccess(store, this.#codec.hasher, () => loadChunkIndex(store, cacheName, opts), opts);
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

  /** The id of this vault's local index copy (index-cache.ts: clearIndexCache, indexCacheInfo). */
  get indexCacheId(): string {
    return vaultCacheId(indexCacheName(this.config));
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
  encodeIndexSegment(key: string, recs: readonly IndexRecord[] | CountedRecords): Buffer {
    return this.#enc ? this.#enc.segmentCodec.seal(key, encodeSegment(recs)) : encodeSegment(recs);
  }

  /** An index segment's records from its stored form (GC, verify). Throws on damage. */
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

  /** Keys one listing request of the store yields (undefined: S3's page, 1000). */
  get listPageKeys(): number | undefined {
    return this.#store.capabilities.listPageKeys;
  }

  /** The store's own figure, undefined for a store that gives none (a local directory). */
  get storeConcurrency(): number | undefined {
    return this.#store.defaultConcurrency;
  }

  get blockSize(): number {
    return this.config.blockSize;
  }

  static open(location: string, opts: OpenVaultOptions = {}): Promise<Vault> {
    return withOperationSignal(opts.signal, () => Vault.#open(location, opts));
  }

  static async #open(location: string, opts: OpenVaultOptions): Promise<Vault> {
    // A local vault defers the fdatasync of chunk objects to the sync() before each manifest
    // (src/store/local-store.ts says why that is crash-safe); every other object stays durable on put.
    const file = { deferSyncPrefixes: [Layout.chunkPrefix], ...opts.store?.file };
    const store = await openStore(location, { ...opts, store: { ...opts.store, file } });
    try {
      return await Vault.onStore(store, opts);
    } catch (e) {
      await store.close().catch(() => {});
      throw e;
    }
  }

  /** A vault on an already-open store (tests, replication). */
  static async onStore(given: ObjectStore, opts: OpenVaultOptions = {}): Promise<Vault> {
    const store = opts.observe ? instrumentStore(given, opts.observe) : given;
    const { config, enc } = await openVaultConfig(store, opts);
    return new Vault(store, config, opts, enc);
  }

  async close(): Promise<void> {
    // Bounded on its own: closing after a cancel or a hung server must not wait a call timeout.
    await runCleanup(() => this.#chunks.flushIndex()).catch(() => {});
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
    return this.#manifests.read(key, signal);
  }

  /** Forgets cached headers (after another process may have changed the vault). */
  refresh(): void {
    this.#catalog.refresh();
  }

  /** Every backup's header, oldest first; optionally one volume's (which lists only its
   *  manifests, not the vault's). */
  async listBackups(filter: { volumeId?: string } = {}): Promise<ManifestHeader[]> {
    const entries = filter.volumeId !== undefined ? await this.#catalog.volumeEntries(filter.volumeId) : await this.#catalog.entries();
    return oldestFirst(entries);
  }

  async header(backupId: string): Promise<ManifestHeader> {
    return (await this.#catalog.get(backupId, this.url)).header;
  }

  async readManifest(backupId: string): Promise<Manifest> {
    return this.#readManifestObject((await this.#catalog.get(backupId, this.url)).key);
  }

  /** The backup and its ancestors, newest first, ending with the full. The manifests the
   *  catalog's headers predict are read ahead, CHAIN_READS at a time (vault-chains.ts). */
  async chain(backupId: string): Promise<Manifest[]> {
    const predicted = predictedChain(await this.#catalog.entriesAround(backupId), backupId);
    return walkChain(backupId, readingAhead(predicted, (id) => this.readManifest(id), CHAIN_READS));
  }

  async blockMap(backupId: string): Promise<BlockMap> {
    return BlockMap.fromChain(await this.chain(backupId));
  }

  /** The volume's newest backup: the parent of its next incremental. */
  async latestBackup(volumeId: string): Promise<ManifestHeader | undefined> {
    const list = await this.listBackups({ volumeId });
    return list[list.length - 1];
  }

  /** Headers of the chain a backup sits in: its ancestors, itself and its descendants (a
   *  chain stays in its volume: only that volume's are read when it was listed alone). */
  async chainOf(backupId: string): Promise<ManifestHeader[]> {
    return chainHeaders(oldestFirst(await this.#catalog.entriesAround(backupId)), backupId);
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
    this.#catalog.written(key, header, list.length);
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
    this.#catalog.written(key, header, list.length);
  }

  /** Sealed in an encrypted vault, in the key domain its header names (default: the vault's). */
  #encodeManifest(key: string, header: ManifestHeader, list: ManifestEntry[]): Buffer {
    return this.#manifests.encode(key, header, list, () => this.chunkCodec.keyDomain);
  }

  /** Manifests the catalog left out: no key given opens their domain. */
  get lockedManifests(): readonly string[] {
    return this.#catalog.locked;
  }

  /** Removes a backup's manifest (the backup is gone once this returns). Idempotent. */
  async removeManifest(volumeId: string, backupId: string): Promise<void> {
    await this.#store.delete(this.manifestKey(volumeId, backupId));
    await this.#store.sync();
    this.#catalog.removed(backupId);
  }

  lease(scope: string, op: LeaseOp, opts: { ttlMs?: number } = {}): Promise<Lease> {
    return acquireLease(this.#store, scope, op, opts);
  }

  /** The id of GC's vault-wide lease while a GC holds it (one GET), else undefined. */
  gcLeaseHolder(): Promise<string | undefined> {
    return gcLeaseHolder(this.meta);
  }

  /** The leases held now (expired ones and those of dead local processes left out). */
  liveLeases(): Promise<LeaseRecord[]> {
    return liveLeases(this.#store);
  }

  /** Every lease object, held or stale, for an operator (`blockvault locks`). */
  listLeases(): Promise<LeaseEntry[]> {
    return listLeases(this.#store);
  }

  /** Removes the lease on a scope whatever holds it (`blockvault locks break`). */
  breakLease(scope: string): Promise<BreakResult> {
    return breakLease(this.#store, scope);
  }
}

export { CHUNK_ID_BYTES };
