// Where this host keeps its local copy of each vault's chunk index (index-local.ts), and the
// helpers to see and clear it (`blockvault cache`).
//
// Where: $BLOCKVAULT_CACHE_DIR, else $XDG_CACHE_HOME/blockvault, else ~/.cache/blockvault,
// then /<vaultId>/index/. "off" (or an unwritable directory) keeps the copy in a private
// temporary directory for the life of one load instead: it works, but rebuilds every time.
// The copy is only a cache: deleting it at any moment costs a rebuild from the store, never data.
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { STATE_FILE } from './index-local.js';

export interface IndexCacheOptions {
  /** Root directory, "off" to disable; default from the environment (see above). */
  dir?: string | undefined;
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
 *  at the same location gets a new key, hence a fresh cache), or for an encrypted vault (no
 *  hash key in the clear) from "encrypted:<vaultId>" (indexCacheName). */
export function vaultCacheId(hashKeyHex: string | undefined): string {
  if (hashKeyHex === undefined) {
    throw new BlockvaultError(ErrorCodes.badInput, 'an encrypted vault has no hash key to name its index cache by', {
      hint: 'use vault.indexCacheId (it names the cache of plain and encrypted vaults alike)',
    });
  }
  return createHash('sha256').update('blockvault index cache\0').update(hashKeyHex).digest('hex').slice(0, 32);
}

/** What names a vault's local index copy: its hash key, or "encrypted:<vaultId>". */
export function indexCacheName(config: { vaultId: string; hashKey?: string | undefined }): string {
  return config.hashKey ?? `encrypted:${config.vaultId}`;
}

const VAULT_ID = /^[0-9a-f]{32}$/;

/** The local index directory of one vault, made if missing; undefined when off or unwritable. */
export async function localIndexDir(vaultId: string, opts: IndexCacheOptions = {}): Promise<string | undefined> {
  const root = cacheRoot(opts.dir);
  if (!root) return undefined;
  const dir = path.join(root, vaultId, 'index');
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.access(dir, fsc.W_OK);
    return dir;
  } catch {
    return undefined; // read-only home, container: work without it
  }
}

export interface IndexCacheInfo {
  /** The cache root ("" when the cache is off). */
  dir: string;
  bytes: number;
  vaults: { id: string; bytes: number; segments: number }[];
}

async function treeBytes(p: string): Promise<number> {
  const st = await fs.lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  const names = await fs.readdir(p).catch(() => [] as string[]);
  let n = 0;
  for (const name of names) n += await treeBytes(path.join(p, name));
  return n;
}

/** What the cache holds: per vault, bytes on disk and the segments its copy covers. */
export async function indexCacheInfo(opts: IndexCacheOptions = {}): Promise<IndexCacheInfo> {
  const root = cacheRoot(opts.dir);
  if (!root) return { dir: '', bytes: 0, vaults: [] };
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const vaults: IndexCacheInfo['vaults'] = [];
  for (const id of names.filter((n) => VAULT_ID.test(n)).sort()) {
    const bytes = await treeBytes(path.join(root, id));
    let segments = 0;
    try {
      const st = JSON.parse(await fs.readFile(path.join(root, id, 'index', STATE_FILE), 'utf8')) as { segments?: unknown[] };
      segments = Array.isArray(st.segments) ? st.segments.length : 0;
    } catch {
      /* no copy yet, or torn: counts as none */
    }
    vaults.push({ id, bytes, segments });
  }
  return { dir: root, bytes: vaults.reduce((n, v) => n + v.bytes, 0), vaults };
}

/** Removes the local copy of one vault (by its cache id) or of every vault. Safe at any time:
 *  the next load rebuilds from the store. Returns what was removed. */
export async function clearIndexCache(opts: IndexCacheOptions & { vaultId?: string } = {}): Promise<{ removedBytes: number; vaults: string[] }> {
  const info = await indexCacheInfo(opts);
  if (!info.dir) return { removedBytes: 0, vaults: [] };
  if (opts.vaultId !== undefined && !VAULT_ID.test(opts.vaultId)) {
    throw new Error(`not a vault cache id: ${JSON.stringify(opts.vaultId)} (32 hex digits, as listed by indexCacheInfo)`);
  }
  const take = info.vaults.filter((v) => opts.vaultId === undefined || v.id === opts.vaultId);
  for (const v of take) await fs.rm(path.join(info.dir, v.id), { recursive: true, force: true });
  return { removedBytes: take.reduce((n, v) => n + v.bytes, 0), vaults: take.map((v) => v.id) };
}
