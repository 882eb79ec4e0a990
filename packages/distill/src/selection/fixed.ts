/**
 * Rules that do not look at the scores: `baseline` (the baselines' layers: configured for the paper's teachers,
 * else k layers evenly spread over the backbone before its Flatten) and `paper` (the paper's hard-coded choice for its
 * teacher, e.g. ResNet34 12, 13, 14, 15).
 */
import { KqkdError } from '@kqkd/common';
import type { SelectionContext, SelectionRule } from './types.js';

/**
 * k of `candidates` evenly spread, the deepest included: the ends of k equal slices (position round((j+1)·n/k) − 1),
 * distinct since n ≥ k. Over ResNet34's 17 backbone layers: 3, 8, 12, 16 (the paper's choice: 3, 7, 13, 16).
 */
export function evenlySpread(candidates: readonly number[], k: number): number[] {
  const n = candidates.length;
  if (k > n) throw new KqkdError('distill.k', `at most the ${n} candidate layers`, String(k));
  return Array.from({ length: k }, (_, j) => candidates[Math.round(((j + 1) * n) / k) - 1]);
}

export const BASELINE_RULE: SelectionRule = {
  key: 'baseline',
  title: 'evenly spread over the backbone (the paper\'s baselines)',
  select: (ctx: SelectionContext) => [...(ctx.configured?.baseline
    ?? evenlySpread(ctx.layers.filter((l) => l.index < ctx.headStartsAfter).map((l) => l.index), ctx.k))],
};

export const PAPER_RULE: SelectionRule = {
  key: 'paper',
  title: 'the layers hard-coded in the paper\'s configs for its teacher',
  select: (ctx: SelectionContext) => {
    const p = ctx.configured?.paper;
    if (!p) throw new KqkdError('teacher.paperLayers', 'the paper\'s layers for this teacher (rule "paper")', 'none configured');
    if (p.length !== ctx.k) throw new KqkdError('teacher.paperLayers', `${ctx.k} layers (distill.k)`, p.join(', '));
    return [...p];
  },
};
