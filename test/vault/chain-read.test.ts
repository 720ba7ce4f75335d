// A chain's manifests are read ahead, several at a time, as the catalog's headers predict the
// chain; the walk still follows each manifest's own parent. A delete that rewrote a child
// since the headers were read changes the chain: the walk must take the rewritten parent and
// drop the read it no longer needs, without an unhandled rejection.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Manifest, ManifestHeader } from '../../src/vault/manifest.js';
import { predictedChain, readingAhead, walkChain } from '../../src/vault/vault-chains.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backup, deleteBackup, openVault } from '../../src/index.js';
import { makeImage, tempDir } from '../helpers/images.js';

const manifest = (backupId: string, parentId: string | null) => ({ header: { backupId, parentId } as ManifestHeader, entries: [] }) as unknown as Manifest;
const headersOf = (...ms: Manifest[]) => new Map(ms.map((m) => [m.header.backupId, { header: m.header }]));

describe('reading a chain ahead', () => {
  it('predicts the chain from the headers, stopping at a loop or a missing parent', () => {
    const h = headersOf(manifest('c', 'b'), manifest('b', 'a'), manifest('a', null));
    expect(predictedChain(h, 'c')).toEqual(['c', 'b', 'a']);
    expect(predictedChain(headersOf(manifest('c', 'b')), 'c')).toEqual(['c']);
    expect(predictedChain(headersOf(manifest('x', 'y'), manifest('y', 'x')), 'x')).toEqual(['x', 'y']);
    expect(predictedChain(h, 'gone')).toEqual([]);
  });

  it('reads up to `parallel` manifests at once, and the walk gets them all in order', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `b${i}`);
    const store = new Map(ids.map((id, i) => [id, manifest(id, i + 1 < ids.length ? ids[i + 1]! : null)]));
    let inFlight = 0;
    let most = 0;
    const read = async (id: string) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await sleep(2);
      inFlight--;
      return store.get(id)!;
    };
    const chain = await walkChain('b0', readingAhead(ids, read, 8));
    expect(chain.map((m) => m.header.backupId)).toEqual(ids);
    expect(most).toBe(8); // ahead of the walk, which alone would keep one in flight
  });

  it('follows a rewritten parent, reads an id it did not predict, and drops a failed read it never needs', async () => {
    // Headers said c → b → a; then b was deleted and c rewritten to name a. A second chain
    // names z, which the prediction did not hold.
    const store = new Map([
      ['c', manifest('c', 'a')],
      ['a', manifest('a', 'z')],
      ['z', manifest('z', null)],
    ]);
    const asked: string[] = [];
    const read = async (id: string) => {
      asked.push(id);
      await sleep(1);
      const m = store.get(id);
      if (!m) throw new Error(`${id} is gone`);
      return m;
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const chain = await walkChain('c', readingAhead(['c', 'b', 'a'], read, 4));
      expect(chain.map((m) => m.header.backupId)).toEqual(['c', 'a', 'z']);
      expect(asked.sort()).toEqual(['a', 'b', 'c', 'z']);
      await sleep(10);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a vault whose headers were read before a delete still reads the right chain', async () => {
    const dir = await tempDir('chain-read');
    const img = path.join(dir, 'disk.img');
    const url = `mem://chain-read-${process.pid}`;
    const BS = 64 * 1024;
    const writer = await openVault(url, { create: true, blockSize: BS });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      await makeImage(img, { blocks: ['random', 'random', 'random', 'random'], blockSize: BS, seed: 1 + i });
      ids.push((await backup(writer, { source: img, volumeId: 'v' })).backupId);
    }
    const reader = await openVault(url);
    expect((await reader.listBackups()).map((h) => h.backupId)).toEqual(ids); // predicts ids[2] in the chain
    await deleteBackup(await openVault(url), ids[2]!); // merges it into ids[3], which now names ids[1]
    const chain = await reader.chain(ids[3]!);
    expect(chain.map((m) => m.header.backupId)).toEqual([ids[3], ids[1], ids[0]]);
    const fresh = await (await openVault(url)).chain(ids[3]!);
    expect(chain.map((m) => m.entries.length)).toEqual(fresh.map((m) => m.entries.length));
    await fs.rm(dir, { recursive: true, force: true });
  });
});
