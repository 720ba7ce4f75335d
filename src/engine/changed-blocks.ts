// Extent lists a backup is given: which blocks it must read, and which it may take as they are.
//
//  - A CHANGED-extent list (`--changed-extents`: `rbd diff --from-snap`, a plain list, or a
//    `qemu-img map` of an overlay) says: outside these extents the volume is as the parent backup
//    saw it. Blocks no extent touches are taken from the parent's block map without a read;
//    blocks zero extents cover completely become zero entries without a read; only blocks that
//    touch a data extent are read. It needs a parent: with none (the volume's first backup, or
//    its chain was deleted) the list is ignored, every block is read and the result carries a
//    warning — a list can only save reads, and a full backup is always right. `--full` together
//    with a changed list contradicts itself and is refused.
//    For `qemu-img map` only the top layer (depth 0, present) counts as changed: ranges from a
//    backing file or unallocated in the whole chain are what the parent saw (the overlay's
//    backing file must be the parent's snapshot).
//  - An ALLOCATED-extent list (`--allocated-extents`: `qemu-img map`, `rbd diff` without
//    --from-snap, a plain list) says: outside these data extents the volume reads as zeros.
//    Those bytes are never read (holes, counted as sparse), on a full or an incremental backup.
//  - `--verify-unchanged PCT` trusts but verifies: before the backup reads anything else it
//    re-reads a random PCT % of the blocks a list let it skip (unchanged blocks against the
//    parent's identity, zero blocks and unallocated bytes against zeros). One mismatch and both
//    lists are dropped: every block is read and compared with the parent as without a list, so a
//    wrong list never yields a wrong backup. The mismatch is a warning in the result and the
//    verifyMismatches counter.
//
// A list whose extents do not fit the volume is refused with the reason (parseExtents). When the
// volume's size differs from the parent's, blocks from the old end on are always read.
import { promises as fs } from 'node:fs';
import { isAllZero } from '../chunk/zero.js';
import { BlockvaultError, ErrorCodes, abortError, ioError } from '../errors.js';
import type { BackupCounters } from '../metrics/counters.js';
import { AllocatedExtentsSource } from '../source/block-device-source.js';
import type { Ranges } from '../source/data-extents.js';
import { BlockTouch, blocksTouched, normalizeExtents, parseExtents, type Extent, type ExtentFormat } from '../source/extents.js';
import type { BlockSource } from '../source/image-source.js';
import type { ChunkHasher } from '../chunk/identity.js';
import type { BlockMap } from '../vault/block-map.js';
import type { Vault } from '../vault/vault.js';

/** Per-block decisions from a changed-extent list. */
export const BlockPlan = {
  /** Read it (and compare with the parent, as without a list). */
  read: 0,
  /** As the parent had it: no read, no entry. */
  unchanged: 1,
  /** All zeros by the list: no read; a zero entry if the parent had data. */
  zero: 2,
} as const;

export interface ExtentInputs {
  full?: boolean;
  /** A changed-extent list: a file to parse, or extents already parsed. */
  changedExtents?: string | Extent[];
  /** An allocated-extent list: a file to parse, or extents already parsed. */
  allocatedExtents?: string | Extent[];
  /** Percent (0–100) of the skipped blocks to re-read and check first. */
  verifyUnchanged?: number;
}

export interface LoadedExtents {
  format: ExtentFormat | 'list';
  extents: Extent[];
  source: string;
}

