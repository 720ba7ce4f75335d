// Changed- and allocated-extent lists on image files (no root needed): each list format drives an
// incremental that reads only the blocks it touches and restores bit-exact; a wrong list is caught
// by --verify-unchanged; a source that shrinks mid-backup fails cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backup, openVault, restore, type BackupResult, type Vault } from '../../src/index.js';
import { ErrorCodes } from '../../src/errors.js';
import type { Extent } from '../../src/source/extents.js';
import { makeImage, overwrite, prng, sha256File, tempDir, type Kind } from '../helpers/images.js';

const BS = 65536;
const BLOCKS = 64;
const SIZE = BLOCKS * BS;

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await tempDir('extents');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function randomBytes(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  prng(seed).fill(b);
  return b;
}

/** Base image: random and text blocks, a few holes (never the blocks the changes touch). */
async function baseImage(file: string): Promise<void> {
  const kinds: Kind[] = Array.from({ length: BLOCKS }, (_, i) => (i % 9 === 8 ? 'hole' : i % 3 === 0 ? 'text' : 'random'));
  await makeImage(file, { blocks: kinds, blockSize: BS, seed: 7 });
}

interface Change {
  offset: number;
  length: number;
  zero: boolean;
}

/** Touches blocks 3 (data), 10–12 (data), 20 (all zero), 30 (partly zeroed: must be read). */
const CHANGES: Change[] = [
  { offset: 3 * BS + 100 * 512, length: 4096, zero: false },
  { offset: 10 * BS + 32 * 1024, length: 100 * 1024, zero: false },
  { offset: 20 * BS, length: BS, zero: true },
  { offset: 30 * BS, length: 4096, zero: true },
];
const READ_BLOCKS = [3, 10, 11, 12, 30];

async function apply(file: string, changes: Change[], seed = 99): Promise<void> {
  let s = seed;
  for (const c of changes) await overwrite(file, c.offset, c.zero ? Buffer.alloc(c.length) : randomBytes(c.length, s++));
}

const plainList = (cs: Change[]) => cs.map((c) => `${c.offset} 0x${c.length.toString(16)}${c.zero ? ' zero' : ''}`).join('\n') + '\n';
const rbdList = (cs: Change[]) => JSON.stringify(cs.map((c) => ({ offset: c.offset, length: c.length, exists: c.zero ? 'false' : 'true' })));
/** A qemu-img map of a qcow2 overlay: its own clusters at depth 0, the rest from the backing file (depth 1). */
function qemuOverlayMap(cs: Change[]): string {
  const sorted = [...cs].sort((a, b) => a.offset - b.offset);
  const out: object[] = [];
  let pos = 0;
  for (const c of sorted) {
    if (c.offset > pos) out.push({ start: pos, length: c.offset - pos, depth: 1, present: true, zero: false, data: true, offset: pos });
    out.push({ start: c.offset, length: c.length, depth: 0, present: true, zero: c.zero, data: !c.zero, ...(c.zero ? {} : { offset: c.offset }) });
    pos = c.offset + c.length;
  }
  if (pos < SIZE) out.push({ start: pos, length: SIZE - pos, depth: 1, present: false, zero: true, data: false });
  return JSON.stringify(out);
}

interface Setup {
  vault: Vault;
  image: string;
  volumeId: string;
  full: BackupResult;
}

async function setup(): Promise<Setup> {
  const sub = path.join(dir, `t${n++}`);
  await fs.mkdir(sub);
  const image = path.join(sub, 'disk.img');
  await baseImage(image);
  const vault = await openVault(path.join(sub, 'vault'), { create: true, blockSize: BS });
  const volumeId = 'vol-1';
  const full = await backup(vault, { source: image, volumeId });
  return { vault, image, volumeId, full };
}

async function restoredHash(vault: Vault, backupId: string): Promise<string> {
  const out = path.join(dir, `restore-${n++}.img`);
  await restore(vault, { backupId, target: out });
  const h = await sha256File(out);
  await fs.rm(out);
  return h;
}

