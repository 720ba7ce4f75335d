// The embedded default: a vault in a local directory. Every write goes to a temp file in
// <root>/.tmp, then is renamed (or linked, for put-if-absent) into place, so a reader sees no
// object or a whole one, never a torn one.
//
// Durability, and why it is safe to defer it (docs/architecture.md, "Local store"):
// a rename(2) is atomic for readers but not ordered against the file's data on a power cut:
// after a crash the new name can point at an empty or partial file (ext4 without
// auto_da_alloc on a new name, XFS, btrfs). So a file must be fdatasync'd before anything
// durable trusts it. Deferred creates (chunks: a backup writes hundreds) skip that on the hot
// path and are remembered; sync() fdatasyncs every one of them, in parallel, and then fsyncs
// the directories that gained or lost names (data before names). Every other put (manifests,
// config, leases, index segments: the objects read back and trusted on their own) is
// fdatasync'd before its rename, and is first a barrier: the data of every deferred file put
// before it is made durable first, so an index segment that lists chunks is on disk only after
// the chunks' bytes are (as when every chunk was synced on put). Their directory entries become
// durable at sync(), which the vault runs before each manifest: a manifest names only chunks
// whose data and names are durable. A power cut loses only deferred objects no manifest names.
// Owed files are also synced in the background as they come (no put waits for that), so a
// barrier finds little left to do.
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import { BlockvaultError, ErrorCodes, abortError } from '../errors.js';
import { StoreError, StoreNotFoundError, checkKey, checkRange } from './store-errors.js';
import type { CallOptions, GetOptions, ObjectInfo, ObjectStore, PutOptions, StoreCapabilities } from './object-store.js';
import { callSignal, throwIfCancelled } from './operation-signal.js';
import { directHead, directIoAvailable, writeFully, writeHeadDirect } from '../native/direct-io.js';

export const TMP_DIR = '.tmp';
/** Temp files older than this are crash leftovers (the lease TTL: no live writer is slower). */
export const STALE_TMP_MS = 120_000;
/** stat calls in flight while listing a directory. */
const LIST_STATS = 32;
/** fdatasyncs in flight during sync(): the device queues them; more only adds file handles. */
const SYNC_PARALLEL = 16;
/** Deferred files remembered at most; the put that reaches it syncs them (bounds memory). */
const PENDING_HIGH_WATER = 4096;
/** fdatasyncs in flight for the background drain: few, so the libuv pool keeps threads for the
 *  source reads of a backup (a barrier or sync() uses SYNC_PARALLEL). */
const DRAIN_PARALLEL = 4;

export interface LocalStoreOptions {
  /** Make the directory if it is missing. */
  create?: boolean;
  /** Opened only to read: leave crash leftovers alone. */
  readOnly?: boolean;
  /** Creates (put-if-absent) under these prefixes are deferred as with deferSync (the vault
   *  passes its chunk prefix). A replacing put is never implicitly deferred: it could tear an
   *  object that something durable already names. */
  deferSyncPrefixes?: readonly string[];
  /** Temp files older than this are removed at open for writing (default STALE_TMP_MS). */
  staleTmpMs?: number;
  /** Sync owed files in the background as they come (default true; off, only barriers and
   *  sync() do, which makes the owed count exact for tests). */
  backgroundSync?: boolean;
  /** Write chunk objects straight to disk (O_DIRECT) where they are aligned and the file
   *  system allows (default true; see #writeBody). Reads stay cached. */
  directIo?: boolean;
}

export class LocalStore implements ObjectStore {
  readonly url: string;
  // listPageKeys 1: list() stats every file it yields, so it costs what a HEAD per key does.
  readonly capabilities: StoreCapabilities = { conditionalWrite: true, remote: false, listPageKeys: 1 };
  readonly root: string;
  /** Crash leftovers removed from .tmp when this store was opened. */
  readonly removedLeftovers: number;
  readonly #deferPrefixes: readonly string[];
  readonly #backgroundSync: boolean;
  /** O_DIRECT in use: off when the option says so or the file system refused it (EINVAL). */
  #direct: boolean;
  /** Bytes written with O_DIRECT (tests, metrics). */
  directBytesWritten = 0;
  readonly #madeDirs = new Set<string>();
  readonly #dirtyDirs = new Set<string>();
  /** Files put with deferred durability since the last sync(). */
  readonly #pendingFiles = new Set<string>();
  /** The last of the serialized sync jobs (see #serial). */
  #syncing: Promise<void> = Promise.resolve();
  #syncsRunning = 0;
  #drainQueued = false;

