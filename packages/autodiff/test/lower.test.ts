/**
 * The lowering for onnxruntime-node: for every lowered op and the composite blocks, the lowered training model run in
 * onnxruntime-node (CPU inference build) gives the same loss, gradients and BN statistics as the training model in the
 * onnxruntime-web training build, and its gradients agree with central finite differences of its own loss output.
 */
import { describe, expect, it } from 'vitest';
import { createInferenceSession } from '@kqkd/runtime';
import { GraphBuilder, attrInt, encodeModel, getAttribute, AttributeType, type ModelProto, type Tensor } from '@kqkd/onnx';
import {
  buildTrainingGraphs, lowerTrainingGraph, nchwcKind, KEPT_MICROSOFT_OPS, nchwcProbeModel, useNchwcConvolutions, LOWERED_OPS, NCHWC_DOMAIN,
  type TrainingGraphs, type TrainingGraphsOptions,
} from '../src/index.js';
import { analyticGradients, projectLoss, randn, type Feed } from './gradcheck.js';
import { attentionBlock, depthwiseBlock, residualBlock } from './blocks.js';

type Outputs = Record<string, Float32Array>;

/** Runs the lowered model once in onnxruntime-node; returns every output, and a loss function of the parameters. */
export async function nativeRun(g: TrainingGraphs, lowered: ModelProto, feeds: Record<string, Feed>) {
  const session = await createInferenceSession(encodeModel(lowered));
  const dims = Object.fromEntries(g.parameters.map((p) => [p.name, p.dims]));
  const run = async (params: Record<string, Float32Array>, outputs?: string[]) => {
    const f: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = { data: v.data, shape: v.dims };
    for (const name of session.inputNames) if (params[name]) f[name] = { data: params[name], shape: dims[name] };
    const r = await session.run(f, outputs);
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v.data)])) as Outputs;
  };
  const params = Object.fromEntries(g.parameters.map((p) => [p.name, Float32Array.from(p.data)]));
  return { session, run, params, out: await run(params) };
}

/**
 * Tolerances. Both paths run float32 kernels over the same values; they differ only in summation order and in how
 * a formula is factored (ConvTranspose vs ConvGrad, fused BN vs BatchNormInternal, …): each element's rounding error
 * is a few ulps of the largest partial sums, ~1e-7·(terms)·max|g|. So: |native − web| ≤ 1e-5·max|web| + 1e-6
 * per parameter — two orders above that noise for these sizes, while a wrong lowering (missed factor, wrong window,
 * misrouted max) is off by O(max|g|). A gradient that vanishes by cancellation (the key bias of attention: softmax is
 * shift-invariant) keeps the rounding of its terms, so its scale is at least a tenth of the model's largest gradient. FD: as test/gradcheck.ts (h = 1e-3, atol 5e-3 + rtol 2e-2, float32 loss noise).
 */
const RTOL_MAX = 1e-5;
const ATOL = 1e-6;

function compare(a: Float32Array, b: Float32Array, what: string, rtol = RTOL_MAX, floor = 0): number {
  expect(a.length, what).toBe(b.length);
  let scale = floor;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  if (!(worst <= rtol * scale + ATOL)) throw new Error(`${what}: max |native − web| = ${worst} > ${rtol}·${scale} + ${ATOL}`);
  return worst / (scale || 1);
}

interface EquivOptions { convWeightGradient?: 'auto' | 'matmul' | 'conv' | 'gemm'; convInputGradient?: 'auto' | 'conv' | 'convtranspose'; maxCoords?: number; fd?: boolean; h?: number; rtol?: number; expectOps?: string[]; lowerGelu?: boolean; nchwcBlockSize?: number }

