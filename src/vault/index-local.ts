// This host's copy of a vault's chunk index, kept current against the store's segments.
//
// Two levels, LSM-style: a large sorted base run on disk (index-run.ts) and a small sorted
// delta held in memory (and in one small file). Each local record names the segment it came
// from (an ordinal); state.json lists the segments covered, by key, size and ETag (or mtime).
// Loading lists index/ and compares:
//  - nothing new, nothing gone: open the base (fences + filter) and the delta — done;
//  - new segments: fetched (only they), into the delta while it stays small, else a bounded
//    external rebuild of the base (index-sort.ts) that takes the delta too;
//  - segments gone (GC's rewrite, consolidation): their records are never answered again:
//    dropped from the delta at once; in the base their ordinals become "retired" (a hit on a
//    retired ordinal counts as absent) until a rebuild removes them.
// Forgetting a chunk is safe (it is uploaded again); answering one that no listed segment
// names is not, and cannot happen: every answer carries an ordinal of a listed segment.
//
// Encrypted vaults: segments are opened with the vault's SegmentCodec, so the copy holds plain
// records of the key domains opened on this host (it is this host's cache). A segment of a
// domain not open is covered with no record and marked `locked` with its domain; a later load
// that has that domain open fetches it again.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHUNK_ID_BYTES } from '../chunk/identity.js';
import { isNotFound, type ObjectInfo, type ObjectStore } from '../store/object-store.js';
import {
  STATE_FILE,
  WRITTEN_DIR,
  emptyState,
  readDelta,
  readState,
  readWritten,
  removeUnused,
  removeWrittenCovered,
  writeDelta,
  writeState,
  writtenName,
  type LocalState,
  type SegmentEntry,
} from './index-local-files.js';
import { LREC, LocalIndexDamaged, RunReader } from './index-run.js';
import { RunBuilder, sortRecords } from './index-sort.js';
import {
  SegmentDamaged,
  SegmentLocked,
  localRecordsOf,
  openSegment,
  segmentRecordCount,
  streamSegment,
  type SegmentCodec,
} from './index-segments.js';

export { STATE_FILE, type SegmentEntry } from './index-local-files.js';

/** Records the in-memory delta may hold before a base rebuild takes it (≈ 10 MiB). */
export const DELTA_MAX = 256 * 1024;

/** For tests and the bench: smaller levels than the defaults. */
export interface LocalIndexTuning {
  deltaMax?: number | undefined;
  /** Records per bucket of a rebuild (index-sort.ts). */
  bucketRecords?: number | undefined;
}

export interface LocalSyncOptions {
  /** Keep copies of segments this process writes (remote stores with a lasting copy). */
  remote: boolean;
  tuning?: LocalIndexTuning | undefined;
  /** Encrypted vaults: how segments are opened. */
  codec?: SegmentCodec | undefined;
}


/** What identifies one version of a segment besides its key. */
export const versionTag = (o: ObjectInfo): string =>
  o.etag ? `e${o.etag.replace(/[^A-Za-z0-9]/g, '')}` : o.lastModified ? `m${o.lastModified.getTime()}` : '-';

export interface SyncResult {
  local: LocalIndex;
  listed: ObjectInfo[];
  fetched: number;
  cached: number;
  rebuilt: boolean;
}

export class LocalIndex {
  readonly dir: string;
  readonly base: RunReader | undefined;
  /** Sorted local records. */
  readonly delta: Buffer;
  readonly deltaCount: number;
  readonly #retired: Set<number>;
  readonly count: number;
  readonly segments: readonly SegmentEntry[];
  readonly #files: string[];
  /** Encrypted vaults: the key domain of each sealed segment's ordinal, so records of a domain
   *  not open in this process (kept here by another process of this host) are never answered. */
  readonly #ordDomain: Map<number, string> | undefined;
  readonly #codec: SegmentCodec | undefined;

