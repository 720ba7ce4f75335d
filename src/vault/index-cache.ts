// A local, on-disk cache of chunk index segments for remote (S3) vaults, so loading the
// index costs one LIST of index/ plus a GET of each segment this machine has not seen yet,
// not a GET of every segment on every backup.
//
// Segments are immutable once written (a writer makes a new name; GC and consolidation
// write new segments and delete old ones). A cached copy is still only used when the
// listing shows the same key AND the same size AND (when the store reports one) the same
// ETag, so even a segment rewritten under its old name is fetched again. Every segment also
// carries its own xxh64, checked when decoded: a torn or damaged cache file is dropped and
// refetched. Files of segments that are no longer listed are removed.
//
// Where: $BLOCKVAULT_CACHE_DIR, else $XDG_CACHE_HOME/blockvault, else ~/.cache/blockvault,
// then /<vaultId>/index/. "off" (or an unwritable directory) turns the cache off: the index
// then loads as before, from the store alone.
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ObjectInfo } from '../store/object-store.js';

export interface IndexCacheOptions {
  /** Root directory, "off" to disable; default from the environment (see above). */
  dir?: string;
}

/** The root cache directory, or undefined when the cache is turned off. */
export function cacheRoot(opt?: string): string | undefined {
  const v = opt ?? process.env.BLOCKVAULT_CACHE_DIR;
  if (v !== undefined && v !== '') return v === 'off' || v === '0' || v === 'none' ? undefined : path.resolve(v);
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'blockvault');
  const home = os.homedir();
  return home ? path.join(home, '.cache', 'blockvault') : undefined;
}

/** A stable, non-secret id for a vault: derived one way from its hash key (a recreated vault
 *  at the same location gets a new key, hence a fresh cache). */
export function vaultCacheId(hashKeyHex: string): string {
  return createHash('sha256').update('blockvault index cache\0').update(hashKeyHex).digest('hex').slice(0, 32);
}

function fileName(o: ObjectInfo): string {
  const base = o.key.replace(/^index\//, '').replace(/[^A-Za-z0-9._-]/g, '_');
  const tag = (o.etag ?? '').replace(/[^A-Za-z0-9]/g, '').slice(0, 64) || 'x';
  return `${base}~${o.size}~${tag}`;
}

export class IndexCache {
  readonly dir: string;
  #broken = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** The cache for one vault, or undefined when off or not writable. */
  static async open(vaultId: string, opts: IndexCacheOptions = {}): Promise<IndexCache | undefined> {
    const root = cacheRoot(opts.dir);
    if (!root) return undefined;
    const dir = path.join(root, vaultId, 'index');
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      await fs.access(dir, fsc.W_OK);
      return new IndexCache(dir);
    } catch {
      return undefined; // unwritable (read-only home, container): work without it
    }
  }

  /** The cached bytes of this exact segment version, or undefined. */
  async get(o: ObjectInfo): Promise<Buffer | undefined> {
    if (this.#broken) return undefined;
    try {
      const buf = await fs.readFile(path.join(this.dir, fileName(o)));
      return buf.length === o.size ? buf : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores a segment's bytes (temp + rename, so readers never see a torn file). Best effort. */
  async put(o: ObjectInfo, body: Buffer): Promise<void> {
    if (this.#broken) return;
    const final = path.join(this.dir, fileName(o));
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.writeFile(tmp, body, { mode: 0o600 });
      await fs.rename(tmp, final);
    } catch {
      this.#broken = true; // disk full, removed under us: stop trying for this process
      await fs.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /** Caches a segment this process has just written, labelled with the ETag a plain S3 PUT
   *  gets (the body's MD5), so the next load on this machine need not GET it. */
  async putWritten(key: string, body: Buffer): Promise<void> {
    await this.put({ key, size: body.length, etag: createHash('md5').update(body).digest('hex') }, body);
  }

  /** Drops a cached file (it failed to decode). */
  async drop(o: ObjectInfo): Promise<void> {
    await fs.rm(path.join(this.dir, fileName(o)), { force: true }).catch(() => {});
  }

  /** Removes files of segments that are no longer listed (deleted by GC or consolidation). */
  async retain(listed: ObjectInfo[]): Promise<void> {
    if (this.#broken) return;
    const keep = new Set(listed.map(fileName));
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return;
    }
    const stale = names.filter((n) => !keep.has(n) && !n.endsWith('.tmp'));
    await Promise.all(stale.map((n) => fs.rm(path.join(this.dir, n), { force: true }).catch(() => {})));
  }
}

/** One vault's cache directory and what it holds (for `blockvault cache`). */
export interface CachedVault {
  vaultId: string;
  dir: string;
  files: number;
  bytes: number;
}

/** The vaults with a cache under the root (none when the cache is off or empty). */
export async function cachedVaults(opt?: string): Promise<CachedVault[]> {
  const root = cacheRoot(opt);
  if (!root) return [];
  let ids: string[];
  try {
    ids = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
  const out: CachedVault[] = [];
  for (const vaultId of ids.sort()) {
    const dir = path.join(root, vaultId);
    let files = 0;
    let bytes = 0;
    for (const f of await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
      if (!f.isFile()) continue;
      files++;
      bytes += (await fs.stat(path.join(f.parentPath, f.name)).catch(() => ({ size: 0 }))).size;
    }
    out.push({ vaultId, dir, files, bytes });
  }
  return out;
}

/** Removes one vault's cache (it is refilled from the vault on the next load). */
export async function clearCachedVault(vaultId: string, opt?: string): Promise<void> {
  const root = cacheRoot(opt);
  if (!root || !/^[A-Za-z0-9_-]+$/.test(vaultId)) return;
  await fs.rm(path.join(root, vaultId), { recursive: true, force: true });
}
