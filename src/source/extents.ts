// Changed-extent and allocated-extent lists handed to us by the platform, so a backup reads only
// what changed (or what is allocated) instead of scanning the whole volume.
//
// Accepted inputs, as the real tools print them:
//  - Ceph `rbd diff --format json [--from-snap S] pool/image`: a JSON array of
//    {"offset":N,"length":N,"exists":"true"|"false"}. exists=false means the range was discarded
//    or zeroed (reads as zeros). Ceph prints exists as a string; booleans are accepted too.
//    Without --from-snap the list is the image's allocated extents.
//  - `qemu-img map --output=json IMAGE`: a JSON array covering the whole image, each entry
//    {"start":N,"length":N,"depth":N,"present":bool,"zero":bool,"data":bool,"compressed"?:bool,
//    "offset"?:N}. It is an ALLOCATED extent list. An entry is data when data=true and zero=false;
//    everything else reads as zeros: zero=true (also with data=true: allocated but known zero,
//    which qemu-img's own human output leaves out too), and holes (data=false, whether present
//    or not: unallocated anywhere in the backing chain reads as zeros). Data found in a backing
//    file (depth>0) is the image's data all the same. `present` (qemu ≥6.2) and `compressed`
//    (qemu ≥8.2) are optional.
//  - plain text: one extent per line, `OFFSET LENGTH [zero|data]`, decimal or 0x-hex numbers,
//    `#` comments and blank lines allowed. The table `rbd diff` prints without --format
//    ("Offset Length Type" header, then `N N data|zero` rows) is this format too.

import { BlockvaultError, ErrorCodes } from '../errors.js';

/** A byte range of the volume. zero: the platform says it reads as zeros (discarded/zeroed/hole). */
export type Extent = { offset: number; length: number; zero: boolean };

export type ExtentFormat = 'rbd-diff' | 'qemu-img-map' | 'plain';

export interface ParseExtentsOptions {
  /** Bytes; every extent must end at or before it. */
  volumeSize: number;
  /** Default 'auto': decided by the content. */
  format?: 'auto' | ExtentFormat;
  /** Where the text came from (a file name), for messages. */
  source?: string;
}