/** Reads and parses an extent list (or checks a parsed one) against the volume size. */
export async function loadExtents(
  input: string | Extent[],
  volumeSize: number,
  what: 'changed' | 'allocated',
): Promise<LoadedExtents> {
  if (typeof input !== 'string') {
    const source = `${what}-extent list`;
    for (const e of input) {
      if (!Number.isSafeInteger(e.offset) || !Number.isSafeInteger(e.length) || e.offset < 0 || e.length < 0) {
        throw new BlockvaultError(ErrorCodes.badInput, `${source}: extent ${JSON.stringify(e)} is not a valid range`);
      }
      if (e.offset + e.length > volumeSize) {
        throw new BlockvaultError(
          ErrorCodes.badInput,
          `${source}: extent at ${e.offset} length ${e.length} ends at ${e.offset + e.length}, past the volume size ${volumeSize}`,
          { hint: 'the list must describe this volume (same size)', details: { offset: e.offset, length: e.length, volumeSize } },
        );
      }
    }
    return { format: 'list', extents: normalizeExtents(input.filter((e) => e.length > 0)), source };
  }
  let text: string;
  try {
    text = await fs.readFile(input, 'utf8');
  } catch (e) {
    throw ioError(e, `${what}-extent list`, input);
  }
  const parsed = parseExtents(text, { volumeSize, source: input });
  if (what === 'changed' && parsed.format === 'qemu-img-map') {
    // Only the overlay's own clusters changed; the rest is its backing file (the parent's state).
    const top = (JSON.parse(text.replace(/^\uFEFF/, '')) as Array<Record<string, unknown>>).filter(
      (e) => (e.depth === undefined || e.depth === 0) && e.present !== false,
    );
    return { format: parsed.format, extents: parseExtents(JSON.stringify(top), { volumeSize, source: input, format: 'qemu-img-map' }).extents, source: input };
  }
  return { format: parsed.format, extents: parsed.extents, source: input };
}

/** What a backup does with its extent lists; made by planExtents, used by the backup run. */
export class ExtentPlan {
  readonly warnings: string[] = [];
  #source: BlockSource;
  #blocks: Uint8Array | undefined;
  readonly #inner: BlockSource;
  readonly #parent: BlockMap | undefined;
  readonly #blockSize: number;
  readonly #verifyPct: number;
  readonly #hash: (data: Buffer) => Buffer;

  constructor(
    inner: BlockSource,
    source: BlockSource,
    blocks: Uint8Array | undefined,
    parent: BlockMap | undefined,
    blockSize: number,
    verifyPct: number,
    hash: (data: Buffer) => Buffer,
  ) {
    this.#inner = inner;
    this.#source = source;
    this.#blocks = blocks;
    this.#parent = parent;
    this.#blockSize = blockSize;
    this.#verifyPct = verifyPct;
    this.#hash = hash;
  }

  /** The source to read blocks from (limited to the allocated extents, if given and trusted). */
  get source(): BlockSource {
    return this.#source;
  }

  /** BlockPlan per block, or undefined: read every block. */
  get blocks(): Uint8Array | undefined {
    return this.#blocks;
  }