/** Builds the training graphs, checks native == web (loss, gradients, BN statistics) and native == FD. */
async function equivalence(opts: TrainingGraphsOptions, feeds: Record<string, Feed>, o: EquivOptions = {}) {
  const g = buildTrainingGraphs({ ...opts, exposeGradients: true });
  const trainingOps = new Set((g.trainingModel.graph!.node ?? []).map((n) => n.opType ?? ''));
  for (const op of o.expectOps ?? []) expect(trainingOps.has(op), `training model contains ${op}`).toBe(true);
  const lowered = lowerTrainingGraph(g.trainingModel, {
    lowerGelu: o.lowerGelu, convWeightGradient: o.convWeightGradient, convInputGradient: o.convInputGradient, nchwcBlockSize: o.nchwcBlockSize,
  });
  for (const n of lowered.graph!.node ?? []) {
    expect((LOWERED_OPS as readonly string[]).includes(n.opType ?? ''), `lowered model still has ${n.opType}`).toBe(false);
    if (n.domain === 'com.microsoft') expect(KEPT_MICROSOFT_OPS as readonly string[]).toContain(n.opType);
    if (n.domain === NCHWC_DOMAIN) expect(['ReorderInput', 'Conv', 'ReorderOutput']).toContain(n.opType);
  }
  const web = await analyticGradients(g, feeds);
  const native = await nativeRun(g, lowered, feeds);
  const loss = g.trainingOutputs[0];
  expect(Math.abs(native.out[loss][0] - web.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(web.loss) + ATOL);
  const rel: Record<string, number> = {};
  let globalMax = 0;
  for (const v of Object.values(web.grads)) for (const x of v) globalMax = Math.max(globalMax, Math.abs(x));
  for (const [p, out] of Object.entries(g.gradientOutputs)) rel[p] = compare(native.out[out], web.grads[p], `gradient of ${p}`, o.rtol, 0.1 * globalMax);
  await web.release();
  // FD through the lowered model's own loss (training-mode BN included)
  if (o.fd !== false) {
    const h = o.h ?? 1e-3;
    const failures: string[] = [];
    for (const p of g.parameters.filter((q) => q.trainable)) {
      const grad = native.out[g.gradientOutputs[p.name]];
      const n = p.data.length;
      const max = o.maxCoords ?? 12;
      const coords = n <= max ? [...Array(n).keys()] : Array.from({ length: max }, (_, k) => Math.floor((k * 7919 + 13) % n));
      for (const i of coords) {
        const base = native.params[p.name][i];
        native.params[p.name][i] = base + h;
        const lp = (await native.run(native.params, [loss]))[loss][0];
        native.params[p.name][i] = base - h;
        const lm = (await native.run(native.params, [loss]))[loss][0];
        native.params[p.name][i] = base;
        const fd = (lp - lm) / (2 * h);
        if (!(Math.abs(fd - grad[i]) <= 5e-3 + 2e-2 * Math.abs(fd))) failures.push(`${p.name}[${i}]: native ${grad[i]} vs FD ${fd}`);
      }
    }
    if (failures.length) throw new Error(`FD mismatch:\n${failures.slice(0, 8).join('\n')}`);
  }
  await native.session.release();
  return { g, lowered, native: native.out, rel };
}

/** BN statistics of one web training step, read from the training outputs. */
async function webOutputs(g: TrainingGraphs, feeds: Record<string, Feed>): Promise<Outputs> {
  const { trainingLoader } = await import('./gradcheck.js');
  const L = await trainingLoader();
  const { ort } = L.loadTrainingRuntime();
  const { writeCheckpoint } = await import('../src/artifacts/checkpoint.js');
  const { buildOptimizerModel } = await import('../src/artifacts/optimizer.js');
  const session = await L.withMemoryCapture(() => ort.TrainingSession.create({
    checkpointState: writeCheckpoint({ trainable: g.parameters.filter((p) => p.trainable), frozen: g.parameters.filter((p) => !p.trainable) }),
    trainModel: encodeModel(g.trainingModel), evalModel: encodeModel(g.evalModel),
    optimizerModel: buildOptimizerModel({ kind: 'adamw' }, { kind: 'constant', lr: 1e-3 }),
  }));
  const out = await session.runTrainStep(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)])));
  const r = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Float32Array.from((v as { data: Float32Array }).data)]));
  await session.release();
  return r;
}

/** One op under test: x (input) + p0 (trainable, same shape) feeds `op`. */
function opCase(xShape: number[], op: (b: GraphBuilder, x: Tensor) => Tensor, seed = 3) {
  const b = new GraphBuilder({ seed });
  const x = b.input('x', xShape);
  const n = xShape.reduce((p, d) => p * d, 1);
  const p0 = b.param('p0', xShape, randn(n, 11, 0.5));
  const y = op(b, b.add(x, p0, 'x_plus_p0'));
  const loss = projectLoss(b, y);
  b.output(y, 'y');
  return { opts: { model: b, loss } as TrainingGraphsOptions, feeds: { x: { data: randn(n, 5), dims: xShape } } };
}

