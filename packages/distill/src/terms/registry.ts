/**
 * The loss terms of distillation methods under their string keys (torchdistill style). A method (methods.ts) is a
 * list of these keys; the distillation graph (distill-graph.ts) is built from the registry alone. Adding a loss is
 * one new file exporting a `LossTerm` and one line here.
 */
import { keyedRegistry } from '@kqkd/common';
import { CROSS_ENTROPY } from './cross-entropy.js';
import { FEATURE } from './feature.js';
import { KD, KD_LS } from './kd.js';
import { SEMCKD } from './semckd.js';
import { SIMKD } from './simkd.js';
import { SP } from './sp.js';
import type { LossTerm } from './types.js';

const TERMS = keyedRegistry<LossTerm>('loss term', [
  CROSS_ENTROPY,
  KD,
  KD_LS,
  FEATURE,
  SP,
  SEMCKD,
  SIMKD,
]);

export const TERM_KEYS = TERMS.keys;

export function getTerm(key: string): LossTerm {
  return TERMS.get(key);
}
