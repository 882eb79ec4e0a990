/**
 * One way to turn a zod validation failure into kqkd's error: the first problem becomes a KqkdError naming the field
 * (`config.optimizer.lr`, `experiment.training.epochs`), what the field expects in plain words, and the value that
 * came. Used by every config schema of the training engine, the distillation spec and the experiment file.
 */
import type { z } from 'zod';
import { KqkdError } from '@kqkd/common';

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** A short description of a received value: `"adam"`, `0`, `[1,2]`, `nothing`. */
export function describeReceived(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `"${v.length > 160 ? `${v.slice(0, 157)}...` : v}"`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return typeof v;
  }
}

const bound = (n: unknown) => (typeof n === 'bigint' ? n.toString() : String(n));

/** What the field expects, in words, from a zod issue: custom messages are kept, zod's own are rephrased. */
export function expectationOf(issue: z.core.$ZodIssue): string {
  const i = issue as z.core.$ZodIssue & Record<string, unknown>;
  // Messages written in the schemas (ours) are already phrased as expectations; zod's defaults start with a capital.
  const custom = typeof i.message === 'string' && !/^(Invalid|Too |Expected|Unrecognized)/.test(i.message) ? i.message : undefined;
  if (custom) return custom;
  switch (i.code) {
    case 'too_big': {
      const what = i.origin === 'array' ? ' items' : i.origin === 'string' ? ' characters' : '';
      return `${i.inclusive === false ? 'less than' : 'at most'} ${bound(i.maximum)}${what}`;
    }
    case 'too_small': {
      const what = i.origin === 'array' ? ' items' : i.origin === 'string' ? ' characters' : '';
      return `${i.inclusive === false ? 'more than' : 'at least'} ${bound(i.minimum)}${what}`;
    }
    case 'invalid_type': return `a value of type ${String(i.expected)}`;
    case 'invalid_value': return `one of ${(i.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys': return 'only the documented keys';
    case 'not_multiple_of': return `a multiple of ${bound(i.divisor)}`;
    case 'invalid_format': return `a string in ${String(i.format)} format`;
    default: return typeof i.message === 'string' ? i.message.replace(/^Invalid input:?\s*/i, '').replace(/^expected /, '') || 'a valid value' : 'a valid value';
  }
}

/** Parses `input` with `schema`; the first problem throws a KqkdError naming `<root>.<path>` (more problems: counted). */
export function parseWithSchema<S extends z.ZodType>(schema: S, input: unknown, root: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues;
  const first = issues[0];
  const name = (issue: z.core.$ZodIssue) => [root, ...issue.path.map(String)].join('.');
  const got = first.code === 'unrecognized_keys'
    ? `unknown key(s) ${(first as { keys: string[] }).keys.map((k) => `"${k}"`).join(', ')}`
    : describeReceived(valueAt(input, first.path));
  const more = issues.length > 1
    ? `${issues.length - 1} more problem(s): ${issues.slice(1, 4).map((i) => `${name(i)}: ${expectationOf(i)}`).join('; ')}`
    : undefined;
  throw new KqkdError(name(first), expectationOf(first), got, more);
}
