// copyBackups between local vaults: chains arrive whole and restore bit for bit, a second copy
// sends nothing (counted at the store), vaults with another key get re-identified chunks,
// and the replica rules hold (no restore and no onward copy without saying so).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyBackups, initReplica } from '../../src/engine/copy.js';
import { ErrorCodes } from '../../src/errors.js';
import { serviceFields } from '../../src/metrics/service-fields.js';
import { CountingStore } from '../../src/store/counting-store.js';
import { openStore } from '../../src/store/open-store.js';
import { Vault } from '../../src/vault/vault.js';
import { openVault, restore, verify } from '../../src/index.js';
import { sha256File } from '../helpers/images.js';
import { BS } from '../lifecycle/fixture.js';
import { chainFixture } from './chain-fixture.js';

const fx = chainFixture('copy-local', 5);
const { opened } = fx;
const vaultAt = fx.open;

const counted = async (p: string) => {
  const store = new CountingStore(await openStore(p));
  const v = await Vault.onStore(store);
  opened.push(v);
  return { v, store };
};

async function restoresExactly(v: Vault, ids: string[], opts: { allowReplica?: boolean } = {}) {
  for (const id of ids) {
    const out = path.join(fx.chain.dir, `r-${id}.img`);
    await restore(v, { backupId: id, target: out, force: true, ...opts });
    expect(await sha256File(out), `backup ${id}`).toBe(fx.chain.sha.get(id));
    await fs.rm(out);
  }
}

describe('copy into a replica (same chunk-id key)', () => {
  let replicaDir = '';

  it('copies a 5-backup chain, verbatim, and every point restores bit-exact from the copy', async () => {
    const src = await vaultAt(fx.chain.vaultDir);
    replicaDir = path.join(fx.chain.dir, 'replica');
    const dst = await initReplica(src, replicaDir);
    opened.push(dst);
    const r = await copyBackups(src, dst, { all: true });
    expect(r.mode).toBe('verbatim');
    expect(r.copied).toEqual(fx.chain.ids);
    expect(r.counters.manifestsWritten).toBe(5);
    expect(r.counters.chunksSent).toBeGreaterThan(0);
    expect(r.records.map((x) => [x.source_backup_id, x.status, x.extra_info.progress, x.extra_info.fail_code])).toEqual(
      fx.chain.ids.map((id) => [id, 'success', 100, '']),
    );
    expect(r.records[0]!.destination_vault_id).toBe(dst.config.vaultId);
    expect(r.records[0]!.vault_id).toBe(src.config.vaultId);
    await restoresExactly(dst, fx.chain.ids, { allowReplica: true });
    expect((await verify(dst, { deep: true })).ok).toBe(true);
  });

  it('marks copies as replicas with their source, and produces ST 4 and image_type replication', async () => {
    const dst = await vaultAt(replicaDir);
    const src = await vaultAt(fx.chain.vaultDir);
    const h = await dst.header(fx.chain.ids[2]!);
    expect(h.origin).toMatchObject({ kind: 'replica', sourceVaultId: src.config.vaultId, sourceBackupId: fx.chain.ids[2], serviceType: 4 });
    const srcHeader = await src.header(fx.chain.ids[2]!);
    expect({ ...h, origin: undefined }).toEqual({ ...srcHeader, origin: undefined });
    const f = serviceFields(h, { chain: [h], hasDependents: true, manifestKey: dst.manifestKey(h.volumeId, h.backupId), vaultUrl: dst.url });
    expect(f.image_type).toBe('replication');
    expect(JSON.parse(f.service_metadata).ST).toBe(4);
    const orig = serviceFields(srcHeader, { chain: [srcHeader], hasDependents: true, manifestKey: '', vaultUrl: src.url });
    expect(orig.image_type).toBe('backup');
    expect(JSON.parse(orig.service_metadata).ST).toBeUndefined();
  });

  it('a replica is not restored unless allowed (BackupService.2004)', async () => {
    const dst = await vaultAt(replicaDir);
    const out = path.join(fx.chain.dir, 'refused.img');
    await expect(restore(dst, { backupId: fx.chain.ids[0]!, target: out })).rejects.toMatchObject({
      code: ErrorCodes.badInput,
      details: { serviceCode: 'BackupService.2004' },
    });
    await expect(fs.stat(out)).rejects.toThrow();
  });

  it('a second copy of the same backups sends nothing: no chunk read, no write at either end', async () => {
    const a = await counted(fx.chain.vaultDir);
    const b = await counted(replicaDir);
    const r = await copyBackups(a.v, b.v, { all: true });
    expect(r.copied).toEqual([]);
    expect(r.present).toHaveLength(5);
    expect(r.counters.chunksSent).toBe(0);
    expect(r.records.every((x) => x.status === 'success')).toBe(true);
    expect(b.store.counts.put + b.store.counts.putIfAbsent + b.store.counts.delete).toBe(0);
    expect(a.store.gotten.filter((k) => k.startsWith('chunks/'))).toEqual([]);
    expect(b.store.gotten.filter((k) => k.startsWith('chunks/'))).toEqual([]);
    expect(b.store.counts.head + a.store.counts.head).toBe(0);
  });

  it('a replica is not copied onward (BackupService.1002) unless allowed; then its first origin stays', async () => {
    const rep = await vaultAt(replicaDir);
    const onward = await initReplica(rep, path.join(fx.chain.dir, 'onward'));
    opened.push(onward);
    await expect(copyBackups(rep, onward, { backupIds: [fx.chain.ids[1]!] })).rejects.toMatchObject({
      code: ErrorCodes.badInput,
      details: { serviceCode: 'BackupService.1002' },
    });
    expect(await onward.listBackups()).toEqual([]);
    const r = await copyBackups(rep, onward, { backupIds: [fx.chain.ids[1]!], allowReplicaSource: true });
    expect(r.copied).toEqual(fx.chain.ids.slice(0, 2));
    const src = await vaultAt(fx.chain.vaultDir);
    expect((await onward.header(fx.chain.ids[1]!)).origin).toMatchObject({ kind: 'replica', sourceVaultId: src.config.vaultId });
  });
});

