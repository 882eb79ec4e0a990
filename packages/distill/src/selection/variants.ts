/**
 * Variants of the KQ rule for feature-exclusive training, where the classifier reads the student's deepest distilled
 * layer: what that layer is taught decides what the detached head can separate.
 * - `kq-last`: the teacher's last block (the map its own classifier pools) plus the top-(k−1) layers by Q among the
 *   layers before it — the deepest pair always teaches the head's input the teacher's final representation;
 * - `kq-nostem`: top-k by Q without the stem (layer 0), whose low-level features a 1×1 projector rarely needs;
 * - `last-k`: the k deepest blocks before the Flatten (no scores at all).
 */
import { KqkdError } from '@kqkd/common';
import { topKBy } from './metric.js';
import type { SelectionContext, SelectionRule } from './types.js';

/** The backbone layers before the Flatten / token average, in depth order. */
const blocks = (ctx: SelectionContext) => ctx.layers.filter((l) => l.index < ctx.headStartsAfter);

export const KQ_LAST_RULE: SelectionRule = {
  key: 'kq-last',
  title: 'the teacher\'s last block + the top-(k−1) by Q before it',
  select: (ctx) => {
    const before = blocks(ctx);
    const last = before[before.length - 1];
    if (!last) throw new KqkdError('teacher layers', 'a block before the Flatten (rule "kq-last")', 'none');
    return [...topKBy(before.slice(0, -1), (l) => l.Q, ctx.k - 1), last.index];
  },
};

export const KQ_NOSTEM_RULE: SelectionRule = {
  key: 'kq-nostem',
  title: 'top-k by Q without the stem (layer 0)',
  select: (ctx) => topKBy(ctx.layers.filter((l) => l.index !== 0), (l) => l.Q, ctx.k),
};

export const LAST_K_RULE: SelectionRule = {
  key: 'last-k',
  title: 'the k deepest blocks before the Flatten',
  select: (ctx) => {
    const b = blocks(ctx);
    if (b.length < ctx.k) throw new KqkdError('distill.k', `at most the ${b.length} blocks before the Flatten`, String(ctx.k));
    return b.slice(-ctx.k).map((l) => l.index);
  },
};
