import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup, openVault, vaultStats, verify } from '../../src/index.js';
import { makeImage, overwrite, prng, tempDir } from '../helpers/images.js';
import { runCli } from '../helpers/cli.js';
import { BS, buildChain } from './fixture.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function walk(dir: string, rel = ''): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const k = rel ? `${rel}/${e.name}` : e.name;
    if (!rel && e.name === '.tmp') continue;
    if (e.isDirectory()) out.push(...(await walk(dir, k)));
    else out.push({ key: k, size: (await fs.stat(path.join(dir, k))).size });
  }
  return out;
}

describe('verify', () => {
  it('finds a missing chunk and a bit flip, and names the backups and offsets', async () => {
    const chain = await buildChain('verify', 4);
    dirs.push(chain.dir);
    const vault = await openVault(chain.vaultDir);
    try {
      expect((await verify(vault)).ok).toBe(true);
      expect((await verify(vault, { deep: true })).ok).toBe(true);
      // the full's block 7 (text, never changed by the fixture) is needed by every backup
      const full = await vault.readManifest(chain.ids[0]!);
      const map = await vault.blockMap(chain.ids[0]!);
      const idMissing = map.idAt(7).toString('hex');
      const idFlip = map.idAt(1).toString('hex');
      await fs.rm(path.join(chain.vaultDir, 'chunks', idMissing.slice(0, 2), idMissing));
      const flipPath = path.join(chain.vaultDir, 'chunks', idFlip.slice(0, 2), idFlip);
      const buf = await fs.readFile(flipPath);
      buf[buf.length - 10]! ^= 0x04;
      await fs.writeFile(flipPath, buf);
      expect(full.header.type).toBe('full');

      const quick = await verify(vault);
      expect(quick.ok).toBe(false);
      expect(quick.damagedChunks.map((c) => [c.chunk, c.problem])).toEqual([[idMissing, 'missing']]);
      const miss = quick.damagedChunks[0]!;
      expect(miss.object).toBe(`chunks/${idMissing.slice(0, 2)}/${idMissing}`);
      expect(miss.affected.map((a) => a.backupId).sort()).toEqual([...chain.ids].sort());
      expect(miss.affected[0]!.blocks).toEqual([{ blockIndex: 7, offset: 7 * BS }]);

      const deep = await verify(vault, { deep: true });
      const flip = deep.damagedChunks.find((c) => c.chunk === idFlip)!;
      expect(flip.problem).toBe('corrupt');
      expect(flip.affected.map((a) => a.backupId).sort()).toEqual([...chain.ids].sort());
      expect(deep.affectedBackups).toEqual([...chain.ids].sort());

      const sampled = await verify(vault, { deep: true, samplePercent: 10 });
      expect(sampled.chunksFetched).toBe(Math.ceil(((sampled.chunksReferenced - 1) * 10) / 100));

      const cli = await runCli(['verify', '--vault', chain.vaultDir, '--json']);
      expect(cli.code).toBe(3);
      expect(cli.events.at(-1)).toMatchObject({ event: 'result', ok: false });
      const human = await runCli(['verify', '--vault', chain.vaultDir, '--deep']);
      expect(human.code).toBe(3);
      expect(human.stdout).toContain(idFlip);
      expect(human.stdout).toContain(`offset ${7 * BS}`);
    } finally {
      await vault.close();
    }
  });

  it('reports a damaged manifest and the chain it breaks; exit 0 when clean', async () => {
    const chain = await buildChain('verify-m', 3);
    dirs.push(chain.dir);
    expect((await runCli(['verify', '--vault', chain.vaultDir])).code).toBe(0);
    const key = path.join(chain.vaultDir, 'manifests/vol-1', `${chain.ids[1]}.bvm`);
    const buf = await fs.readFile(key);
    buf[buf.length - 20]! ^= 1;
    await fs.writeFile(key, buf);
    const vault = await openVault(chain.vaultDir);
    try {
      const r = await verify(vault);
      expect(r.ok).toBe(false);
      expect(r.damagedManifests.map((m) => m.backupId)).toEqual([chain.ids[1]]);
      expect(r.brokenChains.map((c) => c.backupId)).toEqual([chain.ids[2]]);
      expect(r.affectedBackups).toEqual([chain.ids[1], chain.ids[2]].sort());
    } finally {
      await vault.close();
    }
  });
});

describe('stats', () => {
  it('matches hand-computed sizes', async () => {
    const dir = await tempDir('stats');
    dirs.push(dir);
    const img = path.join(dir, 'a.img');
    await makeImage(img, { blockSize: BS, seed: 5, blocks: ['random', 'random', 'random', 'random'] });
    const vault = await openVault(path.join(dir, 'v'), { create: true, blockSize: BS });
    try {
      const a = await backup(vault, { source: img, volumeId: 'vol-1' });
      const data = Buffer.alloc(BS);
      prng(99).fill(data);
      await overwrite(img, 0, data);
      const b = await backup(vault, { source: img, volumeId: 'vol-1' });
      const c = await backup(vault, { source: img, volumeId: 'vol-2' }); // same data: all dedup
      const RAW = BS + 32; // random blocks are stored uncompressed: 32-byte header + payload
      const s = await vaultStats(vault);
      const objects = await walk(path.join(dir, 'v'));
      expect(s.objectCount).toBe(objects.length);
      expect(s.usedBytes).toBe(objects.reduce((n, o) => n + o.size, 0));
      expect(s.usedMB).toBe(Math.ceil(s.usedBytes / 2 ** 20));
      expect(s.chunkObjects).toBe(5);
      expect(s.chunkBytes).toBe(5 * RAW);
      expect(s.unreferencedChunks).toBe(0);
      const v1 = s.volumes.find((v) => v.volumeId === 'vol-1')!;
      expect(v1.backupCount).toBe(2);
      expect(v1.storedBytes).toBe(5 * RAW);
      expect(v1.storedGB).toBe(1);
      const [sa, sb] = v1.backups;
      expect(sa!.backupId).toBe(a.backupId);
      // a needs c0..c3; b needs c0',c1..c3; vol-2's c needs the same as b
      expect(sa).toMatchObject({ referencedBytes: 4 * RAW, exclusiveBytes: RAW, sharedBytes: 3 * RAW, chunks: 4 });
      expect(sb).toMatchObject({ referencedBytes: 4 * RAW, exclusiveBytes: 0, sharedBytes: 4 * RAW });
      expect(sa!.chainSizeMB).toBe(Math.ceil((4 * RAW + RAW) / 2 ** 20)); // a (4 chunks) + b (1 chunk)
      const v2 = s.volumes.find((v) => v.volumeId === 'vol-2')!;
      expect(v2.backups[0]).toMatchObject({ backupId: c.backupId, exclusiveBytes: 0, sharedBytes: 4 * RAW });
      expect(b.storedBytes).toBe(RAW);
      const cli = await runCli(['stats', '--vault', path.join(dir, 'v'), '--json']);
      expect(cli.code).toBe(0);
      expect(cli.events.at(-1)).toMatchObject({ event: 'result', usedBytes: s.usedBytes, objectCount: s.objectCount });
    } finally {
      await vault.close();
    }
  });
});