export interface ParsedExtents {
  format: ExtentFormat;
  /** Sorted, non-overlapping; adjacent ranges of the same kind merged; data wins over zero. */
  extents: Extent[];
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function bad(source: string, where: string | undefined, what: string, details: Record<string, unknown> = {}): BlockvaultError {
  const at = where ? `${source}: ${where}: ` : `${source}: `;
  return new BlockvaultError(ErrorCodes.badInput, `${at}${what}`, {
    hint: 'give the output of `rbd diff --format json`, `qemu-img map --output=json`, or a plain "offset length [zero]" list',
    details: { source, ...(where ? { at: where } : {}), ...details },
  });
}

/** Checks an extent against the volume and returns it (null for an empty one, which is dropped). */
function checkExtent(
  source: string,
  where: string,
  offset: number,
  length: number,
  zero: boolean,
  volumeSize: number,
): Extent | null {
  const end = offset + length;
  if (end > volumeSize || !Number.isSafeInteger(end)) {
    throw bad(
      source,
      where,
      `extent at ${hex(offset)} length ${length} ends at ${hex(end)}, past the volume size ${volumeSize} (${hex(volumeSize)})`,
      { offset, length, volumeSize },
    );
  }
  return length === 0 ? null : { offset, length, zero };
}

// ---- JSON formats -------------------------------------------------------------------------------

function jsonInteger(source: string, where: string, entry: Record<string, unknown>, key: string): number {
  if (!(key in entry)) throw bad(source, where, `missing "${key}"`);
  const v = entry[key];
  if (typeof v !== 'number') throw bad(source, where, `"${key}" must be an integer, got ${JSON.stringify(v)}`);
  if (!Number.isInteger(v)) throw bad(source, where, `"${key}" is not an integer: ${v}`);
  if (v < 0) throw bad(source, where, `"${key}" is negative: ${v}`);
  if (!Number.isSafeInteger(v)) throw bad(source, where, `"${key}" is too large to be exact: ${v}`);
  return v;
}

function jsonBoolean(source: string, where: string, entry: Record<string, unknown>, key: string, optional = false): boolean | undefined {
  if (!(key in entry)) {
    if (optional) return undefined;
    throw bad(source, where, `missing "${key}"`);
  }
  const v = entry[key];
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw bad(source, where, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
}

function entryAt(source: string, list: unknown[], i: number): { where: string; entry: Record<string, unknown> } {
  const where = `entry [${i}]`;
  const entry = list[i];
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw bad(source, where, `expected an object, got ${JSON.stringify(entry)}`);
  }
  return { where, entry: entry as Record<string, unknown> };
}

function parseRbdDiff(source: string, list: unknown[], volumeSize: number): Extent[] {
  const out: Extent[] = [];
  for (let i = 0; i < list.length; i++) {
    const { where, entry } = entryAt(source, list, i);
    const offset = jsonInteger(source, where, entry, 'offset');
    const length = jsonInteger(source, where, entry, 'length');
    const exists = jsonBoolean(source, where, entry, 'exists') as boolean;
    const e = checkExtent(source, where, offset, length, !exists, volumeSize);
    if (e) out.push(e);
  }
  return out;
}

function parseQemuImgMap(source: string, list: unknown[], volumeSize: number): Extent[] {
  const out: Extent[] = [];
  for (let i = 0; i < list.length; i++) {
    const { where, entry } = entryAt(source, list, i);
    const start = jsonInteger(source, where, entry, 'start');
    const length = jsonInteger(source, where, entry, 'length');
    const data = jsonBoolean(source, where, entry, 'data') as boolean;
    const zero = jsonBoolean(source, where, entry, 'zero') as boolean;
    jsonBoolean(source, where, entry, 'present', true); // checked for shape; holes read as zeros either way
    if ('depth' in entry) jsonInteger(source, where, entry, 'depth');
    const e = checkExtent(source, where, start, length, !(data && !zero), volumeSize);
    if (e) out.push(e);
  }
  return out;
}

function detectJson(list: unknown[]): ExtentFormat | undefined {
  const first = list.find((e) => e !== null && typeof e === 'object' && !Array.isArray(e)) as
    | Record<string, unknown>
    | undefined;
  if (first === undefined) return undefined;
  if ('start' in first && ('data' in first || 'zero' in first)) return 'qemu-img-map';
  if ('offset' in first && 'exists' in first) return 'rbd-diff';
  return undefined;
}

// ---- plain text ---------------------------------------------------------------------------------

const DECIMAL = /^[0-9]+$/;
const HEX = /^0x[0-9a-f]+$/i;

function plainNumber(source: string, where: string, token: string, what: string): number {
  let v: number;
  if (DECIMAL.test(token)) v = Number(token);
  else if (HEX.test(token)) v = Number.parseInt(token.slice(2), 16);
  else if (/^-\s*(0x[0-9a-f]+|[0-9]+)$/i.test(token)) throw bad(source, where, `${what} is negative: ${token}`);
  else if (/^[+]?([0-9]+\.[0-9]*|\.[0-9]+)$/.test(token)) throw bad(source, where, `${what} is not an integer: ${token}`);
  else throw bad(source, where, `${what} is not a decimal or 0x-hex integer: ${JSON.stringify(token)}`);
  if (!Number.isSafeInteger(v)) throw bad(source, where, `${what} is too large to be exact: ${token}`);
  return v;
}

function parsePlain(source: string, text: string, volumeSize: number): Extent[] {
  const out: Extent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const where = `line ${i + 1}`;
    const hash = lines[i]!.indexOf('#');
    const line = (hash >= 0 ? lines[i]!.slice(0, hash) : lines[i]!).trim();
    if (line === '') continue;
    const tokens = line.split(/\s+/);
    // The header of `rbd diff`'s table output.
    if (/^offset$/i.test(tokens[0]!) && tokens.length <= 3 && /^length$/i.test(tokens[1] ?? '')) continue;
    if (/^offset$/i.test(tokens[0]!) && /mapped/i.test(line)) {
      throw bad(source, where, 'this is the human output of `qemu-img map`; use `qemu-img map --output=json`');
    }
    if (tokens.length < 2 || tokens.length > 3) {
      throw bad(source, where, `expected "offset length [zero|data]", got ${JSON.stringify(line)}`);
    }
    const offset = plainNumber(source, where, tokens[0]!, 'offset');
    const length = plainNumber(source, where, tokens[1]!, 'length');
    let zero = false;
    if (tokens.length === 3) {
      const kind = tokens[2]!.toLowerCase();
      if (kind === 'zero') zero = true;
      else if (kind !== 'data') throw bad(source, where, `third word must be "zero" or "data", got ${JSON.stringify(tokens[2])}`);
    }
    const e = checkExtent(source, where, offset, length, zero, volumeSize);
    if (e) out.push(e);
  }
  return out;
}

