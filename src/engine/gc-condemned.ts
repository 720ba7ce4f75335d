// GC's condemned records (gc/condemned-<run>.json): the chunks a run left for a later run
// because operations were running. Read back through a schema, never cast.
import * as v from 'valibot';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { Layout } from '../vault/layout.js';
import type { Vault } from '../vault/vault.js';

export const CondemnedRecordSchema = v.object({
  runId: v.string(),
  at: v.string(),
  /** Chunk ids, hex. */
  chunks: v.array(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'a chunk id is 64 lowercase hex digits'))),
  /** Lease ids that were live when the record was written. */
  leases: v.array(v.string()),
});

export type CondemnedRecord = v.InferOutput<typeof CondemnedRecordSchema>;

/** Keys of every condemned record, oldest run first. */
export async function listCondemned(vault: Vault): Promise<string[]> {
  const out: string[] = [];
  for await (const o of vault.meta.list(Layout.condemnedPrefix)) if (Layout.isCondemnedKey(o.key)) out.push(o.key);
  return out.sort();
}

/**
 * The record at `key`, undefined when it is gone. A record that is not valid JSON or does not
 * match the schema is refused with an error naming the object: its chunks are unreferenced
 * and unindexed, so deleting it loses nothing (the next gc condemns or sweeps them again).
 */
export async function readCondemned(vault: Vault, key: string): Promise<CondemnedRecord | undefined> {
  const body = await vault.meta.get(key);
  if (!body) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw damagedRecord(vault, key, `not valid JSON (${(e as Error).message})`);
  }
  const r = v.safeParse(CondemnedRecordSchema, doc);
  if (!r.success) {
    const issue = r.issues[0];
    const at = issue.path?.map((p) => String(p.key)).join('.') ?? '';
    throw damagedRecord(vault, key, `${at ? `${at}: ` : ''}${issue.message}`);
  }
  return r.output;
}

function damagedRecord(vault: Vault, key: string, why: string): BlockvaultError {
  return new BlockvaultError(ErrorCodes.vaultDamaged, `gc condemned record ${key} in ${vault.url} is damaged: ${why}`, {
    hint: 'delete that object (its chunks are unreferenced: the next gc finds them again), then run gc again',
    details: { object: key },
  });
}
