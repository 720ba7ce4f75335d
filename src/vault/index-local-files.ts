// The files of a host's local index copy (index-local.ts): state.json, the delta file, the
// kept copies of segments this host wrote, and the removal of files no state names.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import type { ObjectInfo } from '../store/object-store.js';
import { LREC, LocalIndexDamaged } from './index-run.js';

export const STATE_FILE = 'state.json';
export const LOCAL_FORMAT = 'blockvault-local-index';
export const LOCAL_VERSION = 1;
const DELTA_MAGIC = Buffer.from('BVLD', 'ascii');
export const WRITTEN_DIR = 'written';

export interface SegmentEntry {
  key: string;
  size: number;
  tag: string;
  ord: number;
  /** Records of this segment kept in the base run. */
  inBase: number;
  /** Encrypted vaults: the key domain the segment is sealed in. */
  domain?: string;
  /** Sealed in a domain that was not open: covered with no record (read again once it is). */
  locked?: boolean;
}

export interface LocalState {
  format: string;
  version: number;
  base: string | null;
  delta: string | null;
  nextOrd: number;
  /** Distinct chunks answered (base minus retired plus delta's own). */
  count: number;
  /** Ordinals of deleted segments still present in the base, and their record count. */
  retired: number[];
  retiredRecords: number;
  segments: SegmentEntry[];
}

export const emptyState = (): LocalState => ({
  format: LOCAL_FORMAT,
  version: LOCAL_VERSION,
  base: null,
  delta: null,
  nextOrd: 1,
  count: 0,
  retired: [],
  retiredRecords: 0,
  segments: [],
});

export async function readState(dir: string): Promise<LocalState> {
  let raw: string;
  try {
    raw = await fs.readFile(path.join(dir, STATE_FILE), 'utf8');
  } catch {
    return emptyState();
  }
  try {
    const s = JSON.parse(raw) as LocalState;
    const ok =
      s.format === LOCAL_FORMAT &&
      s.version === LOCAL_VERSION &&
      Number.isInteger(s.nextOrd) &&
      Number.isInteger(s.count) &&
      Array.isArray(s.segments) &&
      Array.isArray(s.retired) &&
      // only names this code makes: a tampered state must not point outside the directory
      (s.base === null || (typeof s.base === 'string' && /^base-[a-z0-9-]+\.run$/.test(s.base))) &&
      (s.delta === null || (typeof s.delta === 'string' && /^delta-[a-z0-9-]+\.bin$/.test(s.delta))) &&
      s.segments.every(
        (e) =>
          typeof e.key === 'string' &&
          Number.isInteger(e.size) &&
          typeof e.tag === 'string' &&
          Number.isInteger(e.ord) &&
          e.ord < s.nextOrd &&
          (e.domain === undefined || typeof e.domain === 'string') &&
          (e.locked === undefined || typeof e.locked === 'boolean'),
      );
    return ok ? s : emptyState();
  } catch {
    return emptyState(); // torn or foreign: rebuild
  }
}

export async function writeState(dir: string, st: LocalState): Promise<void> {
  const tmp = path.join(dir, `${STATE_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(st), { mode: 0o600 });
  await fs.rename(tmp, path.join(dir, STATE_FILE));
}

export async function writeDelta(file: string, recs: Buffer): Promise<void> {
  const out = Buffer.alloc(12 + recs.length + 8);
  DELTA_MAGIC.copy(out, 0);
  out[4] = LOCAL_VERSION;
  out.writeUInt32LE(recs.length / LREC, 8);
  recs.copy(out, 12);
  out.writeBigUInt64LE(xxh64(out.subarray(0, out.length - 8)), out.length - 8);
  await fs.writeFile(file, out, { mode: 0o600 });
}

export async function readDelta(file: string): Promise<Buffer> {
  const b = await fs.readFile(file);
  if (b.length < 20 || !b.subarray(0, 4).equals(DELTA_MAGIC) || b[4] !== LOCAL_VERSION) throw new LocalIndexDamaged(`${file}: not a delta`);
  const n = b.readUInt32LE(8);
  if (b.length !== 12 + n * LREC + 8 || xxh64(b.subarray(0, b.length - 8)) !== b.readBigUInt64LE(b.length - 8)) {
    throw new LocalIndexDamaged(`${file}: checksum`);
  }
  return b.subarray(12, 12 + n * LREC);
}

/** Removes files neither the new state nor the one it replaced names (a concurrent process's
 *  fresh files are kept for a while), and the replaced state's own. */
export async function removeUnused(dir: string, now: LocalState, before: LocalState): Promise<void> {
  const keep = new Set([now.base, now.delta].filter((x): x is string => !!x));
  const replaced = new Set([before.base, before.delta].filter((x): x is string => !!x && !keep.has(x)));
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  const hourAgo = Date.now() - 3600_000;
  for (const n of names) {
    if (n === STATE_FILE || n === WRITTEN_DIR || keep.has(n)) continue;
    const p = path.join(dir, n);
    if (!replaced.has(n)) {
      const st = await fs.stat(p).catch(() => undefined);
      if (!st || st.mtimeMs > hourAgo) continue; // maybe another process's, in use
    }
    await fs.rm(p, { recursive: true, force: true }).catch(() => {});
  }
}

export function writtenName(o: { key: string; size: number; etag?: string }): string {
  const base = o.key.replace(/^index\//, '').replace(/[^A-Za-z0-9._-]/g, '_');
  const tag = (o.etag ?? '').replace(/[^A-Za-z0-9]/g, '').slice(0, 64) || 'x';
  return `${base}~${o.size}~${tag}`;
}

export async function readWritten(dir: string, o: ObjectInfo): Promise<Buffer | undefined> {
  try {
    const b = await fs.readFile(path.join(dir, writtenName(o)));
    return b.length === o.size ? b : undefined;
  } catch {
    return undefined;
  }
}

export async function removeWrittenCovered(dir: string, covered: readonly SegmentEntry[]): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const done = new Set(covered.map((e) => writtenName({ key: e.key, size: e.size, etag: e.tag.startsWith('e') ? e.tag.slice(1) : '' })));
  const dayAgo = Date.now() - 86400_000;
  for (const n of names) {
    const p = path.join(dir, n);
    if (done.has(n)) {
      await fs.rm(p, { force: true }).catch(() => {});
      continue;
    }
    const st = await fs.stat(p).catch(() => undefined);
    if (st && st.mtimeMs < dayAgo) await fs.rm(p, { force: true }).catch(() => {});
  }
}
