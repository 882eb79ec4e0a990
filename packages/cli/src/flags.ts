/** Helpers shared by the commands: integer flags, and API errors renamed to the flags that fed them. */
import { expectInteger, invalidArgumentText, KqkdError } from '@kqkd/common';

/** A number flag (`--lr 0.05`); bounds are the API's to check. */
export function numFlag(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) invalidArgumentText(name, 'a number', `"${value}"`);
  return n;
}

export function intFlag(name: string, value: string | undefined, min: number): number {
  const n = value === undefined ? NaN : Number(value);
  return expectInteger(name, Number.isInteger(n) ? n : value, min);
}

/** A comma-separated list of at least `min` positive numbers (`--tune-lr 0.005,0.01,0.05`). */
export function numberListFlag(name: string, value: string, o: { min: number; what: string }): number[] {
  const parts = value.split(',').map((p) => p.trim()).filter(Boolean);
  const bad = parts.find((p) => !/^[0-9.eE+-]+$/.test(p) || !Number.isFinite(Number(p)) || Number(p) <= 0);
  if (bad !== undefined || parts.length < o.min) {
    throw new KqkdError(name, `a comma-separated list of at least ${o.min} ${o.what}`, bad !== undefined ? `"${bad}" in "${value}"` : `"${value}"`);
  }
  return parts.map(Number);
}

/** The flag of an option name, also inside a field path (`distill.pairs.0` → `--distill.pairs.0`). */
function flagOf(names: Readonly<Record<string, string>>, argument: string): string | undefined {
  if (Object.hasOwn(names, argument)) return names[argument];
  const m = /^([^.[]+)([.[].*)$/.exec(argument);
  return m && Object.hasOwn(names, m[1]) ? `${names[m[1]]}${m[2]}` : undefined;
}

/**
 * Runs an API call and renames, in a KqkdError it throws, the option names to the flags the user typed
 * (`dataDir` → `--data-dir`), so every message names what the user can change.
 */
export async function withFlagNames<T>(names: Readonly<Record<string, string>>, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const argument = err instanceof KqkdError ? flagOf(names, err.argument) : undefined;
    if (err instanceof KqkdError && argument !== undefined) {
      // The same class (a RunFailedError stays one: it sets the exit code).
      const renamed = new (err.constructor as typeof KqkdError)(argument, err.expected, err.received, err.detail);
      renamed.stack = err.stack;
      throw renamed;
    }
    throw err;
  }
}
