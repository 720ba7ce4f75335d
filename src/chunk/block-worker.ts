// Worker thread entry: runs processBlock on a block whose memory (and the buffer for its
// chunk object) is transferred in and handed back, never copied; or, given a read plan, reads
// the block itself into memory of its own first (source/read-plan.ts).
import { parentPort } from 'node:worker_threads';
import { PlannedBlockMemory, processBlock, type BlockVerdict } from './block-work.js';
import type { ChunkSealKey } from './chunk-format.js';
import type { Compression } from './compress.js';
import { ChunkHasher } from './identity.js';
import { YoungCollector } from './young-gc.js';
import { lz4Allocates } from './compress.js';
import { gcmAllocates } from '../crypto/aead.js';
import { PlannedReadError, type PlannedRead, type ReadFailure, type ReadPlan } from '../source/read-plan.js';

/** The first message a worker gets: its vault's settings (it may have started before the
 *  vault was open: worker-start.ts). */
export interface BlockInit {
  init: { hashKey: Uint8Array; compression: Compression; seal?: ChunkSealKey };
}

/** The block's bytes, sent: they start at `offset` in `buffer` (aligned for direct reads). */
interface SentBlock {
  buffer: ArrayBuffer;
  offset: number;
  plan?: undefined;
}

/** The block [start, start + length), for the worker to read by itself from `plan`. */
interface PlannedBlock {
  plan: ReadPlan;
  start: number;
  buffer?: undefined;
}

/** One block, and the buffer its chunk object goes into. */
export type BlockRequest = {
  seq: number;
  out: ArrayBuffer;
  /** Where the chunk object goes in out (aligned for direct writes). */
  outOffset: number;
  length: number;
  parentId?: Uint8Array;
} & (SentBlock | PlannedBlock);

/** A verdict after structured clone: Buffers arrive as plain Uint8Arrays. */
export type WireVerdict = BlockVerdict extends infer V ? (V extends { id: Buffer } ? Omit<V, 'id'> & { id: Uint8Array } : V) : never;

/** What the worker posts back for one request: the buffers it was sent always come home.
 *  `read`: what a planned read did. */
export type BlockReply = { seq: number; buffer?: ArrayBuffer; out: ArrayBuffer } & (
  | { verdict: WireVerdict; read?: PlannedRead; error?: undefined; readFailure?: undefined }
  | { error: string; readFailure?: ReadFailure; verdict?: undefined }
);

let hasher: ChunkHasher;
let compression: Compression;
let seal: ChunkSealKey | undefined;

// Without the addon's liblz4 (lz4Allocates), lz4-napi's outputs (one per 64 KiB segment) are
// freed only when their wrappers are collected, and this worker
// allocates almost nothing else, so V8 seldom collects on its own: each worker held ~60 MB of
// dead LZ4 output (none: 284 MB peak). A scavenge every 8 MiB compressed frees them (2 GiB
// mixed image: Mark-Compact events 55 → 9; peak RSS 173–180 MiB at 32 MiB, 158–160 MiB at
// 8 MiB, 152–159 MiB at 4 MiB, user CPU the same). See young-gc.ts.
const collector = new YoungCollector(8 * 1024 * 1024);

// Where this worker's planned reads land.
const memory = new PlannedBlockMemory();

function blockOf(req: BlockRequest): { data: Buffer; read?: PlannedRead } {
  if (!req.plan) return { data: Buffer.from(req.buffer, req.offset, req.length) };
  return memory.read(req.plan, req.start, req.length);
}

parentPort!.on('message', (msg: BlockRequest | BlockInit) => {
  if ('init' in msg) {
    ({ compression, seal } = msg.init);
    hasher = new ChunkHasher(Buffer.from(msg.init.hashKey));
    return;
  }
  const req = msg;
  const transfer = req.buffer ? [req.buffer, req.out] : [req.out];
  const home = { seq: req.seq, out: req.out, ...(req.buffer ? { buffer: req.buffer } : {}) };
  try {
    const { data, read } = blockOf(req);
    const v = processBlock(hasher, data, req.parentId ? Buffer.from(req.parentId) : undefined, compression, Buffer.from(req.out, req.outOffset), seal);
    const reply: BlockReply = { ...home, verdict: v, ...(read ? { read } : {}) };
    parentPort!.postMessage(reply, transfer);
    // After the reply, off its path. Only compressed blocks leave LZ4 garbage: an
    // incremental's unchanged blocks need no collection.
    if (lz4Allocates && v.kind === 'changed' && v.compression !== 'none') collector.dropped(req.length);
    // Without the addon, AES-GCM (node:crypto) leaves one block-sized output buffer per sealed
    // block, still young: a scavenge frees it for ~0.03 ms, where a full collection costs
    // about as much as sealing the block. Measured on a 256 MiB random image: peak RSS 206 MB
    // without, against 150 MB for a plain vault. The addon seals in place and leaves none.
    if (seal && gcmAllocates && v.kind === 'changed') collector.now();
  } catch (e) {
    const reply: BlockReply = { ...home, error: (e as Error).message, ...(e instanceof PlannedReadError ? { readFailure: e.failure } : {}) };
    parentPort!.postMessage(reply, transfer);
  }
});
