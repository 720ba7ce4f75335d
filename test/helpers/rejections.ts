// What a promise rejected with; a promise that fulfils fails the test.
import { expect } from 'vitest';
import { BlockvaultError } from '../../src/errors.js';

export async function rejection<E = unknown>(p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (e) {
    return e as E;
  }
  throw new Error('expected a rejection');
}

/** The BlockvaultError a promise rejected with (anything else fails the test). */
export async function blockvaultRejection(p: Promise<unknown>): Promise<BlockvaultError> {
  const e = await rejection(p);
  expect(e).toBeInstanceOf(BlockvaultError);
  return e as BlockvaultError;
}
