// The vault's backups as its manifests' headers say: listed once (one LIST, then one ranged
// read per manifest, in parallel) and kept until refresh(). Manifests of a key domain no key
// given opens are left out and remembered, so "not found" can say why.
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { Layout } from './layout.js';
import type { ManifestHeader } from './manifest.js';
import type { ManifestIO } from './manifest-io.js';
import { isLockedDomain } from './vault-encryption.js';

export interface CatalogEntry {
  key: string;
  header: ManifestHeader;
}

export class ManifestCatalog {
  readonly #store: ObjectStore;
  readonly #manifests: ManifestIO;
  #headers: Map<string, CatalogEntry> | undefined;
  /** Manifests left out: their key domain is not open with the keys given. */
  readonly #locked = new Set<string>();

  constructor(store: ObjectStore, manifests: ManifestIO) {
    this.#store = store;
    this.#manifests = manifests;
  }

  /** Forgets what was read (another process may have changed the vault). */
  refresh(): void {
    this.#headers = undefined;
    this.#locked.clear();
  }

  get locked(): readonly string[] {
    return [...this.#locked];
  }

  async entries(): Promise<Map<string, CatalogEntry>> {
    if (this.#headers) return this.#headers;
    const found = new Map<string, CatalogEntry>();
    const keys: string[] = [];
    for await (const o of this.#store.list(Layout.manifestPrefix)) if (Layout.isManifestKey(o.key)) keys.push(o.key);
    await Promise.all(
      keys.map(async (key) => {
        let header: ManifestHeader;
        try {
          header = await this.#manifests.readHeader(key);
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

  /** The entry of a backup, or a BV backup-not-found error that names locked domains. */
  async get(backupId: string, vaultUrl: string): Promise<CatalogEntry> {
    const hit = (await this.entries()).get(backupId);
    if (hit) return hit;
    const locked = this.#locked.size;
    throw new BlockvaultError(ErrorCodes.backupNotFound, `backup ${backupId} not found in ${vaultUrl}`, {
      hint: locked
        ? `${locked} backup(s) are in key domains the keys given do not open (${[...this.#locked].slice(0, 3).join(', ')}${locked > 3 ? ', …' : ''}): open the vault with their key`
        : 'list the backups with `blockvault list --vault …`',
      details: { backupId },
    });
  }

  /** A manifest this process wrote or replaced (the cached listing stays current). */
  written(key: string, header: ManifestHeader, entryCount: number): void {
    this.#headers?.set(header.backupId, { key, header: { ...header, entryCount } });
  }

  removed(backupId: string): void {
    this.#headers?.delete(backupId);
  }
}