const T = 60_000;
describe('lowering for onnxruntime-node: native gradients equal web-training gradients and finite differences', () => {
  const cases: [string, number[], (b: GraphBuilder, x: Tensor) => Tensor, string[]][] = [
    ['ReluGrad', [2, 3, 5], (b, x) => b.relu(x), ['ReluGrad']],
    ['LeakyReluGrad', [2, 3, 5], (b, x) => b.leakyRelu(x, 0.2), ['LeakyReluGrad']],
    ['SigmoidGrad', [2, 3, 5], (b, x) => b.sigmoid(x), ['SigmoidGrad']],
    ['TanhGrad', [2, 3, 5], (b, x) => b.tanh(x), ['TanhGrad']],
    ['GeluGrad (com.microsoft Gelu kept)', [2, 3, 5], (b, x) => b.gelu(x), ['GeluGrad', 'Gelu']],
    ['SoftmaxGrad_13', [2, 3, 5], (b, x) => b.softmax(x, 1), ['SoftmaxGrad_13']],
    ['LogSoftmaxGrad_13', [2, 3, 5], (b, x) => b.logSoftmax(x, -1), ['LogSoftmaxGrad_13']],
    ['ConvGrad: stride 2, pad 1, bias (output_padding 1)', [2, 3, 6, 6], (b, x) => b.conv(x, 4, { kernel: 3, stride: 2, pad: 1, bias: true, name: 'c' }), ['ConvGrad']],
    ['ConvGrad: dilation 2, groups 2', [2, 4, 7, 7], (b, x) => b.conv(x, 6, { kernel: 3, dilation: 2, group: 2, name: 'c' }), ['ConvGrad']],
    ['ConvGrad: depthwise with bias', [2, 4, 5, 5], (b, x) => b.conv(x, 4, { kernel: 3, group: 4, bias: true, name: 'dw' }), ['ConvGrad']],
    ['ConvGrad: stride 3, kernel 2, unused trailing rows', [2, 2, 8, 7], (b, x) => b.conv(x, 3, { kernel: 2, stride: 3, bias: true, name: 'c' }), ['ConvGrad']],
    ['ConvGrad: 1×1 pointwise (per-sample FusedMatMul dW)', [2, 4, 5, 5], (b, x) => b.conv(x, 6, { kernel: 1, name: 'pw' }), ['ConvGrad']],
    ['ConvGrad: 1×1 pointwise, 16 → 12 channels on a 2×2 map (one MatMul dW)', [2, 16, 2, 2], (b, x) => b.conv(x, 12, { kernel: 1, name: 'pw' }), ['ConvGrad']],
    ['ConvGrad: 1×1 stride 2', [2, 4, 7, 7], (b, x) => b.conv(x, 5, { kernel: 1, stride: 2, name: 'pw' }), ['ConvGrad']],
    ['ConvGrad: groups 2 (Cg 4, Mg 5), stride 2, pad 1', [2, 8, 7, 7], (b, x) => b.conv(x, 10, { kernel: 3, stride: 2, pad: 1, group: 2, name: 'c' }), ['ConvGrad']],
    ['ConvGrad: group 1, pad 2, dilation 2, bias', [2, 5, 8, 8], (b, x) => b.conv(x, 6, { kernel: 3, dilation: 2, pad: 2, bias: true, name: 'c' }), ['ConvGrad']],
    ['ConvGrad: depthwise stride 2, pad 1', [2, 6, 7, 7], (b, x) => b.conv(x, 6, { kernel: 3, stride: 2, pad: 1, group: 6, name: 'dw' }), ['ConvGrad']],
    ['ConvGrad: depthwise dilation 2, pad 2 (channel multiplier 2)', [2, 3, 7, 7], (b, x) => b.conv(x, 6, { kernel: 3, dilation: 2, pad: 2, group: 3, name: 'dw' }), ['ConvGrad']],
    ['MaxPoolGrad: 2×2 stride 2', [2, 2, 6, 6], (b, x) => b.maxPool(x, { kernel: 2, stride: 2 }), ['MaxPoolGrad']],
    ['MaxPoolGrad: overlapping 3×3 stride 2 pad 1', [2, 2, 7, 7], (b, x) => b.maxPool(x, { kernel: 3, stride: 2, pad: 1 }), ['MaxPoolGrad']],
    ['AveragePoolGrad: 3×3 stride 2 pad 1 (count excludes pad)', [2, 2, 6, 6], (b, x) => b.averagePool(x, { kernel: 3, stride: 2, pad: 1 }), ['AveragePoolGrad']],
    ['AveragePoolGrad: 2×2 stride 2', [2, 3, 6, 6], (b, x) => b.averagePool(x, { kernel: 2, stride: 2 }), ['AveragePoolGrad']],
    ['LayerNormalizationGrad', [2, 3, 6], (b, x) => b.layerNorm(x, { name: 'ln' }), ['LayerNormalizationGrad']],
    ['GatherGrad (repeated indices)', [2, 3, 5], (b, x) => b.tanh(b.gather(x, [2, 0, 2], 1)), ['GatherGrad']],
    ['GatherGrad axis 0', [4, 3], (b, x) => b.tanh(b.gather(x, [3, 1, 3, 0], 0)), ['GatherGrad']],
    ['SliceGrad: unit steps (Pad)', [2, 3, 5], (b, x) => b.tanh(b.slice(x, [0, 1], [2, 4], [1, 2])), ['SliceGrad']],
    ['SliceGrad: step 2 (scatter)', [2, 3, 5], (b, x) => b.tanh(b.slice(x, [0, 1], [2, 5], [1, 2], [1, 2])), ['SliceGrad']],
  ];
  for (const [name, shape, f, ops] of cases) {
    it(name, async () => {
      const variants: EquivOptions[] = ops.includes('ConvGrad')
        ? [{ convWeightGradient: 'conv', convInputGradient: 'convtranspose' }, { convWeightGradient: 'gemm' }, { convWeightGradient: 'matmul' }, {}]
        : [{}];
      for (const v of variants) {
        const { opts, feeds } = opCase(shape, f);
        await equivalence(opts, feeds, { expectOps: ops, ...v });
      }
    }, T);
  }

  it('ConvGrad "auto": MatMul dW for wide convs, per-sample FusedMatMul for 1×1 on large maps, Mul+ReduceSum for depthwise, Conv dX for stride 1', async () => {
    const b = new GraphBuilder({ seed: 5 });
    const x = b.input('x', [2, 8, 6, 6]);
    const h = b.conv(b.conv(x, 8, { kernel: 3, pad: 1, name: 'c3' }), 8, { kernel: 3, pad: 1, group: 8, name: 'dw' });
    const y = b.conv(b.conv(h, 8, { kernel: 1, name: 'pw' }), 4, { kernel: 3, stride: 2, pad: 1, name: 's2' });
    const opts: TrainingGraphsOptions = { model: b, loss: projectLoss(b, y) };
    const r = await equivalence(opts, { x: { data: randn(576, 6), dims: [2, 8, 6, 6] } }, { expectOps: ['ConvGrad'], maxCoords: 6 });
    const ops = (r.lowered.graph!.node ?? []).map((n) => n.opType);
    expect(ops.filter((t) => t === 'MatMul').length).toBe(9 + 9); // c3 (9 offsets), s2 (9)
    expect(ops.filter((t) => t === 'FusedMatMul').length).toBe(1); // pw: 8 → 8 channels on a 6×6 map
    expect(ops.includes('ConvTranspose')).toBe(true); // s2's dX (stride 2)
    expect(ops.filter((t) => t === "Conv").length).toBeGreaterThanOrEqual(4 + 2); // forward + stride-1 dX of dw, pw
  }, T);

  it('MaxPoolGrad with ties (ReLU zeros, duplicated maxima): native routes each window like the training build', async () => {
    // Half the windows are all-zero after the ReLU and the rest repeat values: both paths run ORT's MaxPool forward
    // and scatter to its Indices, so they must agree exactly (no FD: the loss is not differentiable at ties).
    const b = new GraphBuilder({ seed: 4 });
    const x = b.input('x', [2, 2, 6, 6]);
    const p0 = b.param('p0', [2, 2, 6, 6], randn(144, 11, 2).map((v) => Math.round(v) / 2));
    const y = b.maxPool(b.relu(b.add(x, p0, 'x_plus_p0')), { kernel: 3, stride: 1, pad: 1 });
    const opts: TrainingGraphsOptions = { model: b, loss: projectLoss(b, y) };
    const feeds = { x: { data: new Float32Array(144), dims: [2, 2, 6, 6] } };
    const r = await equivalence(opts, feeds, { expectOps: ['MaxPoolGrad'], fd: false, rtol: 0 });
    expect(Object.values(r.rel).every((e) => e === 0)).toBe(true);
  }, T);

  it('Gelu lowered to Erf form (lowerGelu)', async () => {
    const { opts, feeds } = opCase([2, 3, 5], (b, x) => b.gelu(x));
    const r = await equivalence(opts, feeds, { lowerGelu: true });
    expect((r.lowered.graph!.node ?? []).some((n) => n.domain === 'com.microsoft')).toBe(false);
  }, T);

  it('BatchNormInternal + BatchNormalizationGrad: gradients and running statistics', async () => {
    const { opts, feeds } = opCase([4, 3, 3, 3], (b, x) => b.batchNorm(x, { name: 'bn', jitter: 0.3 }));
    const r = await equivalence(opts, feeds, { expectOps: ['BatchNormInternal', 'BatchNormalizationGrad'] });
    const web = await webOutputs(r.g, feeds);
    expect(r.g.batchNormStatistics.length).toBe(2);
    for (const s of r.g.batchNormStatistics) compare(r.native[s.output], web[s.output], `BN statistic ${s.output}`);
  }, T);

  it('SoftmaxCrossEntropyLossGrad: mean, sum, and ignore_index', async () => {
    for (const variant of ['mean', 'sum', 'ignore'] as const) {
      const b = new GraphBuilder({ seed: 1 });
      const x = b.input('x', [4, 6]);
      const logits = b.gemm(x, 5, 'head');
      const loss = b.softmaxCrossEntropy(logits, b.int64Constant('labels', [0, 3, 4, 3]), { reduction: variant === 'sum' ? 'sum' : 'mean' });
      let opts: TrainingGraphsOptions = { model: b, loss };
      if (variant === 'ignore') {
        const m = b.build({ requireOutputs: false });
        const sce = m.graph!.node!.find((n) => n.opType === 'SoftmaxCrossEntropyLoss')!;
        sce.attribute!.push({ name: 'ignore_index', type: AttributeType.INT, i: 3 });
        expect(getAttribute(sce, 'ignore_index')).toBeDefined();
        opts = { model: m, loss: loss.name, trainable: b.parameters().filter((p) => p.trainable).map((p) => p.name) };
      }
      await equivalence(opts, { x: { data: randn(24, 9), dims: [4, 6] } }, { expectOps: ['SoftmaxCrossEntropyLossGrad'] });
    }
  }, T);
});

