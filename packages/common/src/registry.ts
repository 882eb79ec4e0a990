/**
 * A registry of plug-ins under string keys (loss terms, layer-selection rules, training backends, methods): the keys
 * in registration order and a lookup whose error lists the valid keys.
 */
import { invalidArgument } from './errors.js';

export interface Registry<T> {
  readonly keys: readonly string[];
  get(key: string): T;
  has(key: string): boolean;
}

/** `what` names the kind of plug-in in errors ("loss term", "layer selection rule"). Keys must be unique. */
export function keyedRegistry<T extends { key: string }>(what: string, entries: readonly T[]): Registry<T> {
  const byKey = new Map<string, T>();
  for (const e of entries) {
    if (byKey.has(e.key)) invalidArgument(`${what} key`, 'a key registered once', e.key);
    byKey.set(e.key, e);
  }
  const keys = [...byKey.keys()];
  return {
    keys,
    has: (key) => byKey.has(key),
    get(key) {
      const e = byKey.get(key);
      if (!e) invalidArgument(what, `one of ${keys.join(', ')}`, key);
      return e;
    },
  };
}
