/**
 * The distillation methods (METHOD.md §3–4) under their string keys, as data: the loss terms summed (keys of the term
 * registry, terms/registry.ts, in summation order), where the classifier's gradient goes (`head`), and which
 * layer-selection rule picks the teacher layers of the pair terms (selection/registry.ts). distill-graph.ts turns one
 * into the student's training graph. Adding a method is one entry here.
 */
import { keyedRegistry } from '@kqkd/common';
import { getTerm, type LossTerm } from './terms/index.js';

export interface MethodDefinition {
  key: string;
  title: string;
  /** ours: the paper's method; baseline: compared in ARI/efficiency; student: CE alone (the reference); ablation. */
  role: 'student' | 'baseline' | 'ours' | 'ablation';
  /** Loss terms by registry key, summed in this order. */
  terms: readonly string[];
  /**
   * `joint`: every term trains the whole student. `detached`: the classifier reads a stop-gradient copy of the deepest
   * distilled student layer, so cross-entropy trains only the head and the backbone learns from the other terms
   * alone (the paper's feature-exclusive training).
   */
  head: 'joint' | 'detached';
  /**
   * Key of the layer-selection rule picking the teacher layers of the pair terms, or OURS_LAYERS: the rule the
   * experiment gives Ours (`distill.selection`), so Ours and its ablations distil the same layers.
   */
  layers?: string;
}

/** `layers` of Ours and of its ablations: the experiment's rule for Ours. */
export const OURS_LAYERS = 'ours';

const fkd = (key: string, title: string, layers: string, role: MethodDefinition['role']): MethodDefinition =>
  ({ key, title, role, terms: ['ce', 'feature'], head: 'detached', layers });

/** Every method, in the order reports list them. */
export const METHODS: readonly MethodDefinition[] = [
  { key: 'ce', title: 'Student alone (CE)', role: 'student', terms: ['ce'], head: 'joint' },
  { key: 'vkd', title: 'VKD: CE + 16·KL(T=4)', role: 'baseline', terms: ['ce', 'kd'], head: 'joint' },
  { key: 'vkd-ls', title: 'VKD + logit standardisation', role: 'baseline', terms: ['ce', 'kd-ls'], head: 'joint' },
  { key: '1lc', title: 'Baseline 1LC: CE + L_F (evenly spread layers)', role: 'baseline', terms: ['ce', 'feature'], head: 'joint', layers: 'baseline' },
  { key: '1lc-vkd', title: 'Baseline 1LC + VKD', role: 'baseline', terms: ['ce', 'kd', 'feature'], head: 'joint', layers: 'baseline' },
  { key: 'sp-vkd', title: 'SP + VKD', role: 'baseline', terms: ['ce', 'kd', 'sp'], head: 'joint', layers: 'baseline' },
  { key: 'simkd', title: 'SimKD (reused teacher classifier)', role: 'baseline', terms: ['simkd'], head: 'joint' },
  // SemCKD's public code trains CE + KL(T = 4) + 400·L_SemCKD (its scripts: -r 1 -a 1 -b 400).
  { key: 'semckd', title: 'SemCKD: CE + KD + attention-weighted cross-layer L_F', role: 'baseline', terms: ['ce', 'kd', 'semckd'], head: 'joint', layers: 'baseline' },
  fkd('fkd-kq', 'Ours (FKD-KQ): L_F at KQ-selected layers, detached CE head', OURS_LAYERS, 'ours'),
  fkd('fkd-s', 'Ablation: layers by S only', 's', 'ablation'),
  fkd('fkd-ie', 'Ablation: layers by sqrt(I·E) only', 'ie', 'ablation'),
  fkd('fkd-i', 'Ablation: layers by I only', 'i', 'ablation'),
  fkd('fkd-e', 'Ablation: layers by E only', 'e', 'ablation'),
  // Layer-selection study (docs/RESULTS.md): the same training with the teacher layers of other rules.
  fkd('fkd-paper', 'Selection: the paper\'s hard-coded layers', 'paper', 'ablation'),
  fkd('fkd-last', 'Selection: the last k blocks', 'last-k', 'ablation'),
  fkd('fkd-even', 'Selection: evenly spread layers', 'baseline', 'ablation'),
  fkd('fkd-kq-last', 'Selection: the last block + top-(k−1) by Q', 'kq-last', 'ablation'),
  fkd('fkd-kq-nostem', 'Selection: top-k by Q without the stem', 'kq-nostem', 'ablation'),
  { key: 'fkd-kq-ce', title: 'Ablation: Ours + CE on the backbone', role: 'ablation', terms: ['ce', 'feature'], head: 'joint', layers: OURS_LAYERS },
  { key: 'fkd-kq-ce-vkd', title: 'Ablation: Ours + CE + VKD', role: 'ablation', terms: ['ce', 'kd', 'feature'], head: 'joint', layers: OURS_LAYERS },
];

export const METHOD_KEYS = METHODS.map((m) => m.key) as readonly string[];
/** The paper's methods and ablations (METHOD.md §4): every method but the layer-selection study's. */
export const PAPER_METHOD_KEYS = METHOD_KEYS.filter((k) => !['fkd-paper', 'fkd-last', 'fkd-even', 'fkd-kq-last', 'fkd-kq-nostem'].includes(k));
/** The reference of ARI (g(m) = acc(m) − acc(CE student)). */
export const REFERENCE_METHOD = 'ce';
export const OURS_METHOD = 'fkd-kq';
export const BASELINE_METHODS = METHODS.filter((m) => m.role === 'baseline').map((m) => m.key);

const REGISTRY = keyedRegistry('method', METHODS);

export function getMethod(key: string): MethodDefinition {
  return REGISTRY.get(key);
}

/** The selection rule of a method's teacher layers, given the experiment's rule for Ours; undefined: no pair terms. */
export function layerRuleOf(key: string, oursRule: string): string | undefined {
  const layers = getMethod(key).layers;
  return layers === OURS_LAYERS ? oursRule : layers;
}

/** The method's loss terms, from the registry. */
export function methodTerms(m: MethodDefinition): LossTerm[] {
  return m.terms.map(getTerm);
}

/** Whether the method needs the teacher at all (its logits or features). */
export function needsTeacher(m: MethodDefinition): boolean {
  return methodTerms(m).some((t) => t.key !== 'ce');
}

/** Whether a term of the method reads (student layer, teacher layer) pairs, and how: 'all', 'deepest' or neither. */
export function pairing(m: MethodDefinition): 'all' | 'deepest' | 'none' {
  const p = methodTerms(m).map((t) => t.pairing);
  return p.includes('all') ? 'all' : p.includes('deepest') ? 'deepest' : 'none';
}

/** Whether a term reads the teacher's logits. */
export function readsTeacherLogits(m: MethodDefinition): boolean {
  return methodTerms(m).some((t) => t.readsTeacherLogits);
}

/** The method's predictor term (SimKD: predictions through the teacher's classifier), if any. */
export function predictorTerm(m: MethodDefinition): LossTerm | undefined {
  return methodTerms(m).find((t) => t.predictor !== undefined);
}
