/** Helpers shared by the commands: integer flags, and API errors renamed to the flags that fed them. */
import { expectInteger, KqkdError } from '@kqkd/common';

export function intFlag(name: string, value: string | undefined, min: number): number {
  const n = value === undefined ? NaN : Number(value);
  return expectInteger(name, Number.isInteger(n) ? n : value, min);
}

/**
 * Runs an API call and renames, in a KqkdError it throws, the option names to the flags the user typed
 * (`dataDir` → `--data-dir`), so every message names what the user can change.
 */
export async function withFlagNames<T>(names: Readonly<Record<string, string>>, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KqkdError && names[err.argument] !== undefined) {
      const renamed = new KqkdError(names[err.argument], err.expected, err.received, err.detail);
      renamed.stack = err.stack;
      throw renamed;
    }
    throw err;
  }
}
