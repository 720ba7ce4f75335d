// A vault location is a local directory path (the embedded default) or s3://bucket/prefix.
import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';

export interface StoreOptions {
  /** Create the directory (local) or the bucket (S3, with createBucket) if missing. */
  create?: boolean;
  /** S3: endpoint URL; else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  createBucket?: boolean;
}

export function isS3Location(location: string): boolean {
  return location.startsWith('s3://');
}

export async function openStore(location: string, opts: StoreOptions = {}): Promise<ObjectStore> {
  if (isS3Location(location)) {
    const { S3Store } = await import('./s3-store.js');
    return S3Store.open(location, opts);
  }
  return LocalStore.open(location, { create: opts.create ?? false });
}
