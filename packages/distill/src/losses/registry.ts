/**
 * String-keyed loss registry (torchdistill style): every loss building block is a graph-building function taking the
 * builder, a context of the tensors it may use, and its options. Method keys (ce, vkd, 1lc, fkd-kq, ...) compose
 * these in the experiment layer.
 */
import { invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { featureLoss, type FeaturePair, type ProjectorKind } from './feature.js';
import { kdLoss, spLoss, vkdLoss, vkdLsLoss, type SpPair } from './logit.js';

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
