import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup, deleteBackup, gc, openVault, prune, verify } from '../../src/index.js';
import { prng, sha256File } from '../helpers/images.js';
import { buildChain, restoreAll, runScript } from './fixture.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function checkVault(vaultDir: string, chain: Awaited<ReturnType<typeof buildChain>>) {
  const vault = await openVault(vaultDir);
  try {
    const v = await verify(vault, { deep: true });
    expect(v.ok, JSON.stringify(v.damagedChunks.slice(0, 2))).toBe(true);
    return await restoreAll(vault, chain, (id, ok) => expect(ok, `restore of ${id}`).toBe(true));
  } finally {
    await vault.close();
  }
}

describe('gc', () => {
  it('reclaims what deleted backups left, nothing else; dry run changes nothing', async () => {
    const chain = await buildChain('gc-basic');
    dirs.push(chain.dir);
    const vault = await openVault(chain.vaultDir);
    try {
      expect((await gc(vault)).reclaimedObjects).toBe(0);
      await deleteBackup(vault, chain.ids[5]!); // newest: its new chunks become garbage
      await deleteBackup(vault, chain.ids[2]!); // middle: blocks its child overrides become garbage
      const dry = await gc(vault, { dryRun: true });
      expect(dry.reclaimedObjects).toBeGreaterThan(0);
      const again = await gc(vault, { dryRun: true });
      expect(again.reclaimedObjects).toBe(dry.reclaimedObjects);
      const r = await gc(vault);
      expect(r.reclaimedObjects).toBe(dry.reclaimedObjects);
      expect(r.reclaimedBytes).toBe(dry.reclaimedBytes);
      expect(r.condemned).toBe(0);
      const idx = await fs.readdir(path.join(chain.vaultDir, 'index'));
      expect(idx).toEqual([`gc-${r.runId}.idx`]);
      expect((await gc(vault)).reclaimedObjects).toBe(0);
    } finally {
      await vault.close();
    }
    await checkVault(chain.vaultDir, chain);
  });

  it('defers (condemns) while a backup runs in another process, and never sweeps what it dedups against', async () => {
    const chain = await buildChain('gc-conc', 3);
    dirs.push(chain.dir);
    const vault = await openVault(chain.vaultDir);
    try {
      const data = Buffer.alloc(8 * 65536);
      prng(4242).fill(data);
      const other = path.join(chain.dir, 'other.img');
      await fs.writeFile(other, data);
      // vol-2: back up `other`, then a different image, then delete the first: its chunks are garbage
      const g = await backup(vault, { source: other, volumeId: 'vol-2' });
      await fs.writeFile(other, Buffer.alloc(8 * 65536, 1));
      await backup(vault, { source: other, volumeId: 'vol-2' });
      await deleteBackup(vault, g.backupId);
      await fs.writeFile(other, data); // the garbage content again
      const go = path.join(chain.dir, 'go');
      const slow = runScript('slow-backup.mjs', [chain.vaultDir, 'vol-2', other, go]);
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (slow.out().includes('PAUSED')) {
            clearInterval(t);
            resolve();
          }
        }, 20);
        slow.done.then((r) => reject(new Error(`slow backup ended early: ${r.stderr}`)));
      });
      const r1 = await gc(vault);
      expect(r1.unreferenced).toBe(8);
      expect(r1.reclaimedObjects).toBe(0);
      expect(r1.condemned).toBe(8);
      expect(r1.liveLeases.length).toBe(1);
      await fs.writeFile(go, '');
      const res = await slow.done;
      expect(res.code, res.stderr).toBe(0);
      const newId = JSON.parse(res.stdout.trim().split('\n').at(-1)!).backupId as string;
      const h = (vault.refresh(), await vault.header(newId));
      expect(h.newChunkCount).toBe(0); // it deduplicated against the garbage
      const r2 = await gc(vault);
      expect(r2.reclaimedObjects).toBe(0);
      expect(r2.recordsFinished).toBe(1);
      expect(await fs.readdir(path.join(chain.vaultDir, 'gc'))).toEqual([]);
      chain.sha.set(newId, await sha256File(other));
    } finally {
      await vault.close();
    }
    const restored = await checkVault(chain.vaultDir, chain);
    expect(restored.length).toBe(5);
  });

  it('prune deletes through the merge path, oldest first', async () => {
    const chain = await buildChain('prune', 6);
    dirs.push(chain.dir);
    const vault = await openVault(chain.vaultDir);
    try {
      const dry = await prune(vault, { volumeId: 'vol-1', policy: { keepLast: 2 }, dryRun: true });
      expect(dry.removed.map((d) => d.id)).toEqual(chain.ids.slice(0, 4));
      expect(dry.deleted).toEqual([]);
      const r = await prune(vault, { volumeId: 'vol-1', policy: { keepLast: 2 } });
      expect(r.deleted.map((d) => d.backupId)).toEqual(chain.ids.slice(0, 4));
      vault.refresh();
      const left = await vault.listBackups();
      expect(left.map((h) => h.backupId)).toEqual(chain.ids.slice(4));
      expect(left[0]!.type).toBe('full');
      await gc(vault);
    } finally {
      await vault.close();
    }
    await checkVault(chain.vaultDir, chain);
  });
});

