/**
 * Feature-exclusive loss L_F (METHOD.md §3): for each (student, teacher) feature pair a learned projector maps the
 * student's channels to the teacher's, the larger spatial map is average-pooled to the smaller one (integer ratios:
 * AveragePool with kernel = stride = ratio), and the pair's loss is the MSE; L_F is the mean over pairs. Teacher
 * features are inputs (cached) or come from a frozen forward: they are detached, so no gradient ever reaches them.
 *
 * Token features [B, T, C] paired with token, flat or 1×1 features are handled as [B, C, T, 1] (transpose then reshape):
 * a 1×1 conv on that layout is the 1-D pointwise conv, and the 3×3 conv with pad 1 on a width-1 map only ever sees
 * zero padding in its outer columns, so it is exactly a 1-D conv of kernel 3 along the tokens (the outer-column
 * weights get zero gradient). Token features paired with a spatial map [B, C, H, W] (H·W > 1; a ViT ↔ CNN pair,
 * either side) are laid out on their patch grid instead: [B, C, √T, √T], token k at row ⌊k/√T⌋, column k mod √T
 * (the row-major order in which a ViT flattens its patches), so e.g. a 7×7 ViT grid meets a 28×28 CNN map pooled
 * 4×4. T must then be a perfect square: the zoo's ViTs have no class token, and a token count that is not a square
 * (such as 1 + 7² with a class token) is refused rather than guessed (`tokenGrid`). SemCKD and SimKD keep
 * [B, C, T, 1] for every token feature (`toChannelMap`).
 */
import { invalidArgument, KqkdError } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';

export const PROJECTORS = ['single-layer-conv', 'three-layer-conv'] as const;
export type ProjectorKind = (typeof PROJECTORS)[number];

export interface FeaturePair { student: Tensor; teacher: Tensor }

export interface FeatureLossOptions {
  projector: ProjectorKind;
  /** Scope name of the loss (projector parameters are `<name>.pair<i>.proj.*`). Default "feature_loss". */
  name?: string;
  /** ThreeLayerConv hidden width as teacher channels / factor (SimKD's `factor`); default 1. */
  hiddenFactor?: number;
}

/** [B, C, H, W] stays; [B, T, C] token features become [B, C, T, 1]; flat features [B, C] (a Flatten layer) [B, C, 1, 1]. */
export function toChannelMap(b: GraphBuilder, x: Tensor, tag: string): Tensor {
  if (x.shape.length === 4) return x;
  if (x.shape.length === 2) {
    const c = x.shape[1];
    if (typeof c !== 'number') invalidArgument(`feature "${x.name}"`, 'flat features [B, C] with known C', x.shape);
    return b.reshape(x, [-1, c, 1, 1], `${tag}.as_map`);
  }
  if (x.shape.length === 3) {
    const [, t, c] = x.shape;
    if (typeof t !== 'number' || typeof c !== 'number') invalidArgument(`feature "${x.name}"`, 'token features [B, T, C] with known T and C', x.shape);
    return b.reshape(b.transpose(x, [0, 2, 1], `${tag}.tokens_to_channels`), [-1, c, t, 1], `${tag}.as_map`);
  }
  return invalidArgument(`feature "${x.name}"`, 'a feature map [B, C, H, W] or token features [B, T, C]', x.shape);
}

/**
 * Token features [B, T, C] on their patch grid [B, C, √T, √T] (transpose then reshape; token k → row ⌊k/√T⌋, column
 * k mod √T). `label` names the feature in the refusal of a T that is not a perfect square.
 */
export function tokenGrid(b: GraphBuilder, x: Tensor, tag: string, label = `feature "${x.name}"`): Tensor {
  const [, t, c] = x.shape;
  if (x.shape.length !== 3 || typeof t !== 'number' || typeof c !== 'number') invalidArgument(label, 'token features [B, T, C] with known T and C', x.shape);
  const side = Math.round(Math.sqrt(t));
  if (side * side !== t) {
    throw new KqkdError(label, 'a perfect-square token count T (patch tokens only, laid out on their √T×√T grid to '
      + 'meet the spatial map on the other side of the pair; a class token is not supported)', `T = ${t} tokens of ${c} channels`);
  }
  return b.reshape(b.transpose(x, [0, 2, 1], `${tag}.tokens_to_channels`), [-1, c, side, side], `${tag}.as_grid`);
}

