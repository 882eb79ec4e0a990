/**
 * The distillation methods (METHOD.md §3–4) under their string keys: each is a recipe of loss terms, which teacher
 * layers the feature terms use (a layer-selection rule) and whether cross-entropy reaches the student's backbone.
 * The recipes are data; `distill-graph.ts` turns one into the student's training graph.
 */
import { invalidArgument } from '@kqkd/common';
import type { LayerSelectionRule } from './experiment/types.js';

export interface MethodDefinition {
  key: string;
  title: string;
  /** ours: the paper's method; baseline: compared in ARI/efficiency; student: CE alone (the reference); ablation. */
  role: 'student' | 'baseline' | 'ours' | 'ablation';
  /** Cross-entropy on the student's logits: 'joint' = into the whole student, 'head' = detached head only (FKD), none. */
  ce: 'joint' | 'head' | 'none';
  /** Hinton KD term on the logits (T = 4, × T²), optionally logit-standardised. */
  kd?: { standardize: boolean };
  /** Which feature term, over the (student layer, teacher layer) pairs. */
  features?: 'mse' | 'sp' | 'semckd' | 'simkd';
  /** Rule picking the teacher layers of the feature term. */
  layers?: LayerSelectionRule;
}

const fkd = (key: string, title: string, layers: LayerSelectionRule, role: MethodDefinition['role']): MethodDefinition =>
  ({ key, title, role, ce: 'head', features: 'mse', layers });

/** Every method, in the order reports list them. */
export const METHODS: readonly MethodDefinition[] = [
  { key: 'ce', title: 'Student alone (CE)', role: 'student', ce: 'joint' },
  { key: 'vkd', title: 'VKD: CE + 16·KL(T=4)', role: 'baseline', ce: 'joint', kd: { standardize: false } },
  { key: 'vkd-ls', title: 'VKD + logit standardisation', role: 'baseline', ce: 'joint', kd: { standardize: true } },
  { key: '1lc', title: 'Baseline 1LC: CE + L_F (evenly spread layers)', role: 'baseline', ce: 'joint', features: 'mse', layers: 'baseline' },
  { key: '1lc-vkd', title: 'Baseline 1LC + VKD', role: 'baseline', ce: 'joint', kd: { standardize: false }, features: 'mse', layers: 'baseline' },
  { key: 'sp-vkd', title: 'SP + VKD', role: 'baseline', ce: 'joint', kd: { standardize: false }, features: 'sp', layers: 'baseline' },
  { key: 'simkd', title: 'SimKD (reused teacher classifier)', role: 'baseline', ce: 'none', features: 'simkd' },
  // SemCKD's public code trains CE + KL(T = 4) + 400·L_SemCKD (its scripts: -r 1 -a 1 -b 400).
  { key: 'semckd', title: 'SemCKD: CE + KD + attention-weighted cross-layer L_F', role: 'baseline', ce: 'joint', kd: { standardize: false }, features: 'semckd', layers: 'baseline' },
  fkd('fkd-kq', 'Ours (FKD-KQ): L_F at KQ-selected layers, detached CE head', 'kq', 'ours'),
  fkd('fkd-s', 'Ablation: layers by S only', 's', 'ablation'),
  fkd('fkd-ie', 'Ablation: layers by sqrt(I·E) only', 'ie', 'ablation'),
  fkd('fkd-i', 'Ablation: layers by I only', 'i', 'ablation'),
  fkd('fkd-e', 'Ablation: layers by E only', 'e', 'ablation'),
  { key: 'fkd-kq-ce', title: 'Ablation: Ours + CE on the backbone', role: 'ablation', ce: 'joint', features: 'mse', layers: 'kq' },
  { key: 'fkd-kq-ce-vkd', title: 'Ablation: Ours + CE + VKD', role: 'ablation', ce: 'joint', kd: { standardize: false }, features: 'mse', layers: 'kq' },
];

export const METHOD_KEYS = METHODS.map((m) => m.key) as readonly string[];
/** The reference of ARI (g(m) = acc(m) − acc(CE student)). */
export const REFERENCE_METHOD = 'ce';
export const OURS_METHOD = 'fkd-kq';
export const BASELINE_METHODS = METHODS.filter((m) => m.role === 'baseline').map((m) => m.key);

export function getMethod(key: string): MethodDefinition {
  const m = METHODS.find((d) => d.key === key);
  if (!m) invalidArgument('method', `one of ${METHOD_KEYS.join(', ')}`, key);
  return m;
}

/** Whether the method needs the teacher at all (its logits or features). */
export function needsTeacher(m: MethodDefinition): boolean {
  return m.kd !== undefined || m.features !== undefined;
}
