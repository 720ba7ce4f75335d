// What happens to one block's bytes before it is stored: zero check, identity, and —
// only when it differs from the parent's block — the whole chunk object (frame header and
// compressed payload), written into a buffer the caller reuses. Pure and synchronous, so it
// runs the same in a worker thread (block-worker.ts) or inline.
import { CHUNK_HEADER_BYTES, writeChunkHeader } from './chunk-format.js';
import { compressInto, payloadCapacity, type Compression } from './compress.js';
import { ChunkHasher } from './identity.js';
import { isAllZero } from './zero.js';

export type BlockVerdict =
  | { kind: 'zero' }
  | { kind: 'unchanged'; id: Buffer }
  | {
      kind: 'changed';
      id: Buffer;
      compression: Compression;
      /** The chunk object is out[0, objectLength): header, then payload. */
      objectLength: number;
      payloadLength: number;
    };

/** Size of the buffer that must receive a block's chunk object. */
export function objectCapacity(blockSize: number): number {
  return CHUNK_HEADER_BYTES + payloadCapacity(blockSize);
}

export function processBlock(
  hasher: ChunkHasher,
  data: Buffer,
  parentId: Buffer | undefined,
  compression: Compression,
  out: Buffer,
): BlockVerdict {
  if (isAllZero(data)) return { kind: 'zero' };
  const id = hasher.id(data);
  if (parentId?.equals(id)) return { kind: 'unchanged', id };
  const c = compressInto(data, compression, out, CHUNK_HEADER_BYTES);
  writeChunkHeader(out, c.length, data.length, c.compression);
  return { kind: 'changed', id, compression: c.compression, objectLength: CHUNK_HEADER_BYTES + c.length, payloadLength: c.length };
}
