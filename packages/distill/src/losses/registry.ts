/**
 * String-keyed loss registry (torchdistill style): every loss building block is a graph-building function taking the
 * builder, a context of the tensors it may use, and its options. Method keys (ce, vkd, 1lc, fkd-kq, ...) compose
 * these in the experiment layer.
 */
import { invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { featureLoss, type FeaturePair, type ProjectorKind } from './feature.js';
import { kdLoss, spLoss, vkdLoss, vkdLsLoss, type SpPair } from './logit.js';
import { semckdLoss, type SemCkdOptions } from './semckd.js';
import { simkd, type SimKdOptions } from './simkd.js';

export interface LossContext {
  studentLogits?: Tensor;
  teacherLogits?: Tensor;
  /** int64 labels [N]. */
  labels?: Tensor;
  /** Feature pairs for feature-based losses (L_F, SP). */
  pairs?: readonly FeaturePair[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LossFactory = (b: GraphBuilder, ctx: LossContext, options?: any) => Tensor;

function need<K extends keyof LossContext>(ctx: LossContext, key: K, loss: string): NonNullable<LossContext[K]> {
  const v = ctx[key];
  if (v === undefined) invalidArgument(`loss "${loss}" context.${String(key)}`, 'a tensor (or pairs) for this loss', 'undefined');
  return v as NonNullable<LossContext[K]>;
}

const REGISTRY = new Map<string, LossFactory>();

export function registerLoss(key: string, factory: LossFactory): void {
  if (REGISTRY.has(key)) invalidArgument('registerLoss key', 'a key not registered yet', key);
  REGISTRY.set(key, factory);
}

export function getLoss(key: string): LossFactory {
  const f = REGISTRY.get(key);
  if (!f) invalidArgument('loss key', `one of ${[...REGISTRY.keys()].join(', ')}`, key);
  return f;
}

export function lossKeys(): string[] {
  return [...REGISTRY.keys()];
}

/** Builds the loss registered under `key`. */
export function buildLoss(b: GraphBuilder, key: string, ctx: LossContext, options?: unknown): Tensor {
  return getLoss(key)(b, ctx, options);
}

registerLoss('ce', (b, ctx, o?: { name?: string }) =>
  b.softmaxCrossEntropy(need(ctx, 'studentLogits', 'ce'), need(ctx, 'labels', 'ce'), { name: o?.name ?? 'ce' }));
registerLoss('kd', (b, ctx, o) => kdLoss(b, need(ctx, 'studentLogits', 'kd'), need(ctx, 'teacherLogits', 'kd'), o));
registerLoss('vkd', (b, ctx, o) => vkdLoss(b, need(ctx, 'studentLogits', 'vkd'), need(ctx, 'teacherLogits', 'vkd'), need(ctx, 'labels', 'vkd'), o));
registerLoss('vkd-ls', (b, ctx, o) => vkdLsLoss(b, need(ctx, 'studentLogits', 'vkd-ls'), need(ctx, 'teacherLogits', 'vkd-ls'), need(ctx, 'labels', 'vkd-ls'), o));
registerLoss('sp', (b, ctx, o) => spLoss(b, need(ctx, 'pairs', 'sp') as readonly SpPair[], o));
registerLoss('feature', (b, ctx, o?: { projector?: ProjectorKind; name?: string; hiddenFactor?: number }) =>
  featureLoss(b, need(ctx, 'pairs', 'feature'), { projector: o?.projector ?? 'single-layer-conv', name: o?.name, hiddenFactor: o?.hiddenFactor }));
/** SemCKD over the distinct students and the distinct teachers of the pairs (every student attends to every teacher). */
registerLoss('semckd', (b, ctx, o: SemCkdOptions) => {
  const pairs = need(ctx, 'pairs', 'semckd');
  const distinct = (ts: Tensor[]) => [...new Map(ts.map((t) => [t.name, t])).values()];
  return semckdLoss(b, distinct(pairs.map((p) => p.student)), distinct(pairs.map((p) => p.teacher)), o);
});
/** SimKD's MSE term on the single pair (student map before its head, teacher feature); its logits: `simkd()`. */
registerLoss('simkd', (b, ctx, o: SimKdOptions & { teacherHead: (x: Tensor) => Tensor }) => {
  const pairs = need(ctx, 'pairs', 'simkd');
  if (pairs.length !== 1) invalidArgument('loss "simkd" context.pairs', 'exactly one (student, teacher) pair', pairs.length);
  if (typeof o?.teacherHead !== 'function') invalidArgument('loss "simkd" options.teacherHead', 'a function building the teacher head', o?.teacherHead);
  return simkd(b, pairs[0].student, pairs[0].teacher, o.teacherHead, { ...o, withLoss: true }).loss;
});
