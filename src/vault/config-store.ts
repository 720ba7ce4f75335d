// Creating, copying and repairing the config object (issue 9.2). A vault cannot live
// without its config: the hash key names every chunk. So:
//  - a config is created only where the vault holds nothing else: a lost config next to
//    chunks and manifests is damage to repair, never a reason to start a new vault there
//    (a new hash key would make every old backup, and every incremental chained to it,
//    unreadable);
//  - a byte-identical copy is written right after the config wins its put-if-absent
//    (meta/config.copy); repairVaultConfig on a sound vault adds it to an older vault
//    (opening a vault never writes it: that would cost every backup a request);
//  - repairVaultConfig puts the copy back, after checking it against a stored chunk.
import { decodeChunk } from '../chunk/chunk-format.js';
import { decompress } from '../chunk/compress.js';
import { ChunkHasher, idToHex } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { openStore, type StoreOptions } from '../store/open-store.js';
import { CONFIG_COPY_KEY, CONFIG_KEY, decodeConfig, type VaultConfig } from './config.js';
import { EntryKind, decodeManifest, entries } from './manifest.js';

/** Prefixes of every object a vault holds besides its config. */
const VAULT_OBJECT_PREFIXES = ['manifests/', 'chunks/', 'index/', 'meta/', 'gc/', 'leases/'] as const;

async function firstKey(store: ObjectStore, prefix: string): Promise<string | undefined> {
  for await (const o of store.list(prefix)) return o.key;
  return undefined;
}

/** Any vault object in the store (the config aside), or undefined. One listing per prefix,
 *  stopped at its first key: made only when the config is missing. */
export async function anyVaultObject(store: ObjectStore): Promise<string | undefined> {
  for (const prefix of VAULT_OBJECT_PREFIXES) {
    const key = await firstKey(store, prefix);
    if (key !== undefined) return key;
  }
  return undefined;
}

/** The error for a store that holds vault objects but no config. */
export function configLostError(url: string, found: string): BlockvaultError {
  return new BlockvaultError(
    ErrorCodes.vaultDamaged,
    `vault ${url} has no config object, but it holds vault objects (${found}): its config was lost`,
    {
      hint:
        'repair it from its copy with repairVaultConfig (`blockvault repair-config --vault …`), or put the config ' +
        'back from a copy of the vault; do not create a new vault here (a new config makes every backup in it unreadable)',
      details: { object: CONFIG_KEY, found },
    },
  );
}

/** Writes the copy beside a config that has none (idempotent: put-if-absent). */
export async function ensureConfigCopy(store: ObjectStore, raw: Buffer): Promise<void> {
  await store.put(CONFIG_COPY_KEY, raw, { ifAbsent: true });
}

export interface RepairConfigOptions extends StoreOptions {
  /** Also replace a config that is present but damaged (by default only a missing one). */
  replaceDamaged?: boolean;
}

export interface RepairConfigResult {
  /** True when the config was written from the copy; false when it was already sound. */
  repaired: boolean;
  vaultId: string;
  /** The chunk the copy's hash key was checked against (absent when the vault has none). */
  checkedChunk?: string;
}

async function getOrUndefined(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  try {
    return await store.get(key);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * Puts a lost config back from meta/config.copy. The copy is decoded (checksum, schema)
 * and its hash key is proven on one chunk a manifest names before anything is written.
 */
export async function repairVaultConfig(location: string, opts: RepairConfigOptions = {}): Promise<RepairConfigResult> {
  const store = await openStore(location, opts);
  try {
    return await repairConfigOnStore(store, opts);
  } finally {
    await store.close().catch(() => {});
  }
}

export async function repairConfigOnStore(store: ObjectStore, opts: { replaceDamaged?: boolean } = {}): Promise<RepairConfigResult> {
  const where = `${store.url}/${CONFIG_KEY}`;
  const present = await getOrUndefined(store, CONFIG_KEY);
  if (present) {
    try {
      const cfg = decodeConfig(present, where);
      await ensureConfigCopy(store, present);
      return { repaired: false, vaultId: cfg.vaultId };
    } catch (e) {
      if (!(e instanceof BlockvaultError && e.code === ErrorCodes.vaultDamaged) || !opts.replaceDamaged) throw e;
    }
  }
  const copy = await getOrUndefined(store, CONFIG_COPY_KEY);
  if (!copy) {
    throw new BlockvaultError(ErrorCodes.vaultDamaged, `vault ${store.url} has no config copy (${CONFIG_COPY_KEY}) to repair from`, {
      hint: 'put the config back from a copy of the vault (vaults made before the copy existed have none)',
      details: { object: CONFIG_COPY_KEY },
    });
  }
  const cfg = decodeConfig(copy, `${store.url}/${CONFIG_COPY_KEY}`);
  const checkedChunk = await proveHashKey(store, cfg);
  if (present) await store.put(CONFIG_KEY, copy);
  else if (!(await store.put(CONFIG_KEY, copy, { ifAbsent: true }))) {
    // Someone put a config back meanwhile: use theirs if it is sound.
    decodeConfig(await store.get(CONFIG_KEY), where);
    return { repaired: false, vaultId: cfg.vaultId };
  }
  await store.sync();
  return { repaired: true, vaultId: cfg.vaultId, ...(checkedChunk ? { checkedChunk } : {}) };
}

/** Reads one chunk a manifest names and checks its identity under the config's hash key.
 *  Returns the chunk's id, or undefined when no manifest names a chunk. */
async function proveHashKey(store: ObjectStore, cfg: VaultConfig): Promise<string | undefined> {
  // An encrypted vault's chunk ids are keyed per key domain (no key here): the copy's
  // checksum and schema are its check.
  if (cfg.hashKey === undefined) return undefined;
  const hasher = new ChunkHasher(Buffer.from(cfg.hashKey, 'hex'));
  for await (const o of store.list('manifests/')) {
    if (!o.key.endsWith('.bvm')) continue;
    let chunkId: Buffer | undefined;
    for (const e of entries(decodeManifest(await store.get(o.key)))) {
      if (e.kind === EntryKind.chunk) {
        chunkId = Buffer.from(e.id);
        break;
      }
    }
    if (!chunkId) continue;
    const hex = idToHex(chunkId);
    const frame = decodeChunk(await store.get(`chunks/${hex.slice(0, 2)}/${hex}`));
    const data = decompress(frame.payload, frame.compression, frame.rawLength);
    if (!hasher.id(data).equals(chunkId)) {
      throw new BlockvaultError(ErrorCodes.vaultDamaged, `the config copy in ${store.url} does not belong to this vault`, {
        hint: 'its hash key does not reproduce the ids of the stored chunks; put the config back from a copy of the vault',
        details: { object: CONFIG_COPY_KEY, chunk: hex },
      });
    }
    return hex;
  }
  return undefined;
}