  /** The blocks a list lets the backup skip (wholly or in part): what verification samples. */
  #claims(): number[] {
    const out: number[] = [];
    const alloc = this.#source instanceof AllocatedExtentsSource ? this.#source : undefined;
    if (!this.#blocks && !alloc) return out;
    const bs = this.#blockSize;
    const size = this.#source.size;
    const n = Math.ceil(size / bs);
    for (let i = 0; i < n; i++) {
      const p = this.#blocks?.[i] ?? BlockPlan.read;
      if (p !== BlockPlan.read) out.push(i);
      else if (alloc && alloc.gapBytesWithin(i * bs, Math.min(size, (i + 1) * bs)) > 0 && !this.#inner.isHole(i * bs, Math.min(size, (i + 1) * bs))) out.push(i);
    }
    return out;
  }

  /**
   * Re-reads a random verifyUnchanged % of the skipped blocks. On a mismatch, drops the lists
   * (every block is then read) and records a warning. Call before the backup pass.
   */
  async verify(counters: BackupCounters, signal: AbortSignal, concurrency: number): Promise<void> {
    if (!(this.#verifyPct > 0)) return;
    const claims = this.#claims();
    if (claims.length === 0) return;
    const k = Math.min(claims.length, Math.max(1, Math.ceil((claims.length * this.#verifyPct) / 100)));
    for (let j = 0; j < k; j++) {
      const r = j + Math.floor(Math.random() * (claims.length - j));
      [claims[j], claims[r]] = [claims[r]!, claims[j]!];
    }
    const sample = claims.slice(0, k).sort((a, b) => a - b);
    const bs = this.#blockSize;
    const size = this.#inner.size;
    const alloc = this.#source instanceof AllocatedExtentsSource ? this.#source : undefined;
    let next = 0;
    let first: string | undefined;
    const worker = async () => {
      const buf = Buffer.allocUnsafe(bs);
      while (first === undefined) {
        if (signal.aborted) throw abortError(signal.reason);
        const j = next++;
        if (j >= sample.length) return;
        const i = sample[j]!;
        const start = i * bs;
        const end = Math.min(size, start + bs);
        const data = buf.subarray(0, end - start);
        await this.#inner.read(start, end, data);
        counters.bytesVerifiedUnchanged += end - start;
        const p = this.#blocks?.[i] ?? BlockPlan.read;
        let why: string | undefined;
        if (p === BlockPlan.zero) {
          if (!isAllZero(data)) why = 'the changed-extent list says it is all zeros, but it holds data';
        } else if (p === BlockPlan.unchanged) {
          const parent = this.#parent;
          if (parent?.hasChunk(i)) {
            if (!this.#hash(data).equals(parent.idAt(i))) why = 'the changed-extent list says it is unchanged, but it differs from the parent backup';
          } else if (!isAllZero(data)) {
            why = 'the changed-extent list says it is unchanged, but the parent had zeros there and it now holds data';
          }
        } else if (alloc) {
          for (const [a, b] of alloc.gapsWithin(start, end)) {
            if (!isAllZero(data.subarray(a - start, b - start))) {
              why = `the allocated-extent list leaves out [${a}, ${b}), which holds data`;
              break;
            }
          }
        }
        if (why) {
          counters.verifyMismatches++;
          first ??= `block ${i} (offset ${start}): ${why}`;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    if (first !== undefined) {
      this.warnings.push(
        `--verify-unchanged: ${first}; the extent lists were ignored and every block was read ` +
          '(check that the list is relative to the parent backup\'s snapshot)',
      );
      this.#blocks = undefined;
      this.#source = this.#inner;
    }
  }
}

/**
 * Reads the backup's extent lists and decides per block. `source` is the opened input; `parent`
 * the parent's block map (undefined for a full backup).
 */
export async function planExtents(
  vault: Vault,
  source: BlockSource,
  parent: BlockMap | undefined,
  opts: ExtentInputs,
  /** The backup's chunk-id hasher (per key domain in an encrypted vault). */
  hasher?: ChunkHasher,
): Promise<ExtentPlan | undefined> {
  const { changedExtents, allocatedExtents } = opts;
  const pct = opts.verifyUnchanged ?? 0;
  if (!(Number.isFinite(pct) && pct >= 0 && pct <= 100)) {
    throw new BlockvaultError(ErrorCodes.badInput, `--verify-unchanged takes a percentage from 0 to 100, got ${pct}`);
  }
  if (changedExtents === undefined && allocatedExtents === undefined) return undefined;
  if (changedExtents !== undefined && opts.full) {
    throw new BlockvaultError(ErrorCodes.badInput, 'a changed-extent list makes an incremental backup; it cannot be combined with --full', {
      hint: 'drop --full (or drop --changed-extents and read everything; --allocated-extents limits a full backup)',
    });
  }
  const bs = vault.blockSize;
  const size = source.size;
  const warnings: string[] = [];
  let read: BlockSource = source;
  if (allocatedExtents !== undefined) {
    const list = await loadExtents(allocatedExtents, size, 'allocated');
    const ranges: Ranges = list.extents.filter((e) => !e.zero).map((e) => [e.offset, e.offset + e.length]);
    read = new AllocatedExtentsSource(source, ranges);
  }
  let blocks: Uint8Array | undefined;
  if (changedExtents !== undefined) {
    const list = await loadExtents(changedExtents, size, 'changed');
    if (!parent) {
      warnings.push(
        'the volume has no backup to be incremental against: the changed-extent list was ignored and every block was read (a full backup)',
      );
    } else {
      const touched = blocksTouched(list.extents, bs, size);
      blocks = new Uint8Array(touched.blockCount);
      for (let i = 0; i < touched.blockCount; i++) {
        const t = touched.changed[i];
        blocks[i] = t === BlockTouch.untouched ? BlockPlan.unchanged : t === BlockTouch.zero ? BlockPlan.zero : BlockPlan.read;
      }
      if (parent.volumeSize !== size) {
        // Blocks at or past the old end changed length: read them whatever the list says.
        blocks.fill(BlockPlan.read, Math.floor(Math.min(parent.volumeSize, size) / bs));
      }
    }
  }
  const plan = new ExtentPlan(source, read, blocks, parent, bs, pct, (d) => (hasher ?? vault.hasher).id(d));
  plan.warnings.push(...warnings);
  return plan;
}
