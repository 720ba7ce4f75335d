// Opening a store from a location string, with options typed per kind of store. The flat S3
// fields (endpoint, region, forcePathStyle, createBucket) are the older spelling and still
// work; `store.s3` (credentials included), `store.file` and `store.mem` carry each kind's own
// options, and the rate limits wrap whatever store is opened.
import { fileURLToPath } from 'node:url';
import { ErrorCodes } from '../errors.js';
import { LocalStore, type LocalStoreOptions } from './local-store.js';
import { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
import type { ObjectStore } from './object-store.js';
import { withRateLimits, type RateLimitOptions } from './rate-limit.js';
import { registerStoreKind, storeKindOf } from './registry.js';
import type { S3StoreOptions } from './s3/options.js';
import { StoreError } from './store-errors.js';

/** Each kind's own options, by scheme. A new kind adds its entry here. */
export interface StoreKindOptions {
  file?: Omit<LocalStoreOptions, 'create'>;
  s3?: S3StoreOptions;
  mem?: MemoryStoreOptions;
}

export interface StoreOptions extends RateLimitOptions {
  /** Create the directory (local) if missing. */
  create?: boolean;
  /** S3: endpoint URL; else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. (Also store.s3.endpoint.) */
  endpoint?: string;
  /** S3 (also store.s3.region). */
  region?: string;
  /** S3 (also store.s3.forcePathStyle). */
  forcePathStyle?: boolean;
  /** S3: create the bucket if missing (also store.s3.createBucket). */
  createBucket?: boolean;
  /** Options of the kind of store the location names; the others are ignored. */
  store?: StoreKindOptions;
}

export function isS3Location(location: string): boolean {
  return /^s3:/i.test(location.trim());
}

/** Opens the store a location names (see registry.ts for the forms). */
export async function openStore(location: string, opts: StoreOptions = {}): Promise<ObjectStore> {
  const store = await storeKindOf(location).open(location.trim(), opts);
  return withRateLimits(store, opts);
}

/** The S3 options in effect: the flat fields, overridden by store.s3. */
export function s3Options(opts: StoreOptions): S3StoreOptions {
  const flat: S3StoreOptions = {};
  if (opts.endpoint !== undefined) flat.endpoint = opts.endpoint;
  if (opts.region !== undefined) flat.region = opts.region;
  if (opts.forcePathStyle !== undefined) flat.forcePathStyle = opts.forcePathStyle;
  if (opts.createBucket !== undefined) flat.createBucket = opts.createBucket;
  return { ...flat, ...opts.store?.s3 };
}

function localPath(location: string): string {
  if (/^file:\/\//i.test(location)) {
    try {
      return fileURLToPath(location);
    } catch (e) {
      throw new StoreError('badRequest', `not a valid file URL ${JSON.stringify(location)}: ${(e as Error).message}`, {
        code: ErrorCodes.badInput,
        hint: 'write file:///absolute/path, or just the path',
      });
    }
  }
  return /^file:/i.test(location) ? location.slice(5) : location;
}

registerStoreKind({
  scheme: 'file',
  example: 'file:///abs/path',
  open: (location, opts) => {
    const p = localPath(location);
    if (!p) throw new StoreError('badRequest', `no directory in ${JSON.stringify(location)}`, { code: ErrorCodes.badInput, hint: 'write file:///absolute/path, or just the path' });
    return LocalStore.open(p, { ...opts.store?.file, create: opts.create ?? false });
  },
});

registerStoreKind({
  scheme: 's3',
  example: 's3://bucket/prefix',
  open: async (location, opts) => {
    const { S3Store } = await import('./s3/store.js');
    return S3Store.open(location, s3Options(opts));
  },
});

registerStoreKind({
  scheme: 'mem',
  example: 'mem://name',
  open: async (location, opts) => {
    const m = /^mem:\/\/([A-Za-z0-9._-]+)\/?$/i.exec(location);
    if (!m) {
      throw new StoreError('badRequest', `not a valid memory store URL ${JSON.stringify(location)}`, {
        code: ErrorCodes.badInput,
        hint: 'write mem://name (letters, digits, ".", "_", "-")',
        details: { location },
      });
    }
    return MemoryStore.open(m[1]!, opts.store?.mem);
  },
});