/** A spatial map [B, C, H, W] with H·W > 1 (unknown sizes count as spatial). */
const isSpatialMap = (x: Tensor) => x.shape.length === 4 && !(x.shape[2] === 1 && x.shape[3] === 1);

/**
 * `x` as a map to pair with `other`: tokens facing a spatial map go on their patch grid (`tokenGrid`), everything
 * else through `toChannelMap` (tokens facing tokens or flat features stay [B, C, T, 1]).
 */
export function pairedChannelMap(b: GraphBuilder, x: Tensor, other: Tensor, tag: string, label = `${tag} feature "${x.name}"`): Tensor {
  return x.shape.length === 3 && isSpatialMap(other) ? tokenGrid(b, x, tag, label) : toChannelMap(b, x, tag);
}

/** Projectors and other loss-only layers start as PyTorch's nn.Conv2d / nn.Linear do (the paper's code leaves them at the default). */
export const PROJECTOR_INIT = 'pytorch-default' as const;

/**
 * The learned projector: student channels → `outChannels` (convs without bias; BN + ReLU between for three-layer).
 * `finalBnRelu` adds BN + ReLU after the last three-layer conv (SimKD's projector, whose output feeds the teacher's
 * classifier); hidden width = floor(outChannels / hiddenFactor) (SimKD: factor 2; SemCKD's AAEmbed: 0.5, i.e. 2×).
 */
export function projector(b: GraphBuilder, x: Tensor, outChannels: number, kind: ProjectorKind,
  options: { name?: string; hiddenFactor?: number; finalBnRelu?: boolean } = {}): Tensor {
  const name = options.name ?? 'proj';
  return b.scope(name, () => {
    if (kind === 'single-layer-conv') return b.conv(x, outChannels, { kernel: 1, name: 'conv', init: PROJECTOR_INIT });
    if (kind === 'three-layer-conv') {
      const factor = options.hiddenFactor ?? 1;
      const hidden = Math.max(1, Math.floor(outChannels / factor));
      const h1 = b.relu(b.batchNorm(b.conv(x, hidden, { kernel: 1, name: 'conv1', init: PROJECTOR_INIT }), { name: 'bn1' }), 'relu1');
      const h2 = b.relu(b.batchNorm(b.conv(h1, hidden, { kernel: 3, pad: 1, name: 'conv2', init: PROJECTOR_INIT }), { name: 'bn2' }), 'relu2');
      const out = b.conv(h2, outChannels, { kernel: 1, name: 'conv3', init: PROJECTOR_INIT });
      return options.finalBnRelu ? b.relu(b.batchNorm(out, { name: 'bn3' }), 'relu3') : out;
    }
    return invalidArgument('projector', `one of ${PROJECTORS.join(', ')}`, kind);
  });
}

function spatial(x: Tensor, what: string): [number, number] {
  const [h, w] = x.shape.slice(2);
  if (typeof h !== 'number' || typeof w !== 'number') invalidArgument(what, 'a map with known spatial size', x.shape);
  return [h, w];
}

/**
 * PyTorch's adaptive average pooling weights from `size` to `out` along one axis, as an [out, size] matrix: output i
 * averages inputs ⌊i·size/out⌋ … ⌈(i+1)·size/out⌉ − 1 (windows overlap when the ratio is not an integer).
 */
export function adaptivePoolMatrix(size: number, out: number): Float32Array {
  const m = new Float32Array(out * size);
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * size) / out);
    const end = Math.ceil(((i + 1) * size) / out);
    for (let j = start; j < end; j++) m[i * size + j] = 1 / (end - start);
  }
  return m;
}

/**
 * `adaptive_avg_pool2d(x, [oh, ow])`: an AveragePool when the ratios are integers (kernel = stride = ratio, the same
 * windows), else two MatMuls with the constant pooling matrices (rows: [oh, h] · x; columns: x · [w, ow]).
 */
