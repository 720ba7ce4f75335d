// A backup never names a chunk it has not seen exist. Every distinct chunk of the new restore
// point that this run did not write itself — a dedup hit against the index, or a block
// inherited unchanged from the parent chain — is confirmed with one request (HEAD on S3, a
// stat on a directory), a bounded number at a time, beside the block pipeline. A chunk found
// gone is stored again from the input before the manifest is written (backup.ts).
//
// GC: a GC that was already running when this backup took its lease may still delete chunks
// that are not in any manifest (see gc.ts). Chunks named by a manifest (inherited ones) are
// never among them; dedup hits and objects this run found present-but-unindexed and rewrote
// can be. When such a GC was running, those are confirmed only after its lease has ended; a
// GC that starts later sees this backup's lease and deletes nothing while it runs.
import pLimit, { type LimitFunction } from 'p-limit';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError } from '../errors.js';
import type { BackupCounters } from '../metrics/counters.js';
import type { Vault } from '../vault/vault.js';

/** Confirmations in flight at once. */
export const CONFIRM_CONCURRENCY = 16;
/** How often a backup that waits for a running GC looks at GC's lease. */
export const GC_POLL_MS = 500;

export type ConfirmKind = 'inherited' | 'dedup' | 'rewritten';

/** A chunk that was found gone, and the blocks of this run that name it (an inherited block
 *  has no entry of its own in the manifest being built). */
export interface MissingChunk {
  id: Buffer;
  blocks: { blockIndex: number; inherited: boolean }[];
}

interface Pending extends MissingChunk {
  kind: ConfirmKind;
}

export class ChunkConfirmer {
  readonly #vault: Vault;
  readonly #counters: BackupCounters;
  readonly #signal: AbortSignal;
  readonly #limit: LimitFunction;
  /** GC's lease id when this run's lease was taken, if a GC was running then. */
  readonly #gcAtStart: string | undefined;
  readonly #seen = new Map<string, Pending>();
  /** Chunks this run wrote (no request needed). */
  readonly #written = new Set<string>();
  readonly #deferred: Pending[] = [];
  readonly #work: Promise<void>[] = [];
  readonly #missing: MissingChunk[] = [];
  #error: unknown;

  constructor(vault: Vault, counters: BackupCounters, signal: AbortSignal, gcAtStart: string | undefined) {
    this.#vault = vault;
    this.#counters = counters;
    this.#signal = signal;
    this.#gcAtStart = gcAtStart;
    this.#limit = pLimit(CONFIRM_CONCURRENCY);
  }

  /** The run wrote this chunk itself. */
  written(id: Buffer): void {
    this.#written.add(id.toString('latin1'));
  }

  /** Block `blockIndex` of the new restore point names `id`, which this run did not write. */
  add(id: Buffer, blockIndex: number, kind: ConfirmKind): void {
    const k = id.toString('latin1');
    const block = { blockIndex, inherited: kind === 'inherited' };
    const seen = this.#seen.get(k);
    if (seen) {
      seen.blocks.push(block);
      if (kind === 'rewritten' && seen.kind !== 'rewritten' && this.#gcAtStart !== undefined) {
        seen.kind = 'rewritten';
        this.#deferred.push(seen);
      }
      return;
    }
    const p: Pending = { id, blocks: [block], kind };
    this.#seen.set(k, p);
    if (kind === 'rewritten' && this.#gcAtStart === undefined) return; // no GC can delete it
    if (kind !== 'inherited' && this.#gcAtStart !== undefined) this.#deferred.push(p);
    else this.#start(p);
  }

  #start(p: Pending): void {
    this.#work.push(
      this.#limit(() => this.#check(p)).catch((e) => {
        this.#error ??= e;
      }),
    );
  }

  async #check(p: Pending): Promise<void> {
    if (this.#error !== undefined) return;
    if (this.#signal.aborted) throw abortError(this.#signal.reason);
    if (p.kind !== 'rewritten' && this.#written.has(p.id.toString('latin1'))) return;
    this.#counters.chunksConfirmed++;
    if (!(await this.#vault.confirmChunk(p.id))) this.#missing.push(p);
  }

  /** Waits for every confirmation (after a GC running at the start has ended, for the chunks
   *  that need it) and returns the chunks found gone. */
  async finish(): Promise<MissingChunk[]> {
    await Promise.all(this.#work);
    if (this.#error !== undefined) throw this.#error;
    if (this.#deferred.length) {
      while ((await this.#vault.gcLeaseHolder()) === this.#gcAtStart) {
        await sleep(GC_POLL_MS, undefined, { signal: this.#signal }).catch(() => {
          throw abortError(this.#signal.reason);
        });
      }
      this.#work.length = 0;
      for (const p of this.#deferred) this.#start(p);
      await Promise.all(this.#work);
      if (this.#error !== undefined) throw this.#error;
    }
    return this.#missing;
  }

  /** A chunk re-stored while finishing is confirmed by its own write. */
  get distinct(): number {
    return this.#seen.size;
  }
}
