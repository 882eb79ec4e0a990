/**
 * Layer-selection rules under their string keys: which teacher layers a feature term distils. Adding a rule is one
 * new file exporting a `SelectionRule` and one line here.
 */
import { invalidArgument, keyedRegistry } from '@kqkd/common';
import { BASELINE_RULE, PAPER_RULE } from './fixed.js';
import { E_RULE, I_RULE, IE_RULE, KQ_RULE, S_RULE } from './metric.js';
import { KQ_LAST_RULE, KQ_NOSTEM_RULE, LAST_K_RULE } from './variants.js';
import type { SelectionContext, SelectionRule } from './types.js';

const RULES = keyedRegistry<SelectionRule>('layer selection rule', [
  KQ_RULE, S_RULE, IE_RULE, I_RULE, E_RULE,
  BASELINE_RULE,
  PAPER_RULE,
  KQ_LAST_RULE,
  KQ_NOSTEM_RULE,
  LAST_K_RULE,
]);

export const SELECTION_RULE_KEYS = RULES.keys;

/**
 * The rule Ours (fkd-kq) uses unless an experiment says otherwise. Chosen on a validation split (docs/RESULTS.md,
 * "Which teacher layers"): on Fashion-MNIST (ResNet34/4 teacher, ResNet9/8 students, 2 seeds) the paper's top-k by Q
 * reached 92.04 %, the last block + top-(k−1) by Q 92.20 %, evenly spread layers 92.14 %, the paper's fixed last four
 * 91.86 %, CE alone 89.61 %. The paper presets keep the paper's rule (`kq`).
 */
export const DEFAULT_SELECTION_RULE = 'kq-last';

export function getSelectionRule(key: string): SelectionRule {
  return RULES.get(key);
}

/** The layers rule `key` picks, checked: at most k backbone layers of the teacher, distinct, in depth order. */
export function selectTeacherLayers(key: string, ctx: SelectionContext): number[] {
  const picked = getSelectionRule(key).select(ctx);
  const known = new Set(ctx.layers.map((l) => l.index));
  const bad = picked.find((i) => !known.has(i));
  if (bad !== undefined) invalidArgument(`layers of rule "${key}"`, `backbone layers of the teacher (0…${ctx.headStartsAfter})`, bad);
  // At most k: a rule may find fewer layers than asked (kq-nostem on a teacher with fewer than k + 1 scored layers).
  if (picked.length > ctx.k) invalidArgument(`layers of rule "${key}"`, `at most ${ctx.k} layers (one per distilled student layer)`, picked);
  if (picked.some((i, j) => j > 0 && i <= picked[j - 1])) {
    invalidArgument(`layers of rule "${key}"`, 'distinct layers in depth order (increasing indices)', picked);
  }
  return picked;
}
