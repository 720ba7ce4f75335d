// Garbage collection: delete chunk objects no manifest references, beside running backups.
//
// The steps are the phases of GcRun (gc-run.ts), named after each step below; each reports
// progress {phase, done, total}.
//
//   1. Take the vault-wide lease "vault-gc" (two GCs never overlap; backups do not take it).
//   2. List the index segments that exist now (S_old).
//   3. Mark: list every manifest and collect every chunk it names. A manifest that vanishes
//      while being read was deleted by a concurrent delete/prune, which first rewrote its
//      child to hold its blocks; the child may have been read before that rewrite, so the
//      whole mark is repeated (marks only accumulate) until a pass sees nothing vanish.
//   4. List chunks/. U = chunk objects that are not marked.
//   5. Rewrite the index: write one segment index/gc-<run>.idx listing every listed chunk
//      not in U (with its object size as stored length), then delete the segments of S_old.
//      Segments written since step 2 by running backups are left alone.
//   6. Only now snapshot the live leases L (GC's own excluded).
//   7. Close the windows between the steps above: re-list the manifests and mark what any new
//      or rewritten one names (a backup that loaded the old index and finished between the
//      mark and step 6 holds no lease in L but has a manifest now); read every index segment
//      written since step 2 and take the chunks it lists out of U (an index must never list
//      a deleted chunk).
//   8. Earlier condemned records gc/condemned-<run>.json (schema-checked, gc-condemned.ts): when
//      L is empty, a record whose leases are all gone has its chunks deleted — only those
//      still in this run's U — and is then deleted.
//   9. If L is empty, delete U now. Otherwise write gc/condemned-<run>.json
//      { runId, at, chunks: U, leases: ids of L } and delete none of U in this run.
//
// Why it is safe: a chunk is deleted only after the index no longer lists it (step 5, and
// step 7 for segments written meanwhile), so a backup that loads the index after step 5
// cannot dedup against it. A backup that could dedup against a chunk in U loaded its index
// before step 5, so it took its lease before step 6 (backups take the volume lease, then
// reload the index): either it still runs at step 6 — its lease is in L and nothing of U is
// deleted until that lease has ended, by which time its manifest (if it wrote one) marks
// what it used in the run that does the deleting — or it finished before step 6, and then
// its manifest exists at step 7 and is marked there. Chunks written after step 4 are never
// in U. Deleting a backup never deletes a chunk; a concurrent delete is covered by step 3.
// No clock is trusted beyond lease expiry (a lease is live until it expires or, on the
// same host, its process is gone).
//
// Interrupted at any point the vault stays consistent: before step 5 nothing was written;
// the gc segment lists only chunks that exist and stay; old segments are deleted before
// any chunk; chunks of U are named by no manifest and no index segment; a condemned record
// is deleted only after its chunks are, and a re-run redoes whatever was left.
//
// A backup that took its lease after step 6 and stores a block whose chunk is in U finds
// the object still present. It does not trust it: it rewrites the object (chunk-access.ts),
// which moves its modification time, and the sweep HEADs each object just before deleting it
// and spares any newer than when it was listed. That leaves the gap between the HEAD and the
// DELETE of one object, and a second backup that deduplicates against the rewritten chunk
// through the first one's index segment. Both are closed on the backup's side
// (engine/backup-confirm.ts): a backup that saw GC's lease held when it took its own confirms
// its dedup hits and rewritten chunks only after that GC has ended, and stores any that are
// gone again before it writes its manifest. A GC that starts later sees the backup's lease
// at step 6 and deletes nothing (steps 8 and 9 both wait for L to be empty) while it runs.
import { throwIfAborted } from '../errors.js';
import { Layout } from '../vault/layout.js';
import type { Vault } from '../vault/vault.js';
import { withOperationSignal } from '../vault/operation.js';
import { crashPoint } from './crash-points.js';
import { GcRun, type GcOptions, type GcResult } from './gc-run.js';

export type { GcOptions, GcResult };
export type { CondemnedRecord } from './gc-condemned.js';
export const GC_LEASE_SCOPE = Layout.gcLeaseScope;

export function gc(vault: Vault, opts: GcOptions = {}): Promise<GcResult> {
  return withOperationSignal(opts?.signal, () => gcInScope(vault, opts));
}

async function gcInScope(vault: Vault, opts: GcOptions = {}): Promise<GcResult> {
  throwIfAborted(opts.signal);
  if (opts.dryRun) return new GcRun(vault, undefined, opts).execute(); // reads only
  const lease = await vault.lease(GC_LEASE_SCOPE, 'gc');
  try {
    crashPoint('gc:after-lease');
    return await new GcRun(vault, lease.record.leaseId, opts).execute();
  } finally {
    await lease.release().catch(() => {});
  }
}
