// The copy planner on catalogs built by hand: chains widened to what they need, narrowed to
// what the destination lacks, parents always before children.
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { planCopy, type BackupCatalog } from '../../src/engine/copy-plan.js';
import type { ManifestHeader } from '../../src/vault/manifest.js';

let clock = 0;
function h(backupId: string, volumeId: string, parentId: string | null): ManifestHeader {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString();
  return { backupId, volumeId, parentId, type: parentId ? 'incremental' : 'full', createdAt: at } as ManifestHeader;
}

function catalog(url: string, list: ManifestHeader[]): BackupCatalog {
  return {
    url,
    listBackups: async (f = {}) =>
      list.filter((x) => !f.volumeId || x.volumeId === f.volumeId).sort((a, b) => a.createdAt.localeCompare(b.createdAt)),
  };
}

// vol-1: a1 ← a2 ← a3, then a new full a4 ← a5;  vol-2: b1 ← b2
const a1 = h('a1', 'vol-1', null);
const b1 = h('b1', 'vol-2', null);
const a2 = h('a2', 'vol-1', 'a1');
const a3 = h('a3', 'vol-1', 'a2');
const b2 = h('b2', 'vol-2', 'b1');
const a4 = h('a4', 'vol-1', null);
const a5 = h('a5', 'vol-1', 'a4');
const source = catalog('file:///src', [a1, b1, a2, a3, b2, a4, a5]);
const ids = (l: ManifestHeader[]) => l.map((x) => x.backupId);

describe('planCopy', () => {
  it('takes a backup with its whole chain, parents first', async () => {
    const plan = await planCopy(source, catalog('file:///dst', []), { backupIds: ['a3'] });
    expect(ids(plan.toCopy)).toEqual(['a1', 'a2', 'a3']);
    expect(plan.present).toEqual([]);
  });

  it('stops at the first ancestor the destination holds', async () => {
    const plan = await planCopy(source, catalog('file:///dst', [a1, a2]), { backupIds: ['a3'] });
    expect(ids(plan.toCopy)).toEqual(['a3']);
    expect(ids(plan.present)).toEqual(['a2']);
  });

  it('skips what the destination holds: a second plan after a full copy is empty', async () => {
    const plan = await planCopy(source, catalog('file:///dst', [a1, b1, a2, a3, b2, a4, a5]), { all: true });
    expect(plan.toCopy).toEqual([]);
    expect(ids(plan.present)).toHaveLength(7);
  });

  it('a volume: every backup of it, each chain in order, other volumes untouched', async () => {
    const plan = await planCopy(source, catalog('file:///dst', []), { volumeId: 'vol-1' });
    expect(ids(plan.toCopy)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
  });

  it('all: every parent before its child, across volumes, each once', async () => {
    const plan = await planCopy(source, catalog('file:///dst', [b1]), { all: true });
    const order = ids(plan.toCopy);
    expect(order.sort()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', 'b2']);
    const pos = new Map(ids(plan.toCopy).map((id, i) => [id, i]));
    for (const x of plan.toCopy) if (x.parentId && pos.has(x.parentId)) expect(pos.get(x.parentId)!).toBeLessThan(pos.get(x.backupId)!);
  });

  it('ids named out of order are planned oldest first, shared ancestors once', async () => {
    const plan = await planCopy(source, catalog('file:///dst', []), { backupIds: ['a3', 'a2', 'b2'] });
    expect(ids(plan.toCopy)).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
    expect(plan.selected).toEqual(['a2', 'a3', 'b2']);
  });

  it('refuses unknown ids, an empty volume and an empty list, naming them', async () => {
    const dst = catalog('file:///dst', []);
    await expect(planCopy(source, dst, { backupIds: ['a9', 'a1'] })).rejects.toMatchObject({ code: ErrorCodes.backupNotFound, message: expect.stringContaining('a9') });
    await expect(planCopy(source, dst, { volumeId: 'vol-9' })).rejects.toMatchObject({ code: ErrorCodes.backupNotFound, message: expect.stringContaining('vol-9') });
    await expect(planCopy(source, dst, { backupIds: [] })).rejects.toMatchObject({ code: ErrorCodes.badInput });
  });

  it('refuses a destination holding a different backup under the same id', async () => {
    const impostor = { ...a1, volumeId: 'vol-x' };
    await expect(planCopy(source, catalog('file:///dst', [impostor]), { backupIds: ['a2'] })).rejects.toMatchObject({
      code: ErrorCodes.badInput,
      message: expect.stringContaining('different backup with id a1'),
    });
  });

  it('a chain with a missing parent in the source is damage, named', async () => {
    const broken = catalog('file:///src', [a2, a3]);
    await expect(planCopy(broken, catalog('file:///dst', []), { backupIds: ['a3'] })).rejects.toMatchObject({
      code: ErrorCodes.vaultDamaged,
      details: { backupId: 'a2', missingParent: 'a1' },
    });
  });

  it('runs the check on every backup it plans to send, and only those', async () => {
    const checked: string[] = [];
    await planCopy(source, catalog('file:///dst', [a1]), { backupIds: ['a3'] }, { check: (x) => checked.push(x.backupId) });
    expect(checked).toEqual(['a2', 'a3']);
  });
});