  private constructor(dir: string, st: LocalState, base: RunReader | undefined, delta: Buffer, codec: SegmentCodec | undefined) {
    this.dir = dir;
    this.#codec = codec;
    this.#ordDomain = codec ? new Map(st.segments.filter((e) => e.domain !== undefined).map((e) => [e.ord, e.domain!])) : undefined;
    this.#files = [st.base, st.delta].filter((x): x is string => !!x);
    this.base = base;
    this.delta = delta;
    this.deltaCount = delta.length / LREC;
    this.#retired = new Set(st.retired);
    this.count = st.count;
    this.segments = st.segments;
  }

  /** Bytes held in memory (fences, filter, delta). */
  get memoryBytes(): number {
    return (this.base?.memoryBytes ?? 0) + this.delta.length;
  }

  mayContain(id: Uint8Array): boolean {
    return findInDelta(this.delta, this.deltaCount, id) >= 0 || (this.base?.mayContain(id) ?? false);
  }

  /** The stored length of a chunk a listed segment names, or undefined. */
  async lookup(id: Uint8Array): Promise<number | undefined> {
    const d = findInDelta(this.delta, this.deltaCount, id);
    if (d >= 0) {
      if (this.#hidden(this.delta.readUInt32LE(d * LREC + CHUNK_ID_BYTES + 4))) return undefined;
      return this.delta.readUInt32LE(d * LREC + CHUNK_ID_BYTES);
    }
    const hit = await this.base?.lookup(id);
    if (!hit || this.#retired.has(hit.ord) || this.#hidden(hit.ord)) return undefined;
    return hit.storedLength;
  }

  /** A record of a sealed segment whose key domain is not open here. */
  #hidden(ord: number): boolean {
    if (!this.#ordDomain) return false;
    const domain = this.#ordDomain.get(ord);
    return domain !== undefined && !this.#codec!.isOpen(domain);
  }

  async close(): Promise<void> {
    await this.base?.close();
  }

  /** Forgets this copy on disk (it failed a check): the next load rebuilds it. Open
   *  descriptors, here and in other processes, stay readable. */
  async discard(): Promise<void> {
    await fs.rm(path.join(this.dir, STATE_FILE), { force: true }).catch(() => {});
    for (const f of this.#files) await fs.rm(path.join(this.dir, f), { force: true }).catch(() => {});
  }

  /** Brings the copy in `dir` up to date with the store's index/ listing. */
  static async sync(store: ObjectStore, dir: string, prefix: string, opts: LocalSyncOptions): Promise<SyncResult> {
    const { remote, codec } = opts;
    const tuning = opts.tuning ?? {};
    const deltaMax = tuning.deltaMax ?? DELTA_MAX;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const listed: ObjectInfo[] = [];
    for await (const o of store.list(prefix)) if (o.key.endsWith('.idx')) listed.push(o);
    let st = await readState(dir);
    let base: RunReader | undefined;
    let delta: Buffer = Buffer.alloc(0);
    try {
      if (st.base) base = await RunReader.open(path.join(dir, st.base));
      if (st.delta) delta = await readDelta(path.join(dir, st.delta));
    } catch (e) {
      if (!(e instanceof LocalIndexDamaged) && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await base?.close();
      base = undefined;
      delta = Buffer.alloc(0);
      st = emptyState(); // a damaged copy is rebuilt from the segments
    }
    const byKey = new Map(listed.map((o) => [o.key, o]));
    const kept: SegmentEntry[] = [];
    const gone: SegmentEntry[] = [];
    for (const e of st.segments) {
      const o = byKey.get(e.key);
      // a locked segment whose domain is open now is read again (it holds no record here)
      const reopen = e.locked === true && e.domain !== undefined && codec?.isOpen(e.domain) === true;
      if (o && o.size === e.size && versionTag(o) === e.tag && !reopen) kept.push(e);
      else gone.push(e);
    }
    const keptKeys = new Set(kept.map((e) => e.key));
    const fresh = listed.filter((o) => !keptKeys.has(o.key));
    if (gone.length === 0 && fresh.length === 0) {
      return { local: new LocalIndex(dir, st, base, delta, codec), listed, fetched: 0, cached: kept.length, rebuilt: false };
    }

    const goneOrds = new Set(gone.map((e) => e.ord));
    const retired = new Set(st.retired);
    let retiredRecords = st.retiredRecords;
    for (const e of gone) {
      if (e.inBase > 0) {
        retired.add(e.ord);
        retiredRecords += e.inBase;
      }
    }
    const live = (ord: number) => !goneOrds.has(ord) && !retired.has(ord);
    const deltaKept = filterRecords(delta, live);
    const newRecords = fresh.reduce((n, o) => n + segmentRecordCount(o.size, codec), 0);
    const baseCount = base?.count ?? 0;
    const rebuild = deltaKept.length / LREC + newRecords > deltaMax || retiredRecords > baseCount / 4 + deltaMax;

    const next: LocalState = { ...emptyState(), nextOrd: st.nextOrd, segments: kept };
    const written = remote ? path.join(dir, WRITTEN_DIR) : undefined;
    let fetched = 0;
    let cached = kept.length;
    const files: string[] = [];
    const gen = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const added: SegmentEntry[] = [];
    const recordsOf = (o: ObjectInfo, stored: Buffer, ord: number) => {
      const { body, domain } = openSegment(o.key, stored, codec);
      return { ...localRecordsOf(o.key, body, ord), domain };
    };
    const readSmall = async (o: ObjectInfo, ord: number) => {
      const local = written ? await readWritten(written, o) : undefined;
      if (local) {
        try {
          const r = recordsOf(o, local, ord);
          cached++;
          return r;
        } catch (e) {
          if (e instanceof SegmentLocked) throw e;
          /* fetch it instead */
        }
      }
      const stored = await store.get(o.key);
      try {
        const r = recordsOf(o, stored, ord);
        fetched++;
        return r;
      } catch (e) {
        if (e instanceof SegmentLocked) fetched++; // covered, with no record
        throw e;
      }
    };
    const entryOf = (o: ObjectInfo, ord: number, domain?: string): SegmentEntry => ({
      key: o.key,
      size: o.size,
      tag: versionTag(o),
      ord,
      inBase: 0,
      ...(domain !== undefined ? { domain } : {}),
    });
    const lockedEntry = (o: ObjectInfo, ord: number, e: SegmentLocked): SegmentEntry => ({ ...entryOf(o, ord, e.domain), locked: true });

    if (!rebuild) {
      const parts: Buffer[] = [deltaKept];
      for (const o of fresh) {
        const ord = next.nextOrd++;
        try {
          const r = await readSmall(o, ord);
          parts.push(r.buf);
          added.push(entryOf(o, ord, r.domain));
        } catch (e) {
          if (e instanceof SegmentLocked) added.push(lockedEntry(o, ord, e));
          else if (!isNotFound(e) && !(e instanceof SegmentDamaged)) throw e; // skipped: forgotten, not wrong
        }
      }
      const merged = sortedUnique(Buffer.concat(parts));
      // Count delta records the base does not answer, so `count` stays the number of chunks.
      let own = 0;
      for (let i = 0; i < merged.length / LREC; i++) {
        const id = merged.subarray(i * LREC, i * LREC + CHUNK_ID_BYTES);
        const hit = base?.mayContain(id) ? await base.lookup(id) : undefined;
        if (!hit || !live(hit.ord)) own++;
      }
      next.base = st.base;
      next.retired = [...retired];
      next.retiredRecords = retiredRecords;
      next.count = baseCount - retiredRecords + own;
      if (merged.length > 0) {
        next.delta = `delta-${gen}.bin`;
        await writeDelta(path.join(dir, next.delta), merged);
        files.push(next.delta);
      }
      delta = merged;
    } else {
      const expected = baseCount + deltaKept.length / LREC + newRecords;
      const builder = await RunBuilder.create(path.join(dir, `build-${gen}.tmp`), expected, tuning.bucketRecords);
      const drop = new Set<number>();
      try {
        if (base) for await (const { buf, count } of base.scan()) await builder.push(buf, count, live);
        await builder.push(deltaKept, deltaKept.length / LREC);
        for (const o of fresh) {
          const ord = next.nextOrd++;
          const large = segmentRecordCount(o.size, codec) > deltaMax;
          try {
            if (!large) {
              const r = await readSmall(o, ord);
              await builder.push(r.buf, r.count);
              added.push(entryOf(o, ord, r.domain));
            } else {
              const r = await streamSegment(store, o, ord, (buf, count) => builder.push(buf, count), codec);
              fetched++;
              added.push(entryOf(o, ord, r.domain));
            }
          } catch (e) {
            if (e instanceof SegmentLocked) {
              if (large) fetched++; // covered, with no record (readSmall counts its own)
              added.push(lockedEntry(o, ord, e));
              continue;
            }
            if (!isNotFound(e) && !(e instanceof SegmentDamaged)) throw e;
            drop.add(ord);
          }
        }
        next.base = `base-${gen}.run`;
        const out = await builder.finish(path.join(dir, next.base), drop);
        files.push(next.base);
        next.count = out.count;
        for (const e of [...kept, ...added]) e.inBase = out.perOrd.get(e.ord) ?? 0;
      } finally {
        await builder.cleanup();
      }
      await base?.close();
      base = await RunReader.open(path.join(dir, next.base));
      delta = Buffer.alloc(0);
    }
    next.segments = [...kept, ...added];
    await writeState(dir, next);
    await removeUnused(dir, next, st);
    if (written) await removeWrittenCovered(written, next.segments);
    return { local: new LocalIndex(dir, next, base, delta, codec), listed, fetched, cached, rebuilt: rebuild };
  }

  /** Keeps a copy of a segment this process wrote (remote stores), so no host GETs its own. */
  static async keepWritten(dir: string, key: string, etag: string, body: Buffer): Promise<void> {
    const wdir = path.join(dir, WRITTEN_DIR);
    await fs.mkdir(wdir, { recursive: true, mode: 0o700 });
    const final = path.join(wdir, writtenName({ key, size: body.length, etag }));
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, body, { mode: 0o600 });
    await fs.rename(tmp, final);
  }
}

/** Index of `id` in a sorted local record buffer, or -1. */
function findInDelta(buf: Buffer, n: number, id: Uint8Array): number {
  if (n === 0) return -1;
  const idBuf = Buffer.from(id.buffer, id.byteOffset, CHUNK_ID_BYTES);
  let a = 0;
  let b = n - 1;
  while (a <= b) {
    const m = (a + b) >>> 1;
    const c = idBuf.compare(buf, m * LREC, m * LREC + CHUNK_ID_BYTES);
    if (c === 0) return m;
    if (c < 0) b = m - 1;
    else a = m + 1;
  }
  return -1;
}

function filterRecords(buf: Buffer, keep: (ord: number) => boolean): Buffer {
  const n = buf.length / LREC;
  const out = Buffer.alloc(buf.length);
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (!keep(buf.readUInt32LE(i * LREC + CHUNK_ID_BYTES + 4))) continue;
    buf.copy(out, k * LREC, i * LREC, (i + 1) * LREC);
    k++;
  }
  return out.subarray(0, k * LREC);
}

/** Sorted by id, one record per id (the highest ordinal). */
function sortedUnique(buf: Buffer): Buffer {
  const n = buf.length / LREC;
  const order = sortRecords(buf, n);
  const out = Buffer.alloc(buf.length);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const off = order[i]! * LREC;
    if (k > 0 && out.compare(buf, off, off + CHUNK_ID_BYTES, (k - 1) * LREC, (k - 1) * LREC + CHUNK_ID_BYTES) === 0) continue;
    buf.copy(out, k * LREC, off, off + LREC);
    k++;
  }
  return out.subarray(0, k * LREC);
}
