// One GC run as named phases, in the order of the steps in gc.ts. Each phase is a method on
// GcRun that reads and sets the run's state, and reports {phase, done, total} progress.
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { idToHex } from '../chunk/identity.js';
import { BlockvaultError, ErrorCodes, throwIfAborted } from '../errors.js';
import { PhaseProgress } from '../metrics/phase-progress.js';
import type { ProgressOptions } from '../metrics/progress.js';
import type { IndexRecord } from '../vault/chunk-index.js';
import { Layout } from '../vault/layout.js';
import type { LeaseRecord } from '../vault/lease.js';
import { EntryKind, entries } from '../vault/manifest.js';
import type { StoredObject, Vault } from '../vault/vault.js';
import { crashPoint } from './crash-points.js';
import { listCondemned, readCondemned, type CondemnedRecord } from './gc-condemned.js';
import { ListedChunks, MarkedIds } from './gc-tables.js';

const MAX_MARK_PASSES = 8;
const IO_CONCURRENCY = 16;

export interface GcOptions extends ProgressOptions<'gc'> {
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface GcResult {
  runId: string;
  dryRun: boolean;
  manifests: number;
  markPasses: number;
  chunksListed: number;
  chunksReferenced: number;
  /** Chunk objects no manifest names (U), and their bytes. */
  unreferenced: number;
  unreferencedBytes: number;
  /** Deleted in this run (with dryRun: would be). */
  reclaimedObjects: number;
  reclaimedBytes: number;
  /** Unreferenced chunks a backup wrote again during this run: kept. */
  spared: number;
  /** Chunks of U left for a later run because leases were live (with dryRun: would be). */
  condemned: number;
  condemnedRecord: string | null;
  liveLeases: string[];
  /** Earlier condemned records finished (their chunks deleted) and still waiting. */
  recordsFinished: number;
  recordsWaiting: number;
  segmentsWritten: number;
  segmentsDeleted: number;
}

const sig = (o: StoredObject) => `${o.size}:${o.lastModified?.getTime() ?? ''}:${o.etag ?? ''}`;

export class GcRun {
  readonly runId = `${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  readonly progress: PhaseProgress;
  readonly #vault: Vault;
  readonly #ownLease: string | undefined;
  readonly #opts: GcOptions;
  readonly #dry: boolean;
  readonly #limit = pLimit(IO_CONCURRENCY);
  // state, filled phase by phase
  oldSegments: string[] = [];
  /** The chunks the manifests name (by 8-byte prefix: an error only keeps one; gc-tables.ts). */
  readonly marked = new MarkedIds();
  /** Manifest key → listing signature of the version read. */
  readonly #seen = new Map<string, string>();
  manifests = 0;
  markPasses = 0;
  /** The listed chunk objects (size, last-modified time), each flagged when in U: no manifest
   *  names it and no index segment lists it. */
  readonly listed = new ListedChunks();
  gcSegment = '';
  segmentsWritten = 0;
  segmentsDeleted = 0;
  leases: LeaseRecord[] = [];
  readonly result: GcResult;

  constructor(vault: Vault, ownLease: string | undefined, opts: GcOptions) {
    this.#vault = vault;
    this.#ownLease = ownLease;
    this.#opts = opts;
    this.#dry = !!opts.dryRun;
    this.progress = new PhaseProgress('gc', opts, {}, () => numbersOf(this.result));
    this.result = {
      runId: this.runId,
      dryRun: this.#dry,
      manifests: 0,
      markPasses: 0,
      chunksListed: 0,
      chunksReferenced: 0,
      unreferenced: 0,
      unreferencedBytes: 0,
      reclaimedObjects: 0,
      reclaimedBytes: 0,
      spared: 0,
      condemned: 0,
      condemnedRecord: null,
      liveLeases: [],
      recordsFinished: 0,
      recordsWaiting: 0,
      segmentsWritten: 0,
      segmentsDeleted: 0,
    };
  }

  async execute(): Promise<GcResult> {
    await this.snapshotSegments();
    await this.mark();
    crashPoint('gc:after-mark');
    await this.listChunks();
    await this.rewriteIndex();
    await this.snapshotLeases();
    await this.closeWindows();
    this.#summarize();
    await this.finishCondemned();
    await this.sweepOrCondemn();
    return this.result;
  }

  #check(): void {
    throwIfAborted(this.#opts.signal);
  }

  /** 2. The index segments that exist now (S_old). */
  async snapshotSegments(): Promise<void> {
    this.progress.start('snapshotSegments');
    for await (const o of this.#vault.meta.list(Layout.indexPrefix)) {
      this.oldSegments.push(o.key);
      this.progress.advance();
    }
    this.progress.end();
  }

  /** 3. Every chunk every manifest names, repeated until a pass sees no manifest vanish. */
  async mark(): Promise<void> {
    for (;;) {
      this.#check();
      if (++this.markPasses > MAX_MARK_PASSES) {
        throw new BlockvaultError(ErrorCodes.volumeBusy, `gc: manifests kept vanishing while being read (${MAX_MARK_PASSES} passes)`, {
          hint: 'deletes are running; run gc again when they are done',
        });
      }
      const listed = await this.#listManifests();
      this.progress.start('mark', listed.length);
      const r = await this.#readManifests(listed, false);
      this.progress.end();
      this.manifests = r.read;
      if (!r.vanished) return;
    }
  }

  /** 4. List chunks/; U = listed chunks not marked. */
  async listChunks(): Promise<void> {
    this.progress.start('listChunks');
    const { listed, marked } = this;
    for await (const c of this.#vault.listChunks(this.#opts.signal ? { signal: this.#opts.signal } : {})) {
      listed.add(c.id, c.size, c.lastModified?.getTime());
      this.progress.advance();
    }
    for (let i = 0; i < listed.count; i++) if (!marked.has(listed.id(i))) listed.setUnref(i, true);
    this.progress.end();
    this.#check();
  }

  /** 5. One segment listing every listed chunk outside U, then S_old deleted. */
  async rewriteIndex(): Promise<void> {
    const { meta } = this.#vault;
    this.gcSegment = Layout.indexSegmentKey(`gc-${this.runId}`);
    this.progress.start('rewriteIndex', this.#dry ? 0 : 1 + this.oldSegments.length);
    if (!this.#dry) {
      const { listed } = this;
      function* kept(): Generator<IndexRecord> {
        for (let i = 0; i < listed.count; i++) if (!listed.isUnref(i)) yield { id: listed.id(i), storedLength: listed.size(i) };
      }
      const recs = { count: listed.count - listed.unrefCount, records: kept() };
      await meta.put(this.gcSegment, this.#vault.encodeIndexSegment(this.gcSegment, recs));
      await meta.sync();
      this.segmentsWritten = 1;
      this.progress.advance();
      crashPoint('gc:after-segment');
      const stale = this.oldSegments.filter((k) => k !== this.gcSegment);
      await Promise.all(
        stale.map((k) =>
          this.#limit(async () => {
            await meta.delete(k);
            this.progress.advance();
          }),
        ),
      );
      await meta.sync();
      this.segmentsDeleted = stale.length;
      crashPoint('gc:after-old-segments');
    }
    this.progress.end();
  }

  /** 6. The live leases L, taken only after the rewrite (GC's own left out). */
  async snapshotLeases(): Promise<void> {
    this.progress.start('snapshotLeases');
    this.leases = (await this.#vault.liveLeases()).filter((l) => l.leaseId !== this.#ownLease && l.scope !== Layout.gcLeaseScope);
    this.progress.end();
  }

  /** 7. What appeared since the mark: new or rewritten manifests, and segments written since
   *  step 2; whatever they name leaves U. */
  async closeWindows(): Promise<void> {
    const { meta } = this.#vault;
    const relisted = await this.#listManifests();
    this.progress.start('closeWindows', relisted.length);
    await this.#readManifests(relisted, true);
    const { listed } = this;
    for (const i of listed.unrefPositions()) if (this.marked.has(listed.id(i))) listed.setUnref(i, false);
    const known = new Set([...this.oldSegments, this.gcSegment]);
    for await (const o of meta.list(Layout.indexPrefix)) {
      if (known.has(o.key)) continue;
      const body = await meta.get(o.key);
      if (!body) continue;
      try {
        for (const r of await this.#vault.decodeIndexSegment(o.key, body)) {
          const i = listed.find(r.id);
          if (i >= 0) listed.setUnref(i, false);
        }
      } catch (e) {
        if (!(e instanceof Error && /segment/.test(e.message))) throw e;
      }
    }
    this.progress.end();
    this.#check();
  }

  #summarize(): void {
    const r = this.result;
    r.manifests = this.manifests;
    r.markPasses = this.markPasses;
    const { listed } = this;
    r.chunksListed = listed.count;
    for (let i = 0; i < listed.count; i++) if (this.marked.has(listed.id(i))) r.chunksReferenced++;
    r.unreferenced = listed.unrefCount;
    for (const i of listed.unrefPositions()) r.unreferencedBytes += listed.size(i);
    r.liveLeases = this.leases.map((l) => l.leaseId);
    r.segmentsWritten = this.segmentsWritten;
    r.segmentsDeleted = this.segmentsDeleted;
  }

  /** 8. Earlier condemned records whose leases are all gone: their chunks still in U are
   *  deleted, then the record. Not while any operation runs (see gc.ts). */
  async finishCondemned(): Promise<void> {
    const records = await listCondemned(this.#vault);
    this.progress.start('finishCondemned', records.length);
    const liveIds = new Set(this.leases.map((l) => l.leaseId));
    for (const key of records) {
      this.#check();
      const rec: CondemnedRecord | undefined = await readCondemned(this.#vault, key);
      this.progress.advance();
      if (!rec) continue;
      if (this.leases.length > 0 || rec.leases.some((id) => liveIds.has(id))) {
        this.result.recordsWaiting++;
        continue;
      }
      const due = rec.chunks.map((hex) => this.listed.find(Buffer.from(hex, 'hex'))).filter((i) => i >= 0 && this.listed.isUnref(i));
      for (const i of due) this.listed.setUnref(i, false);
      await this.#sweep(due);
      if (!this.#dry) await this.#vault.meta.delete(key);
      this.result.recordsFinished++;
    }
    this.progress.end();
  }

  /** 9. U deleted now when no operation runs; else condemned in a record for a later run. */
  async sweepOrCondemn(): Promise<void> {
    const { listed, result } = this;
    const unref = listed.unrefPositions();
    this.progress.start('sweepOrCondemn', unref.length);
    if (unref.length) {
      if (this.leases.length === 0) {
        await this.#sweep(unref);
      } else {
        result.condemned = unref.length;
        const chunks = unref.map((i) => idToHex(listed.id(i))).sort();
        const rec: CondemnedRecord = { runId: this.runId, at: new Date().toISOString(), chunks, leases: this.leases.map((l) => l.leaseId) };
        const key = Layout.condemnedKey(this.runId);
        if (!this.#dry) {
          await this.#vault.meta.put(key, Buffer.from(JSON.stringify(rec)));
          await this.#vault.meta.sync();
          crashPoint('gc:after-condemn');
        }
        result.condemnedRecord = key;
      }
    }
    this.progress.end();
  }

  /** Deletes the listed chunks at these positions. */
  async #sweep(positions: number[]): Promise<void> {
    const { result, listed } = this;
    let n = 0;
    await Promise.all(
      positions.map((i) =>
        this.#limit(async () => {
          const chunkId = Buffer.from(listed.id(i));
          if (!this.#dry) {
            // A backup that found this object present but not in its index rewrites it
            // (chunk-access.ts): a newer object than the one listed is in use again, so spare it.
            const now = await this.#vault.statChunk(chunkId);
            const was = listed.listedAt(i);
            if (!now || (was !== undefined && now.lastModified && now.lastModified.getTime() > was)) {
              result.spared++;
              return;
            }
            await this.#vault.meta.delete(Layout.chunkKey(chunkId));
          }
          result.reclaimedObjects++;
          result.reclaimedBytes += listed.size(i);
          this.progress.advance();
          if (++n === Math.ceil(positions.length / 2)) crashPoint('gc:mid-sweep');
        }),
      ),
    );
    if (!this.#dry) await this.#vault.meta.sync();
  }

  async #listManifests(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    for await (const o of this.#vault.meta.list(Layout.manifestPrefix)) if (Layout.isManifestKey(o.key)) out.push(o);
    return out;
  }

  /** Reads the manifests and marks their chunks. onlyChanged: skip versions already read. */
  async #readManifests(listed: StoredObject[], onlyChanged: boolean): Promise<{ read: number; vanished: boolean }> {
    let vanished = false;
    let read = 0;
    await Promise.all(
      listed.map((o) =>
        this.#limit(async () => {
          const s = sig(o);
          if (onlyChanged && this.#seen.get(o.key) === s) return this.progress.advance();
          let m;
          try {
            m = await this.#vault.readManifestAt(o.key);
          } catch (e) {
            if (!(e instanceof BlockvaultError && e.code === ErrorCodes.vaultDamaged)) throw e;
            throw new BlockvaultError(ErrorCodes.vaultDamaged, `gc: ${e.message}; nothing was deleted`, {
              hint: 'GC cannot know what a damaged manifest needs: run `blockvault verify`, then restore that object from a copy or delete the backup',
              details: { object: o.key },
            });
          }
          this.progress.advance();
          if (!m) {
            vanished = true;
            return;
          }
          for (const e of entries(m)) if (e.kind === EntryKind.chunk) this.marked.add(e.id);
          this.#seen.set(o.key, s);
          read++;
        }),
      ),
    );
    return { read, vanished };
  }
}

/** The numeric fields of a result, as progress counters. */
export function numbersOf(o: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[k] = v;
  return out;
}
