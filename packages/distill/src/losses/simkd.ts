/**
 * SimKD (Chen et al., CVPR 2022, "Knowledge Distillation with the Reused Teacher Classifier"), as in their public
 * code (`SimKD` module + `nn.MSELoss()`):
 * - spatial alignment FIRST: when the student map is larger it is adaptive-average-pooled to the teacher's size,
 *   otherwise the (detached) teacher map is pooled to the student's (`alignSpatial`, adaptive average pooling);
 * - projector ("transfer"): 1×1 conv → BN → ReLU → 3×3 conv → BN → ReLU → 1×1 conv → BN → ReLU, convs without bias,
 *   hidden width = teacher channels // factor (factor 2) — the three-layer-conv `projector` with `finalBnRelu`;
 * - loss = MSE(projected student, detached aligned teacher), the mean over all elements;
 * - logits = the teacher's classifier head on the projected student features: what the student predicts with. The
 *   head's parameters are frozen (every trainable parameter `teacherHead` creates is frozen after the call); CE on
 *   these logits may still be added by the caller: its gradient then flows through the frozen head into the projector.
 * Token features [B, T, C] go through the projector as [B, C, T, 1] (see feature.ts) and are turned back into tokens
 * (flat features [B, C] back into [B, C]) before the head, so the head sees the layout of the teacher feature.
 * In the original the head applies `avg_pool` + flatten before `cls_t`; here `teacherHead` is the whole head after
 * the teacher feature (e.g. GlobalAveragePool → Flatten → Gemm imported by `importSubgraph`).
 */
import { invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Shape, Tensor } from '@kqkd/onnx';
import { alignSpatial, projector, toChannelMap } from './feature.js';

export const SIMKD_FACTOR = 2;

export interface SimKdOptions {
  /** Projector bottleneck: hidden width = teacher channels / factor. Default 2. */
  factor?: number;
  /** Scope of the projector and loss. Default "simkd". */
  name?: string;
  /**
   * Build the MSE term (default true). False builds only projector + head (an inference graph): then `teacher` is
   * read for its shape only and may be a placeholder `{ name: '', shape }`.
   */
  withLoss?: boolean;
}

/** Shape of `toChannelMap(x)`. */
function channelMapShape(x: Tensor): Shape {
  const s = x.shape;
  if (s.length === 4) return s;
  if (s.length === 3) return [s[0], s[2], s[1], 1];
  if (s.length === 2) return [s[0], s[1], 1, 1];
  return invalidArgument(`teacher feature "${x.name}"`, 'a feature map [B, C, H, W], tokens [B, T, C] or flat features [B, C]', s);
}

/** Inverse of `toChannelMap` for a map [B, C, H', W'] laid out like `like` (rank 4, 3 = tokens, 2 = flat). */
function fromChannelMap(b: GraphBuilder, x: Tensor, like: Tensor, tag: string): Tensor {
  const [, c, h, w] = x.shape;
  if (like.shape.length === 4) return x;
  if (typeof c !== 'number' || typeof h !== 'number' || w !== 1) invalidArgument(`projected feature "${x.name}"`, 'a map [B, C, T, 1] with known C and T', x.shape);
  if (like.shape.length === 2) {
    if (h !== 1) invalidArgument(`projected feature "${x.name}"`, 'a map [B, C, 1, 1] for flat teacher features', x.shape);
    return b.reshape(x, [-1, c], `${tag}.as_flat`);
  }
  return b.transpose(b.reshape(x, [-1, c, h], `${tag}.as_channels_tokens`), [0, 2, 1], `${tag}.as_tokens`);
}

/** SimKD: `{ loss, logits }` (`loss` only with `withLoss`, the default). */
export function simkd(b: GraphBuilder, student: Tensor, teacher: Tensor, teacherHead: (x: Tensor) => Tensor,
  options?: SimKdOptions & { withLoss?: true }): { loss: Tensor; logits: Tensor };
export function simkd(b: GraphBuilder, student: Tensor, teacher: Tensor, teacherHead: (x: Tensor) => Tensor,
  options: SimKdOptions): { loss?: Tensor; logits: Tensor };
export function simkd(b: GraphBuilder, student: Tensor, teacher: Tensor, teacherHead: (x: Tensor) => Tensor,
  options: SimKdOptions = {}): { loss?: Tensor; logits: Tensor } {
  const factor = options.factor ?? SIMKD_FACTOR;
  if (!(factor > 0)) invalidArgument('simkd factor', 'a positive number', factor);
  if (typeof teacherHead !== 'function') invalidArgument('simkd teacherHead', 'a function building the teacher head on a tensor', teacherHead);
  const withLoss = options.withLoss ?? true;
  const tShape = channelMapShape(teacher);
  const tc = tShape[1];
  if (typeof tc !== 'number') invalidArgument(`teacher feature "${teacher.name}"`, 'a known channel count', teacher.shape);

  const { loss, projected } = b.scope(options.name ?? 'simkd', () => {
    const s = toChannelMap(b, student, 'student');
    const t = withLoss ? toChannelMap(b, b.detach(teacher, 'teacher.detach'), 'teacher') : undefined;
    const ref = t ?? { name: teacher.name, shape: tShape };
    const [hs, ws] = s.shape.slice(2);
    const [ht, wt] = tShape.slice(2);
    // Without the teacher tensor only the student may be pooled (a larger teacher is not read at all).
    const teacherLarger = typeof hs === 'number' && typeof ws === 'number' && typeof ht === 'number' && typeof wt === 'number'
      && ht >= hs && wt >= ws && (ht > hs || wt > ws);
    const [sa, ta] = !t && teacherLarger ? [s, ref] : alignSpatial(b, s, ref, 'align');
    const p = projector(b, sa, tc, 'three-layer-conv', { name: 'proj', hiddenFactor: factor, finalBnRelu: true });
    return { loss: t ? b.mse(p, ta, 'mse') : undefined, projected: fromChannelMap(b, p, teacher, 'proj') };
  });

  const before = new Set(b.parameters().filter((p) => p.trainable).map((p) => p.name));
  const logits = teacherHead(projected);
  const added = b.parameters().filter((p) => p.trainable && !before.has(p.name)).map((p) => p.name);
  if (added.length > 0) b.freeze((n) => added.includes(n));
  return loss ? { loss, logits } : { logits };
}