  private constructor(root: string, opts: LocalStoreOptions, removed: number) {
    this.root = root;
    this.url = pathToFileURL(root).href;
    this.#deferPrefixes = opts.deferSyncPrefixes ?? [];
    this.#backgroundSync = opts.backgroundSync ?? true;
    this.#direct = (opts.directIo ?? true) && directIoAvailable;
    this.removedLeftovers = removed;
  }

  /** Opens (and with create, makes) the directory. A path that is a file is refused. */
  static async open(dir: string, opts: LocalStoreOptions = {}): Promise<LocalStore> {
    const root = path.resolve(dir);
    const st = await fs.stat(root).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw storeError(e, 'open vault directory', root);
    });
    if (st && !st.isDirectory()) {
      throw new StoreError('badRequest', `vault path ${root} is a file, not a directory`, {
        code: ErrorCodes.badInput,
        hint: 'point --vault at a directory (it is created if missing)',
        details: { path: root },
      });
    }
    if (!st) {
      if (!opts.create) {
        throw new StoreError('notFound', `no vault at ${root}`, {
          code: ErrorCodes.notFound,
          hint: 'check --vault, or run a backup (or `blockvault init`) to create one',
          details: { path: root },
        });
      }
      await fs.mkdir(root, { recursive: true }).catch((e) => {
        throw storeError(e, 'create vault directory', root);
      });
    }
    let removed = 0;
    if (!opts.readOnly) {
      await fs.mkdir(path.join(root, TMP_DIR), { recursive: true }).catch((e) => {
        throw storeError(e, 'create vault directory', root);
      });
      removed = await removeStaleTemps(path.join(root, TMP_DIR), opts.staleTmpMs ?? STALE_TMP_MS);
    }
    return new LocalStore(root, opts, removed);
  }

  /** Files whose durability waits for the next sync() (for tests and metrics). */
  get pendingSync(): number {
    return this.#pendingFiles.size;
  }

  #path(key: string): string {
    checkKey(key, this.url);
    return path.join(this.root, key);
  }

  async get(key: string, opts?: GetOptions): Promise<Buffer> {
    const signal = callSignal(opts?.signal);
    if (signal?.aborted) throw abortError(signal.reason);
    const p = this.#path(key);
    // One read of the whole file where fs.readFile reads 512 KiB at a time (a 4 MiB chunk:
    // 8 read calls and as many trips through the thread pool).
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(p, 'r');
      const size = (await fh.stat()).size;
      const buf = opts?.into && opts.into.length >= size ? opts.into.subarray(0, size) : Buffer.allocUnsafe(size);
      let n = 0;
      while (n < size) {
        if (signal?.aborted) throw abortError(signal.reason);
        const { bytesRead } = await fh.read(buf, n, size - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return n === size ? buf : buf.subarray(0, n);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreNotFoundError(this.url, key);
      if (e instanceof BlockvaultError) throw e; // cancelled between reads
      throw storeError(e, 'read', p);
    } finally {
      await fh?.close();
    }
  }

  async getRange(key: string, offset: number, length: number, opts?: GetOptions): Promise<Buffer> {
    throwIfCancelled(opts);
    const p = this.#path(key);
    checkRange(key, offset, length, this.url);
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(p, 'r');
      if (length === 0) return Buffer.alloc(0);
      const buf = Buffer.allocUnsafe(length);
      let n = 0;
      while (n < length) {
        const { bytesRead } = await fh.read(buf, n, length - n, offset + n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return buf.subarray(0, n);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreNotFoundError(this.url, key);
      throw storeError(e, 'read', p);
    } finally {
      await fh?.close();
    }
  }

  async put(key: string, body: Buffer, opts: PutOptions = {}): Promise<boolean> {
    throwIfCancelled(opts);
    const final = this.#path(key);
    const dir = path.dirname(final);
    if (opts.ifAbsent && (await exists(final))) return false;
    const deferred = opts.deferSync === true || (opts.ifAbsent === true && this.#deferPrefixes.some((p) => key.startsWith(p)));
    // A durable object may name deferred ones put before it: make those durable first.
    // (A sync still running has taken files it has not made durable yet: wait for it too.)
    if (!deferred && (this.#pendingFiles.size > 0 || this.#syncsRunning > 0)) await this.#barrier();
    await this.#mkdir(dir);
    const tmp = path.join(this.root, TMP_DIR, `${randomBytes(8).toString('hex')}.tmp`);
    try {
      const fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
      try {
        await this.#writeBody(fh, tmp, body);
        if (!deferred) await fh.datasync();
      } finally {
        await fh.close();
      }
      if (opts.ifAbsent) {
        // link(2) fails with EEXIST when the name exists: an atomic create-if-absent.
        try {
          await fs.link(tmp, final);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
          throw e;
        }
      } else {
        await fs.rename(tmp, final);
      }
      this.#dirtyDirs.add(dir);
      if (deferred) {
        this.#pendingFiles.add(final);
        if (this.#pendingFiles.size >= PENDING_HIGH_WATER) await this.sync();
        else if (this.#backgroundSync) this.#drainInBackground();
      }
      return true;
    } catch (e) {
      throw storeError(e, 'write', final);
    } finally {
      await fs.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /**
   * A chunk object (4 MiB, in an aligned buffer) goes straight to disk: its aligned head through
   * an O_DIRECT handle of the temp file, the few bytes after through the plain one. A backup
   * then neither copies its stored bytes into the page cache nor pushes the host's cache out
   * (docs/architecture.md, "Local store"). Anything else, or a refusal (EINVAL), is a plain write.
   */
  async #writeBody(fh: fs.FileHandle, tmp: string, body: Buffer): Promise<void> {
    // Only an object with an aligned head is worth a second handle (not manifests, leases).
    if (this.#direct && directHead(body, 0) > 0) {
      let d: fs.FileHandle | undefined;
      try {
        d = await fs.open(tmp, fsc.O_WRONLY | fsc.O_DIRECT);
        const n = await writeHeadDirect(d, body, 0, (p, at) => writeFully(fh, p, at));
        if (n !== 'refused') {
          this.directBytesWritten += n;
          return;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e; // the open refused it
      } finally {
        await d?.close().catch(() => {});
      }
      this.#direct = false; // this file system does not take it: plain writes from now on
    }
    await writeFully(fh, body, 0);
  }

  async head(key: string, opts?: CallOptions): Promise<ObjectInfo | undefined> {
    throwIfCancelled(opts);
    const p = this.#path(key);
    try {
      const st = await fs.stat(p);
      return { key, size: st.size, lastModified: st.mtime };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storeError(e, 'stat', p);
    }
  }

  async *list(prefix: string, opts?: CallOptions): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    yield* this.#walk(base, prefix, callSignal(opts?.signal));
  }

  async *#walk(rel: string, prefix: string, signal: AbortSignal | undefined): AsyncIterable<ObjectInfo> {
    if (signal?.aborted) throw abortError(signal.reason);
    let entries;
    try {
      entries = await fs.readdir(path.join(this.root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw storeError(e, 'list', path.join(this.root, rel));
    }
    const files: string[] = [];
    for (const ent of entries) {
      const key = rel ? `${rel}/${ent.name}` : ent.name;
      if (!rel && ent.name === TMP_DIR) continue;
      if (ent.isDirectory()) {
        // Descend only where the prefix can still match.
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) yield* this.#walk(key, prefix, signal);
      } else if (ent.isFile() && key.startsWith(prefix)) {
        files.push(key);
      }
    }
    // A directory's files are statted LIST_STATS at a time, not one after another: 60 k
    // chunk files listed in 2.8–3.0 s one by one, 0.54–0.62 s so (GC and verify list them all).
    for (let i = 0; i < files.length; i += LIST_STATS) {
      if (signal?.aborted) throw abortError(signal.reason);
      const batch = files.slice(i, i + LIST_STATS);
      const stats = await Promise.all(batch.map((key) => fs.stat(path.join(this.root, key)).catch(() => undefined)));
      for (let j = 0; j < batch.length; j++) {
        const st = stats[j];
        if (st) yield { key: batch[j]!, size: st.size, lastModified: st.mtime };
      }
    }
  }

  async delete(key: string, opts?: CallOptions): Promise<void> {
    throwIfCancelled(opts);
    const p = this.#path(key);
    await fs.rm(p, { force: true }).catch((e) => {
      throw storeError(e, 'delete', p);
    });
    this.#pendingFiles.delete(p);
    this.#dirtyDirs.add(path.dirname(p));
  }

  async deleteMany(keys: string[], opts?: CallOptions): Promise<void> {
    for (const k of keys) await this.delete(k, opts);
  }

  /** Owed file data and every changed directory, durable. */
  sync(): Promise<void> {
    return this.#serial(async () => {
      await this.#syncFiles(true, SYNC_PARALLEL);
      // Data first, then names: a directory entry made durable before its file's data could
      // name an empty file after a power cut.
      const dirs = [...this.#dirtyDirs];
      this.#dirtyDirs.clear();
      const limit = pLimit(SYNC_PARALLEL);
      await Promise.all(dirs.map((d) => limit(() => fsyncDir(d))));
    });
  }

  /** The data of every file owed so far, durable (what a durable put waits for). */
  #barrier(): Promise<void> {
    return this.#serial(() => this.#syncFiles(true, SYNC_PARALLEL));
  }

  /** fdatasyncs the files owed so far, off the put path (no put waits for it), like writeback
   *  running ahead: a barrier then finds little left to do. One drain is queued at a time and
   *  takes whatever is owed when it starts. A file it fails on stays owed, so the next awaited
   *  sync retries it and reports the error. */
  #drainInBackground(): void {
    if (this.#drainQueued) return;
    this.#drainQueued = true;
    void this.#serial(async () => {
      this.#drainQueued = false;
      await this.#syncFiles(false, DRAIN_PARALLEL);
    }).catch(() => {});
  }

  /** One at a time, in call order: each covers every put that resolved before it was called,
   *  including files an earlier one had taken but not yet made durable. */
  #serial(job: () => Promise<void>): Promise<void> {
    this.#syncsRunning++;
    const run = this.#syncing
      .catch(() => {})
      .then(job)
      .finally(() => this.#syncsRunning--);
    this.#syncing = run;
    return run;
  }

  async #syncFiles(report: boolean, parallel: number): Promise<void> {
    const files = [...this.#pendingFiles];
    this.#pendingFiles.clear();
    const limit = pLimit(parallel);
    const failed: string[] = [];
    let first: unknown;
    await Promise.all(
      files.map((f) =>
        limit(() =>
          datasyncFile(f).catch((e) => {
            failed.push(f);
            first ??= e;
          }),
        ),
      ),
    );
    for (const f of failed) this.#pendingFiles.add(f); // not made durable: still owed
    if (report && failed.length) throw first;
  }

  async close(): Promise<void> {
    await this.sync();
  }

  async #mkdir(dir: string): Promise<void> {
    if (this.#madeDirs.has(dir)) return;
    await fs.mkdir(dir, { recursive: true }).catch((e) => {
      throw storeError(e, 'create directory', dir);
    });
    this.#madeDirs.add(dir);
    // Every new level needs its parent's entry made durable; mark the chain up to the root.
    for (let d = dir; d.startsWith(this.root) && d !== this.root; d = path.dirname(d)) this.#dirtyDirs.add(path.dirname(d));
  }
}

/** Removes `*.tmp` files older than maxAgeMs; a live writer renames its temp within seconds. */
async function removeStaleTemps(tmpDir: string, maxAgeMs: number): Promise<number> {
  const names = await fs.readdir(tmpDir).catch(() => [] as string[]);
  const cutoff = Date.now() - maxAgeMs;
  let removed = 0;
  for (const name of names) {
    if (!name.endsWith('.tmp')) continue;
    const p = path.join(tmpDir, name);
    const st = await fs.stat(p).catch(() => undefined);
    if (!st?.isFile() || st.mtimeMs >= cutoff) continue;
    await fs.rm(p, { force: true }).then(
      () => removed++,
      () => {},
    );
  }
  return removed;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function datasyncFile(file: string): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // deleted since: nothing to keep
    throw storeError(e, 'sync', file);
  }
  try {
    await fh.datasync();
  } catch (e) {
    throw storeError(e, 'sync', file);
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function storeError(e: unknown, op: string, p: string): BlockvaultError {
  if (e instanceof BlockvaultError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT') {
    return new StoreError('full', `vault disk full: cannot ${op} ${p}`, {
      hint: 'free space on the vault filesystem and run again; the backup was not made visible and its chunks are reused next time',
      cause: e,
      details: { path: p },
    });
  }
  const category = err.code === 'EACCES' || err.code === 'EPERM' ? 'auth' : err.code === 'EROFS' ? 'badRequest' : 'other';
  return new StoreError(category, `cannot ${op} ${p}: ${err.message}`, { cause: e, details: { path: p, errno: err.code } });
}
