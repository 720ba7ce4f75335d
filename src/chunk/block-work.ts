// What happens to one block's bytes before it is stored: zero check, identity, and —
// only when it differs from the parent's block — compression. Pure and synchronous, so it
// runs the same in a worker thread (block-worker.ts) or inline.
import { maybeCompress, type Compression } from './compress.js';
import { ChunkHasher } from './identity.js';
import { isAllZero } from './zero.js';

export type BlockVerdict =
  | { kind: 'zero' }
  | { kind: 'unchanged'; id: Buffer }
  | { kind: 'changed'; id: Buffer; compression: Compression; /** undefined: the raw bytes */ payload?: Buffer };

export function processBlock(
  hasher: ChunkHasher,
  data: Buffer,
  parentId: Buffer | undefined,
  compression: Compression,
): BlockVerdict {
  if (isAllZero(data)) return { kind: 'zero' };
  const id = hasher.id(data);
  if (parentId?.equals(id)) return { kind: 'unchanged', id };
  const c = maybeCompress(data, compression);
  return c.compression === 'none' ? { kind: 'changed', id, compression: 'none' } : { kind: 'changed', id, compression: c.compression, payload: c.payload };
}
