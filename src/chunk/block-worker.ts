// Worker thread entry: runs processBlock on a block whose memory (and the buffer for its
// chunk object) is transferred in and handed back, never copied.
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { processBlock, type BlockVerdict } from './block-work.js';
import type { ChunkSealKey } from './chunk-format.js';
import type { Compression } from './compress.js';
import { ChunkHasher } from './identity.js';
import { gcmAllocates } from '../crypto/aead.js';

export interface BlockRequest {
  seq: number;
  buffer: ArrayBuffer;
  out: ArrayBuffer;
  length: number;
  parentId?: Uint8Array;
}

/** A verdict after structured clone: Buffers arrive as plain Uint8Arrays. */
export type WireVerdict = BlockVerdict extends infer V ? (V extends { id: Buffer } ? Omit<V, 'id'> & { id: Uint8Array } : V) : never;

/** What the worker posts back for one request: the two buffers always come home. */
export type BlockReply =
  | { seq: number; buffer: ArrayBuffer; out: ArrayBuffer; verdict: WireVerdict; error?: undefined }
  | { seq: number; buffer: ArrayBuffer; out: ArrayBuffer; error: string; verdict?: undefined };

const { hashKey, compression, seal } = workerData as { hashKey: Uint8Array; compression: Compression; seal?: ChunkSealKey };
const hasher = new ChunkHasher(Buffer.from(hashKey));

// lz4-napi's outputs live outside V8's heap and are freed only when their small JS wrappers
// are collected. This worker allocates almost nothing else, so V8 seldom collects on its own
// and each worker held ~60 MB of dead LZ4 output (none: 284 MB peak). The wrappers die young,
// so a minor collection (a scavenge of the small young generation) frees them as well as a full
// one did, at a fraction of its cost, which lets it run every 8 MiB instead of every 32 MiB
// (2 GiB mixed image: Mark-Compact events 55 → 9; peak RSS 173–180 MiB at 32 MiB, 158–160 MiB
// at 8 MiB, 152–159 MiB at 4 MiB, user CPU the same). `gc` comes from a fresh context made
// after --expose-gc is set, since a Worker's execArgv cannot carry V8 flags.
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as (opts?: { type: 'minor' | 'major' }) => void;
const COLLECT_EVERY_BYTES = 8 * 1024 * 1024;
let sinceCollect = 0;

parentPort!.on('message', (req: BlockRequest) => {
  // Only compressed blocks leave LZ4 garbage: an incremental's unchanged blocks need no collection.
  if (sinceCollect >= COLLECT_EVERY_BYTES) {
    sinceCollect = 0;
    collect({ type: 'minor' });
  }
  const transfer = [req.buffer, req.out];
  try {
    const v = processBlock(
      hasher,
      Buffer.from(req.buffer, 0, req.length),
      req.parentId ? Buffer.from(req.parentId) : undefined,
      compression,
      Buffer.from(req.out),
      seal,
    );
    if (v.kind === 'changed' && v.compression !== 'none') sinceCollect += req.length;
    const reply: BlockReply = { seq: req.seq, buffer: req.buffer, out: req.out, verdict: v };
    parentPort!.postMessage(reply, transfer);
    // Without the addon, AES-GCM (node:crypto) leaves one block-sized output buffer per sealed
    // block, still young: a scavenge frees it for ~0.03 ms, where a full collection costs
    // about as much as sealing the block. Measured on a 256 MiB random image: peak RSS 206 MB
    // without, against 150 MB for a plain vault. The addon seals in place and leaves none.
    if (seal && gcmAllocates && v.kind === 'changed') collect({ type: 'minor' });
  } catch (e) {
    const reply: BlockReply = { seq: req.seq, buffer: req.buffer, out: req.out, error: (e as Error).message };
    parentPort!.postMessage(reply, transfer);
  }
});