// ---- normalising --------------------------------------------------------------------------------

/** Sorts and merges overlapping or touching ranges (all of one kind). */
function mergeRanges(list: Extent[], zero: boolean): Extent[] {
  const sorted = list.filter((e) => e.zero === zero && e.length > 0).sort((a, b) => a.offset - b.offset);
  const out: Extent[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && e.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, e.offset + e.length - last.offset);
    } else {
      out.push({ offset: e.offset, length: e.length, zero });
    }
  }
  return out;
}

/**
 * Sorted, non-overlapping extents: same-kind ranges that overlap or touch are merged, and where a
 * data range and a zero range overlap, data wins (the zero range is cut around it).
 */
export function normalizeExtents(extents: readonly Extent[]): Extent[] {
  const data = mergeRanges([...extents], false);
  const zeros = mergeRanges([...extents], true);
  const out: Extent[] = [];
  let d = 0;
  for (const z of zeros) {
    let start = z.offset;
    const end = z.offset + z.length;
    // Emit data ranges before this zero range, then subtract the ones that overlap it.
    while (d < data.length && data[d]!.offset + data[d]!.length <= start) out.push(data[d++]!);
    let k = d;
    while (start < end && k < data.length && data[k]!.offset < end) {
      const dd = data[k]!;
      if (dd.offset > start) out.push({ offset: start, length: dd.offset - start, zero: true });
      start = Math.max(start, dd.offset + dd.length);
      k++;
    }
    if (start < end) out.push({ offset: start, length: end - start, zero: true });
  }
  while (d < data.length) out.push(data[d++]!);
  out.sort((a, b) => a.offset - b.offset);
  return out;
}