describe('changed-extent lists drive an incremental that reads only touched blocks', () => {
  const formats: Array<[string, (cs: Change[]) => string | Extent[]]> = [
    ['plain text', plainList],
    ['rbd diff JSON', rbdList],
    ['qemu-img map JSON (overlay)', qemuOverlayMap],
    ['parsed Extent[] (library API)', (cs) => cs.map((c) => ({ ...c }))],
  ];
  for (const [name, make] of formats) {
    it(name, async () => {
      const { vault, image, volumeId, full } = await setup();
      try {
        await apply(image, CHANGES);
        const list = make(CHANGES);
        let changedExtents: string | Extent[];
        if (typeof list === 'string') {
          changedExtents = `${image}.extents`;
          await fs.writeFile(changedExtents, list);
        } else changedExtents = list;
        const inc = await backup(vault, { source: image, volumeId, changedExtents });
        expect(inc.type).toBe('incremental');
        expect(inc.parentId).toBe(full.backupId);
        expect(inc.warnings).toBeUndefined();
        // Only the touched blocks were read; the rest came from the parent without a read.
        expect(inc.counters.bytesRead).toBe(READ_BLOCKS.length * BS);
        expect(inc.counters.bytesSkippedByExtents).toBe((BLOCKS - READ_BLOCKS.length) * BS);
        expect(inc.counters.bytesScanned).toBe(SIZE);
        expect(inc.counters.verifyMismatches).toBe(0);
        // Blocks 3, 10, 11, 12, 30 changed; 20 became zero.
        expect(inc.newChunkCount).toBe(5);
        expect(await restoredHash(vault, inc.backupId)).toBe(await sha256File(image));
      } finally {
        await vault.close();
      }
    });
  }

  it('--verify-unchanged with a correct list finds nothing and still reads only the touched blocks', async () => {
    const { vault, image, volumeId } = await setup();
    try {
      await apply(image, CHANGES);
      const inc = await backup(vault, { source: image, volumeId, changedExtents: CHANGES, verifyUnchanged: 100 });
      expect(inc.counters.verifyMismatches).toBe(0);
      expect(inc.counters.bytesVerifiedUnchanged).toBe((BLOCKS - READ_BLOCKS.length) * BS);
      expect(inc.counters.bytesRead).toBe(READ_BLOCKS.length * BS);
      expect(inc.warnings).toBeUndefined();
      expect(await restoredHash(vault, inc.backupId)).toBe(await sha256File(image));
    } finally {
      await vault.close();
    }
  });
});

describe('a wrong changed-extent list', () => {
  const MISSED: Change = { offset: 40 * BS + 8192, length: 8192, zero: false };

  it('without verification, the backup believes it (why --verify-unchanged exists)', async () => {
    const { vault, image, volumeId } = await setup();
    try {
      await apply(image, [...CHANGES, MISSED]);
      const inc = await backup(vault, { source: image, volumeId, changedExtents: CHANGES });
      expect(await restoredHash(vault, inc.backupId)).not.toBe(await sha256File(image));
    } finally {
      await vault.close();
    }
  });

  it('is caught by --verify-unchanged 100: a warning, a counter, and a backup that restores bit-exact', async () => {
    const { vault, image, volumeId } = await setup();
    try {
      await apply(image, [...CHANGES, MISSED]);
      const inc = await backup(vault, { source: image, volumeId, changedExtents: CHANGES, verifyUnchanged: 100 });
      expect(inc.type).toBe('incremental');
      expect(inc.counters.verifyMismatches).toBeGreaterThanOrEqual(1);
      expect(inc.warnings?.[0]).toMatch(/--verify-unchanged: block 40 .*differs from the parent backup.*every block was read/);
      expect(inc.counters.bytesSkippedByExtents).toBe(0);
      expect(await restoredHash(vault, inc.backupId)).toBe(await sha256File(image));
    } finally {
      await vault.close();
    }
  });

  it('a block the list calls zero but that holds data is caught too', async () => {
    const { vault, image, volumeId } = await setup();
    try {
      await apply(image, CHANGES);
      const lie: Extent[] = [...CHANGES, { offset: 50 * BS, length: BS, zero: true }];
      const inc = await backup(vault, { source: image, volumeId, changedExtents: lie, verifyUnchanged: 100 });
      expect(inc.counters.verifyMismatches).toBe(1);
      expect(inc.warnings?.[0]).toMatch(/block 50 .*all zeros/);
      expect(await restoredHash(vault, inc.backupId)).toBe(await sha256File(image));
    } finally {
      await vault.close();
    }
  });
});