export function adaptiveAveragePool(b: GraphBuilder, x: Tensor, [oh, ow]: [number, number], name: string): Tensor {
  const [h, w] = spatial(x, `adaptive pool input "${x.name}"`);
  if (oh > h || ow > w) invalidArgument(`adaptive pool "${name}" output`, `at most the input size ${h}×${w}`, `${oh}×${ow}`);
  if (h % oh === 0 && w % ow === 0) {
    const [rh, rw] = [h / oh, w / ow];
    return rh === rw
      ? b.averagePool(x, { kernel: rh, stride: rh, name })
      : b.op('AveragePool', [x], { kernel_shape: [rh, rw], strides: [rh, rw], pads: [0, 0, 0, 0], count_include_pad: 0 }, name);
  }
  return b.scope(name, () => {
    let y = x;
    if (oh !== h) y = b.matMul(b.constant('rows', [oh, h], adaptivePoolMatrix(h, oh)), y, 'pool_rows');
    if (ow !== w) {
      const cols = adaptivePoolMatrix(w, ow); // [ow, w] → transposed [w, ow]
      const t = new Float32Array(w * ow);
      for (let i = 0; i < ow; i++) for (let j = 0; j < w; j++) t[j * ow + i] = cols[i * w + j];
      y = b.matMul(y, b.constant('cols', [w, ow], t), 'pool_cols');
    }
    return y;
  });
}

/**
 * Adaptive average pooling of the larger of two maps down to the smaller one's spatial size (PyTorch's
 * `adaptive_avg_pool2d` windows, also for non-integer ratios such as 7×7 → 4×4). Returns both maps with equal sizes.
 */
export function alignSpatial(b: GraphBuilder, s: Tensor, t: Tensor, name = 'align'): [Tensor, Tensor] {
  const [hs, ws] = spatial(s, 'student feature');
  const [ht, wt] = spatial(t, 'teacher feature');
  if (hs === ht && ws === wt) return [s, t];
  const sLarger = hs >= ht && ws >= wt;
  const tLarger = ht >= hs && wt >= ws;
  if (!sLarger && !tLarger) {
    throw new KqkdError(`feature alignment "${name}"`, 'one map at least as large as the other in both spatial dims',
      `student ${hs}×${ws} vs teacher ${ht}×${wt}`);
  }
  return sLarger ? [adaptiveAveragePool(b, s, [ht, wt], name), t] : [s, adaptiveAveragePool(b, t, [hs, ws], name)];
}

/** L_F = mean over pairs of MSE(align(projector(student)), align(detach(teacher))). */
export function featureLoss(b: GraphBuilder, pairs: readonly FeaturePair[], options: FeatureLossOptions): Tensor {
  if (!PROJECTORS.includes(options.projector)) invalidArgument('featureLoss projector', `one of ${PROJECTORS.join(', ')}`, options.projector);
  if (pairs.length === 0) invalidArgument('featureLoss pairs', 'at least one (student, teacher) pair', 0);
  return b.scope(options.name ?? 'feature_loss', () => {
    const losses = pairs.map((pair, i) => b.scope(`pair${i}`, () => {
      const s = pairedChannelMap(b, pair.student, pair.teacher, 'student');
      const t = pairedChannelMap(b, b.detach(pair.teacher, 'teacher.detach'), pair.student, 'teacher', `teacher feature "${pair.teacher.name}"`);
      const tc = t.shape[1];
      if (typeof tc !== 'number') invalidArgument(`teacher feature "${pair.teacher.name}"`, 'a known channel count', pair.teacher.shape);
      const p = projector(b, s, tc, options.projector, { hiddenFactor: options.hiddenFactor });
      const [sa, ta] = alignSpatial(b, p, t);
      return b.mse(sa, ta, 'mse');
    }));
    const total = losses.slice(1).reduce((acc, l, i) => b.add(acc, l, `sum${i + 1}`), losses[0]);
    return losses.length === 1 ? b.identity(total, 'loss') : b.mulScalar(total, 1 / losses.length, 'loss');
  });
}
