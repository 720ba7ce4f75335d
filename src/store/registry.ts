// Store kinds by URL scheme, so a new kind of store is one module and one register call
// (kopia's blob registry, restic's location parser). A location is
//   - a plain path (relative or absolute), or file:///abs/path, or file:path → a directory;
//   - s3://bucket[/prefix] → S3 or an S3-compatible server;
//   - mem://name → this process's memory (tests);
// and anything else that looks like scheme:… is refused, never taken for a directory name
// (`s3:/bucket` once made a local directory called "s3:").
import { ErrorCodes } from '../errors.js';
import type { ObjectStore } from './object-store.js';
import { StoreError } from './store-errors.js';
import type { StoreOptions } from './open-store.js';

export interface StoreKind {
  /** Lower-case scheme without the colon: 'file', 's3', 'mem'. */
  readonly scheme: string;
  /** How a location of this kind is written, for messages. */
  readonly example: string;
  /** Opens the store at `location` (the whole location string, scheme included). */
  open(location: string, opts: StoreOptions): Promise<ObjectStore>;
}

const kinds = new Map<string, StoreKind>();

export function registerStoreKind(kind: StoreKind): void {
  kinds.set(kind.scheme.toLowerCase(), kind);
}

export function storeKinds(): StoreKind[] {
  return [...kinds.values()];
}

// RFC 3986 scheme; two characters at least, so a Windows drive letter (C:) is not one.
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

/** The kind a location names (plain paths are 'file'), or a clear refusal. */
export function storeKindOf(location: string): StoreKind {
  if (typeof location !== 'string' || location.trim() === '') {
    throw new StoreError('badRequest', 'no vault location given', {
      code: ErrorCodes.badInput,
      hint: `give a directory, ${examples()}`,
    });
  }
  const m = SCHEME.exec(location.trim());
  const scheme = m ? m[1]!.toLowerCase() : 'file';
  const kind = kinds.get(scheme);
  if (!kind) {
    throw new StoreError('badRequest', `unknown vault location scheme "${m?.[1]}:" in ${JSON.stringify(location)}`, {
      code: ErrorCodes.badInput,
      hint: `write a directory, ${examples()}; for a local directory whose name has a colon, start it with ./`,
      details: { location },
    });
  }
  return kind;
}

function examples(): string {
  return storeKinds()
    .map((k) => k.example)
    .join(', ');
}
