// The repository on top of a store: config, chunk objects, the chunk index, manifests
// and chains. Key layout (the same on a directory and in a bucket):
//
//   config                               vault config (format, block size, hash key)
//   chunks/<hh>/<64 hex>                 chunk objects, content-addressed, immutable
//   index/<name>.idx                     chunk index segments
//   manifests/<volume>/<backup>.bvm      one manifest per backup, written last
//   leases/<scope>.json                  one operation per volume (and "vault" for GC)
import { CHUNK_ID_BYTES, ChunkHasher, idToHex } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { openStore, type StoreOptions } from '../store/open-store.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { BlockMap } from './block-map.js';
import { ChunkIndex } from './chunk-index.js';
import { loadChunkIndex, type IndexLoadOptions } from './index-loader.js';
import { CONFIG_KEY, decodeConfig, encodeConfig, newConfig, type VaultConfig } from './config.js';
import { acquireLease, type Lease, type LeaseOp } from './lease.js';
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

export const MANIFEST_PREFIX = 'manifests/';
const HEADER_PROBE_BYTES = 16 * 1024;

export interface OpenVaultOptions extends StoreOptions, IndexLoadOptions {
  /** Make the vault if there is none (the first backup does this). */
  create?: boolean;
  /** For a new vault only: block size (power of two, 64 KiB–16 MiB) and compression. */
  blockSize?: number;
  compression?: Compression;
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
  readonly store: ObjectStore;
  readonly config: VaultConfig;
  readonly hasher: ChunkHasher;
  #index: Promise<ChunkIndex> | undefined;
  #headers: Map<string, { key: string; header: ManifestHeader }> | undefined;

  readonly #indexOpts: IndexLoadOptions;

  private constructor(store: ObjectStore, config: VaultConfig, indexOpts: IndexLoadOptions = {}) {
    this.#indexOpts = indexOpts;
    this.store = store;
    this.config = config;
    this.hasher = new ChunkHasher(Buffer.from(config.hashKey, 'hex'));
  }

  get url(): string {
    return this.store.url;
  }

  get blockSize(): number {
    return this.config.blockSize;
  }

  static async open(location: string, opts: OpenVaultOptions = {}): Promise<Vault> {
    // A local vault defers the fdatasync of chunk objects to the sync() before each manifest
    // (src/store/local-store.ts says why that is crash-safe); every other object stays durable on put.
    const file = { deferSyncPrefixes: ['chunks/'], ...opts.store?.file };
    const store = await openStore(location, { ...opts, store: { ...opts.store, file } });
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
      raw = await store.get(CONFIG_KEY);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!raw) {
      if (!opts.create) {
        throw new BlockvaultError(ErrorCodes.notFound, `no blockvault vault at ${store.url} (no config object)`, {
          hint: 'check --vault, or run a backup or `blockvault init` to create one',
        });
      }
      const cfg = newConfig({ blockSize: opts.blockSize, compression: opts.compression });
      // put-if-absent: of two processes creating one vault, one config wins and both use it.
      if (!(await store.put(CONFIG_KEY, encodeConfig(cfg), { ifAbsent: true }))) raw = await store.get(CONFIG_KEY);
      else return new Vault(store, cfg, opts);
    }
    const cfg = decodeConfig(raw, `${store.url}/${CONFIG_KEY}`);
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
    await this.store.close();
  }

  // ---- chunks

  chunkKey(id: Uint8Array): string {
    const hex = idToHex(id);
    return `chunks/${hex.slice(0, 2)}/${hex}`;
  }

  chunkIndex(): Promise<ChunkIndex> {
    this.#index ??= loadChunkIndex(this.store, this.config.hashKey, this.#indexOpts);
    return this.#index;
  }

  /** Loads the index anew. A backup calls this after taking its lease: GC relies on every
   *  backup that saw an index from before its rewrite holding a lease GC could see. */
  reloadChunkIndex(): Promise<ChunkIndex> {
    this.#index = loadChunkIndex(this.store, this.config.hashKey, this.#indexOpts);
    return this.#index;
  }

  // ---- manifests

  manifestKey(volumeId: string, backupId: string): string {
    return `${MANIFEST_PREFIX}${volumeId}/${backupId}.bvm`;
  }

  /** Forgets cached headers (after another process may have changed the vault). */
  refresh(): void {
    this.#headers = undefined;
  }

  async #catalog(): Promise<Map<string, { key: string; header: ManifestHeader }>> {
    if (this.#headers) return this.#headers;
    const found = new Map<string, { key: string; header: ManifestHeader }>();
    const keys: string[] = [];
    for await (const o of this.store.list(MANIFEST_PREFIX)) if (o.key.endsWith('.bvm')) keys.push(o.key);
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
    try {
      let buf = await this.store.getRange(key, 0, HEADER_PROBE_BYTES);
      const need = MANIFEST_PREFIX_BYTES + headerLength(buf);
      if (buf.length < need) buf = await this.store.getRange(key, 0, need);
      return decodeHeader(buf);
    } catch (e) {
      throw this.#manifestError(e, key);
    }
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
    try {
      return decodeManifest(await this.store.get(hit.key));
    } catch (e) {
      throw this.#manifestError(e, hit.key);
    }
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
    await this.store.sync();
    const key = this.manifestKey(header.volumeId, header.backupId);
    const created = await this.store.put(key, encodeManifest(header, list), { ifAbsent: true });
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
    await this.store.sync();
    const key = this.manifestKey(header.volumeId, header.backupId);
    await this.store.put(key, encodeManifest(header, list));
    await this.store.sync();
    this.#headers?.set(header.backupId, { key, header: { ...header, entryCount: list.length } });
  }

  /** Removes a backup's manifest (the backup is gone once this returns). Idempotent. */
  async removeManifest(volumeId: string, backupId: string): Promise<void> {
    await this.store.delete(this.manifestKey(volumeId, backupId));
    await this.store.sync();
    this.#headers?.delete(backupId);
  }

  lease(scope: string, op: LeaseOp): Promise<Lease> {
    return acquireLease(this.store, scope, op);
  }
}

export { CHUNK_ID_BYTES };
