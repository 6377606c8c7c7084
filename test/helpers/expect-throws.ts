import { expect } from 'vitest';

/** Runs fn and returns what it threw, asserting it is an Error whose message matches (a thrown non-Error fails: vitest's toThrow(string) passes when undefined is thrown). */
export function expectThrows(fn: () => unknown, expected?: string | RegExp | (abstract new (...args: never[]) => Error)): Error {
  let thrown: unknown;
  let threw = false;
  try {
    fn();
  } catch (err) {
    threw = true;
    thrown = err;
  }
  expect(threw, 'expected a throw').toBe(true);
  expect(thrown).toBeInstanceOf(Error);
  const err = thrown as Error;
  if (typeof expected === 'string') expect(err.message).toContain(expected);
  else if (expected instanceof RegExp) expect(err.message).toMatch(expected);
  else if (expected !== undefined) expect(err).toBeInstanceOf(expected);
  return err;
}
