// A backup's lanes share fewer read buffers than there are lanes: a lane waits for one, gets
// the one given back, and is released (rejected) when the backup stops.
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { ReadBuffers, type ReadBuffer } from '../../src/engine/read-buffers.js';
import { DIRECT_ALIGN, directAligned } from '../../src/native/direct-io.js';

describe('ReadBuffers', () => {
  it('makes at most `count` buffers; a further take waits for one given back', async () => {
    const rb = new ReadBuffers(DIRECT_ALIGN, 2);
    const stop = new AbortController();
    const a = await rb.take(stop.signal);
    const b = await rb.take(stop.signal);
    expect(a).not.toBe(b);
    // Room for the block from an aligned start, so a device can be read into it directly.
    expect(a.ab.byteLength - a.offset).toBeGreaterThanOrEqual(16);
    expect(directAligned(new Uint8Array(a.ab, a.offset, DIRECT_ALIGN), 0)).toBe(true);
    let third: ReadBuffer | undefined;
    const waiting = rb.take(stop.signal).then((x) => (third = x));
    await new Promise((r) => setImmediate(r));
    expect(third).toBeUndefined();
    rb.give(b);
    await waiting;
    expect(third).toBe(b);
    rb.give(a);
    expect(await rb.take(stop.signal)).toBe(a); // reused, not a new one
  });

  it('rejects a waiting take when the backup stops, and a take after it', async () => {
    const rb = new ReadBuffers(16, 1);
    const stop = new AbortController();
    const held = await rb.take(stop.signal);
    const waiting = rb.take(stop.signal);
    stop.abort(new Error('lane 2 failed'));
    await expect(waiting).rejects.toMatchObject({ code: ErrorCodes.aborted });
    await expect(rb.take(stop.signal)).rejects.toMatchObject({ code: ErrorCodes.aborted });
    // The rejected waiter is gone: a buffer given back later is kept for the next take.
    rb.give(held);
    expect(await rb.take(new AbortController().signal)).toBe(held);
  });

  it('needs one buffer per worker and one being read, never more than the lanes', () => {
    expect(ReadBuffers.countFor(4, 2)).toBe(3);
    expect(ReadBuffers.countFor(8, 2)).toBe(3);
    expect(ReadBuffers.countFor(2, 2)).toBe(2);
    expect(ReadBuffers.countFor(4, 0)).toBe(1);
  });
});
