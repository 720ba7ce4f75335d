// The embedded default: a vault in a local directory. Every write goes to a temp file
// in <root>/.tmp, is fdatasync'd, then renamed (or linked, for put-if-absent) into
// place, so a reader sees no object or a whole one, never a torn one.
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import {
  StoreNotFoundError,
  type GetOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoreCapabilities,
} from './object-store.js';

const TMP_DIR = '.tmp';

export class LocalStore implements ObjectStore {
  readonly url: string;
  readonly capabilities: StoreCapabilities = { conditionalWrite: true };
  readonly root: string;
  readonly #madeDirs = new Set<string>();
  readonly #dirtyDirs = new Set<string>();

  private constructor(root: string) {
    this.root = root;
    this.url = pathToFileURL(root).href;
  }

  /** Opens (and with create, makes) the directory. A path that is a file is refused. */
  static async open(dir: string, opts: { create?: boolean } = {}): Promise<LocalStore> {
    const root = path.resolve(dir);
    const st = await fs.stat(root).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw storeError(e, 'open vault directory', root);
    });
    if (st && !st.isDirectory()) {
      throw new BlockvaultError(ErrorCodes.badInput, `vault path ${root} is a file, not a directory`, {
        hint: 'point --vault at a directory (it is created if missing)',
        details: { path: root },
      });
    }
    if (!st) {
      if (!opts.create) {
        throw new BlockvaultError(ErrorCodes.notFound, `no vault at ${root}`, {
          hint: 'check --vault, or run a backup (or `blockvault init`) to create one',
          details: { path: root },
        });
      }
      await fs.mkdir(root, { recursive: true }).catch((e) => {
        throw storeError(e, 'create vault directory', root);
      });
    }
    await fs.mkdir(path.join(root, TMP_DIR), { recursive: true }).catch((e) => {
      throw storeError(e, 'create vault directory', root);
    });
    return new LocalStore(root);
  }

  #path(key: string): string {
    if (key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '')) {
      throw new Error(`bad object key ${JSON.stringify(key)}`);
    }
    return path.join(this.root, key);
  }

  async get(key: string, _opts?: GetOptions): Promise<Buffer> {
    try {
      return await fs.readFile(this.#path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreNotFoundError(this.url, key);
      throw storeError(e, 'read', this.#path(key));
    }
  }

  async getRange(key: string, offset: number, length: number, _opts?: GetOptions): Promise<Buffer> {
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(this.#path(key), 'r');
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreNotFoundError(this.url, key);
      throw storeError(e, 'read', this.#path(key));
    } finally {
      await fh?.close();
    }
  }

  async put(key: string, body: Buffer, opts: PutOptions = {}): Promise<boolean> {
    const final = this.#path(key);
    const dir = path.dirname(final);
    if (opts.ifAbsent && (await exists(final))) return false;
    await this.#mkdir(dir);
    const tmp = path.join(this.root, TMP_DIR, `${randomBytes(8).toString('hex')}.tmp`);
    try {
      const fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
      try {
        await fh.writeFile(body);
        await fh.datasync();
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
      return true;
    } catch (e) {
      throw storeError(e, 'write', final);
    } finally {
      await fs.rm(tmp, { force: true }).catch(() => {});
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fs.stat(this.#path(key));
      return { key, size: st.size, lastModified: st.mtime };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storeError(e, 'stat', this.#path(key));
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    yield* this.#walk(base, prefix);
  }

  async *#walk(rel: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await fs.readdir(path.join(this.root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw storeError(e, 'list', path.join(this.root, rel));
    }
    for (const ent of entries) {
      const key = rel ? `${rel}/${ent.name}` : ent.name;
      if (!rel && ent.name === TMP_DIR) continue;
      if (ent.isDirectory()) {
        // Descend only where the prefix can still match.
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) yield* this.#walk(key, prefix);
      } else if (ent.isFile() && key.startsWith(prefix)) {
        const st = await fs.stat(path.join(this.root, key)).catch(() => undefined);
        if (st) yield { key, size: st.size, lastModified: st.mtime };
      }
    }
  }

  async delete(key: string): Promise<void> {
    const p = this.#path(key);
    await fs.rm(p, { force: true }).catch((e) => {
      throw storeError(e, 'delete', p);
    });
    this.#dirtyDirs.add(path.dirname(p));
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const k of keys) await this.delete(k);
  }

  async sync(): Promise<void> {
    const dirs = [...this.#dirtyDirs];
    this.#dirtyDirs.clear();
    await Promise.all(dirs.map((d) => fsyncDir(d)));
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
    this.#dirtyDirs.add(path.dirname(dir));
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
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
    return new BlockvaultError(ErrorCodes.noSpace, `vault disk full: cannot ${op} ${p}`, {
      hint: 'free space on the vault filesystem and run again; the backup was not made visible and its chunks are reused next time',
      cause: e,
      details: { path: p },
    });
  }
  return new BlockvaultError(ErrorCodes.store, `cannot ${op} ${p}: ${err.message}`, { cause: e, details: { path: p } });
}
