// Worker thread entry: runs processBlock on a block whose memory (and the buffer for its
// chunk object) is transferred in and handed back, never copied.
import { parentPort, workerData } from 'node:worker_threads';
import { processBlock } from './block-work.js';
import type { Compression } from './compress.js';
import { ChunkHasher } from './identity.js';

export interface BlockRequest {
  seq: number;
  buffer: ArrayBuffer;
  out: ArrayBuffer;
  length: number;
  parentId?: Uint8Array;
}

const { hashKey, compression } = workerData as { hashKey: Uint8Array; compression: Compression };
const hasher = new ChunkHasher(Buffer.from(hashKey));

parentPort!.on('message', (req: BlockRequest) => {
  const transfer = [req.buffer, req.out];
  try {
    const v = processBlock(
      hasher,
      Buffer.from(req.buffer, 0, req.length),
      req.parentId ? Buffer.from(req.parentId) : undefined,
      compression,
      Buffer.from(req.out),
    );
    parentPort!.postMessage({ seq: req.seq, buffer: req.buffer, out: req.out, verdict: v }, transfer);
  } catch (e) {
    parentPort!.postMessage({ seq: req.seq, buffer: req.buffer, out: req.out, error: (e as Error).message }, transfer);
  }
});
