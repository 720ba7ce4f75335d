// A pool of worker threads for the CPU half of the backup (hash, compress), one per core,
// so hashing and LZ4 use both cores while the main thread keeps the stores moving. Block
// memory is transferred, never copied; a block whose read is planned (an image file) is read
// by the worker itself, into memory of its own. With workers: 0 the same work runs inline.
import type { Worker } from 'node:worker_threads';
import { PlannedBlockMemory, processBlock, type BlockVerdict } from './block-work.js';
import type { ChunkSealKey } from './chunk-format.js';
import type { Compression } from './compress.js';
import type { ChunkHasher } from './identity.js';
import type { BlockInit, BlockReply, BlockRequest } from './block-worker.js';
import { PlannedReadError, type PlannedRead, type ReadPlan } from '../source/read-plan.js';
import { defaultWorkerCount, takeBlockWorker } from './worker-start.js';

export { defaultWorkerCount, prestartBlockWorkers } from './worker-start.js';

export interface PooledResult {
  verdict: BlockVerdict;
  /** The block's memory and the chunk object's buffer, handed back. */
  buffer: ArrayBuffer;
  out: ArrayBuffer;
}

/** A block the worker read itself: its verdict, the object's buffer, what the read did. */
export interface PlannedResult {
  verdict: BlockVerdict;
  out: ArrayBuffer;
  read: PlannedRead;
}

interface Done {
  verdict: BlockVerdict;
  buffer?: ArrayBuffer;
  out: ArrayBuffer;
  read?: PlannedRead;
}

interface Pending {
  resolve(r: Done): void;
  reject(e: Error): void;
}

export class BlockPool {
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #queue: Array<{ msg: BlockRequest; transfer: ArrayBuffer[]; p: Pending }> = [];
  readonly #pending = new Map<number, Pending>();
  readonly #hasher: ChunkHasher;
  readonly #compression: Compression;
  readonly #seal: ChunkSealKey | undefined;
  #seq = 0;
  #failed: Error | undefined;
  /** With no workers: where readAndProcess's planned reads land. */
  #inline: PlannedBlockMemory | undefined;

  /** seal: an encrypted vault's key domain; AES-GCM then runs in the workers, after LZ4. */
  constructor(opts: { hasher: ChunkHasher; hashKey: Buffer; compression: Compression; seal?: ChunkSealKey; workers?: number }) {
    this.#hasher = opts.hasher;
    this.#compression = opts.compression;
    this.#seal = opts.seal;
    const n = opts.workers ?? defaultWorkerCount();
    for (let i = 0; i < n; i++) {
      // Started early by the command where it could (worker-start.ts), else now; either way
      // its first message gives it the vault's settings.
      const { worker: w, failure } = takeBlockWorker();
      const init: BlockInit = { init: { hashKey: opts.hashKey, compression: opts.compression, ...(opts.seal ? { seal: opts.seal } : {}) } };
      w.postMessage(init);
      w.on('message', (m: BlockReply) => this.#done(w, m));
      w.on('error', (e) => this.#fail(e));
      w.on('exit', (code) => {
        if (code !== 0) this.#fail(new Error(`block worker exited with code ${code}`));
      });
      if (failure) this.#fail(failure);
      this.#workers.push(w);
      this.#idle.push(w);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Processes the block in buffer[offset, offset+length) and writes its chunk object (if it
   *  changed) into out from outOffset (objectCapacity(blockSize) bytes). Both are detached until
   *  the result comes back. */
  async process(buffer: ArrayBuffer, out: ArrayBuffer, length: number, parentId: Buffer | undefined, offset = 0, outOffset = 0): Promise<PooledResult> {
    if (this.#workers.length === 0) {
      if (this.#failed) throw this.#failed;
      const verdict = processBlock(this.#hasher, Buffer.from(buffer, offset, length), parentId, this.#compression, Buffer.from(out, outOffset), this.#seal);
      return { verdict, buffer, out };
    }
    const r = await this.#submit({ seq: 0, buffer, offset, out, outOffset, length, ...idOf(parentId) }, [buffer, out]);
    return { verdict: r.verdict, buffer: r.buffer!, out: r.out };
  }

  /** Reads the block [start, start+length) from `plan` in a worker, then processes it as
   *  process() does. Only `out` travels. A failed read rejects with PlannedReadError. */
  async readAndProcess(plan: ReadPlan, start: number, length: number, out: ArrayBuffer, parentId: Buffer | undefined, outOffset = 0): Promise<PlannedResult> {
    if (this.#workers.length === 0) {
      if (this.#failed) throw this.#failed;
      this.#inline ??= new PlannedBlockMemory();
      const { data, read } = this.#inline.read(plan, start, length);
      const verdict = processBlock(this.#hasher, data, parentId, this.#compression, Buffer.from(out, outOffset), this.#seal);
      return { verdict, out, read };
    }
    const r = await this.#submit({ seq: 0, plan, start, out, outOffset, length, ...idOf(parentId) }, [out]);
    return { verdict: r.verdict, out: r.out, read: r.read! };
  }

  #submit(msg: BlockRequest, transfer: ArrayBuffer[]): Promise<Done> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      msg.seq = this.#seq++;
      const p = { resolve, reject };
      const w = this.#idle.pop();
      if (w) this.#send(w, msg, transfer, p);
      else this.#queue.push({ msg, transfer, p });
    });
  }

  #send(w: Worker, msg: BlockRequest, transfer: ArrayBuffer[], p: Pending): void {
    this.#pending.set(msg.seq, p);
    w.ref();
    w.postMessage(msg, transfer);
  }

  #done(w: Worker, m: BlockReply): void {
    const p = this.#pending.get(m.seq);
    this.#pending.delete(m.seq);
    const next = this.#queue.shift();
    if (next) this.#send(w, next.msg, next.transfer, next.p);
    else {
      w.unref();
      this.#idle.push(w);
    }
    if (!p) return;
    if (m.error !== undefined) return p.reject(m.readFailure ? new PlannedReadError(m.readFailure) : new Error(`block worker: ${m.error}`));
    const v = m.verdict;
    // Structured clone turns the ids into plain Uint8Arrays: make them Buffers again.
    const verdict: BlockVerdict = v.kind === 'zero' ? v : { ...v, id: Buffer.from(v.id.buffer, v.id.byteOffset, v.id.byteLength) };
    p.resolve({ verdict, out: m.out, ...(m.buffer ? { buffer: m.buffer } : {}), ...(m.read ? { read: m.read } : {}) });
  }

  #fail(e: Error): void {
    this.#failed ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
    for (const q of this.#queue.splice(0)) q.p.reject(e);
  }

  async close(): Promise<void> {
    this.#inline = undefined;
    await Promise.all(this.#workers.map((w) => w.terminate()));
    this.#workers.length = 0;
  }
}

/** The parent's id as it travels: a copy (the original stays in the parent's block map). */
function idOf(parentId: Buffer | undefined): { parentId?: Uint8Array } {
  return parentId ? { parentId: Uint8Array.from(parentId) } : {};
}
