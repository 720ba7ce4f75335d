// A restore into a file writes `.<target>.blockvault-<8 hex>` beside it and renames it into
// place at the end; a killed restore leaves that full-size file behind (issue 9.8). The
// next restore into the same directory removes the leftovers of its own target name that
// are older than the lease TTL: a live restore keeps writing (and renewing its lease), so a
// file untouched that long belongs to a restore that died.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DEFAULT_LEASE_TTL_MS } from '../vault/lease.js';

const TEMP_SUFFIX = /^\.blockvault-[0-9a-f]{8}$/;

/** The temp name a restore into `target` writes. */
export function restoreTempName(target: string, random: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.blockvault-${random}`);
}

/** Removes stale temp files of `target`; returns their paths. Errors are ignored: a
 *  leftover that cannot be removed must not fail the restore. */
export async function removeStaleRestoreTemps(target: string, olderThanMs = DEFAULT_LEASE_TTL_MS): Promise<string[]> {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  const cutoff = Date.now() - olderThanMs;
  for (const name of names) {
    if (!name.startsWith(prefix) || !TEMP_SUFFIX.test(name.slice(prefix.length))) continue;
    const p = path.join(dir, name);
    const st = await fs.lstat(p).catch(() => undefined);
    if (!st?.isFile() || st.mtimeMs >= cutoff) continue;
    if (await fs.rm(p).then(() => true, () => false)) removed.push(p);
  }
  return removed;
}
