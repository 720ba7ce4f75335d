// A backup never names a chunk it has not seen exist. Every distinct chunk of the new restore
// point that this run did not write itself — a dedup hit against the index, or a block
// inherited unchanged from the parent chain — is confirmed with one request (HEAD on S3, a
// stat on a directory), a bounded number at a time, beside the block pipeline. A chunk found
// gone is stored again from the input before the manifest is written (backup.ts).
//
// Inherited chunks are confirmed by one LIST of chunks/ instead when that takes fewer
// requests: the parent chain names D distinct chunks and the vault holds about N (the index's
// size), so a listing costs ceil(N / 1000) requests against at most D HEADs. A directory
// store stats each file it lists (its page is 1 key), so there a listing never pays: a
// 256 MiB incremental in a directory vault of 60 k chunk files took 5 s listing them all, where
// its 64 inherited chunks cost 64 stats. The listing runs
// beside the pipeline after the lease is taken; a chunk it does not show is checked with a
// HEAD (it may have been written since) before its blocks are stored again.
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
import type { BlockMap } from '../vault/block-map.js';
import type { Vault } from '../vault/vault.js';

/** Confirmations in flight at once. */
export const CONFIRM_CONCURRENCY = 16;
/** How often a backup that waits for a running GC looks at GC's lease. */
export const GC_POLL_MS = 500;
/** Keys one LIST request returns (S3's page), unless the store says otherwise. */
export const LIST_PAGE_KEYS = 1000;

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
  /** Listing mode: the parent's chunks the listing has not shown yet, and which blocks this
   *  run inherits unchanged. */
  #unlisted: Set<string> | undefined;
  #inherited: Uint8Array | undefined;
  #parent: BlockMap | undefined;
  #listing: Promise<void> | undefined;

  constructor(vault: Vault, counters: BackupCounters, signal: AbortSignal, gcAtStart: string | undefined) {
    this.#vault = vault;
    this.#counters = counters;
    this.#signal = signal;
    this.#gcAtStart = gcAtStart;
    this.#limit = pLimit(CONFIRM_CONCURRENCY);
  }

  /** Chooses how inherited chunks are confirmed (see the top): call once, before add().
   *  pageKeys: the keys one listing request of the store yields. */
  planInherited(parent: BlockMap | undefined, vaultChunks: number, pageKeys = LIST_PAGE_KEYS): void {
    if (!parent) return;
    const distinct = new Set<string>();
    for (let i = 0; i < parent.blockCount; i++) if (parent.hasChunk(i)) distinct.add(parent.idAt(i).toString('latin1'));
    const pages = Math.max(1, Math.ceil(vaultChunks / pageKeys));
    if (distinct.size <= pages) return; // HEADs are cheaper
    this.#unlisted = distinct;
    this.#inherited = new Uint8Array(parent.blockCount);
    this.#parent = parent;
    this.#listing = (async () => {
      for await (const c of this.#vault.listChunks({ signal: this.#signal })) distinct.delete(c.id.toString('latin1'));
    })().catch((e) => {
      this.#error ??= e;
    });
  }

  #seenParentChunks(): number {
    let n = 0;
    const seen = new Set<string>();
    const p = this.#parent!;
    for (let i = 0; i < p.blockCount; i++) {
      if (!this.#inherited![i]) continue;
      const k = p.idAt(i).toString('latin1');
      if (!seen.has(k)) {
        seen.add(k);
        if (!this.#unlisted!.has(k)) n++;
      }
    }
    return n;
  }

  /** The run wrote this chunk itself. */
  written(id: Buffer): void {
    this.#written.add(id.toString('latin1'));
  }

  /** Block `blockIndex` of the new restore point names `id`, which this run did not write. */
  add(id: Buffer, blockIndex: number, kind: ConfirmKind): void {
    if (kind === 'inherited' && this.#inherited) {
      this.#inherited[blockIndex] = 1;
      return;
    }
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
    await this.#listing;
    if (this.#error !== undefined) throw this.#error;
    if (this.#unlisted) this.#counters.chunksConfirmed += this.#seenParentChunks();
    if (this.#unlisted?.size) await this.#unlistedInherited();
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

  /** Inherited blocks whose chunk the listing did not show: HEAD each such chunk once. */
  async #unlistedInherited(): Promise<void> {
    const p = this.#parent!;
    const byId = new Map<string, MissingChunk>();
    for (let i = 0; i < p.blockCount; i++) {
      if (!this.#inherited![i]) continue;
      const k = p.idAt(i).toString('latin1');
      if (!this.#unlisted!.has(k)) continue;
      let m = byId.get(k);
      if (!m) byId.set(k, (m = { id: Buffer.from(p.idAt(i)), blocks: [] }));
      m.blocks.push({ blockIndex: i, inherited: true });
    }
    await Promise.all(
      [...byId.values()].map((m) =>
        this.#limit(async () => {
          this.#counters.chunksConfirmed++;
          if (!(await this.#vault.confirmChunk(m.id))) this.#missing.push(m);
        }),
      ),
    );
  }
}
