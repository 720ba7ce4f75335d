// What happens to one block's bytes before it is stored: zero check, identity, and —
// only when it differs from the parent's block — the whole chunk object (frame header and
// compressed payload, encrypted in an encrypted vault), written into a buffer the caller reuses. Pure and synchronous, so it
// runs the same in a worker thread (block-worker.ts) or inline.
import { CHUNK_HEADER_BYTES, ENCRYPTED_CHUNK_HEADER_BYTES, sealChunkInto, writeChunkHeader, type ChunkSealKey } from './chunk-format.js';
import { compressInto, payloadCapacity, type Compression } from './compress.js';
import { ChunkHasher } from './identity.js';
import { isAllZero } from './zero.js';
import { alignedBuffer } from '../native/direct-io.js';
import { readPlanned, type PlannedRead, type ReadPlan } from '../source/read-plan.js';

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

/** Size of the buffer that must receive a block's chunk object (room for the encrypted header). */
export function objectCapacity(blockSize: number): number {
  return ENCRYPTED_CHUNK_HEADER_BYTES + payloadCapacity(blockSize);
}

export function processBlock(
  hasher: ChunkHasher,
  data: Buffer,
  parentId: Buffer | undefined,
  compression: Compression,
  out: Buffer,
  /** An encrypted vault: the block's key domain. The payload is sealed after compression. */
  seal?: ChunkSealKey,
): BlockVerdict {
  if (isAllZero(data)) return { kind: 'zero' };
  const id = hasher.id(data);
  if (parentId?.equals(id)) return { kind: 'unchanged', id };
  const headerBytes = seal ? ENCRYPTED_CHUNK_HEADER_BYTES : CHUNK_HEADER_BYTES;
  const c = compressInto(data, compression, out, headerBytes);
  if (seal) sealChunkInto(out, c.length, data.length, c.compression, id, seal);
  else writeChunkHeader(out, c.length, data.length, c.compression);
  return { kind: 'changed', id, compression: c.compression, objectLength: headerBytes + c.length, payloadLength: c.length };
}

/** One block of memory that planned reads land in, reused from block to block (a worker's, or
 *  the inline pool's); aligned, so a device can be read into it with O_DIRECT. */
export class PlannedBlockMemory {
  #mem: Buffer | undefined;

  /** Reads [start, start + length) from plan into the memory (PlannedReadError on failure). */
  read(plan: ReadPlan, start: number, length: number): { data: Buffer; read: PlannedRead } {
    if (!this.#mem || this.#mem.length < length) this.#mem = alignedBuffer(length);
    const data = this.#mem.subarray(0, length);
    return { data, read: readPlanned(plan, start, start + length, data) };
  }
}
