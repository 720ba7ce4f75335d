// The archive reader against crafted input: every refusal names the entry and says why,
// and a whole archive comes through part by part with its bytes intact.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { chunkEntryName, chunkFrameCapacity, CHECKSUM_PAX, HEADER_ENTRY, MANIFEST_ENTRY } from '../../src/engine/archive/format.js';
import { ArchiveWriter } from '../../src/engine/archive/writer.js';
import { BLOCK, packRaw, readAll, sampleParts, validEntries, writeArchive, type RawEntry } from './archive-fixture.js';

const refused = (error: any, entry: string, why: RegExp) => {
  expect(error?.code, String(error?.stack ?? error)).toBe(ErrorCodes.badInput);
  expect(error.message).toContain(JSON.stringify(entry));
  expect(error.message).toMatch(why);
  expect(error.details.entry).toBe(entry);
};
const damaged = (error: any, why: RegExp) => {
  expect(error?.code, String(error?.stack ?? error)).toBe(ErrorCodes.corruptChunk);
  expect(error.message).toMatch(why);
};

describe('archive round trip', () => {
  it('yields header, manifest, every chunk intact, then the end', async () => {
    const p = sampleParts();
    const { parts, error } = await readAll(await writeArchive(p));
    expect(error).toBeUndefined();
    expect(parts.map((x) => x.kind)).toEqual(['header', 'manifest', 'chunk', 'chunk', 'chunk', 'end']);
    const chunks = parts.filter((x) => x.kind === 'chunk');
    chunks.forEach((c, i) => {
      expect(c.idHex).toBe(p.chunks[i]!.idHex);
      expect(c.object.equals(p.chunks[i]!.object)).toBe(true);
    });
  });

  it('a raw pack of the valid entries reads too (the crafted cases below start from it)', async () => {
    const { error } = await readAll(await packRaw(validEntries(sampleParts())));
    expect(error).toBeUndefined();
  });
});

describe('entries that would leave the archive', () => {
  const cases: [string, RegExp][] = [
    ['../../etc/passwd', /"\.\." component/],
    ['chunks/../../x', /"\.\." component/],
    ['/etc/passwd', /absolute path/],
    ['C:/x', /absolute path/],
    ['chunks\\..\\x', /backslash/],
  ];
  for (const [name, why] of cases) {
    it(`refuses ${JSON.stringify(name)}`, async () => {
      const list = validEntries(sampleParts());
      list.splice(2, 0, { name, body: Buffer.from('x') });
      const { error, parts } = await readAll(await packRaw(list));
      refused(error, name, why);
      expect(parts.some((x) => x.kind === 'end')).toBe(false);
    });
  }

  const typed: [RawEntry['type'], string][] = [
    ['symlink', '/etc/shadow'],
    ['link', 'blockvault-archive.json'],
    ['directory', ''],
    ['character-device', ''],
    ['block-device', ''],
    ['fifo', ''],
  ];
  for (const [type, linkname] of typed) {
    it(`refuses a ${type} entry`, async () => {
      const p = sampleParts();
      const list = validEntries(p);
      const name = chunkEntryName(p.chunks[0]!.idHex);
      list[2] = { name, type, ...(linkname ? { linkname } : {}) };
      const { error } = await readAll(await packRaw(list));
      refused(error, name, new RegExp(`it is a ${type}`));
      if (linkname) expect(error.message).toContain(linkname);
    });
  }
});

describe('unknown, duplicate, misplaced and oversized entries', () => {
  it('refuses an entry of a tar type it does not know (here GNU sparse, flag S)', async () => {
    const p = sampleParts();
    const list = validEntries(p);
    delete list[2]!.pax; // keep the chunk's own header the one right after the manifest
    const bytes = await packRaw(list);
    const name = list[2]!.name;
    // Find the chunk's tar header (its name field), set its type flag, fix its checksum.
    const at = bytes.indexOf(Buffer.from(name + '\0', 'latin1'));
    expect(at % 512).toBe(0);
    bytes[at + 156] = 'S'.charCodeAt(0);
    bytes.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += bytes[i]!;
    bytes.write(sum.toString(8).padStart(6, '0') + '\0 ', at + 148, 'latin1');
    refused((await readAll(bytes)).error, name, /unknown tar type/);
  });

  it('refuses a duplicate chunk', async () => {
    const list = validEntries(sampleParts());
    list.splice(3, 0, list[2]!);
    const { error, parts } = await readAll(await packRaw(list));
    refused(error, list[2]!.name, /appears twice/);
    expect(parts.filter((x) => x.kind === 'chunk')).toHaveLength(1);
  });

  it('refuses a second header', async () => {
    const list = validEntries(sampleParts());
    list.splice(2, 0, list[0]!);
    refused((await readAll(await packRaw(list))).error, HEADER_ENTRY, /appears twice/);
  });

  it('refuses an unknown name', async () => {
    const list = validEntries(sampleParts());
    list.splice(2, 0, { name: 'README.txt', body: Buffer.from('hi') });
    refused((await readAll(await packRaw(list))).error, 'README.txt', /unknown entry/);
  });

  it('refuses a chunk the manifest does not name', async () => {
    const list = validEntries(sampleParts());
    const stray = chunkEntryName('ab'.repeat(32));
    list.splice(2, 0, { ...list[2]!, name: stray });
    refused((await readAll(await packRaw(list))).error, stray, /manifest names no such chunk/);
  });

  it('refuses an archive that does not start with its header', async () => {
    const list = validEntries(sampleParts());
    list.shift();
    refused((await readAll(await packRaw(list))).error, MANIFEST_ENTRY, /first entry must be/);
  });

  it('refuses an entry after the trailer', async () => {
    const list = validEntries(sampleParts());
    list.push({ name: 'late.bin', body: Buffer.from('x') });
    refused((await readAll(await packRaw(list))).error, 'late.bin', /follows the trailer/);
  });

  it('refuses a chunk bigger than a frame of its block size can be, before reading it', async () => {
    const p = sampleParts();
    const list = validEntries(p);
    const cap = chunkFrameCapacity(BLOCK);
    list[2] = { ...list[2]!, size: cap + 1 };
    const { error } = await readAll(await packRaw(list));
    refused(error, list[2]!.name, new RegExp(`${cap + 1} bytes, more than a chunk of ${BLOCK}-byte blocks can be \\(${cap}\\)`));
  });

  it('refuses a chunk whose size differs from what the manifest says', async () => {
    const list = validEntries(sampleParts());
    list[2] = { ...list[2]!, body: Buffer.concat([list[2]!.body!, Buffer.from('xx')]) };
    refused((await readAll(await packRaw(list))).error, list[2]!.name, /the manifest says/);
  });

  it('refuses a header claiming a huge JSON entry', async () => {
    const list = validEntries(sampleParts());
    list[0] = { ...list[0]!, size: 2 * 1024 * 1024 };
    refused((await readAll(await packRaw(list))).error, HEADER_ENTRY, /more than a header can be/);
  });

  it('refuses a chunk without its checksum record', async () => {
    const list = validEntries(sampleParts());
    delete list[2]!.pax;
    refused((await readAll(await packRaw(list))).error, list[2]!.name, new RegExp(`no ${CHECKSUM_PAX}`));
  });
});