describe('crashes', () => {
  for (const step of ['delete:after-lease', 'delete:after-rewrite', 'delete:after-remove']) {
    for (const pos of [0, 3]) {
      it(`delete killed at ${step} (backup ${pos}): vault verifies, all restore, a re-run finishes`, async () => {
        const chain = await buildChain(`crash-del-${pos}`, 6, { seed: pos + 11 });
        dirs.push(chain.dir);
        const victim = chain.ids[pos]!;
        const run = await runScript('run-op.mjs', ['delete', chain.vaultDir, victim], { BLOCKVAULT_CRASH_AT: step }).done;
        expect(run.signal, run.stderr).toBe('SIGKILL');
        const present = await checkVault(chain.vaultDir, chain);
        if (present.includes(victim)) {
          const again = await runScript('run-op.mjs', ['delete', chain.vaultDir, victim]).done;
          expect(again.code, again.stderr).toBe(0);
        }
        const after = await checkVault(chain.vaultDir, chain);
        expect(after).toEqual(chain.ids.filter((id) => id !== victim));
      });
    }
  }

  for (const step of ['gc:after-lease', 'gc:after-mark', 'gc:after-segment', 'gc:after-old-segments', 'gc:mid-sweep']) {
    it(`gc killed at ${step}: vault verifies, all restore, a re-run reclaims the rest`, async () => {
      const chain = await buildChain('crash-gc', 6, { seed: 21 });
      dirs.push(chain.dir);
      const vault = await openVault(chain.vaultDir);
      let expected: number;
      try {
        await deleteBackup(vault, chain.ids[5]!);
        await deleteBackup(vault, chain.ids[4]!);
        await deleteBackup(vault, chain.ids[1]!);
        expected = (await gc(vault, { dryRun: true })).reclaimedObjects;
        expect(expected).toBeGreaterThan(1);
      } finally {
        await vault.close();
      }
      const run = await runScript('run-op.mjs', ['gc', chain.vaultDir], { BLOCKVAULT_CRASH_AT: step }).done;
      expect(run.signal, run.stderr).toBe('SIGKILL');
      await checkVault(chain.vaultDir, chain);
      const again = await runScript('run-op.mjs', ['gc', chain.vaultDir]).done;
      expect(again.code, again.stderr).toBe(0);
      const res = JSON.parse(again.stdout.trim().split('\n').at(-1)!);
      expect(res.unreferenced).toBe(res.reclaimedObjects);
      const v2 = await openVault(chain.vaultDir);
      try {
        expect((await gc(v2, { dryRun: true })).unreferenced).toBe(0);
      } finally {
        await v2.close();
      }
      await checkVault(chain.vaultDir, chain);
    });
  }

  for (const seed of [1, 2, 3, 4]) {
    it(`delete then gc SIGKILLed after a random delay (seed ${seed})`, async () => {
      const chain = await buildChain(`crash-rnd-${seed}`, 6, { seed: 30 + seed });
      dirs.push(chain.dir);
      const rnd = prng(seed);
      const victim = chain.ids[rnd.int(6)]!;
      for (const op of ['delete', 'gc'] as const) {
        const s = runScript('run-op.mjs', op === 'delete' ? ['delete', chain.vaultDir, victim] : ['gc', chain.vaultDir]);
        const delay = 80 + rnd.int(400);
        const timer = setTimeout(() => s.child.kill('SIGKILL'), delay);
        await s.done;
        clearTimeout(timer);
        await checkVault(chain.vaultDir, chain);
      }
      const present = await checkVault(chain.vaultDir, chain);
      if (present.includes(victim)) expect((await runScript('run-op.mjs', ['delete', chain.vaultDir, victim]).done).code).toBe(0);
      expect((await runScript('run-op.mjs', ['gc', chain.vaultDir]).done).code).toBe(0);
      const after = await checkVault(chain.vaultDir, chain);
      expect(after).toEqual(chain.ids.filter((id) => id !== victim));
    });
  }
});
