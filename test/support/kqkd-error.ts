/**
 * Test helpers shared by the packages' tests: the KqkdError a call throws, checked to carry its three parts (the
 * argument, the expectation, what was received) in its message, and an assertion on each part.
 */
import { expect } from 'vitest';
import { KqkdError } from '@kqkd/common';

/** The KqkdError `fn` throws: its field path, rule and received value (and the message that says all three). */
export function kqkdError(fn: () => unknown): KqkdError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KqkdError);
    const k = e as KqkdError;
    expect(k.message).toContain(`Expected ${k.expected} for ${k.argument} but received ${k.received}`);
    return k;
  }
  throw new Error('expected a KqkdError, nothing was thrown');
}

/** `fn` throws a KqkdError naming `field`, with `rule` in its expectation and `received` as what came. */
export function expectError(fn: () => unknown, field: string, rule: string | RegExp, received: string | RegExp): KqkdError {
  const e = kqkdError(fn);
  expect(e.argument).toBe(field);
  if (typeof rule === 'string') expect(e.expected).toContain(rule); else expect(e.expected).toMatch(rule);
  if (typeof received === 'string') expect(e.received).toBe(received); else expect(e.received).toMatch(received);
  return e;
}
