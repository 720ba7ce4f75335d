// Which vault a copy's failure came from: the service reports a full or unreachable
// destination with its own codes (6129, 1008), and only the destination's errors count.
export type CopySide = 'source' | 'destination';

const sides = new WeakMap<object, CopySide>();

/** Tags an error with the side it came from (the first tag wins); returns it. */
export function markSide(err: unknown, side: CopySide): unknown {
  if (err && typeof err === 'object' && !sides.has(err)) sides.set(err, side);
  return err;
}

export function sideOf(err: unknown): CopySide | undefined {
  return err && typeof err === 'object' ? sides.get(err) : undefined;
}
