/**
 * Rules that take the top-k layers by one Knowledge Quality term: `kq` (Q = S + sqrt(I·E), the paper's rule) and the
 * ablations `s`, `ie`, `i`, `e`. Ties go to the deeper layer, as for Q (@kqkd/kq `selectTopK`).
 */
import { selectTopK } from '@kqkd/kq';
import type { ScoredLayer, SelectionContext, SelectionRule } from './types.js';

/** The top-k candidates by `metric`, in depth order. */
export function topKBy(layers: readonly ScoredLayer[], metric: (l: ScoredLayer) => number, k: number): number[] {
  return selectTopK(layers.map((l) => ({ index: l.index, Q: metric(l) })), k);
}

const byMetric = (key: string, title: string, metric: (l: ScoredLayer) => number): SelectionRule =>
  ({ key, title, select: (ctx: SelectionContext) => topKBy(ctx.layers, metric, ctx.k) });

export const KQ_RULE = byMetric('kq', 'top-k by Q = S + sqrt(I·E) (the paper\'s rule)', (l) => l.Q);
export const S_RULE = byMetric('s', 'top-k by S (separation) only', (l) => l.S);
export const IE_RULE = byMetric('ie', 'top-k by sqrt(I·E) only', (l) => Math.sqrt(l.I * l.E));
export const I_RULE = byMetric('i', 'top-k by I (information) only', (l) => l.I);
export const E_RULE = byMetric('e', 'top-k by E (efficiency) only', (l) => l.E);
