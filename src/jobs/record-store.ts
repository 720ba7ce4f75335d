// Small objects of the job model (job records, cancel requests, backup records) go through
// the vault's metadata API, `vault.meta`: atomic whole-object puts, get-or-undefined.
import type { Vault } from '../vault/vault.js';

export interface RecordStore {
  get(key: string): Promise<Buffer | undefined>;
  /** Atomic whole-object write; with ifAbsent, false when the key exists. */
  put(key: string, body: Buffer, opts?: { ifAbsent?: boolean }): Promise<boolean>;
  list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified?: Date }>;
  delete(key: string): Promise<void>;
}

export function recordStore(vault: Vault): RecordStore {
  return vault.meta;
}
