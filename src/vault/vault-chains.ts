// Walking backup chains (a backup's parents up to its full, and its descendants), apart from
// how the vault reads manifests.
import pLimit from 'p-limit';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import type { Manifest, ManifestHeader } from './manifest.js';

/** The backup and its ancestors, newest first, ending with the full. */
export async function walkChain(backupId: string, readManifest: (id: string) => Promise<Manifest>): Promise<Manifest[]> {
  const out: Manifest[] = [];
  const seen = new Set<string>();
  let id: string | null = backupId;
  while (id) {
    if (seen.has(id)) throw new BlockvaultError(ErrorCodes.vaultDamaged, `backup chain of ${backupId} loops at ${id}`);
    seen.add(id);
    let m: Manifest;
    try {
      m = await readManifest(id);
    } catch (e) {
      if (e instanceof BlockvaultError && e.code === ErrorCodes.backupNotFound && id !== backupId) {
        throw new BlockvaultError(ErrorCodes.vaultDamaged, `backup ${backupId} depends on ${id}, which is missing`, {
          hint: 'run `blockvault verify`; the chain below that backup cannot be restored',
          details: { backupId, missingParent: id },
        });
      }
      throw e;
    }
    out.push(m);
    id = m.header.parentId;
  }
  return out;
}

/** The chain the headers predict for a backup: its id, then each parentId the headers name,
 *  as far as they go (a loop or a missing parent ends it: the walk reports those). */
export function predictedChain(headers: ReadonlyMap<string, { header: ManifestHeader }>, backupId: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let id: string | null | undefined = backupId; id && headers.has(id) && !seen.has(id); id = headers.get(id)!.header.parentId) {
    seen.add(id);
    out.push(id);
  }
  return out;
}

/**
 * A readManifest for walkChain that has already started reading the predicted ids,
 * `parallel` at a time, so a chain of N manifests costs about N / parallel round trips instead
 * of N. Only the reading is ahead: the walk still follows each manifest's own parentId, and an
 * id it asks for outside the prediction (a delete rewrote a child since the headers were read)
 * is read then. A read ahead that fails rejects only when the walk asks for it.
 */
export function readingAhead(predicted: readonly string[], read: (id: string) => Promise<Manifest>, parallel: number): (id: string) => Promise<Manifest> {
  const ahead = new Map<string, Promise<Manifest>>();
  const limit = pLimit(parallel);
  for (const id of predicted) {
    const p = limit(() => read(id));
    p.catch(() => {}); // handled where the walk awaits it; one it never asks for is dropped
    ahead.set(id, p);
  }
  return (id) => {
    const p = ahead.get(id);
    ahead.delete(id);
    return p ?? read(id);
  };
}

/** Headers of the chain a backup sits in (`all` oldest first): its ancestors, itself and its
 *  descendants. */
export function chainHeaders(all: ManifestHeader[], backupId: string): ManifestHeader[] {
  const byId = new Map(all.map((h) => [h.backupId, h]));
  const up: ManifestHeader[] = [];
  for (let h = byId.get(backupId); h; h = h.parentId ? byId.get(h.parentId) : undefined) up.unshift(h);
  const down: ManifestHeader[] = [];
  const below = new Set([backupId]);
  for (const h of all) {
    if (h.parentId && below.has(h.parentId)) {
      below.add(h.backupId);
      down.push(h);
    }
  }
  return [...up, ...down];
}