describe('lowering: composite blocks (native vs web vs FD)', () => {
  it('residual block: conv-BN-ReLU-conv-BN + skip, ReLU, GAP, linear, CE', async () => {
    const { b, loss, feeds } = residualBlock();
    const r = await equivalence({ model: b, loss }, feeds, { maxCoords: 6 });
    const web = await webOutputs(r.g, feeds);
    for (const s of r.g.batchNormStatistics) compare(r.native[s.output], web[s.output], `BN statistic ${s.output}`);
  }, T);
  it('depthwise-separable block: dw conv-BN-ReLU6, pw conv, maxpool, linear, CE', async () => {
    const { b, loss, feeds } = depthwiseBlock();
    for (const convWeightGradient of ['conv', 'gemm', 'matmul', 'auto'] as const) {
      await equivalence({ model: b, loss }, feeds, { maxCoords: 6, convWeightGradient });
    }
  }, T);
  it('attention block: LN, q/k/v, softmax(qkᵀ/√d)v, projection, residual, GELU MLP', async () => {
    const { b, loss, feeds } = attentionBlock();
    await equivalence({ model: b, loss }, feeds, { maxCoords: 6 });
  }, T);
});

/** The NCHWc block size of the onnxruntime-node build under test (0: no NCHWc kernels on this CPU). */
async function runtimeBlockSize(): Promise<number> {
  try {
    const session = await createInferenceSession(encodeModel(nchwcProbeModel()), { threads: 1 });
    const { y } = await session.run({ x: { data: new Float32Array([1, 2, 3, 4]), shape: [1, 4, 1, 1] } });
    await session.release();
    return y.shape[1];
  } catch {
    return 0;
  }
}

