// End-to-end through the library API on a local vault: what issue 2 promises a user.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { truncateSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backup, listBackups, openVault, restore, showBackup, type ProgressEvent } from '../../src/index.js';
import { BlockvaultError } from '../../src/errors.js';
import { alignedMemoryAvailable } from '../../src/native/direct-io.js';
import { ImageFileSource } from '../../src/source/image-source.js';
import { allocatedBytes, makeImage, overwrite, prng, sha256File, tempDir, textLike, type Kind } from '../helpers/images.js';
import { coreScenarios } from './scenarios.js';

const BS = 64 * 1024; // small blocks keep the images small and the suite fast
let dir: string;

beforeAll(async () => {
  dir = await tempDir('engine');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function freshVault(name: string) {
  return openVault(path.join(dir, name), { create: true, blockSize: BS });
}

async function roundTrip(name: string, blocks: Kind[], shortBy = 0) {
  const img = path.join(dir, `${name}.img`);
  await makeImage(img, { blocks, blockSize: BS, seed: blocks.length + shortBy, shortBy });
  const vault = await freshVault(`${name}-vault`);
  const b = await backup(vault, { source: img, volumeId: name });
  const out = path.join(dir, `${name}.out`);
  const r = await restore(vault, { backupId: b.backupId, target: out });
  expect(await sha256File(out)).toBe(await sha256File(img));
  expect((await fs.stat(out)).size).toBe((await fs.stat(img)).size);
  await vault.close();
  return { b, r, img, out };
}

describe('backup and restore of image files', () => {
  it('restores a mixed image bit-exact; stores no zero block and each distinct block once', async () => {
    const blocks: Kind[] = ['random', 'hole', 'text', 'zeros', 'repeat', 'random', 'repeat', 'text', 'hole', 'random'];
    const { b } = await roundTrip('mixed', blocks);
    // 'repeat' blocks copy an earlier data block: distinct data blocks are the random and text ones.
    expect(b.newChunkCount).toBe(5);
    expect(b.chunkCount).toBe(5);
    expect(b.counters.blocksZero).toBe(3);
    expect(b.counters.blocksDeduplicated).toBe(2);
    expect(b.counters.bytesSparse).toBe(2 * BS); // the two holes were never read
    expect(b.counters.bytesRead).toBe(8 * BS);
    expect(b.counters.bytesCompressedOut).toBeLessThan(b.counters.bytesCompressedIn); // text compressed
    expect(b.type).toBe('full');
  });

  it('handles a size that is not a multiple of the block size', async () => {
    const { b, r } = await roundTrip('odd', ['random', 'text', 'random'], 12345);
    expect(b.volumeSize).toBe(3 * BS - 12345);
    // Straight to disk but for the last 4 KiB-unaligned tail, which goes through the page cache.
    const tail = b.volumeSize % 4096;
    expect(r.counters.bytesDirect).toBe(alignedMemoryAvailable ? b.volumeSize - tail : 0);
  });

  it('writes through the page cache when asked (directIo: false), the same bytes', async () => {
    const img = path.join(dir, 'cached.img');
    await makeImage(img, { blocks: ['text', 'random', 'hole', 'text'], blockSize: BS, seed: 9, shortBy: 100 });
    const vault = await freshVault('cached-vault');
    const b = await backup(vault, { source: img, volumeId: 'cached' });
    const out = path.join(dir, 'cached.out');
    const r = await restore(vault, { backupId: b.backupId, target: out, directIo: false });
    expect(r.counters.bytesDirect).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(img));
    await vault.close();
  });

  it('handles empty and 1-byte images', async () => {
    const empty = path.join(dir, 'empty.img');
    await fs.writeFile(empty, '');
    const one = path.join(dir, 'one.img');
    await fs.writeFile(one, 'x');
    const vault = await freshVault('tiny');
    for (const [img, size] of [
      [empty, 0],
      [one, 1],
    ] as const) {
      const b = await backup(vault, { source: img, volumeId: `v${size}` });
      expect(b.volumeSize).toBe(size);
      const out = `${img}.out`;
      await restore(vault, { backupId: b.backupId, target: out });
      expect(await fs.readFile(out)).toEqual(await fs.readFile(img));
    }
    await vault.close();
  });

  it('keeps holes as holes on restore', async () => {
    const { out, img } = await roundTrip('holes', ['random', 'hole', 'hole', 'hole', 'hole', 'hole', 'text']);
    expect(await allocatedBytes(out)).toBeLessThanOrEqual((await allocatedBytes(img)) + BS);
    expect(await allocatedBytes(out)).toBeLessThan(4 * BS);
  });

  it('deduplicates across volumes of one vault (clones share their blocks)', async () => {
    const img = path.join(dir, 'clone.img');
    await makeImage(img, { blocks: ['random', 'text', 'random'], blockSize: BS, seed: 77 });
    const vault = await freshVault('clones');
    const a = await backup(vault, { source: img, volumeId: 'vol-a' });
    const b = await backup(vault, { source: img, volumeId: 'vol-b' });
    expect(a.newChunkCount).toBe(3);
    expect(b.newChunkCount).toBe(0);
    expect(b.type).toBe('full');
    expect(b.counters.bytesDeduplicated).toBe(3 * BS);
    await vault.close();
  });
});

describe('who reads an image file', () => {
  const blocks: Kind[] = Array.from({ length: 24 }, (_, i) => (['random', 'hole', 'text', 'zeros', 'repeat', 'text'] as Kind[])[i % 6]!);

  it('the worker threads read its blocks themselves (and so does the inline path): the main thread reads none', async () => {
    const img = path.join(dir, 'planned.img');
    await makeImage(img, { blocks, blockSize: BS, seed: 41, shortBy: 999 });
    const sha = await sha256File(img);
    const mainThreadReads = vi.spyOn(ImageFileSource.prototype, 'read');
    try {
      for (const workers of [2, 0]) {
        const vault = await freshVault(`planned-${workers}`);
        const b = await backup(vault, { source: img, volumeId: 'p', workers });
        expect(mainThreadReads, `workers: ${workers}`).not.toHaveBeenCalled();
        expect(b.counters.bytesSparse).toBe(4 * BS); // the four holes, never read
        expect(b.counters.bytesRead).toBe(b.volumeSize - 4 * BS);
        expect(b.counters.blocksZero).toBe(8);
        const out = path.join(dir, `planned-${workers}.out`);
        await restore(vault, { backupId: b.backupId, target: out });
        expect(await sha256File(out)).toBe(sha);
        await vault.close();
      }
      // A read limit counts the bytes as they are read: those reads stay on the main thread.
      const limited = await freshVault('planned-limited');
      await backup(limited, { source: img, volumeId: 'p', limitReadBytesPerSec: 1024 ** 3 });
      expect(mainThreadReads).toHaveBeenCalled();
      await limited.close();
    } finally {
      mainThreadReads.mockRestore();
    }
  });

  it('an image that shrinks once opened fails as input changed at the offset it ended, and nothing is visible', async () => {
    const img = path.join(dir, 'shrink.img');
    for (const workers of [2, 0]) {
      await makeImage(img, { blocks: Array.from({ length: 64 }, () => 'random' as Kind), blockSize: BS, seed: 43 });
      const vault = await freshVault(`shrink-${workers}`);
      // Opened (its data ranges mapped) while whole, then cut: the reads past the cut find the end.
      const opened = await ImageFileSource.open(img);
      truncateSync(img, 8 * BS);
      const err = await backup(vault, { source: img, openedSource: opened, volumeId: 's', workers }).catch((e) => e);
      await opened.close();
      expect(err.code, `workers: ${workers}`).toBe('BV.InputChanged');
      // Lanes read in parallel: the first to fail names the start of a block past the new end.
      const m = /changed during the backup: it ended at offset (\d+), before its size at open \((\d+)\)/.exec(err.message);
      expect(m, err.message).not.toBeNull();
      expect(Number(m![1]) % BS).toBe(0);
      expect(Number(m![1])).toBeGreaterThanOrEqual(8 * BS);
      expect(Number(m![2])).toBe(64 * BS);
      expect(await listBackups(vault)).toEqual([]);
      await vault.close();
    }
  });
});

describe('incremental chains', () => {
  it('stores only changed blocks, and every point of a 5-backup chain restores bit-exact', async () => {
    const img = path.join(dir, 'chain.img');
    const blocks: Kind[] = Array.from({ length: 32 }, (_, i) => (['random', 'text', 'hole', 'random'] as Kind[])[i % 4]!);
    await makeImage(img, { blocks, blockSize: BS, seed: 5 });
    const vault = await freshVault('chain');
    const rnd = prng(99);
    const points: { id: string; sha: string }[] = [];
    for (let n = 0; n < 5; n++) {
      if (n > 0) {
        // change two blocks: one partially, one into a new text block
        await overwrite(img, rnd.int(32) * BS + 100, Buffer.from(`change ${n}`));
        await overwrite(img, ((n * 7) % 32) * BS, textLike(BS, rnd));
      }
      const b = await backup(vault, { source: img, volumeId: 'chain' });
      if (n === 0) expect(b.type).toBe('full');
      else {
        expect(b.type).toBe('incremental');
        expect(b.parentId).toBe(points[n - 1]!.id);
        expect(b.newChunkCount).toBeLessThanOrEqual(2);
        expect(b.counters.blocksUnchanged).toBeGreaterThanOrEqual(24 - 2 - 8);
      }
      points.push({ id: b.backupId, sha: await sha256File(img) });
    }
    for (const [i, p] of points.entries()) {
      const out = path.join(dir, `chain-${i}.out`);
      await restore(vault, { backupId: p.id, target: out });
      expect(await sha256File(out), `point ${i}`).toBe(p.sha);
    }
    await vault.close();
  });

  it('records a block that became zero, and --full forces a full backup', async () => {
    const img = path.join(dir, 'tozero.img');
    await makeImage(img, { blocks: ['random', 'random', 'text'], blockSize: BS, seed: 8 });
    const vault = await freshVault('tozero');
    await backup(vault, { source: img, volumeId: 'z' });
    await overwrite(img, BS, Buffer.alloc(BS));
    const inc = await backup(vault, { source: img, volumeId: 'z' });
    expect(inc.type).toBe('incremental');
    expect(inc.newChunkCount).toBe(0);
    const out = path.join(dir, 'tozero.out');
    await restore(vault, { backupId: inc.backupId, target: out });
    expect(await sha256File(out)).toBe(await sha256File(img));
    const full = await backup(vault, { source: img, volumeId: 'z', full: true });
    expect(full.type).toBe('full');
    expect(full.parentId).toBeNull();
    expect(full.requestedType).toBe('full');
    await vault.close();
  });

  it('follows a volume that grows and shrinks', async () => {
    const img = path.join(dir, 'resize.img');
    await makeImage(img, { blocks: ['random', 'text', 'random'], blockSize: BS, seed: 9 });
    const vault = await freshVault('resize');
    await backup(vault, { source: img, volumeId: 'r' });
    await fs.appendFile(img, textLike(BS + 500, prng(2)));
    const grown = await backup(vault, { source: img, volumeId: 'r' });
    const grownSha = await sha256File(img);
    await fs.truncate(img, BS + 77);
    const shrunk = await backup(vault, { source: img, volumeId: 'r' });
    for (const [b, sha] of [
      [grown, grownSha],
      [shrunk, await sha256File(img)],
    ] as const) {
      const out = path.join(dir, `resize-${b.backupId}.out`);
      await restore(vault, { backupId: b.backupId, target: out });
      expect(await sha256File(out)).toBe(sha);
    }
    await vault.close();
  });
});

describe('a sparse 64 GiB image', () => {
  it('backs up and restores in seconds with a small vault', async () => {
    const img = path.join(dir, 'sparse64.img');
    await fs.writeFile(img, '');
    await fs.truncate(img, 64 * 1024 ** 3);
    const rnd = prng(64);
    const spots = [0, 7 * 1024 ** 3 + 12345, 33 * 1024 ** 3, 64 * 1024 ** 3 - 3 * 1024 * 1024];
    for (const at of spots) {
      const data = Buffer.alloc(1024 * 1024);
      rnd.fill(data);
      await overwrite(img, at, data);
    }
    const vaultDir = path.join(dir, 'sparse-vault');
    const vault = await openVault(vaultDir, { create: true }); // default 4 MiB blocks
    const t0 = Date.now();
    const b = await backup(vault, { source: img, volumeId: 'sparse' });
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(b.counters.bytesRead).toBeLessThanOrEqual(spots.length * 2 * 1024 * 1024);
    expect(b.newStoredBytes).toBeLessThan(10 * 1024 * 1024);
    const out = path.join(dir, 'sparse64.out');
    await restore(vault, { backupId: b.backupId, target: out });
    expect((await fs.stat(out)).size).toBe(64 * 1024 ** 3);
    expect(await allocatedBytes(out)).toBeLessThan(32 * 1024 * 1024);
    // compare the data spots (reading 64 GiB of holes would be slow and prove nothing more)
    const a = await fs.open(img, 'r');
    const o = await fs.open(out, 'r');
    for (const at of spots) {
      const x = Buffer.alloc(2 * 1024 * 1024);
      const y = Buffer.alloc(2 * 1024 * 1024);
      await a.read(x, 0, x.length, Math.max(0, at - 512 * 1024));
      await o.read(y, 0, y.length, Math.max(0, at - 512 * 1024));
      expect(x.equals(y)).toBe(true);
    }
    await a.close();
    await o.close();
    await vault.close();
    await fs.rm(out);
  });
});

describe('damage is detected, never restored', () => {
  it('names the backup, block and offset of a flipped byte and of a missing chunk', async () => {
    const img = path.join(dir, 'damage.img');
    await makeImage(img, { blocks: ['random', 'random', 'random'], blockSize: BS, seed: 11 });
    const vaultDir = path.join(dir, 'damage-vault');
    const vault = await freshVault('damage-vault');
    const b = await backup(vault, { source: img, volumeId: 'd' });
    const rec = await showBackup(vault, b.backupId);
    expect(rec.chunkCount).toBe(3);
    const chunkFiles: string[] = [];
    for await (const o of vault.meta.list('chunks/')) chunkFiles.push(path.join(vaultDir, o.key));
    const victim = chunkFiles[0]!;
    const good = await fs.readFile(victim);
    const bad = Buffer.from(good);
    bad[bad.length - 100]! ^= 0x04;
    await fs.writeFile(victim, bad);
    const out = path.join(dir, 'damage.out');
    const err = await restore(vault, { backupId: b.backupId, target: out }).catch((e) => e);
    expect(err).toBeInstanceOf(BlockvaultError);
    expect(err.code).toBe('BV.CorruptChunk');
    expect(err.message).toMatch(new RegExp(`block \\d+ \\(offset \\d+\\) of backup ${b.backupId}`));
    expect(err.details.object).toBe(path.relative(vaultDir, victim));
    await expect(fs.stat(out)).rejects.toThrow(); // nothing half-written became visible
    expect((await fs.readdir(dir)).filter((f) => f.includes('damage.out'))).toEqual([]);

    // same bytes, but a different (valid-looking) block in its place: identity check catches it
    await fs.writeFile(victim, await fs.readFile(chunkFiles[1]!));
    const err2 = await restore(vault, { backupId: b.backupId, target: out }).catch((e) => e);
    expect(err2.code).toBe('BV.CorruptChunk');
    expect(err2.message).toMatch(/does not match its identity/);

    await fs.rm(victim);
    const err3 = await restore(vault, { backupId: b.backupId, target: out }).catch((e) => e);
    expect(err3.code).toBe('BV.MissingChunk');
    expect(err3.message).toMatch(/is missing from the vault/);
    await vault.close();
  });
});

describe('cancellation and input changes', () => {
  it('a cancelled backup leaves no backup, and the next run completes reusing its chunks', async () => {
    const img = path.join(dir, 'cancel.img');
    await makeImage(img, { blocks: Array.from({ length: 400 }, () => 'random' as Kind), blockSize: BS, seed: 12 });
    const vault = await freshVault('cancel');
    const ac = new AbortController();
    const err = await backup(vault, {
      source: img,
      volumeId: 'c',
      signal: ac.signal,
      everyBytes: 1,
      onProgress: (e) => {
        if (e.counters.chunksWritten! >= 300) ac.abort(new Error('test cancel'));
      },
    }).catch((e) => e);
    expect(err.code).toBe('BV.Aborted');
    expect(await listBackups(vault)).toEqual([]);
    const b = await backup(vault, { source: img, volumeId: 'c' });
    expect(b.counters.blocksDeduplicated).toBeGreaterThanOrEqual(256); // one index segment at least
    expect(b.newChunkCount).toBeLessThan(400);
    const out = path.join(dir, 'cancel.out');
    await restore(vault, { backupId: b.backupId, target: out });
    expect(await sha256File(out)).toBe(await sha256File(img));
    await vault.close();
  });

  it('refuses an input that changes size during the backup, and makes nothing visible', async () => {
    const img = path.join(dir, 'grow.img');
    await makeImage(img, { blocks: Array.from({ length: 64 }, () => 'random' as Kind), blockSize: BS, seed: 13 });
    const vault = await freshVault('grow');
    let grown = false;
    const err = await backup(vault, {
      source: img,
      volumeId: 'g',
      everyBytes: 1,
      onProgress: () => {
        if (!grown) {
          grown = true;
          void fs.appendFile(img, 'more');
        }
      },
    }).catch((e) => e);
    expect(err.code).toBe('BV.InputChanged');
    expect(err.message).toMatch(/size went from \d+ to \d+/);
    expect(await listBackups(vault)).toEqual([]);
    await vault.close();
  });

  it('gives clear errors for a missing input, a vault path that is a file, and an existing target', async () => {
    const vault = await freshVault('errors');
    const missing = await backup(vault, { source: path.join(dir, 'nope.img'), volumeId: 'e' }).catch((e) => e);
    expect(missing.message).toMatch(/input .*nope\.img does not exist/);
    const file = path.join(dir, 'not-a-dir');
    await fs.writeFile(file, 'x');
    const notDir = await openVault(file, { create: true }).catch((e) => e);
    expect(notDir.message).toMatch(/is a file, not a directory/);
    const img = path.join(dir, 'errors.img');
    await makeImage(img, { blocks: ['random'], blockSize: BS });
    const b = await backup(vault, { source: img, volumeId: 'e' });
    const target = path.join(dir, 'errors.out');
    await fs.writeFile(target, 'precious');
    const exists = await restore(vault, { backupId: b.backupId, target }).catch((e) => e);
    expect(exists.code).toBe('BV.TargetExists');
    expect(await fs.readFile(target, 'utf8')).toBe('precious');
    await restore(vault, { backupId: b.backupId, target, force: true });
    expect(await sha256File(target)).toBe(await sha256File(img));
    const unknown = await restore(vault, { backupId: 'no-such-backup', target: `${target}2` }).catch((e) => e);
    expect(unknown.code).toBe('VolumeBackup.0111');
    expect(await openVault(path.join(dir, 'never-made')).catch((e) => e.message)).toMatch(/no vault at/);
    await vault.close();
  });
});

describe('metrics and service fields', () => {
  it('emits progress by bytes and time, and maps the result to the service fields', async () => {
    const img = path.join(dir, 'metrics.img');
    const blocks: Kind[] = Array.from({ length: 48 }, (_, i) => (['random', 'text', 'hole', 'zeros'] as Kind[])[i % 4]!);
    const size = await makeImage(img, { blocks, blockSize: BS, seed: 21 });
    const vault = await freshVault('metrics');
    const events: ProgressEvent[] = [];
    const b = await backup(vault, { source: img, volumeId: 'm', snapshotId: 'snap-42', bootable: true, everyBytes: 8 * BS, onProgress: (e) => events.push(e) });
    expect(events.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.bytesDone).toBeGreaterThanOrEqual(events[i - 1]!.bytesDone);
      expect(events[i]!.counters.bytesScanned).toBeGreaterThanOrEqual(events[i - 1]!.counters.bytesScanned!);
    }
    expect(events.at(-1)!.progress).toBe(100);
    expect(events.every((e) => Number.isInteger(e.progress) && e.progress >= 0 && e.progress <= 100)).toBe(true);

    const md = JSON.parse(b.service_metadata);
    expect(md.DL).toBe(3);
    expect(md.Type).toBe(0);
    expect(md.progress).toBe(100);
    expect(md.snap_id).toBe('snap-42');
    expect(md.bootable).toBe(true);
    expect(md.backupurl).toBe(b.backupId);
    const MB = 1024 * 1024;
    expect(md.BackupSize).toBe(Math.ceil(b.storedBytes / MB));
    expect(md.CS).toBe(Math.ceil(b.storedBytes / MB));
    expect(md.SS).toBe(Math.floor((1 - b.newStoredBytes / size) * 100));
    expect(md.AT).toBe(Math.round((size / MB / (b.elapsedMs / 1000)) * 10) / 10);
    expect(b.size).toBe(1); // 3 MiB volume → 1 GB
    expect(b.object_count).toBe(b.chunkCount + 1);
    expect(b.is_incremental).toBe(false);
    expect(b.has_dependent_backups).toBe(false);

    await overwrite(img, 0, Buffer.from('x'));
    const inc = await backup(vault, { source: img, volumeId: 'm' });
    const imd = JSON.parse(inc.service_metadata);
    expect(imd.Type).toBe(1);
    expect(imd.CS).toBe(Math.ceil((b.storedBytes + inc.storedBytes) / MB));
    expect(inc.is_incremental).toBe(true);
    const parent = await showBackup(vault, b.backupId);
    expect(parent.has_dependent_backups).toBe(true);
    expect(JSON.parse(parent.serviceMetadata).CS).toBe(imd.CS); // the chain now includes the child
    const shown = await showBackup(vault, inc.backupId);
    expect(shown.chain).toEqual([inc.backupId, b.backupId]);
    expect(shown.snapshotId).toBeNull();
    await vault.close();
  });
});

// The scenarios shared with the S3 suite (s3-vault.test.ts), here on local vaults.
describe('core scenarios on a local vault', () => {
  coreScenarios({ makeVault: (name) => freshVault(`shared-${name}`), dir: () => dir });
});
