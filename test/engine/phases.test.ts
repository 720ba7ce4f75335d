// Issue 10 scope 3 and issue 9.10: gc, verify, stats, delete and prune report named phases
// through the backup's ProgressEvent; gc refuses a malformed condemned record by name; verify
// reports damaged or missing index segments.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, deleteBackup, gc, openVault, prune, vaultStats, verify, type ProgressEvent } from '../../src/index.js';
import { Layout } from '../../src/vault/layout.js';
import { makeImage, overwrite, prng, tempDir } from '../helpers/images.js';

const BS = 65536;
let dir: string;
beforeAll(async () => {
  dir = await tempDir('phases');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function chain(name: string, n = 3) {
  const vaultDir = path.join(dir, name);
  const image = path.join(dir, `${name}.img`);
  await makeImage(image, { blockSize: BS, seed: 9, blocks: ['random', 'text', 'random', 'zeros'] });
  const vault = await openVault(vaultDir, { create: true, blockSize: BS });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i) {
      const d = Buffer.alloc(BS);
      prng(i).fill(d);
      await overwrite(image, (i % 3) * BS, d);
    }
    ids.push((await backup(vault, { source: image, volumeId: 'p' })).backupId);
  }
  return { vaultDir, vault, ids };
}

/** The phases seen, in order of first appearance, and whether each ended with done = total. */
function phases(events: ProgressEvent[]): { name: string; ended: boolean }[] {
  const out: { name: string; ended: boolean }[] = [];
  for (const e of events) {
    if (!e.phase) continue;
    let p = out.find((x) => x.name === e.phase!.name);
    if (!p) out.push((p = { name: e.phase.name, ended: false }));
    if (e.phase.done === e.phase.total) p.ended = true;
  }
  return out;
}

describe('named phases report progress', () => {
  it('gc, verify, stats, delete and prune', async () => {
    const { vault, ids } = await chain('ph');
    try {
      const ev: Record<string, ProgressEvent[]> = { gc: [], verify: [], stats: [], delete: [], prune: [] };
      const on = (k: string) => ({ onProgress: (e: ProgressEvent) => ev[k]!.push(e), intervalMs: 0 });
      await deleteBackup(vault, ids[1]!, on('delete'));
      await gc(vault, on('gc'));
      await verify(vault, { deep: true, ...on('verify') });
      await vaultStats(vault, on('stats'));
      await prune(vault, { volumeId: 'p', policy: { keepLast: 1 }, ...on('prune') });
      expect(phases(ev.gc!)).toEqual(
        ['snapshotSegments', 'mark', 'listChunks', 'rewriteIndex', 'snapshotLeases', 'closeWindows', 'finishCondemned', 'sweepOrCondemn'].map((name) => ({ name, ended: true })),
      );
      expect(phases(ev.verify!).map((p) => p.name)).toEqual(['readManifests', 'resolveChains', 'checkSizes', 'deepCheck', 'checkIndexSegments', 'mapDamage']);
      expect(phases(ev.stats!).map((p) => p.name)).toEqual(['listObjects', 'resolveChains', 'countNamed']);
      expect(phases(ev.delete!).map((p) => p.name)).toEqual(['mergeIntoChildren', 'removeManifest']);
      expect(phases(ev.prune!).map((p) => p.name)).toEqual(['deleteBackups']);
      for (const k of Object.keys(ev)) for (const e of ev[k]!) expect(e.op).toBe(k);
      const mark = ev.gc!.filter((e) => e.phase?.name === 'mark').at(-1)!;
      expect(mark.phase).toEqual({ name: 'mark', done: 2, total: 2 }); // two manifests left
      const pruned = ev.prune!.at(-1)!;
      expect(pruned.phase).toEqual({ name: 'deleteBackups', done: 1, total: 1 });
    } finally {
      await vault.close();
    }
  });
});

describe('gc condemned records', () => {
  it('refuses a malformed record, naming the object', async () => {
    const { vault } = await chain('cond', 1);
    try {
      const key = Layout.condemnedKey('20260101T000000000Z-bad');
      await vault.meta.put(key, Buffer.from(JSON.stringify({ runId: 'x', at: 'y', chunks: ['not-hex'], leases: [] })));
      const err = await gc(vault).catch((e) => e);
      expect(err.code).toBe('BV.VaultDamaged');
      expect(err.message).toContain(key);
      expect(err.message).toContain('chunks');
      expect(err.details.object).toBe(key);
    } finally {
      await vault.close();
    }
  });
});

describe('verify and the chunk index', () => {
  it('reports a damaged segment, a segment listing a missing chunk, and chunks no segment lists', async () => {
    const { vaultDir, vault, ids } = await chain('idx', 2);
    try {
      const clean = await verify(vault, { deep: true });
      expect(clean.ok).toBe(true);
      expect(clean.index).toMatchObject({ segments: 2, damagedSegments: [], listedMissing: 0, unindexed: 0 });

      const segs = (await fs.readdir(path.join(vaultDir, 'index'))).sort();
      const first = path.join(vaultDir, 'index', segs.find((s) => s.startsWith(ids[0]!))!);
      const body = await fs.readFile(first);
      body[14]! ^= 1;
      await fs.writeFile(first, body);
      const damaged = await verify(vault, { deep: true });
      expect(damaged.ok).toBe(false);
      expect(damaged.index.damagedSegments).toEqual([{ object: `index/${path.basename(first)}`, problem: 'chunk index segment is damaged' }]);
      expect(damaged.index.unindexed).toBe(3); // the first backup's chunks are listed nowhere now

      await fs.rm(first);
      const gone = await verify(vault);
      expect(gone.index.damagedSegments).toEqual([]);
      expect(gone.index.unindexed).toBe(3); // a deleted segment shows as unindexed chunks
      expect(gone.ok).toBe(true); // every backup still restores

      // a chunk the second segment lists is lost
      const map = await vault.blockMap(ids[1]!);
      let victim: Buffer | undefined;
      for (let i = 0; i < map.blockCount && !victim; i++) if (map.hasChunk(i)) victim = Buffer.from(map.idAt(i));
      await fs.rm(path.join(vaultDir, Layout.chunkKey(victim!)));
      const lost = await verify(vault, { deep: true });
      expect(lost.ok).toBe(false);
      expect(lost.damagedChunks.map((d) => d.problem)).toContain('missing');
    } finally {
      await vault.close();
    }
  });

  it('names a listed chunk whose object is gone', async () => {
    const { vaultDir, vault, ids } = await chain('idx2', 1);
    try {
      const map = await vault.blockMap(ids[0]!);
      const victim = Buffer.from(map.idAt(0));
      await deleteBackup(vault, ids[0]!); // no backup needs it now: only the index names it
      await fs.rm(path.join(vaultDir, Layout.chunkKey(victim)));
      const r = await verify(vault);
      expect(r.damagedChunks).toEqual([]);
      expect(r.ok).toBe(false);
      expect(r.index.listedMissing).toBe(1);
      expect(r.index.listedMissingSample[0]!.chunk).toBe(victim.toString('hex'));
      expect(r.index.listedMissingSample[0]!.segment).toMatch(new RegExp(`^index/${ids[0]}-0000\\.idx$`));
    } finally {
      await vault.close();
    }
  });
});