describe('refusals and fallbacks', () => {
  it('without a parent the list is ignored: a full backup with a warning', async () => {
    const sub = path.join(dir, `t${n++}`);
    await fs.mkdir(sub);
    const image = path.join(sub, 'disk.img');
    await baseImage(image);
    const vault = await openVault(path.join(sub, 'vault'), { create: true, blockSize: BS });
    try {
      const r = await backup(vault, { source: image, volumeId: 'vol-1', changedExtents: CHANGES });
      expect(r.type).toBe('full');
      expect(r.warnings?.[0]).toMatch(/no backup to be incremental against/);
      expect(r.counters.bytesSkippedByExtents).toBe(0);
      expect(await restoredHash(vault, r.backupId)).toBe(await sha256File(image));
    } finally {
      await vault.close();
    }
  });

  it('--full with a changed list is refused', async () => {
    const { vault, image, volumeId } = await setup();
    try {
      await expect(backup(vault, { source: image, volumeId, full: true, changedExtents: CHANGES })).rejects.toMatchObject({
        code: ErrorCodes.badInput,
        message: expect.stringMatching(/cannot be combined with --full/),
      });
    } finally {
      await vault.close();
    }
  });

  it('a list that does not fit the volume is refused with the reason, nothing made visible', async () => {
    const { vault, image, volumeId } = await setup();
    try {
      const file = `${image}.bad`;
      await fs.writeFile(file, `0 4096\n${SIZE - 4096} 8192\n`);
      await expect(backup(vault, { source: image, volumeId, changedExtents: file })).rejects.toMatchObject({
        code: ErrorCodes.badInput,
        message: expect.stringMatching(/line 2: .*past the volume size 4194304/),
      });
      expect(await vault.listBackups({ volumeId })).toHaveLength(1);
      await expect(backup(vault, { source: image, volumeId, allocatedExtents: [{ offset: SIZE, length: 1, zero: false }] })).rejects.toMatchObject({
        code: ErrorCodes.badInput,
      });
    } finally {
      await vault.close();
    }
  });
});

describe('allocated-extent lists', () => {
  // Data the list leaves out is never read: the restore shows zeros there.
  const ALLOC: Extent[] = [
    { offset: 0, length: 5 * BS, zero: false },
    { offset: 12 * BS + 4096, length: 10000, zero: false }, // partial block, not sector-aligned at the end
    { offset: 33 * BS, length: 2 * BS, zero: false },
    { offset: 40 * BS, length: 4 * BS, zero: true },
  ];

  async function expectedImage(image: string): Promise<Buffer> {
    const all = await fs.readFile(image);
    const out = Buffer.alloc(all.length);
    for (const e of ALLOC) {
      if (e.zero) continue;
      const a = Math.floor(e.offset / 512) * 512; // reads are widened to 512-byte sectors
      const b = Math.ceil((e.offset + e.length) / 512) * 512;
      all.copy(out, a, a, b);
    }
    return out;
  }

  it('a full backup reads only the allocated extents (as plain text) and restores them', async () => {
    const sub = path.join(dir, `t${n++}`);
    await fs.mkdir(sub);
    const image = path.join(sub, 'disk.img');
    await baseImage(image);
    const list = path.join(sub, 'alloc.txt');
    await fs.writeFile(list, ALLOC.map((e) => `${e.offset} ${e.length}${e.zero ? ' zero' : ''}`).join('\n'));
    const vault = await openVault(path.join(sub, 'vault'), { create: true, blockSize: BS });
    try {
      const r = await backup(vault, { source: image, volumeId: 'vol-1', allocatedExtents: list });
      expect(r.type).toBe('full');
      const widened = 5 * BS + (Math.ceil((12 * BS + 4096 + 10000) / 512) * 512 - (12 * BS + 4096)) + 2 * BS;
      expect(r.counters.bytesRead).toBe(widened);
      const out = path.join(sub, 'out.img');
      await restore(vault, { backupId: r.backupId, target: out });
      expect((await fs.readFile(out)).equals(await expectedImage(image))).toBe(true);
    } finally {
      await vault.close();
    }
  });

  it('a lying allocated list is caught by --verify-unchanged and the backup reads everything', async () => {
    const sub = path.join(dir, `t${n++}`);
    await fs.mkdir(sub);
    const image = path.join(sub, 'disk.img');
    await baseImage(image);
    const vault = await openVault(path.join(sub, 'vault'), { create: true, blockSize: BS });
    try {
      const r = await backup(vault, { source: image, volumeId: 'vol-1', allocatedExtents: ALLOC, verifyUnchanged: 100 });
      expect(r.counters.verifyMismatches).toBeGreaterThanOrEqual(1);
      expect(r.warnings?.[0]).toMatch(/allocated-extent list leaves out/);
      expect(await restoredHash(vault, r.backupId)).toBe(await sha256File(image));
    } finally {
      await vault.close();
    }
  });
});

describe('a source that shrinks mid-backup', () => {
  it('an image file truncated during the backup fails with BV.InputChanged, nothing visible', async () => {
    const { vault, image, volumeId } = await setup();
    try {
      let cut = false;
      const p = backup(vault, {
        source: image,
        volumeId,
        full: true,
        concurrency: 1,
        everyBytes: BS,
        onProgress: () => {
          if (cut) return;
          cut = true;
          void fs.truncate(image, SIZE / 2);
        },
      });
      await expect(p).rejects.toMatchObject({ code: ErrorCodes.inputChanged });
      expect(cut).toBe(true);
      expect(await vault.listBackups({ volumeId })).toHaveLength(1); // only the setup's full
    } finally {
      await vault.close();
    }
  });
});