/** Parses an extent list (see the header of this file for the formats) and normalises it. */
export function parseExtents(text: string, opts: ParseExtentsOptions): ParsedExtents {
  const source = opts.source ?? 'extent list';
  const { volumeSize } = opts;
  if (!Number.isSafeInteger(volumeSize) || volumeSize < 0) {
    throw bad(source, undefined, `volume size must be a non-negative integer, got ${volumeSize}`);
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // a BOM from some editors
  const trimmed = body.trimStart();
  const looksJson = trimmed.startsWith('[') || trimmed.startsWith('{');
  let format = opts.format ?? 'auto';

  if (format === 'plain' || (format === 'auto' && !looksJson)) {
    return { format: 'plain', extents: normalizeExtents(parsePlain(source, body.replace(/\r/g, ''), volumeSize)) };
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw bad(source, undefined, `not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    throw bad(source, undefined, `expected a JSON array of extents, got ${parsed === null ? 'null' : typeof parsed}`);
  }
  if (format === 'auto') {
    const detected = detectJson(parsed);
    if (detected === undefined && parsed.length > 0) {
      throw bad(
        source,
        'entry [0]',
        'unknown extent list: expected rbd diff entries {"offset","length","exists"} or qemu-img map entries {"start","length","data","zero"}',
      );
    }
    format = detected ?? 'rbd-diff'; // an empty array: nothing changed
  }
  const extents = format === 'qemu-img-map' ? parseQemuImgMap(source, parsed, volumeSize) : parseRbdDiff(source, parsed, volumeSize);
  return { format, extents: normalizeExtents(extents) };
}

// ---- per-block view ----------------------------------------------------------------------------

/** Values of BlocksTouched.changed. */
export const BlockTouch = {
  /** No extent touches the block: unchanged (changed list) or unallocated/unlisted (allocated list). */
  untouched: 0,
  /** Some byte of the block lies in a data extent, or a zero extent covers only part of it: read it. */
  data: 1,
  /** Zero extents cover every byte of the block (the last block: up to the volume end): it is all zeros. */
  zero: 2,
} as const;
export type BlockTouchValue = (typeof BlockTouch)[keyof typeof BlockTouch];

export interface BlocksTouched {
  blockSize: number;
  /** ceil(volumeSize / blockSize); the last block may be shorter than blockSize. */
  blockCount: number;
  /** One byte per block index: 0 untouched, 1 data touched, 2 fully zero (see BlockTouch). */
  changed: Uint8Array;
  /** How many blocks are 1 and 2. */
  dataBlocks: number;
  zeroBlocks: number;
}

/**
 * Which fixed-size blocks an extent list touches. A block partly covered by a zero extent is
 * "data touched" (1): the rest of it may still hold data, so it must be read; only blocks that
 * zero extents cover completely are 2. The extents need not be normalised (overlaps resolve as
 * in parseExtents: data wins).
 */
export function blocksTouched(extents: readonly Extent[], blockSize: number, volumeSize: number): BlocksTouched {
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) {
    throw new BlockvaultError(ErrorCodes.badInput, `block size must be a positive integer, got ${blockSize}`);
  }
  if (!Number.isSafeInteger(volumeSize) || volumeSize < 0) {
    throw new BlockvaultError(ErrorCodes.badInput, `volume size must be a non-negative integer, got ${volumeSize}`);
  }
  const blockCount = Math.ceil(volumeSize / blockSize);
  const changed = new Uint8Array(blockCount);
  const list = normalizeExtents(extents);
  for (const e of list) {
    const end = e.offset + e.length;
    if (e.offset < 0 || end > volumeSize) {
      throw new BlockvaultError(
        ErrorCodes.badInput,
        `extent at ${hex(e.offset)} length ${e.length} ends at ${hex(end)}, past the volume size ${volumeSize} (${hex(volumeSize)})`,
        { details: { offset: e.offset, length: e.length, volumeSize } },
      );
    }
  }
  // Data first: any block a data extent touches is 1.
  for (const e of list) {
    if (e.zero) continue;
    const first = Math.floor(e.offset / blockSize);
    const last = Math.floor((e.offset + e.length - 1) / blockSize);
    changed.fill(BlockTouch.data, first, last + 1);
  }
  // Zero extents (disjoint from data after normalising, and merged with each other): whole blocks
  // inside become 2; the partly covered blocks at either end become 1 unless already set.
  for (const e of list) {
    if (!e.zero) continue;
    const end = e.offset + e.length;
    const firstFull = Math.ceil(e.offset / blockSize);
    // A zero extent reaching the volume end covers the (possibly short) last block fully.
    const endFull = end === volumeSize ? blockCount : Math.floor(end / blockSize);
    for (const b of [Math.floor(e.offset / blockSize), Math.floor((end - 1) / blockSize)]) {
      if ((b < firstFull || b >= endFull) && changed[b] === BlockTouch.untouched) changed[b] = BlockTouch.data;
    }
    if (endFull > firstFull) changed.fill(BlockTouch.zero, firstFull, endFull);
  }
  let dataBlocks = 0;
  let zeroBlocks = 0;
  for (let i = 0; i < blockCount; i++) {
    const v = changed[i];
    if (v === BlockTouch.data) dataBlocks++;
    else if (v === BlockTouch.zero) zeroBlocks++;
  }
  return { blockSize, blockCount, changed, dataBlocks, zeroBlocks };
}