describe('lowering with NCHWc convolutions (nchwcBlockSize): same loss and gradients as the training build, and FD', () => {
  it('the probe reports the block of an x86-64 build with AVX2 (8) or AVX-512 (16)', async () => {
    const block = await runtimeBlockSize();
    // CI and the developer machines are x86-64 with AVX2 at least; a machine without it would report 0 (no kernels).
    expect([8, 16]).toContain(block);
  }, T);

  it('which convolutions qualify', () => {
    expect(nchwcKind([2, 16, 8, 8], [32, 16, 3, 3], 1, 16)).toBe('blocked');
    expect(nchwcKind([2, 3, 8, 8], [16, 3, 3, 3], 1, 16)).toBe('plain-input'); // the RGB stem
    expect(nchwcKind([2, 16, 8, 8], [32, 16, 1, 1], 1, 16)).toBe(null); // pointwise: already a plain GEMM
    expect(nchwcKind([2, 16, 8, 8], [16, 1, 3, 3], 16, 16)).toBe('depthwise');
    expect(nchwcKind([2, 24, 8, 8], [24, 1, 3, 3], 24, 16)).toBe(null); // depthwise, 24 channels: would need padding
    expect(nchwcKind([2, 16, 8, 8], [32, 1, 3, 3], 16, 16)).toBe(null); // channel multiplier 2
    expect(nchwcKind([2, 32, 8, 8], [32, 16, 3, 3], 2, 16)).toBe(null); // 2 groups
    expect(nchwcKind([2, 16, 8, 8], [16, 1, 1, 1], 16, 16)).toBe(null); // depthwise 1×1
    expect(nchwcKind([2, 24, 8, 8], [32, 24, 3, 3], 1, 16)).toBe(null); // 24 channels: would need padding
    expect(nchwcKind([2, 16, 8, 8], [24, 16, 3, 3], 1, 16)).toBe(null);
    expect(nchwcKind([2, 16, 8, 8], [32, 16, 3, 3], 1, 0)).toBe(null); // no kernels
  });

  it('stem (3 channels), stride 1 with bias, stride 2, dilation 2: forward and stride-1 dX convs become nchwc Conv', async () => {
    const block = await runtimeBlockSize();
    expect(block).toBeGreaterThan(0);
    const C = block;
    const b = new GraphBuilder({ seed: 8 });
    const x = b.input('x', [2, 3, 9, 9]);
    // tanh, not ReLU: smooth, so central differences (h = 1e-3) do not straddle kinks
    let h = b.tanh(b.conv(x, C, { kernel: 3, pad: 1, name: 'stem' }));
    h = b.tanh(b.conv(h, C, { kernel: 3, pad: 1, bias: true, name: 'c1' }));
    h = b.tanh(b.conv(h, 2 * C, { kernel: 3, stride: 2, pad: 1, name: 's2' }));
    h = b.conv(h, 2 * C, { kernel: 3, dilation: 2, pad: 2, name: 'd2' });
    const opts: TrainingGraphsOptions = { model: b, loss: projectLoss(b, h) };
    const feeds = { x: { data: randn(2 * 3 * 81, 12), dims: [2, 3, 9, 9] } };
    const r = await equivalence(opts, feeds, { expectOps: ['ConvGrad'], maxCoords: 6, nchwcBlockSize: block });
    const nodes = r.lowered.graph!.node ?? [];
    const blocked = nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').map((n) => n.name);
    // 4 forward convs + the stride-1 dX of c1 and d2 (the stem's dX is not needed: x is an input; s2's is a ConvTranspose)
    expect(blocked.length).toBe(6);
    expect(nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'ReorderInput').length).toBe(5); // all but the stem
    expect(nodes.some((n) => n.domain === '' && n.opType === 'Conv')).toBe(false);
    expect(r.lowered.opsetImport!.some((o) => o.domain === NCHWC_DOMAIN)).toBe(true);
  }, T);

  it('depthwise (stride 1, stride 2 with bias, dilation 2, no pad, a 2×2 map): forward, stride-1 dX and dW on NCHWc', async () => {
    const block = await runtimeBlockSize();
    expect(block).toBeGreaterThan(0);
    const C = block;
    const b = new GraphBuilder({ seed: 11 });
    const x = b.input('x', [2, C, 9, 9]);
    let h = b.tanh(b.conv(x, C, { kernel: 3, pad: 1, group: C, name: 'dw1' })); // 9×9
    h = b.tanh(b.conv(h, C, { kernel: 3, stride: 2, pad: 1, group: C, bias: true, name: 'dw2' })); // 5×5
    h = b.tanh(b.conv(h, C, { kernel: 3, dilation: 2, pad: 2, group: C, name: 'dw3' })); // 5×5
    h = b.tanh(b.conv(h, C, { kernel: 3, stride: 2, pad: 0, group: C, name: 'dw4' })); // 2×2, no pad
    h = b.conv(h, C, { kernel: 3, pad: 1, group: C, name: 'dw5' }); // 2×2: the kernel is larger than the map
    const opts: TrainingGraphsOptions = { model: b, loss: projectLoss(b, h) };
    const feeds = { x: { data: randn(2 * C * 81, 13), dims: [2, C, 9, 9] } };
    const r = await equivalence(opts, feeds, { expectOps: ['ConvGrad'], maxCoords: 6, nchwcBlockSize: block });
    const nodes = r.lowered.graph!.node ?? [];
    const blocked = nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv');
    // 5 forward + the stride-1 dX of dw3 and dw5 (dw1's is not needed, dw2's and dw4's are ConvTranspose) + 5 dW
    expect(blocked.length).toBe(12);
    expect(blocked.filter((n) => (n.output ?? [])[0].includes('dw_planes_nchwc')).length).toBe(5);
    expect(nodes.some((n) => n.domain === '' && n.opType === 'Conv')).toBe(false);
    expect(nodes.some((n) => n.opType === 'Mul' && /dy_x_off/.test(n.output?.[0] ?? ''))).toBe(false); // no per-offset dW left
  }, T);

  it('depthwise dW on NCHWc with a cropped output (even maps at stride 2) and the fallback where an offset reads only padding', async () => {
    const block = await runtimeBlockSize();
    const C = block;
    const b = new GraphBuilder({ seed: 15 });
    const x = b.input('x', [2, C, 8, 8]);
    let h = b.tanh(b.conv(x, C, { kernel: 3, stride: 2, pad: 1, group: C, name: 'dwa' })); // 4×4: the dY kernel reaches 4 offsets, cropped to 3
    h = b.tanh(b.conv(h, C, { kernel: 3, stride: 2, pad: 0, group: C, name: 'dwb' })); // 1×1, no pad: 4 → 3 again
    h = b.conv(h, C, { kernel: 3, pad: 1, group: C, name: 'dwc' }); // on a 1×1 map offset 0 reads padding only: per-offset path
    const opts: TrainingGraphsOptions = { model: b, loss: projectLoss(b, h) };
    const feeds = { x: { data: randn(2 * C * 64, 16), dims: [2, C, 8, 8] } };
    const r = await equivalence(opts, feeds, { expectOps: ['ConvGrad'], maxCoords: 6, nchwcBlockSize: block });
    const nodes = r.lowered.graph!.node ?? [];
    const planes = nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv' && (n.output ?? [])[0].includes('dw_planes_nchwc'));
    expect(planes.map((n) => n.output![0].split('.')[0]).sort()).toEqual(['dwa_grad', 'dwb_grad']);
    expect(nodes.filter((n) => n.opType === 'Slice' && /dw_planes_cropped/.test(n.output?.[0] ?? '')).length).toBe(2);
    expect(nodes.some((n) => n.opType === 'Mul' && /^dwc_grad.*dy_x_off/.test(n.output?.[0] ?? ''))).toBe(true);
  }, T);

  it('residual block (BN, skip) with one block of channels; with 4 channels every conv keeps its standard form', async () => {
    const block = await runtimeBlockSize();
    const wide = residualBlock(block);
    const r = await equivalence({ model: wide.b, loss: wide.loss }, wide.feeds, { maxCoords: 6, nchwcBlockSize: block });
    const web = await webOutputs(r.g, wide.feeds);
    for (const s of r.g.batchNormStatistics) compare(r.native[s.output], web[s.output], `BN statistic ${s.output}`);
    // stem (plain input), conv1, conv2 forward + the stride-1 dX of conv1 and conv2
    expect((r.lowered.graph!.node ?? []).filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').length).toBe(5);
    const narrow = residualBlock(4);
    const n = await equivalence({ model: narrow.b, loss: narrow.loss }, narrow.feeds, { maxCoords: 6, nchwcBlockSize: block });
    expect((n.lowered.graph!.node ?? []).some((x) => x.domain === NCHWC_DOMAIN)).toBe(false);
  }, T);

  it('useNchwcConvolutions on an eval model (weights as inputs): the same logits, the input model untouched', async () => {
    const block = await runtimeBlockSize();
    const { b, loss, feeds } = residualBlock(block);
    const g = buildTrainingGraphs({ model: b, loss });
    const before = JSON.stringify(g.evalModel.graph!.node);
    const blocked = useNchwcConvolutions(g.evalModel, block);
    expect(JSON.stringify(g.evalModel.graph!.node)).toBe(before);
    expect((blocked.graph!.node ?? []).filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').length).toBe(3); // stem, conv1, conv2
    const run = async (m: ModelProto) => {
      const session = await createInferenceSession(encodeModel(m), { threads: 1 });
      const f: Record<string, { data: Float32Array; shape: number[] }> = { x: { data: feeds.x.data, shape: feeds.x.dims } };
      for (const p of g.parameters) if (session.inputNames.includes(p.name)) f[p.name] = { data: Float32Array.from(p.data), shape: p.dims };
      const out = await session.run(f);
      await session.release();
      return Object.values(out)[0].data;
    };
    const [plain, nchwc] = [await run(g.evalModel), await run(blocked)];
    expect(nchwc.length).toBe(plain.length);
    const scale = Math.max(...plain.map(Math.abs));
    for (let i = 0; i < plain.length; i++) expect(Math.abs(nchwc[i] - plain[i])).toBeLessThanOrEqual(1e-5 * scale + 1e-6);
    expect(useNchwcConvolutions(g.evalModel, 0).graph!.node!.some((n) => n.domain === NCHWC_DOMAIN)).toBe(false);
  }, T);

  it('useNchwcConvolutions with a depthwise conv (stride 2, bias): the same logits', async () => {
    const block = await runtimeBlockSize();
    const b = new GraphBuilder({ seed: 12 });
    const x = b.input('x', [2, block, 7, 7]);
    const h = b.relu(b.conv(x, block, { kernel: 3, stride: 2, pad: 1, group: block, bias: true, name: 'dw' }));
    const g = buildTrainingGraphs({ model: b, loss: projectLoss(b, h) });
    const blocked = useNchwcConvolutions(g.evalModel, block);
    const convs = (blocked.graph!.node ?? []).filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv');
    expect(convs.map((n) => attrInt(n, 'group', 1))).toEqual([block]);
    const feeds = { x: { data: randn(2 * block * 49, 14), shape: [2, block, 7, 7] } };
    const run = async (m: ModelProto) => {
      const session = await createInferenceSession(encodeModel(m), { threads: 1 });
      const f: Record<string, { data: Float32Array; shape: number[] }> = { ...feeds };
      for (const p of g.parameters) if (session.inputNames.includes(p.name)) f[p.name] = { data: Float32Array.from(p.data), shape: p.dims };
      const out = await session.run(f);
      await session.release();
      return Object.values(out)[0].data;
    };
    const [plain, nchwc] = [await run(g.evalModel), await run(blocked)];
    const scale = Math.max(...plain.map(Math.abs));
    expect(nchwc.length).toBe(plain.length);
    for (let i = 0; i < plain.length; i++) expect(Math.abs(nchwc[i] - plain[i])).toBeLessThanOrEqual(1e-5 * scale + 1e-6);
  }, T);
});
