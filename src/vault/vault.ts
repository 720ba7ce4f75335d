// The repository on top of a store: config, chunk objects, the chunk index, manifests
// and chains. The store is private: the engine reaches chunks through the chunk operations
// (chunk-access.ts), manifests through the methods below and small records through `meta`.
// Every key is built by Layout (layout.ts).
import { CHUNK_ID_BYTES, ChunkHasher } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { openStore, type StoreOptions } from '../store/open-store.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { instrumentStore, type StoreObserver } from '../store/instrumented-store.js';
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
import { decodeConfig, encodeConfig, newConfig, validateOpenOptions, type VaultConfig } from './config.js';
import { anyVaultObject, configLostError, ensureConfigCopy } from './config-store.js';
import { Layout } from './layout.js';
import { breakLease, listLeases, type BreakResult, type LeaseEntry } from './lease-admin.js';
import { acquireLease, liveLeases, type Lease, type LeaseOp, type LeaseRecord } from './lease.js';
import { gcLeaseHolder, metaObjects, type MetaObjects, type StoredObject } from './vault-meta.js';

export { validateVolumeId } from './vault-meta.js';
export type { MetaObjects, StoredObject };
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

const HEADER_PROBE_BYTES = 16 * 1024;
/** Blocks in flight when neither the caller nor the store says. */
const DEFAULT_CONCURRENCY = 8;

export type { ChunkCodec, ChunkListing, PutChunkInfo, PutChunkResult, ReadChunkOptions };


export interface OpenVaultOptions extends StoreOptions, IndexLoadOptions, IndexFlushPolicy {
  /** Make the vault if there is none (the first backup does this). */
  create?: boolean;
  /** For a new vault only: block size (power of two, 64 KiB–16 MiB) and compression. */
  blockSize?: number;
  compression?: Compression;
  /** For a new vault only: a replica of this vault, with its block size, compression and
   *  chunk-id key, so copies between them move chunk objects as stored (src/engine/copy.ts). */
  replicaOf?: { config: VaultConfig };
  /** Told of every store request (metrics, logs): see src/store/instrumented-store.ts. */
  observe?: StoreObserver;
}


export class Vault {
  readonly #store: ObjectStore;
  readonly config: VaultConfig;
  readonly hasher: ChunkHasher;
  readonly chunkCodec: ChunkCodec;
  readonly meta: MetaObjects;
  readonly #chunks: ChunkAccess;
  #headers: Map<string, { key: string; header: ManifestHeader }> | undefined;

  private constructor(store: ObjectStore, config: VaultConfig, opts: IndexLoadOptions & IndexFlushPolicy = {}) {
    this.#store = store;
    this.config = config;
    const hashKey = Buffer.from(config.hashKey, 'hex');
    this.hasher = new ChunkHasher(hashKey);
    this.chunkCodec = { hashKey, compression: config.compression };
    this.#chunks = new ChunkAccess(store, this.hasher, () => loadChunkIndex(store, config.hashKey, opts), opts);
    this.meta = metaObjects(store);
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
    validateOpenOptions(opts);
    const store = opts.observe ? instrumentStore(given, opts.observe) : given;
    let raw: Buffer | undefined;
    try {
      raw = await store.get(Layout.config);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!raw) {
      // Options are checked before anything is written (or listed).
      // A replica takes its source's block size, compression and chunk-id key (initReplica).
      const src = opts.replicaOf?.config;
      const fresh = !opts.create ? undefined : newConfig(src ? { blockSize: src.blockSize, compression: src.compression, hashKey: src.hashKey } : { blockSize: opts.blockSize, compression: opts.compression });
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
        // put-if-absent: of two processes creating one vault, one config wins and both use it.
        const encoded = encodeConfig(fresh);
        if (!(await store.put(Layout.config, encoded, { ifAbsent: true }))) raw = await store.get(Layout.config);
        else {
          await ensureConfigCopy(store, encoded);
          return new Vault(store, fresh, opts);
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
    return new Vault(store, cfg, opts);
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
    return readChecked(
      () => this.#store.get(key, signal ? { signal } : undefined),
      decodeManifest,
      (o) => (o.stable ? this.#manifestError(o.error, key) : unstableReadError(key, this.url, o)) as Error,
      signal,
    );
  }

  /** Forgets cached headers (after another process may have changed the vault). */
  refresh(): void {
    this.#headers = undefined;
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
          throw e;
        }
        found.set(header.backupId, { key, header });
      }),
    );
    this.#headers = found;
    return found;
  }

  async #readHeader(key: string): Promise<ManifestHeader> {
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
    return new BlockvaultError(ErrorCodes.backupNotFound, `backup ${backupId} not found in ${this.url}`, {
      hint: 'list the backups with `blockvault list --vault …`',
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
    const created = await this.#store.put(key, encodeManifest(header, list), { ifAbsent: true });
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
    await this.#store.put(key, encodeManifest(header, list));
    await this.#store.sync();
    this.#headers?.set(header.backupId, { key, header: { ...header, entryCount: list.length } });
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
