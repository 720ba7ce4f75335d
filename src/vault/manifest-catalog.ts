// The vault's backups as its manifests' headers say: listed once (one LIST, then one ranged
// read per manifest, in parallel) and kept until refresh(). Manifests of a key domain no key
// given opens are left out and remembered, so "not found" can say why.
//
// One volume's backups can be listed alone (manifests/<volume>/): a backup needs its volume's
// chain, never the other volumes', so its cost does not grow with the rest of the vault. A
// backup's chain stays in its volume (its parent is the volume's newest backup), so the
// volume's entries answer for every member; an id not among them falls back to the whole
// listing.
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
  /** Volumes listed alone, while the whole vault has not been. */
  readonly #volumes = new Map<string, Map<string, CatalogEntry>>();
  /** Manifests left out: their key domain is not open with the keys given. */
  readonly #locked = new Set<string>();

  constructor(store: ObjectStore, manifests: ManifestIO) {
    this.#store = store;
    this.#manifests = manifests;
  }

  /** Forgets what was read (another process may have changed the vault). */
  refresh(): void {
    this.#headers = undefined;
    this.#volumes.clear();
    this.#locked.clear();
  }

  get locked(): readonly string[] {
    return [...this.#locked];
  }

  async entries(): Promise<Map<string, CatalogEntry>> {
    if (this.#headers) return this.#headers;
    this.#headers = await this.#read(Layout.manifestPrefix);
    this.#volumes.clear();
    return this.#headers;
  }

  /** One volume's entries: from the whole listing when it was read, else listed alone. */
  async volumeEntries(volumeId: string): Promise<Map<string, CatalogEntry>> {
    if (this.#headers) return ofVolume(this.#headers, volumeId);
    let found = this.#volumes.get(volumeId);
    if (!found) {
      found = ofVolume(await this.#read(Layout.manifestVolumePrefix(volumeId)), volumeId);
      // A whole listing read meanwhile supersedes it (and cleared the volumes).
      if (!this.#headers) this.#volumes.set(volumeId, found);
    }
    return found;
  }

  /** The entry of a backup if a volume listed alone holds it (no request). */
  #fromVolumes(backupId: string): CatalogEntry | undefined {
    for (const v of this.#volumes.values()) {
      const e = v.get(backupId);
      if (e) return e;
    }
    return undefined;
  }

  /** The entries a chain walk from this backup needs: its volume's when that volume was
   *  listed alone and holds it, else the whole vault's. */
  async entriesAround(backupId: string): Promise<Map<string, CatalogEntry>> {
    const e = this.#headers ? undefined : this.#fromVolumes(backupId);
    return e ? this.#volumes.get(e.header.volumeId)! : this.entries();
  }

  async #read(prefix: string): Promise<Map<string, CatalogEntry>> {
    const found = new Map<string, CatalogEntry>();
    const keys: string[] = [];
    for await (const o of this.#store.list(prefix)) if (Layout.isManifestKey(o.key)) keys.push(o.key);
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
    return found;
  }

  /** The entry of a backup, or a BV backup-not-found error that names locked domains. */
  async get(backupId: string, vaultUrl: string): Promise<CatalogEntry> {
    const hit = (!this.#headers && this.#fromVolumes(backupId)) || (await this.entries()).get(backupId);
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
    const e = { key, header: { ...header, entryCount } };
    this.#headers?.set(header.backupId, e);
    this.#volumes.get(header.volumeId)?.set(header.backupId, e);
  }

  removed(backupId: string): void {
    this.#headers?.delete(backupId);
    for (const v of this.#volumes.values()) v.delete(backupId);
  }
}

function ofVolume(entries: Map<string, CatalogEntry>, volumeId: string): Map<string, CatalogEntry> {
  return new Map([...entries].filter(([, e]) => e.header.volumeId === volumeId));
}
