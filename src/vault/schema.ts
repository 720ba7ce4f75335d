// Checking JSON read back from a store (and options given by a library caller) against a
// valibot schema, with an error that names the object and the first field that is wrong.
// valibot rather than zod: its schemas are plain functions that tree-shake, it adds ~10 KB
// instead of ~60 KB, and its parse of a small object is as fast (these objects are config,
// leases and manifest headers: a few per operation, never per block).
import * as v from 'valibot';
import { BlockvaultError, ErrorCodes, type ErrorCode } from '../errors.js';

/** "field.sub: message" for the first few issues. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((i) => {
      const at = v.getDotPath(i);
      return at ? `${at}: ${i.message}` : i.message;
    })
    .join('; ');
}

/**
 * The value, typed by the schema, or a BlockvaultError (vaultDamaged by default) that says
 * which object (`what`, e.g. "lease", at `key`) is wrong and where.
 */
export function parseStored<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  what: string,
  key: string,
  opts: { code?: ErrorCode; hint?: string } = {},
): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  const first = r.issues[0];
  throw new BlockvaultError(opts.code ?? ErrorCodes.vaultDamaged, `${what} ${key} is not valid: ${describeIssues(r.issues)}`, {
    hint: opts.hint ?? 'the object was not written by this blockvault or was changed by hand; run `blockvault verify`',
    details: { object: key, ...(first && v.getDotPath(first) ? { field: v.getDotPath(first) } : {}) },
  });
}

/** An ISO-8601 timestamp as blockvault writes them (Date#toISOString). */
export const IsoTime = v.pipe(v.string(), v.isoTimestamp());
export const NonNegativeInt = v.pipe(v.number(), v.integer(), v.minValue(0));
export const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));

/**
 * Options a library caller gave, checked at the entry point: a BV.BadInput (exit 2) that
 * names the field ("backup options: concurrency: …"). Extra fields are let through.
 */
export function checkOptions<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  const first = r.issues[0];
  const field = first ? v.getDotPath(first) : null;
  throw new BlockvaultError(ErrorCodes.badInput, `${what}: ${describeIssues(r.issues)}`, {
    hint: field ? `fix the ${field} option` : 'pass an options object',
    details: field ? { field } : {},
  });
}
