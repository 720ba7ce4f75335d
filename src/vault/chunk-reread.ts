// A bad body is not yet damage: a reset, a truncated transfer or a flipped bit on the wire
// looks the same as rot at rest on the first read. An object whose bytes fail their check is
// read again (a few times, short backoff); it is called damaged only when two reads return
// the same bad bytes. Reads that fail differently every time are a transport fault (exit 1),
// and an object that re-reads clean is simply used.
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockvaultError, ErrorCodes } from '../errors.js';

/** Pauses before each re-read (ms). */
export const REREAD_BACKOFF_MS = [20, 100, 400] as const;

export interface RereadOutcome {
  /** The check's error on the last bad read. */
  error: Error;
  /** True when two reads returned the same bad bytes: the object itself is bad. */
  stable: boolean;
  reads: number;
}

/**
 * Reads with `get` and checks with `check` (which throws on bad bytes) until a read checks
 * clean or two reads give the same bad bytes. Errors of `get` itself (not found, transport)
 * pass through unchanged. `damaged` builds the error for a bad outcome.
 */
export async function readChecked<T>(
  get: () => Promise<Buffer>,
  check: (buf: Buffer) => T,
  damaged: (o: RereadOutcome) => Error,
  signal?: AbortSignal,
): Promise<T> {
  let previous: Buffer | undefined;
  let error: Error | undefined;
  for (let reads = 1; ; reads++) {
    const buf = await get();
    try {
      return check(buf);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
      if (previous?.equals(buf)) throw damaged({ error, stable: true, reads });
      if (reads > REREAD_BACKOFF_MS.length) throw damaged({ error, stable: false, reads });
      previous = buf;
    }
    await sleep(REREAD_BACKOFF_MS[reads - 1], undefined, signal ? { signal } : undefined);
  }
}

/** The error for reads that came back bad and different every time (not damage at rest). */
export function unstableReadError(object: string, where: string, o: RereadOutcome): BlockvaultError {
  return new BlockvaultError(
    ErrorCodes.store,
    `${o.reads} reads of ${object} in ${where} returned different bad bytes (${o.error.message}); the object may be intact`,
    {
      hint: 'the network or the server corrupts data in transit: check them and run the operation again; do not overwrite the object',
      details: { object, reads: o.reads },
    },
  );
}