describe('damaged archives', () => {
  it('a truncated archive is damaged wherever it is cut', async () => {
    const bytes = await writeArchive(sampleParts());
    // Cut inside the header, the manifest, a chunk, between entries, and before the trailer.
    // Cut inside the end-of-archive blocks too: the reader needs the whole stream.
    for (const at of [100, 700, 2000, 40_000, 100_000, bytes.length - 1600, bytes.length - 1100, bytes.length - 10]) {
      const { error, parts } = await readAll(bytes.subarray(0, at));
      damaged(error, /truncated|ends/);
      expect(parts.some((x) => x.kind === 'end'), `cut at ${at}`).toBe(false);
    }
  });

  it('a flipped byte in a chunk body fails that chunk before it is handed on', async () => {
    const p = sampleParts();
    const bytes = await writeArchive(p);
    const at = bytes.indexOf(p.chunks[1]!.object.subarray(100, 164));
    expect(at).toBeGreaterThan(0);
    bytes[at] ^= 0x40;
    const { error, parts } = await readAll(bytes);
    damaged(error, /checksum mismatch/);
    expect(error.details.entry).toBe(chunkEntryName(p.chunks[1]!.idHex));
    expect(parts.filter((x) => x.kind === 'chunk')).toHaveLength(1);
  });

  it('a flipped byte in the manifest or in a tar header is damage', async () => {
    const p = sampleParts();
    const clean = await writeArchive(p);
    const inManifest = Buffer.from(clean);
    inManifest[inManifest.indexOf(p.manifest.subarray(40, 72))] ^= 1;
    damaged((await readAll(inManifest)).error, /checksum mismatch/);
    const inTarHeader = Buffer.from(clean);
    inTarHeader[10] ^= 1; // inside the first entry's name field
    const { error } = await readAll(inTarHeader);
    expect([ErrorCodes.corruptChunk, ErrorCodes.badInput]).toContain(error?.code);
  });

  it('a trailer that does not match the entries is damage', async () => {
    const list = validEntries(sampleParts());
    const t = JSON.parse(list[list.length - 1]!.body!.toString());
    t.blake3 = '0'.repeat(64);
    list[list.length - 1] = { ...list[list.length - 1]!, body: Buffer.from(JSON.stringify(t)) };
    damaged((await readAll(await packRaw(list))).error, /do not match/);
  });

  it('a missing chunk shows at the trailer', async () => {
    const list = validEntries(sampleParts());
    list.splice(3, 1);
    damaged((await readAll(await packRaw(list))).error, /do not match|chunks/);
  });
});

describe('writer backpressure', () => {
  it('add() waits while the output is not taking bytes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let taken = 0;
    const out = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        taken += chunk.length;
        gate.then(() => cb());
      },
    });
    const w = new ArchiveWriter(out);
    let added = 0;
    const body = Buffer.alloc(1024 * 1024, 1);
    const writing = (async () => {
      for (let i = 0; i < 8; i++) {
        await w.add(`e${i}`, body);
        added++;
      }
      await w.finish();
    })();
    await new Promise((r) => setTimeout(r, 200));
    // One entry fits tar-stream's buffer plus the output's; the rest wait.
    expect(added).toBeLessThanOrEqual(2);
    expect(taken).toBeLessThan(3 * body.length);
    release();
    await writing;
    expect(added).toBe(8);
  });

  it('an output that fails makes add() reject with the cause', async () => {
    const out = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('disk gone'), { code: 'EIO' })) });
    const w = new ArchiveWriter(out);
    await expect((async () => {
      for (let i = 0; i < 4; i++) await w.add(`e${i}`, Buffer.alloc(256 * 1024));
      await w.finish();
    })()).rejects.toThrow(/disk gone/);
  });
});
