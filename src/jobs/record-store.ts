// Small objects of the job model (job records, cancel requests, backup records) go through
// the vault's metadata API, `vault.meta`. Until that API is merged this falls back to the
// store underneath (the same keys, the same atomic whole-object puts).
import type { Vault } from '../vault/vault.js';

export interface RecordStore {
  get(key: string): Promise<Buffer | undefined>;
  /** Atomic whole-object write; with ifAbsent, false when the key exists. */
  put(key: string, body: Buffer, opts?: { ifAbsent?: boolean }): Promise<boolean>;
  list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified?: Date }>;
  delete(key: string): Promise<void>;
}

type WithMeta = { meta?: RecordStore };

export function recordStore(vault: Vault): RecordStore {
  const meta = (vault as unknown as WithMeta).meta;
  if (meta) return meta;
  const store = vault.store;
  return {
    async get(key) {
      try {
        return await store.get(key);
      } catch (e) {
        if ((e as Error)?.name === 'StoreNotFoundError') return undefined;
        throw e;
      }
    },
    put: (key, body, opts) => store.put(key, body, opts),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
  };
}