describe('copy between vaults with different keys', () => {
  it('re-identifies every block, copies incrementally, and restores bit-exact', async () => {
    const src = await vaultAt(fx.chain.vaultDir);
    const other = await vaultAt(path.join(fx.chain.dir, 'other'), true);
    expect(other.chunkCodec.hashKey.equals(src.chunkCodec.hashKey)).toBe(false);
    // First the chain up to the third backup, then the rest: the second run sends only theirs.
    const first = await copyBackups(src, other, { backupIds: [fx.chain.ids[2]!] });
    expect(first.mode).toBe('reidentify');
    expect(first.copied).toEqual(fx.chain.ids.slice(0, 3));
    const second = await copyBackups(src, other, { volumeId: 'vol-1' });
    expect(second.copied).toEqual(fx.chain.ids.slice(3));
    expect(second.present).toContain(fx.chain.ids[2]);
    // Ids differ from the source's, and the entries still resolve to the same data.
    const ms = await src.readManifest(fx.chain.ids[4]!);
    const mo = await other.readManifest(fx.chain.ids[4]!);
    expect(mo.entries.equals(ms.entries)).toBe(false);
    await restoresExactly(other, fx.chain.ids, { allowReplica: true });
    expect((await verify(other, { deep: true })).ok).toBe(true);
    const again = await copyBackups(src, other, { all: true });
    expect(again.counters.chunksConsidered).toBe(0);
  });

  it('refuses vaults of different block sizes, and a selection that is not exactly one kind', async () => {
    const src = await vaultAt(fx.chain.vaultDir);
    const big = await openVault(path.join(fx.chain.dir, 'big'), { create: true, blockSize: BS * 2 });
    opened.push(big);
    await expect(copyBackups(src, big, { all: true })).rejects.toMatchObject({ code: ErrorCodes.badInput, message: expect.stringMatching(/same block size/) });
    await expect(copyBackups(src, big, {})).rejects.toMatchObject({ code: ErrorCodes.badInput });
    await expect(copyBackups(src, big, { all: true, volumeId: 'vol-1' })).rejects.toMatchObject({ code: ErrorCodes.badInput });
    await expect(copyBackups(src, src, { all: true, concurrency: 0 })).rejects.toMatchObject({ code: ErrorCodes.badInput, message: expect.stringMatching(/concurrency/) });
    await expect(copyBackups(src, src, { all: true, limitBytesPerSec: -1 })).rejects.toMatchObject({ code: ErrorCodes.badInput, message: expect.stringMatching(/limitBytesPerSec/) });
  });
});

describe('copy concurrency, progress and cancellation', () => {
  /** A store that remembers how many chunk PUTs it had in flight at once. */
  class InFlight extends CountingStore {
    now = 0;
    peak = 0;
    override async put(key: string, body: Buffer, opts?: Parameters<CountingStore['put']>[2]): Promise<boolean> {
      if (!key.startsWith('chunks/')) return super.put(key, body, opts);
      this.peak = Math.max(this.peak, ++this.now);
      try {
        await new Promise((r) => setTimeout(r, 5));
        return await super.put(key, body, opts);
      } finally {
        this.now--;
      }
    }
  }

  it('keeps at most `concurrency` chunk writes in flight, and reports progress up to 100 with the records', async () => {
    const src = await vaultAt(fx.chain.vaultDir);
    const dir = path.join(fx.chain.dir, 'bounded');
    await (await initReplica(src, dir)).close();
    const store = new InFlight(await openStore(dir));
    const dst = await Vault.onStore(store);
    opened.push(dst);
    const events: any[] = [];
    await copyBackups(src, dst, { all: true, concurrency: 3, progressIntervalMs: 1, onProgress: (e) => events.push(e) });
    expect(store.peak).toBeLessThanOrEqual(3);
    expect(store.peak).toBeGreaterThan(1);
    expect(events.length).toBeGreaterThan(0);
    const p = events.map((e) => e.progress);
    expect(p).toEqual([...p].sort((a, b) => a - b));
    expect(events.at(-1)).toMatchObject({ op: 'copy', progress: 100, backupsDone: 5, backupsTotal: 5 });
    expect(events.at(-1).records.map((r: any) => r.status)).toEqual(Array(5).fill('success'));
  });

  it('a cancelled copy stops with BV.Aborted, shows nothing half-made, and its records say why', async () => {
    const src = await vaultAt(fx.chain.vaultDir);
    const dst = await initReplica(src, path.join(fx.chain.dir, 'cancelled'));
    opened.push(dst);
    const ac = new AbortController();
    const copying = copyBackups(src, dst, { all: true, signal: ac.signal, limitBytesPerSec: 64 * 1024, concurrency: 1 });
    setTimeout(() => ac.abort(new Error('operator stop')), 300);
    const err = await copying.then(() => undefined, (e) => e);
    expect(err?.code).toBe(ErrorCodes.aborted);
    const visible = (await dst.listBackups()).map((h) => h.backupId);
    expect(visible).toEqual(fx.chain.ids.slice(0, visible.length));
    expect(visible.length).toBeLessThan(5);
    const records = err.details.replicationRecords as any[];
    expect(records.filter((r) => r.status === 'failed').length).toBe(5 - visible.length);
    expect((await verify(dst, { deep: true })).ok).toBe(true);
  });
});

