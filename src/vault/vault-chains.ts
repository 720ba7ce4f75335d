// Walking backup chains (a backup's parents up to its full, and its descendants), apart from
// how the vault reads manifests.
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
