// Backup ids as an operator types them: any unique prefix (restic-style); shown short in tables.
import type { Vault } from '../vault/vault.js';
import { UsageError } from './usage-error.js';

export const SHORT_ID = 8;

/** Short forms of ids: at least SHORT_ID characters, longer where needed to stay unique. */
export function shortIds(ids: string[]): Map<string, string> {
  let len = SHORT_ID;
  const longest = Math.max(0, ...ids.map((i) => i.length));
  while (len < longest && new Set(ids.map((i) => i.slice(0, len))).size < new Set(ids).size) len++;
  return new Map(ids.map((i) => [i, i.slice(0, len)]));
}

/** The full id of the backup that `given` names (an id or a unique prefix of one). */
export async function resolveBackupId(vault: Vault, given: string): Promise<string> {
  if (given === '') throw new UsageError('an empty backup id names no backup');
  const all = (await vault.listBackups()).map((h) => h.backupId);
  if (all.includes(given)) return given;
  const hits = all.filter((id) => id.startsWith(given));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) {
    throw new UsageError(`backup id prefix ${JSON.stringify(given)} is ambiguous: it matches ${hits.length} backups`, {
      hint: `give more characters of one of: ${hits.slice(0, 10).join(', ')}${hits.length > 10 ? ', …' : ''}`,
      details: { prefix: given, matches: hits },
    });
  }
  return given; // no match: the engine reports "not found" with its service code
}
