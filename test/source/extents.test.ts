import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { BlockvaultError, ErrorCodes } from '../../src/errors.js';
import { BlockTouch, blocksTouched, normalizeExtents, parseExtents, type Extent } from '../../src/source/extents.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/extents/${name}`, import.meta.url), 'utf8');
const d = (offset: number, length: number): Extent => ({ offset, length, zero: false });
const z = (offset: number, length: number): Extent => ({ offset, length, zero: true });

/** The BlockvaultError parseExtents throws (fails the test when it does not throw). */
function refusal(text: string, opts: Parameters<typeof parseExtents>[1]): BlockvaultError {
  try {
    parseExtents(text, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(BlockvaultError);
    expect((err as BlockvaultError).code).toBe(ErrorCodes.badInput);
    return err as BlockvaultError;
  }
  throw new Error(`expected a refusal for ${JSON.stringify(text)}`);
}

function sane(extents: Extent[], volumeSize: number): void {
  for (let i = 0; i < extents.length; i++) {
    const e = extents[i]!;
    expect(e.length).toBeGreaterThan(0);
    expect(e.offset + e.length).toBeLessThanOrEqual(volumeSize);
    const next = extents[i + 1];
    if (next) {
      expect(next.offset).toBeGreaterThanOrEqual(e.offset + e.length);
      // Touching ranges must be of different kinds (else they would have been merged).
      if (next.offset === e.offset + e.length) expect(next.zero).not.toBe(e.zero);
    }
  }
}

describe('parseExtents: the fixtures', () => {
  it('rbd diff --format json (exists as strings), adjacent data extents merged', () => {
    const { format, extents } = parseExtents(fixture('rbd-diff.json'), { volumeSize: 1 * GiB, source: 'rbd-diff.json' });
    expect(format).toBe('rbd-diff');
    expect(extents).toEqual([
      d(0, 4 * MiB),
      d(12 * MiB, 4 * KiB),
      d(12 * MiB + 64 * KiB, 128 * KiB),
      z(64 * MiB, 8 * MiB),
      d(100 * MiB + 512, 1536),
      d(256 * MiB, 8 * MiB), // two 4 MiB objects side by side
      z(512 * MiB, 16 * MiB),
      d(1020 * MiB, 4 * MiB),
    ]);
    sane(extents, 1 * GiB);
  });

  it('rbd diff with boolean exists (some versions and tools)', () => {
    const text = '[{"offset":0,"length":4096,"exists":true},{"offset":8192,"length":4096,"exists":false}]';
    expect(parseExtents(text, { volumeSize: 1 * MiB }).extents).toEqual([d(0, 4096), z(8192, 4096)]);
  });

  it("rbd diff's table output reads as plain and gives the same extents", () => {
    const json = parseExtents(fixture('rbd-diff.json'), { volumeSize: 1 * GiB });
    const table = parseExtents(fixture('rbd-diff-table.txt'), { volumeSize: 1 * GiB });
    expect(table.format).toBe('plain');
    expect(table.extents).toEqual(json.extents);
  });

  it('qemu-img map --output=json of a sparse raw file (real output)', () => {
    const { format, extents } = parseExtents(fixture('qemu-img-map-raw.json'), { volumeSize: 64 * MiB });
    expect(format).toBe('qemu-img-map');
    sane(extents, 64 * MiB);
    // The map covers the whole image, alternating data and holes.
    expect(extents).toHaveLength(14);
    expect(extents[0]).toEqual(d(0, 128 * KiB));
    expect(extents[1]).toEqual(z(128 * KiB, 5 * MiB - 128 * KiB));
    expect(extents.at(-1)).toEqual(z(63 * MiB + 4 * KiB, 1 * MiB - 4 * KiB));
    expect(extents.reduce((n, e) => n + e.length, 0)).toBe(64 * MiB);
    const dataBytes = extents.filter((e) => !e.zero).reduce((n, e) => n + e.length, 0);
    // 128K + 3M + 64K (written zeros are allocated) + 20K + (1M - 128K punched) + 4K.
    expect(dataBytes).toBe(128 * KiB + 3 * MiB + 64 * KiB + 20 * KiB + (1 * MiB - 128 * KiB) + 4 * KiB);
    // The punched hole inside the 1 MiB written at 40 MiB.
    expect(extents).toContainEqual(z(40 * MiB + 64 * KiB, 128 * KiB));
  });

  it('qemu-img map of a qcow2 overlay: backing-file data is data, zero clusters and unallocated ranges are zeros', () => {
    const { format, extents } = parseExtents(fixture('qemu-img-map-qcow2-overlay.json'), { volumeSize: 64 * MiB });
    expect(format).toBe('qemu-img-map');
    expect(extents).toEqual([
      d(0, 128 * KiB), // 64K from the base (depth 1) + 64K from the overlay (depth 0), merged
      z(128 * KiB, 8 * MiB - 128 * KiB), // holes, a zero range in the base, a zeroed range in the overlay
      d(8 * MiB, 192 * KiB),
      z(8 * MiB + 192 * KiB, 56 * MiB - 192 * KiB),
    ]);
  });

  it('qemu-img map: data+zero (allocated but known zero) is a zero range; older output without "present" is accepted', () => {
    const text = `[{ "start": 0, "length": 65536, "depth": 0, "zero": true, "data": true, "offset": 0},
{ "start": 65536, "length": 65536, "depth": 0, "zero": false, "data": true, "offset": 65536},
{ "start": 131072, "length": 65536, "depth": 1, "present": false, "zero": false, "data": false}]`;
    expect(parseExtents(text, { volumeSize: 196608 }).extents).toEqual([z(0, 65536), d(65536, 65536), z(131072, 65536)]);
  });

  it('plain list: hex and decimal, comments, blank lines, zero/data words', () => {
    const { format, extents } = parseExtents(fixture('plain.txt'), { volumeSize: 64 * MiB, source: 'plain.txt' });
    expect(format).toBe('plain');
    expect(extents).toEqual([
      d(0, 64 * KiB),
      d(1 * MiB, 256 * KiB),
      z(2 * MiB, 64 * KiB),
      d(3 * MiB, 1 * MiB + 4 * KiB), // 3145728+1M and 0x400000+4096 touch: merged
      z(0x3ff0000, 0x10000), // ends exactly at the volume size
    ]);
  });

  it('auto-detection can be overridden, and empty inputs are empty', () => {
    expect(parseExtents('', { volumeSize: 0 })).toEqual({ format: 'plain', extents: [] });
    expect(parseExtents('# nothing changed\n', { volumeSize: MiB })).toEqual({ format: 'plain', extents: [] });
    expect(parseExtents('[]\n', { volumeSize: MiB })).toEqual({ format: 'rbd-diff', extents: [] });
    expect(parseExtents('0 4096\r\n8192 4096 zero\r\n', { volumeSize: MiB, format: 'plain' }).extents).toEqual([d(0, 4096), z(8192, 4096)]);
    expect(parseExtents('[{"start":0,"length":512,"zero":false,"data":true}]', { volumeSize: MiB, format: 'qemu-img-map' }).extents).toEqual([d(0, 512)]);
    // Zero-length entries are dropped.
    expect(parseExtents('0 0\n512 512', { volumeSize: MiB }).extents).toEqual([d(512, 512)]);
  });
});

describe('parseExtents: merging and overlaps', () => {
  const parse = (text: string): Extent[] => parseExtents(text, { volumeSize: 16 * MiB }).extents;

  it('sorts, merges overlapping and touching ranges of one kind', () => {
    expect(parse('8192 4096\n0 4096\n4096 4096\n2048 1024\n')).toEqual([d(0, 12288)]);
    expect(parse('0 4096 zero\n1024 8192 zero\n9216 1024 zero')).toEqual([z(0, 10240)]);
    expect(parse('0 4096\n8192 4096')).toEqual([d(0, 4096), d(8192, 4096)]);
  });

  it('touching data and zero ranges stay apart', () => {
    expect(parse('0 4096\n4096 4096 zero')).toEqual([d(0, 4096), z(4096, 4096)]);
  });

  it('data wins where data and zero overlap', () => {
    // zero [0,64K) with data [16K,20K) inside: the zero range is cut in two.
    expect(parse('0 65536 zero\n16384 4096')).toEqual([z(0, 16384), d(16384, 4096), z(20480, 45056)]);
    // data straddling the start and the end of zero ranges.
    expect(parse('4096 8192 zero\n0 6144\n10240 4096')).toEqual([d(0, 6144), z(6144, 4096), d(10240, 4096)]);
    // zero completely inside data disappears.
    expect(parse('0 65536\n4096 4096 zero')).toEqual([d(0, 65536)]);
    // several data ranges inside one zero range, one zero range across several data ranges.
    expect(parse('0 100 zero\n10 10\n30 10\n90 20\n200 10 zero')).toEqual([
      z(0, 10),
      d(10, 10),
      z(20, 10),
      d(30, 10),
      z(40, 50),
      d(90, 20),
      z(200, 10),
    ]);
  });

  it('normalizeExtents is idempotent', () => {
    const once = parse('0 65536 zero\n16384 4096\n70000 10\n65536 100 zero');
    expect(normalizeExtents(once)).toEqual(once);
  });
});

describe('parseExtents: refusals name the source, the line or entry, and what is wrong', () => {
  const volumeSize = 64 * MiB;

  it('an extent past the volume size', () => {
    const e = refusal('0 4096\n0x3ff0000 0x20000\n', { volumeSize, source: 'changed.txt' });
    expect(e.message).toBe(
      'changed.txt: line 2: extent at 0x3ff0000 length 131072 ends at 0x4010000, past the volume size 67108864 (0x4000000)',
    );
    expect(e.details).toMatchObject({ source: 'changed.txt', at: 'line 2', offset: 0x3ff0000, length: 131072, volumeSize });
    const j = refusal('[{"offset":0,"length":4096,"exists":"true"},{"offset":67108864,"length":1,"exists":"false"}]', {
      volumeSize,
      source: 'diff.json',
    });
    expect(j.message).toBe('diff.json: entry [1]: extent at 0x4000000 length 1 ends at 0x4000001, past the volume size 67108864 (0x4000000)');
    const q = refusal('[{"start":0,"length":134217728,"depth":0,"present":true,"zero":true,"data":false}]', { volumeSize, source: 'map.json' });
    expect(q.message).toMatch(/^map\.json: entry \[0\]: extent at 0x0 length 134217728 ends at 0x8000000, past the volume size/);
  });

  it('malformed plain lines', () => {
    const src = { volumeSize, source: 'list.txt' };
    expect(refusal('# header\n\n4096\n', src).message).toBe('list.txt: line 3: expected "offset length [zero|data]", got "4096"');
    expect(refusal('0 4096 zero extra\n', src).message).toMatch(/^list\.txt: line 1: expected "offset length \[zero\|data\]"/);
    expect(refusal('0 4096 discarded\n', src).message).toBe('list.txt: line 1: third word must be "zero" or "data", got "discarded"');
    expect(refusal('0 4096\nabc 4096\n', src).message).toBe('list.txt: line 2: offset is not a decimal or 0x-hex integer: "abc"');
    expect(refusal('0x1g 4096\n', src).message).toMatch(/line 1: offset is not a decimal or 0x-hex integer/);
  });

  it('negative and non-integer numbers', () => {
    const src = { volumeSize, source: 'list.txt' };
    expect(refusal('-4096 4096\n', src).message).toBe('list.txt: line 1: offset is negative: -4096');
    expect(refusal('0 -0x10\n', src).message).toBe('list.txt: line 1: length is negative: -0x10');
    expect(refusal('0 1.5\n', src).message).toBe('list.txt: line 1: length is not an integer: 1.5');
    expect(refusal('99999999999999999999 1\n', src).message).toMatch(/line 1: offset is too large to be exact/);
    const j = { volumeSize, source: 'diff.json' };
    expect(refusal('[{"offset":-4096,"length":4096,"exists":"true"}]', j).message).toBe('diff.json: entry [0]: "offset" is negative: -4096');
    expect(refusal('[{"offset":0,"length":4096.5,"exists":"true"}]', j).message).toBe('diff.json: entry [0]: "length" is not an integer: 4096.5');
    expect(refusal('[{"offset":"4096","length":4096,"exists":"true"}]', j).message).toBe(
      'diff.json: entry [0]: "offset" must be an integer, got "4096"',
    );
    expect(refusal('[{"offset":1e300,"length":1,"exists":"true"}]', j).message).toMatch(/"offset" is too large to be exact/);
  });

  it('malformed JSON entries', () => {
    const j = { volumeSize, source: 'diff.json' };
    expect(refusal('[{"offset":0,"length":4096,"exists":"true"},{"offset":4096,"length":4096}]', j).message).toBe(
      'diff.json: entry [1]: missing "exists"',
    );
    expect(refusal('[{"offset":0,"length":4096,"exists":"maybe"}]', j).message).toBe(
      'diff.json: entry [0]: "exists" must be true or false, got "maybe"',
    );
    expect(refusal('[{"offset":0,"length":4096,"exists":"true"}, 7]', j).message).toBe('diff.json: entry [1]: expected an object, got 7');
    expect(refusal('[{"start":0,"length":4096,"depth":0,"zero":false}]', { volumeSize, source: 'map.json' }).message).toBe(
      'map.json: entry [0]: missing "data"',
    );
    expect(refusal('[{"start":0,"length":4096,"zero":"no","data":true}]', { volumeSize, source: 'map.json' }).message).toBe(
      'map.json: entry [0]: "zero" must be true or false, got "no"',
    );
    expect(refusal('[{"foo":1}]', j).message).toMatch(/^diff\.json: entry \[0\]: unknown extent list/);
    expect(refusal('[{"offset":0,"length":4096,"exists":"true"}', j).message).toMatch(/^diff\.json: not valid JSON: /);
    expect(refusal('{"extents":[]}', j).message).toBe('diff.json: expected a JSON array of extents, got object');
  });

  it("qemu-img map's human output is refused with the fix", () => {
    const text = 'Offset          Length          Mapped to       File\n0               0x20000         0x50000         /tmp/a.qcow2\n';
    expect(refusal(text, { volumeSize, source: 'map.txt' }).message).toBe(
      'map.txt: line 1: this is the human output of `qemu-img map`; use `qemu-img map --output=json`',
    );
  });

  it('without a source name the message still says where', () => {
    expect(refusal('0 4096\n0 x\n', { volumeSize }).message).toBe('extent list: line 2: length is not a decimal or 0x-hex integer: "x"');
  });

  it('a bad volume size', () => {
    expect(refusal('', { volumeSize: -1 }).message).toMatch(/volume size must be a non-negative integer/);
  });
});

describe('blocksTouched', () => {
  const bs = 64 * KiB;
  const vol = 16 * bs; // 1 MiB, 16 blocks
  const states = (extents: Extent[], volumeSize = vol): number[] => [...blocksTouched(extents, bs, volumeSize).changed];

  it('an extent ending exactly at a block boundary touches only the blocks it covers', () => {
    expect(states([d(0, bs)]).slice(0, 3)).toEqual([1, 0, 0]);
    expect(states([d(bs, 2 * bs)]).slice(0, 4)).toEqual([0, 1, 1, 0]);
    // One byte past the boundary touches the next block.
    expect(states([d(0, bs + 1)]).slice(0, 3)).toEqual([1, 1, 0]);
    // Starting one byte before a boundary touches the previous block.
    expect(states([d(bs - 1, 2)]).slice(0, 3)).toEqual([1, 1, 0]);
  });

  it('a tiny extent inside a block touches that block', () => {
    const r = blocksTouched([d(3 * bs + 100, 10)], bs, vol);
    expect([...r.changed]).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(r).toMatchObject({ blockSize: bs, blockCount: 16, dataBlocks: 1, zeroBlocks: 0 });
  });

  it('a zero extent covering part of a block makes it "data touched" (it must be read)', () => {
    expect(states([z(3 * bs + 100, bs)]).slice(2, 6)).toEqual([0, 1, 1, 0]);
    expect(states([z(5 * bs, 100)]).slice(4, 7)).toEqual([0, 1, 0]);
  });

  it('zero extents covering whole blocks make them 2; the partial ends are 1', () => {
    expect(states([z(5 * bs, 2 * bs)]).slice(4, 8)).toEqual([0, 2, 2, 0]);
    expect(states([z(7 * bs, bs + 10)]).slice(6, 10)).toEqual([0, 2, 1, 0]);
    expect(states([z(7 * bs - 10, bs + 20)]).slice(5, 10)).toEqual([0, 1, 2, 1, 0]);
    // Two touching zero extents that together cover a block.
    expect(states([z(2 * bs, bs / 2), z(2 * bs + bs / 2, bs / 2)]).slice(1, 4)).toEqual([0, 2, 0]);
    expect(states([z(0, vol)])).toEqual(new Array(16).fill(BlockTouch.zero));
  });

  it('data inside a zero range wins for its block only', () => {
    const r = blocksTouched([z(9 * bs, 3 * bs), d(10 * bs + 5, 10)], bs, vol);
    expect([...r.changed].slice(8, 13)).toEqual([0, 2, 1, 2, 0]);
    expect(r.dataBlocks).toBe(1);
    expect(r.zeroBlocks).toBe(2);
  });

  it('a short last block: a zero extent reaching the volume end covers it fully', () => {
    const odd = vol + 1000; // 17 blocks, the last one 1000 bytes
    expect(blocksTouched([], bs, odd).blockCount).toBe(17);
    expect(states([z(16 * bs, 1000)], odd)[16]).toBe(BlockTouch.zero);
    expect(states([z(15 * bs, bs + 1000)], odd).slice(15)).toEqual([2, 2]);
    expect(states([z(16 * bs + 1, 999)], odd)[16]).toBe(BlockTouch.data);
    expect(states([d(odd - 1, 1)], odd)[16]).toBe(BlockTouch.data);
  });

  it('works from parsed fixtures', () => {
    const { extents } = parseExtents(fixture('qemu-img-map-qcow2-overlay.json'), { volumeSize: 64 * MiB });
    const r = blocksTouched(extents, 4 * MiB, 64 * MiB);
    // Block 0: data at 0..128K, zeros after. Block 1: zeros 4M..8M. Block 2: data at 8M. Rest zero.
    expect([...r.changed]).toEqual([1, 2, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    const rbd = blocksTouched(parseExtents(fixture('rbd-diff.json'), { volumeSize: GiB }).extents, 4 * MiB, GiB);
    expect(rbd.blockCount).toBe(256);
    const touched = [...rbd.changed].flatMap((v, i) => (v ? [`${i}:${v}`] : []));
    expect(touched).toEqual(['0:1', '3:1', '16:2', '17:2', '25:1', '64:1', '65:1', '128:2', '129:2', '130:2', '131:2', '255:1']);
  });

  it('refuses extents past the volume and bad sizes', () => {
    expect(() => blocksTouched([d(vol - 10, 20)], bs, vol)).toThrow(/ends at 0x10000a, past the volume size 1048576/);
    expect(() => blocksTouched([], 0, vol)).toThrow(/block size must be a positive integer/);
    expect(() => blocksTouched([], bs, -1)).toThrow(/volume size must be a non-negative integer/);
  });
});
