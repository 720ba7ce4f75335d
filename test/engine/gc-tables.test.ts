// GC's packed working sets: the marked ids (by 8-byte prefix) and the listed chunks. What
// must hold: a marked id is always found (never deleted), an id with an all-zero prefix too
// (the empty-slot value), and the listing finds, sizes, dates and flags every chunk it was
// given, across growth.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ListedChunks, MarkedIds } from '../../src/engine/gc-tables.js';

const ids = (n: number) => Array.from({ length: n }, () => randomBytes(32));

describe('MarkedIds', () => {
  it('finds every id added, across growth, and none of a disjoint set', () => {
    const m = new MarkedIds();
    const added = ids(20_000);
    for (const id of added) m.add(id);
    for (const id of added.slice(0, 5000)) m.add(id); // again: no second entry
    expect(m.size).toBe(20_000);
    expect(added.every((id) => m.has(id))).toBe(true);
    expect(ids(20_000).filter((id) => m.has(id))).toEqual([]);
  });

  it('keeps an id whose first 8 bytes are zero (the empty-slot value)', () => {
    const m = new MarkedIds();
    const zero = Buffer.concat([Buffer.alloc(8), randomBytes(24)]);
    expect(m.has(zero)).toBe(false);
    m.add(zero);
    expect(m.has(zero)).toBe(true);
    expect(m.size).toBe(1);
  });

  it('takes a shared 8-byte prefix for marked: the only error keeps a chunk', () => {
    const m = new MarkedIds();
    const a = randomBytes(32);
    m.add(a);
    const twin = Buffer.concat([a.subarray(0, 8), randomBytes(24)]);
    expect(m.has(twin)).toBe(true);
  });
});

describe('ListedChunks', () => {
  it('keeps id, size and time by position, finds each id, and ignores a repeat', () => {
    const l = new ListedChunks();
    const listed = ids(5000);
    listed.forEach((id, i) => l.add(id, 1000 + i, i % 3 === 0 ? undefined : 1_700_000_000_000 + i));
    l.add(listed[7]!, 1, 1); // listed twice: the first stays
    expect(l.count).toBe(5000);
    for (const i of [0, 1, 2, 7, 1023, 1024, 4999]) {
      expect(l.find(listed[i]!)).toBe(i);
      expect(l.id(i).equals(listed[i]!)).toBe(true);
      expect(l.size(i)).toBe(1000 + i);
      expect(l.listedAt(i)).toBe(i % 3 === 0 ? undefined : 1_700_000_000_000 + i);
    }
    expect(l.find(randomBytes(32))).toBe(-1);
    expect(l.find(randomBytes(16))).toBe(-1);
  });

  it('flags and counts the unreferenced, in listing order', () => {
    const l = new ListedChunks();
    for (const id of ids(3000)) l.add(id, 1, undefined);
    for (const i of [5, 2999, 0, 1500]) l.setUnref(i, true);
    l.setUnref(5, true); // twice: counted once
    expect(l.unrefCount).toBe(4);
    expect(l.unrefPositions()).toEqual([0, 5, 1500, 2999]);
    l.setUnref(1500, false);
    expect(l.unrefCount).toBe(3);
    expect(l.isUnref(1500)).toBe(false);
    expect(l.isUnref(2999)).toBe(true);
  });
});
