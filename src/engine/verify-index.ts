// Verify's look at the chunk index: every segment must decode (its checksum holds), every
// chunk a segment lists must exist, and every chunk object should be listed by a segment.
// A damaged segment only makes the vault forget chunks (they are uploaded again) and an
// unlisted chunk is what an interrupted backup leaves (at most one index interval, see
// chunk-access.ts); a listed chunk that is gone is what issue 9.1 was about: backups confirm
// their chunks, but the vault is damaged and verify says so.
import { idToHex } from '../chunk/identity.js';
import { Layout } from '../vault/layout.js';
import type { Vault } from '../vault/vault.js';
import type { PhaseProgress } from '../metrics/phase-progress.js';

/** Chunk ids named in the report at most (the counts are exact). */
const SAMPLE = 20;

export interface IndexReport {
  segments: number;
  damagedSegments: { object: string; problem: string }[];
  /** Chunks a segment lists whose object is gone (count, and some of them). */
  listedMissing: number;
  listedMissingSample: { chunk: string; segment: string }[];
  /** Chunk objects no segment lists (count, and some of them). */
  unindexed: number;
  unindexedSample: string[];
}

/** `listed`: every chunk object (hex) the verify's listing found. */
export async function checkIndexSegments(vault: Vault, listed: ReadonlySet<string>, progress: PhaseProgress): Promise<IndexReport> {
  const keys: string[] = [];
  for await (const o of vault.meta.list(Layout.indexPrefix)) if (Layout.isIndexSegmentKey(o.key)) keys.push(o.key);
  progress.start('checkIndexSegments', keys.length);
  const report: IndexReport = { segments: 0, damagedSegments: [], listedMissing: 0, listedMissingSample: [], unindexed: 0, unindexedSample: [] };
  const indexed = new Set<string>();
  for (const key of keys.sort()) {
    const body = await vault.meta.get(key);
    progress.advance();
    if (!body) continue; // consolidated or rewritten by GC meanwhile
    report.segments++;
    let recs;
    try {
      recs = await vault.decodeIndexSegment(key, body);
    } catch (e) {
      report.damagedSegments.push({ object: key, problem: (e as Error).message });
      continue;
    }
    for (const r of recs) {
      const hex = idToHex(r.id);
      indexed.add(hex);
      if (listed.has(hex)) continue;
      report.listedMissing++;
      if (report.listedMissingSample.length < SAMPLE) report.listedMissingSample.push({ chunk: hex, segment: key });
    }
  }
  for (const hex of listed) {
    if (indexed.has(hex)) continue;
    report.unindexed++;
    if (report.unindexedSample.length < SAMPLE) report.unindexedSample.push(hex);
  }
  progress.end();
  return report;
}
