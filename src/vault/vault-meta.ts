// The vault's small pieces that need no vault state: `meta` (non-chunk objects by key), the
// volume id rule, and who holds GC's lease.
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { isNotFound, type ObjectInfo, type ObjectStore } from '../store/object-store.js';
import { Layout } from './layout.js';
import { leaseIsLive, type LeaseRecord } from './lease.js';

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

export function metaObjects(store: ObjectStore): MetaObjects {
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

/** The id of GC's vault-wide lease while a GC holds it (one GET), else undefined. */
export async function gcLeaseHolder(meta: MetaObjects): Promise<string | undefined> {
  const body = await meta.get(Layout.leaseKey(Layout.gcLeaseScope));
  if (!body) return undefined;
  try {
    const rec = JSON.parse(body.toString('utf8')) as LeaseRecord;
    return typeof rec.leaseId === 'string' && typeof rec.expiresAt === 'string' && leaseIsLive(rec) ? rec.leaseId : undefined;
  } catch {
    return undefined; // torn by hand: treated as absent, as lease.ts does
  }
}

const VOLUME_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function validateVolumeId(volumeId: string): void {
  if (!VOLUME_ID.test(volumeId)) {
    throw new BlockvaultError(ErrorCodes.badInput, `volume id ${JSON.stringify(volumeId)} is not valid`, {
      hint: 'use 1–128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (a UUID works)',
    });
  }
}
