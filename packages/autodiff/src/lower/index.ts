/**
 * Lowering of a training model (from `buildTrainingGraphs`) for onnxruntime-node's CPU INFERENCE build: every
 * ORT-training-only op the autodiff emits becomes standard ONNX ops (see README "Lowering for onnxruntime-node"),
 * and the accumulation machinery (InPlaceAccumulatorV2, `<p>_grad.accumulation.buffer`, `lazy_reset_grad`,
 * `<p>_grad.accumulation.out`) is removed: one inference session computes loss, extra outputs, BN statistics and
 * `<p>.gradient` per step, and the host accumulates.
 */
import { KqkdError } from '@kqkd/common';
import {
  DataType, attrFloat, attrInt, attrInts, attrString, cloneModel, makeValueInfo, tensorTypes, tensorValues, toInt,
  type ModelProto, type NodeProto, type TensorProto, type TensorType,
} from '@kqkd/onnx';
import { Emitter, MS, int64Tensor, type AttrValue } from '../emitter.js';
import { emitNchwcConv, emitNchwcDepthwiseWeightGradient, emitNchwcForwardConv, staticShapes, NCHWC_DOMAIN } from './nchwc.js';
import { HOST_CONV_WEIGHT_GRADIENTS_KEY, type HostConvWeightGradient } from './host-weight-gradients.js';
import { ACCUMULATION_BUFFER_SUFFIX, ACCUMULATION_OUT_SUFFIX, GRADIENT_OUTPUT_SUFFIX, LAZY_RESET_GRAD } from '../training-graphs.js';

export interface LowerOptions {
  /**
   * Add a `<p>.gradient` output for every accumulated parameter that lacks one (default true), so a model built
   * without `exposeGradients` still returns its gradients once the accumulators are gone.
   */
  exposeGradients?: boolean;
  /**
   * Rewrite com.microsoft Gelu into 0.5·x·(1 + Erf(x/√2)) (default false: onnxruntime-node's CPU build runs the
   * contrib Gelu kernel, verified in test/lower.test.ts).
   */
  lowerGelu?: boolean;
  /**
   * How ConvGrad's dW is computed. "auto" (default) picks per node: "matmul" (one MatMul per kernel offset of
   * dY(M, N·O) against the shifted strided slice of the channels-last padded X(N·O, C); 1×1 stride-1 convs are one
   * MatMul; depthwise convolutions use one NCHWc depthwise Conv over the (sample, channel) planes with nchwcBlockSize,
   * else Mul + ReduceSum per offset) whenever the group's channels make those MatMuls
   * wide enough, else "conv" (a Conv over transposed tensors, any groups; MLAS runs it as a huge im2col and a GEMM
   * only K columns wide, which was the dominant cost of ResNet9 training). "gemm": explicit im2col columns by
   * strided Slices + one GEMM (group 1 and depthwise; slower than both).
   */
  convWeightGradient?: 'auto' | 'matmul' | 'gemm' | 'conv';
  /**
   * How ConvGrad's dX is computed: "auto" (default: for stride 1, a Conv of dY with the flipped, channel-transposed
   * kernel and "full" padding; otherwise ConvTranspose), "conv" (that Conv where it applies) or "convtranspose".
   */
  convInputGradient?: 'auto' | 'conv' | 'convtranspose';
  /**
   * Run the 2-D ungrouped and depthwise k×k convolutions (the forward ones and the stride-1 input gradients) and the
   * depthwise weight gradients on ONNX Runtime's NCHWc kernels with this block size (./nchwc.ts). It must be the
   * runtime's own (ask it with `nchwcProbeModel`); 0 or absent: standard Conv nodes. CPU execution provider only
   * (the nchwc ops have no other kernels).
   */
  nchwcBlockSize?: number;
  /**
   * Leave the weight gradient of every 2-D ungrouped k×k convolution (k > 1, or strided) whose gradient is its
   * parameter's whole gradient to the host (./host-weight-gradients.ts): the graph outputs the convolution's input X
   * and output gradient dY instead and writes zeros to `<p>.gradient`; the caller computes dW (im2col + SGEMM in
   * @kqkd/native) into that buffer. The list is in the model's metadata (`hostConvWeightGradients(model)`).
   */
  hostConvWeightGradient?: boolean;
}

/** Training-only ops this pass rewrites (domain com.microsoft, or the ONNX domain for the pool gradients). */
export const LOWERED_OPS = [
  'ReluGrad', 'LeakyReluGrad', 'SigmoidGrad', 'TanhGrad', 'GeluGrad', 'SoftmaxGrad_13', 'LogSoftmaxGrad_13', 'ConvGrad',
  'MaxPoolGrad', 'AveragePoolGrad', 'BatchNormInternal', 'BatchNormalizationGrad', 'LayerNormalizationGrad',
  'SoftmaxCrossEntropyLossGrad', 'GatherGrad', 'SliceGrad', 'InPlaceAccumulatorV2',
] as const;

/**
 * com.microsoft ops the lowered graph may hold (onnxruntime-node's CPU build runs them): Gelu kept as it is,
 * FusedMatMul written for 1×1 weight gradients.
 */
export const KEPT_MICROSOFT_OPS = ['Gelu', 'FusedMatMul'] as const;

interface Ctx {
  node: NodeProto;
  em: Emitter;
  opset: number;
  site: string;
  /** Static shape of a tensor (throws when unknown or symbolic). */
  shape(name: string): number[];
  elemType(name: string): number | undefined;
  constant(name: string): number[] | null;
  /** The parameter whose whole gradient tensor `name` is (it feeds only that parameter's accumulator), if any. */
  wholeGradientOf(name: string): string | undefined;
  isGraphInput(name: string): boolean;
  /** Host weight gradients collected for the metadata (hostConvWeightGradient). */
  host: HostConvWeightGradient[];
}

const In = (c: Ctx, i: number) => c.node.input?.[i] ?? '';
const Out = (c: Ctx, i: number) => c.node.output?.[i] ?? '';
const numel = (s: number[]) => s.reduce((p, d) => p * d, 1);
const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a) }, (_, k) => a + k);

/** A scalar float constant. */
function f32(c: Ctx, tag: string, v: number): string {
  return c.em.constF(`${c.node.name ?? 'lower'}.${tag}`, [], [v]);
}
function i64(c: Ctx, tag: string, values: number[]): string {
  return c.em.constI64(`${c.node.name ?? 'lower'}.${tag}`, values);
}
function i64Scalar(c: Ctx, tag: string, v: number): string {
  const name = c.em.fresh(`${c.node.name ?? 'lower'}.${tag}`);
  c.em.initializers.push(int64Tensor(name, [v], []));
  return name;
}
/** One-output node; `out` names the result (an original output) or a fresh base. */
function op(c: Ctx, type: string, inputs: string[], tag: string, attrs: Record<string, AttrValue> = {}, out?: string): string {
  if (out) {
    c.em.node(type, inputs, [out], attrs);
    return out;
  }
  return c.em.op(type, inputs, `${c.node.name ?? 'lower'}.${tag}`, attrs);
}
function reduceSum(c: Ctx, x: string, axes: number[], keepdims: boolean, tag: string, out?: string): string {
  if (axes.length === 0) return op(c, 'Identity', [x], tag, {}, out);
  return op(c, 'ReduceSum', [x, i64(c, `${tag}.axes`, axes)], tag, { keepdims: keepdims ? 1 : 0 }, out);
}
function reduceMean(c: Ctx, x: string, axes: number[], keepdims: boolean, tag: string, out?: string): string {
  if (c.opset >= 18) return op(c, 'ReduceMean', [x, i64(c, `${tag}.axes`, axes)], tag, { keepdims: keepdims ? 1 : 0 }, out);
  return op(c, 'ReduceMean', [x], tag, { axes, keepdims: keepdims ? 1 : 0 }, out);
}
function reshape(c: Ctx, x: string, shape: number[], tag: string, out?: string): string {
  return op(c, 'Reshape', [x, i64(c, `${tag}.shape`, shape)], tag, {}, out);
}
function zeros(c: Ctx, shape: number[], tag: string): string {
  // ConstantOfShape without a value attribute is float32 zeros.
  return op(c, 'ConstantOfShape', [i64(c, `${tag}.shape`, shape)], tag);
}
/** Writes `src` into output `i` of the lowered node (an Identity unless src is already that name). */
function emitOut(c: Ctx, i: number, src: string): void {
  const o = Out(c, i);
  if (o && o !== src) c.em.node('Identity', [src], [o]);
}

interface ConvGeometry { spatial: number; k: number[]; s: number[]; d: number[]; pb: number[]; pe: number[] }

function geometry(c: Ctx, spatial: number, kernel: number[] | null): ConvGeometry {
  const autoPad = (attrString(c.node, 'auto_pad') ?? 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') {
    throw new KqkdError(`${c.site} attribute auto_pad`, 'NOTSET or VALID (explicit pads; the lowering needs them)', `"${autoPad}"`);
  }
  const k = attrInts(c.node, 'kernel_shape') ?? kernel;
  if (!k) throw new KqkdError(`${c.site} attribute kernel_shape`, 'the kernel shape', 'none');
  const ones = Array(spatial).fill(1);
  const pads = autoPad === 'VALID' ? Array(2 * spatial).fill(0) : attrInts(c.node, 'pads') ?? Array(2 * spatial).fill(0);
  return {
    spatial, k, s: attrInts(c.node, 'strides') ?? ones, d: attrInts(c.node, 'dilations') ?? ones,
    pb: pads.slice(0, spatial), pe: pads.slice(spatial),
  };
}

function finishConvBias(c: Ctx, dy: string, sp: number): void {
  if (Out(c, 2)) reduceSum(c, dy, [0, ...range(2, 2 + sp)], false, 'db', Out(c, 2));
}

/**
 * dW as one GEMM over explicit columns (im2col with standard ops): X is transposed to (C, N, spatial), padded, and
 * each kernel offset κ contributes the strided Slice X[:, :, κ·d : κ·d + s·(O − 1) + 1 : s]; stacked, they form
 * cols (C·K, N·O), and dW = dY(M, N·O) · colsᵀ (Gemm transB). Depthwise (group = C = M): dW[c, κ] = Σ dY[c]·cols[c, κ].
 */
function convWeightGemm(c: Ctx, dy: string, x: string, xs: number[], g: ConvGeometry, outSize: number[], M: number, depthwise: boolean): void {
  const sp = xs.length - 2;
  const [N, C] = [xs[0], xs[1]];
  const sIdx = range(2, 2 + sp);
  const K = numel(g.k);
  const P = numel(outSize);
  let xt = op(c, 'Transpose', [x], 'x_cn', { perm: [1, 0, ...sIdx] });
  if ([...g.pb, ...g.pe].some((v) => v !== 0)) {
    xt = op(c, 'Pad', [xt, i64(c, 'x_pads', [0, 0, ...g.pb, 0, 0, ...g.pe])], 'x_cn_padded', { mode: 'constant' });
  }
  const offsets: number[][] = [];
  const walk = (a: number, acc: number[]) => {
    if (a === sp) { offsets.push(acc); return; }
    for (let k = 0; k < g.k[a]; k++) walk(a + 1, [...acc, k]);
  };
  walk(0, []);
  const cols = offsets.map((kappa, j) => {
    const starts = kappa.map((k, a) => k * g.d[a]);
    const ends = kappa.map((k, a) => k * g.d[a] + g.s[a] * (outSize[a] - 1) + 1);
    const sl = op(c, 'Slice', [xt, i64(c, `col${j}.starts`, starts), i64(c, `col${j}.ends`, ends), i64(c, `col${j}.axes`, sIdx),
      i64(c, `col${j}.steps`, g.s)], `col${j}`);
    return K === 1 ? sl : op(c, 'Unsqueeze', [sl, i64(c, `col${j}.axis`, [1])], `col${j}_u`);
  });
  const stacked = K === 1 ? cols[0] : op(c, 'Concat', cols, 'cols', { axis: 1 }); // (C, K, N, O...)
  const dyt = op(c, 'Transpose', [dy], 'dy_mn', { perm: [1, 0, ...sIdx] }); // (M, N, O...)
  if (depthwise) {
    const prod = op(c, 'Mul', [reshape(c, stacked, [C, K, N * P], 'cols_ckp'), reshape(c, dyt, [C, 1, N * P], 'dy_c1p')], 'dy_cols');
    const red = reduceSum(c, prod, [2], false, 'dw_ck');
    reshape(c, red, [C, 1, ...g.k], 'dw', Out(c, 1));
    return;
  }
  const gemm = op(c, 'Gemm', [reshape(c, dyt, [M, N * P], 'dy_m_np'), reshape(c, stacked, [C * K, N * P], 'cols_ck_np')], 'dw_mat', { transB: 1 });
  reshape(c, gemm, [M, C, ...g.k], 'dw', Out(c, 1));
}

/** A 1×1, stride-1, unpadded convolution: dW is one product of dY and X with no shifted copies. */
function isPointwise(g: ConvGeometry): boolean {
  return g.k.every((k) => k === 1) && g.s.every((v) => v === 1) && [...g.pb, ...g.pe].every((v) => v === 0);
}

/** Every kernel offset κ (row-major over the spatial axes). */
function kernelOffsets(k: number[]): number[][] {
  const offsets: number[][] = [];
  const walk = (a: number, acc: number[]) => {
    if (a === k.length) { offsets.push(acc); return; }
    for (let j = 0; j < k[a]; j++) walk(a + 1, [...acc, j]);
  };
  walk(0, []);
  return offsets;
}

/**
 * Slice of `t` (spatial axes `axes`, padded size `padded`) read by kernel offset κ: t[…, κ·d : κ·d + s·(O − 1) + 1 : s, …];
 * the tensor itself when that is all of it.
 */
function offsetSlice(c: Ctx, t: string, kappa: number[], g: ConvGeometry, outSize: number[], axes: number[], padded: number[], tag: string): string {
  const starts = kappa.map((k, a) => k * g.d[a]);
  const ends = kappa.map((k, a) => k * g.d[a] + g.s[a] * (outSize[a] - 1) + 1);
  if (starts.every((v) => v === 0) && g.s.every((v) => v === 1) && ends.every((e, a) => e === padded[a])) return t;
  return op(c, 'Slice', [t, i64(c, `${tag}.starts`, starts), i64(c, `${tag}.ends`, ends), i64(c, `${tag}.axes`, axes),
    i64(c, `${tag}.steps`, g.s)], tag);
}

/**
 * dW as one MatMul per kernel offset κ (groups G, Mg = M/G, Cg = C/G):
 *   dW[g·Mg + m, c, κ] = Σ_{n,o} dY[n, g·Mg + m, o] · Xpad[n, g·Cg + c, o·s + κ·d]
 * dY is transposed once to (G, Mg, N·O); X once to channels-last (G, N, spatial…, Cg) and padded, so each offset's
 * strided Slice reshapes (no copy) to (G, N·O, Cg) and MatMul gives (G, Mg, Cg); the K results are stacked on a
 * trailing axis into (G, Mg, Cg, K) = (M, Cg, kernel…). A 1×1 stride-1 unpadded conv is a single MatMul on X itself.
 */
function convWeightMatMul(c: Ctx, dy: string, x: string, xs: number[], g: ConvGeometry, outSize: number[], M: number, group: number): void {
  const sp = xs.length - 2;
  const [N, C] = [xs[0], xs[1]];
  const Cg = C / group;
  const Mg = M / group;
  const P = numel(outSize);
  const K = numel(g.k);
  if (group === 1 && isPointwise(g) && 2 * M * C <= P * (M + C)) {
    // Large maps: per sample dY_n (M, P) · X_n (C, P)ᵀ (FusedMatMul transB), summed over samples — no transposes of X
    // and dY; the N·M·C partial sums are small next to them here (16 → 96 channels at 32×32, batch 128: 2.4× faster).
    const prod = c.em.op('FusedMatMul', [reshape(c, dy, [N, M, P], 'dy_rows'), reshape(c, x, [N, C, P], 'x_rows')],
      `${c.node.name ?? 'lower'}.dw_samples`, { transB: 1 }, MS);
    reshape(c, reduceSum(c, prod, [0], false, 'dw_sum'), [M, C, ...g.k], 'dw', Out(c, 1));
    return;
  }
  // X → (G, N, spatial…, Cg)
  let xt: string;
  if (group === 1) {
    xt = op(c, 'Transpose', [x], 'x_nhwc', { perm: [0, ...range(2, 2 + sp), 1] });
  } else {
    const x5 = reshape(c, x, [N, group, Cg, ...xs.slice(2)], 'x_groups');
    xt = op(c, 'Transpose', [x5], 'x_g_nhwc', { perm: [1, 0, ...range(3, 3 + sp), 2] });
  }
  const lead = group === 1 ? 0 : 1; // index of N in xt
  const sAxes = range(lead + 1, lead + 1 + sp);
  const rank = lead + 2 + sp;
  if ([...g.pb, ...g.pe].some((v) => v !== 0)) {
    const pads = Array(2 * rank).fill(0);
    sAxes.forEach((a, j) => { pads[a] = g.pb[j]; pads[rank + a] = g.pe[j]; });
    xt = op(c, 'Pad', [xt, i64(c, 'x_nhwc_pads', pads)], 'x_nhwc_padded', { mode: 'constant' });
  }
  const padded = range(0, sp).map((a) => xs[a + 2] + g.pb[a] + g.pe[a]);
  const dyt = op(c, 'Transpose', [dy], 'dy_t', { perm: [1, 0, ...range(2, 2 + sp)] }); // (M, N, O…)
  const dyMat = reshape(c, dyt, group === 1 ? [M, N * P] : [group, Mg, N * P], 'dy_mat');
  const xShape = group === 1 ? [N * P, Cg] : [group, N * P, Cg];
  const parts = kernelOffsets(g.k).map((kappa, j) => {
    const sl = offsetSlice(c, xt, kappa, g, outSize, sAxes, padded, `x_off${j}`);
    const mm = op(c, 'MatMul', [dyMat, reshape(c, sl, xShape, `x_off${j}_mat`)], `dw_off${j}`);
    return K === 1 ? mm : op(c, 'Unsqueeze', [mm, i64(c, `dw_off${j}.axis`, [-1])], `dw_off${j}_u`);
  });
  const stacked = K === 1 ? parts[0] : op(c, 'Concat', parts, 'dw_stack', { axis: -1 });
  reshape(c, stacked, [M, Cg, ...g.k], 'dw', Out(c, 1));
}

/** Depthwise dW (group = C = M): dW[c, 0, κ] = Σ_{n,o} dY[n, c, o] · Xpad[n, c, o·s + κ·d], a Mul + ReduceSum per κ. */
function convWeightDepthwise(c: Ctx, dy: string, x: string, xs: number[], g: ConvGeometry, outSize: number[]): void {
  const sp = xs.length - 2;
  const C = xs[1];
  const sAxes = range(2, 2 + sp);
  const K = numel(g.k);
  if (sp === 2 && g.s.every((v) => v === 1)) return convWeightDepthwiseFlat(c, dy, x, xs, g, outSize);
  let xp = x;
  if ([...g.pb, ...g.pe].some((v) => v !== 0)) {
    xp = op(c, 'Pad', [x, i64(c, 'x_pads', [0, 0, ...g.pb, 0, 0, ...g.pe])], 'x_padded', { mode: 'constant' });
  }
  const padded = range(0, sp).map((a) => xs[a + 2] + g.pb[a] + g.pe[a]);
  const parts = kernelOffsets(g.k).map((kappa, j) => {
    const sl = offsetSlice(c, xp, kappa, g, outSize, sAxes, padded, `x_off${j}`);
    return reduceSum(c, op(c, 'Mul', [dy, sl], `dy_x_off${j}`), [0, ...sAxes], false, `dw_off${j}`); // (C)
  });
  stackDepthwise(c, parts, C, g.k, K);
}

/**
 * Depthwise dW at stride 1 over flattened rows: with X padded to width Wp (and one spare row) and dY padded with
 * zeros from Wo to the same width Wp, the window of offset κ = (kh, kw) is ONE contiguous range of Ho·Wp values per
 * (n, c) row of the flattened X, starting at kh·d·Wp + kw·d; the values it picks up in the padding columns meet
 * dY's zeros. So each offset is a Slice of long contiguous runs instead of Ho runs of Wo values (ORT's Slice
 * copies run by run: this was 40 % of MobileNetV2's step), for (Wp − Wo)/Wo more multiply-adds.
 */
function convWeightDepthwiseFlat(c: Ctx, dy: string, x: string, xs: number[], g: ConvGeometry, outSize: number[]): void {
  const [N, C, H, W] = xs;
  const [Ho, Wo] = outSize;
  const Wp = W + g.pb[1] + g.pe[1];
  const Hp = H + g.pb[0] + g.pe[0] + 1; // the spare row keeps the last offsets' ranges inside the tensor
  const xp = op(c, 'Pad', [x, i64(c, 'x_pads', [0, 0, g.pb[0], g.pb[1], 0, 0, g.pe[0] + 1, g.pe[1]])], 'x_padded', { mode: 'constant' });
  const xf = reshape(c, xp, [N, C, Hp * Wp], 'x_flat');
  const L = Ho * Wp;
  const dyp = Wp > Wo ? op(c, 'Pad', [dy, i64(c, 'dy_pads', [0, 0, 0, 0, 0, 0, 0, Wp - Wo])], 'dy_padded', { mode: 'constant' }) : dy;
  const dyf = reshape(c, dyp, [N, C, L], 'dy_flat');
  const axis = i64(c, 'flat_axis', [2]);
  const parts = kernelOffsets(g.k).map(([kh, kw], j) => {
    const start = kh * g.d[0] * Wp + kw * g.d[1];
    const sl = op(c, 'Slice', [xf, i64(c, `x_off${j}.starts`, [start]), i64(c, `x_off${j}.ends`, [start + L]), axis], `x_off${j}`);
    return reduceSum(c, op(c, 'Mul', [dyf, sl], `dy_x_off${j}`), [0, 2], false, `dw_off${j}`); // (C)
  });
  stackDepthwise(c, parts, C, g.k, numel(g.k));
}

/** The K per-offset (C) results as dW (C, 1, kernel…). */
function stackDepthwise(c: Ctx, parts: string[], C: number, k: number[], K: number): void {
  const stacked = K === 1 ? parts[0] : op(c, 'Concat', parts.map((p, j) => op(c, 'Unsqueeze', [p, i64(c, `dw_off${j}.axis`, [1])], `dw_off${j}_u`)), 'dw_stack', { axis: 1 });
  reshape(c, stacked, [C, 1, ...k], 'dw', Out(c, 1));
}

/**
 * dW path for one ConvGrad under "auto": the MatMul path when each offset's MatMul is at least moderately wide
 * (Cg ≥ 4 and Mg ≥ 4: MLAS packs such GEMMs efficiently, and the K strided Slices cost ~K·|X| copies against
 * K·Mg·Cg·|X|/Cg multiply-adds), depthwise (Cg = Mg = 1) by Mul + ReduceSum, else the transposed Conv.
 */
function chooseWeightPath(C: number, M: number, group: number): 'matmul' | 'depthwise' | 'conv' {
  const Cg = C / group;
  const Mg = M / group;
  if (group === C && M === C) return 'depthwise';
  if (Cg >= 4 && Mg >= 4) return 'matmul';
  return 'conv';
}

/**
 * dX for stride 1 as a Conv: dX[n, g·Cg + c, i] = Σ_{m,κ} dY[n, g·Mg + m, i + p − κ·d] · W[g·Mg + m, c, κ], i.e. a Conv of
 * dY with the kernel W′[g·Cg + c, m, κ] = W[g·Mg + m, c, K − 1 − κ] (channels transposed within each group, spatially
 * flipped), the same dilation and "full" pads d·(k − 1) − p. Returns false when a pad would be negative.
 */
function convInputConv(c: Ctx, dy: string, w: string, ws: number[], xs: number[], g: ConvGeometry, group: number, block: number): boolean {
  const sp = xs.length - 2;
  if (g.s.some((v) => v !== 1)) return false;
  const pb = range(0, sp).map((a) => g.d[a] * (g.k[a] - 1) - g.pb[a]);
  const pe = range(0, sp).map((a) => g.d[a] * (g.k[a] - 1) - g.pe[a]);
  if ([...pb, ...pe].some((v) => v < 0)) return false;
  const [M, Cg] = [ws[0], ws[1]];
  const Mg = M / group;
  const sIdx = range(2, 2 + sp);
  let wt: string;
  if (group === 1) {
    wt = op(c, 'Transpose', [w], 'w_t', { perm: [1, 0, ...sIdx] });
  } else {
    const w5 = reshape(c, w, [group, Mg, Cg, ...g.k], 'w_groups');
    wt = reshape(c, op(c, 'Transpose', [w5], 'w_groups_t', { perm: [0, 2, 1, ...range(3, 3 + sp)] }), [group * Cg, Mg, ...g.k], 'w_t');
  }
  const flipAxes = sIdx.filter((a) => g.k[a - 2] > 1);
  const dys = [xs[0], M, ...range(0, sp).map((a) => xs[a + 2] + g.pb[a] + g.pe[a] - g.d[a] * (g.k[a] - 1))];
  const site = {
    em: c.em, name: `${c.node.name ?? 'lower'}.dx`, x: dy, w: wt, y: Out(c, 0), xShape: dys, wShape: [xs[1], Mg, ...g.k],
    kernel: g.k, strides: g.s, dilations: g.d, pads: [...pb, ...pe], group, flipKernel: flipAxes.length > 0,
  };
  if (!emitNchwcConv(site, block)) {
    if (flipAxes.length) {
      wt = op(c, 'Slice', [wt, i64(c, 'w_flip.starts', flipAxes.map(() => -1)), i64(c, 'w_flip.ends', flipAxes.map(() => -(2 ** 53))),
        i64(c, 'w_flip.axes', flipAxes), i64(c, 'w_flip.steps', flipAxes.map(() => -1))], 'w_flip');
    }
    c.em.node('Conv', [dy, wt], [Out(c, 0)], { kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...pb, ...pe], group });
  }
  return true;
}

/**
 * The host path for dW (hostConvWeightGradient): only where the in-graph path would be the k·k shifted MatMuls (the
 * expensive one) — 2-D, group 1, wide enough, not a single 1×1 stride-1 MatMul — X is computed by the graph (not a
 * graph input) and dW is the parameter's whole gradient. Writes zeros to the dW output and records X, dY and the
 * geometry; returns false (nothing emitted) otherwise.
 */
function hostWeightGradient(c: Ctx, dy: string, x: string, w: string, xs: number[], ws: number[], g: ConvGeometry, outSize: number[], group: number): boolean {
  // Stride 1 only: the host's fast path (per-sample GEMMs over contiguous windows) needs it; strided convolutions
  // keep the in-graph MatMuls, which beat a host im2col there.
  if (xs.length !== 4 || group !== 1 || chooseWeightPath(xs[1], ws[0], 1) !== 'matmul' || g.s.some((v) => v !== 1)) return false;
  if (isPointwise(g) || c.isGraphInput(x) || c.isGraphInput(dy)) return false;
  const param = c.wholeGradientOf(Out(c, 1));
  if (param === undefined || param !== w) return false;
  op(c, 'ConstantOfShape', [i64(c, 'dw_host.shape', ws)], 'dw_host_zeros', {}, Out(c, 1));
  c.host.push({
    parameter: param, x, dy, xShape: xs, dyShape: [xs[0], ws[0], ...outSize], weightShape: ws,
    strides: g.s, padsBegin: g.pb, dilations: g.d,
  });
  return true;
}

const RULES: Record<string, (c: Ctx, o: LowerOptions) => void> = {
  ReluGrad(c) {
    const pos = op(c, 'Greater', [In(c, 1), f32(c, 'zero', 0)], 'positive');
    op(c, 'Where', [pos, In(c, 0), f32(c, 'zero_f', 0)], 'dx', {}, Out(c, 0));
  },
  LeakyReluGrad(c) {
    const alpha = attrFloat(c.node, 'alpha', 0.01);
    const pos = op(c, 'Greater', [In(c, 1), f32(c, 'zero', 0)], 'positive');
    const neg = op(c, 'Mul', [In(c, 0), f32(c, 'alpha', alpha)], 'dy_alpha');
    op(c, 'Where', [pos, In(c, 0), neg], 'dx', {}, Out(c, 0));
  },
  SigmoidGrad(c) {
    const y = In(c, 1);
    const oneMinus = op(c, 'Sub', [f32(c, 'one', 1), y], 'one_minus_y');
    op(c, 'Mul', [In(c, 0), op(c, 'Mul', [y, oneMinus], 'y_1my')], 'dx', {}, Out(c, 0));
  },
  TanhGrad(c) {
    const y = In(c, 1);
    const oneMinus = op(c, 'Sub', [f32(c, 'one', 1), op(c, 'Mul', [y, y], 'y2')], 'one_minus_y2');
    op(c, 'Mul', [In(c, 0), oneMinus], 'dx', {}, Out(c, 0));
  },
  GeluGrad(c) {
    // d/dx x·Φ(x) = Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = exp(−x²/2)/√(2π)  (exact erf GELU, as ORT's kernel)
    const x = In(c, 1);
    const erf = op(c, 'Erf', [op(c, 'Mul', [x, f32(c, 'inv_sqrt2', Math.SQRT1_2)], 'x_sqrt1_2')], 'erf');
    const cdf = op(c, 'Mul', [op(c, 'Add', [erf, f32(c, 'one', 1)], 'one_plus_erf'), f32(c, 'half', 0.5)], 'cdf');
    const e = op(c, 'Exp', [op(c, 'Mul', [op(c, 'Mul', [x, x], 'x2'), f32(c, 'minus_half', -0.5)], 'minus_x2_2')], 'exp');
    const xpdf = op(c, 'Mul', [x, op(c, 'Mul', [e, f32(c, 'inv_sqrt_2pi', 1 / Math.sqrt(2 * Math.PI))], 'pdf')], 'x_pdf');
    op(c, 'Mul', [In(c, 0), op(c, 'Add', [cdf, xpdf], 'dgelu')], 'dx', {}, Out(c, 0));
  },
  SoftmaxGrad_13(c) {
    // dX = Y ⊙ (dY − Σ_axis dY ⊙ Y)
    const axis = attrInt(c.node, 'axis', -1);
    const [dy, y] = [In(c, 0), In(c, 1)];
    const s = reduceSum(c, op(c, 'Mul', [dy, y], 'dy_y'), [axis], true, 'sum_dy_y');
    op(c, 'Mul', [y, op(c, 'Sub', [dy, s], 'dy_minus')], 'dx', {}, Out(c, 0));
  },
  LogSoftmaxGrad_13(c) {
    // dX = dY − exp(Y) ⊙ Σ_axis dY
    const axis = attrInt(c.node, 'axis', -1);
    const [dy, y] = [In(c, 0), In(c, 1)];
    const s = reduceSum(c, dy, [axis], true, 'sum_dy');
    op(c, 'Sub', [dy, op(c, 'Mul', [op(c, 'Exp', [y], 'softmax'), s], 'softmax_sum')], 'dx', {}, Out(c, 0));
  },
  ConvGrad(c, o) {
    const [dy, x, w] = [In(c, 0), In(c, 1), In(c, 2)];
    const xs = c.shape(x);
    const ws = c.shape(w);
    const sp = xs.length - 2;
    const g = geometry(c, sp, ws.slice(2));
    const group = attrInt(c.node, 'group', 1);
    const outSize = range(0, sp).map((a) => Math.floor((xs[a + 2] + g.pb[a] + g.pe[a] - g.d[a] * (g.k[a] - 1) - 1) / g.s[a]) + 1);
    const [N, C] = [xs[0], xs[1]];
    const M = ws[0];
    const Cg = C / group;
    const dxMode = o.convInputGradient ?? 'auto';
    if (Out(c, 0) && dxMode !== 'convtranspose' && convInputConv(c, dy, w, ws, xs, g, group, o.nchwcBlockSize ?? 0)) {
      // done: stride-1 dX as a Conv with the flipped kernel
    } else if (Out(c, 0)) {
      // dX = ConvTranspose(dY, W): the adjoint of Conv, same strides/pads/dilations/groups; output_padding restores
      // the input rows the forward's floor division dropped (always < stride).
      const outputPadding = range(0, sp).map((a) => xs[a + 2] - (g.s[a] * (outSize[a] - 1) + g.d[a] * (g.k[a] - 1) + 1 - g.pb[a] - g.pe[a]));
      c.em.node('ConvTranspose', [dy, w], [Out(c, 0)], {
        kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...g.pb, ...g.pe], group, output_padding: outputPadding,
      });
    }
    if (Out(c, 1) && o.hostConvWeightGradient && hostWeightGradient(c, dy, x, w, xs, ws, g, outSize, group)) {
      return finishConvBias(c, dy, sp);
    }
    if (Out(c, 1)) {
      // dW[m, c, κ] = Σ_n Σ_o dY[n, m, o] · X[n, g·Cg + c, o·s + κ·d − p]: a Conv whose batch is X's channel-in-group,
      // whose channels are (group, sample) and whose kernel is dY (channels m, in-channels n) with stride d and
      // dilation s; its output (Cg, M, K′) with K′ ≥ K is cropped to K and transposed to (M, Cg, K).
      const sIdx = range(2, 2 + sp);
      const depthwise = group === C && M === C;
      const mode = o.convWeightGradient ?? 'auto';
      if (mode === 'gemm' && (group === 1 || depthwise)) {
        convWeightGemm(c, dy, x, xs, g, outSize, M, depthwise);
        return finishConvBias(c, dy, sp);
      }
      const path = mode === 'auto' ? chooseWeightPath(C, M, group) : mode === 'matmul' ? (depthwise ? 'depthwise' : 'matmul') : 'conv';
      if (path === 'matmul') {
        convWeightMatMul(c, dy, x, xs, g, outSize, M, group);
        return finishConvBias(c, dy, sp);
      }
      if (path === 'depthwise') {
        const blocked = sp === 2 && emitNchwcDepthwiseWeightGradient({
          em: c.em, name: `${c.node.name ?? 'lower'}.dw`, x, dy, out: Out(c, 1), xShape: xs, dyShape: [N, M, ...outSize],
          kernel: g.k, strides: g.s, dilations: g.d, padsBegin: g.pb, padsEnd: g.pe,
        }, o.nchwcBlockSize ?? 0);
        if (!blocked) convWeightDepthwise(c, dy, x, xs, g, outSize);
        return finishConvBias(c, dy, sp);
      }
      let xr: string;
      if (group === 1) {
        xr = op(c, 'Transpose', [x], 'x_t', { perm: [1, 0, ...sIdx] });
      } else {
        const x5 = reshape(c, x, [N, group, Cg, ...xs.slice(2)], 'x_groups');
        const xt = op(c, 'Transpose', [x5], 'x_groups_t', { perm: [2, 1, 0, ...range(3, 3 + sp)] });
        xr = reshape(c, xt, [Cg, group * N, ...xs.slice(2)], 'x_t');
      }
      const dyr = op(c, 'Transpose', [dy], 'dy_t', { perm: [1, 0, ...sIdx] });
      const kOut = range(0, sp).map((a) => Math.floor((xs[a + 2] + g.pb[a] + g.pe[a] - g.s[a] * (outSize[a] - 1) - 1) / g.d[a]) + 1);
      let dw = op(c, 'Conv', [xr, dyr], 'dw_t', {
        kernel_shape: outSize, strides: g.d, dilations: g.s, pads: [...g.pb, ...g.pe], group,
      });
      if (kOut.some((k, a) => k !== g.k[a])) {
        dw = op(c, 'Slice', [dw, i64(c, 'dw.starts', Array(sp).fill(0)), i64(c, 'dw.ends', g.k), i64(c, 'dw.axes', sIdx)], 'dw_t_crop');
      }
      op(c, 'Transpose', [dw], 'dw', { perm: [1, 0, ...sIdx] }, Out(c, 1));
      void M;
    }
    finishConvBias(c, dy, sp);
  },
  MaxPoolGrad(c) {
    // ORT's MaxPool Indices are flat offsets into X (batch and channel included, padding excluded): dX is the
    // scatter-add of dY at those offsets, which routes each window's gradient to the element the forward picked.
    if (attrInt(c.node, 'storage_order', 0) !== 0) {
      throw new KqkdError(`${c.site} attribute storage_order`, '0 (row-major indices)', String(attrInt(c.node, 'storage_order', 0)));
    }
    const xs = c.shape(Out(c, 0));
    const flatIdx = reshape(c, In(c, 1), [-1], 'indices_flat');
    const flatDy = reshape(c, In(c, 0), [-1], 'dy_flat');
    const s = op(c, 'ScatterElements', [zeros(c, [numel(xs)], 'zeros'), flatIdx, flatDy], 'dx_flat', { axis: 0, reduction: 'add' });
    reshape(c, s, xs, 'dx', Out(c, 0));
  },
  AveragePoolGrad(c) {
    // dX = ConvTranspose(dY / count, ones kernel per channel): count is the forward's divisor at each output
    // position (kernel size with count_include_pad, else the window's overlap with X), a build-time constant.
    const xs = c.shape(Out(c, 0));
    const sp = xs.length - 2;
    const g = geometry(c, sp, null);
    const ceil = attrInt(c.node, 'ceil_mode', 0) === 1;
    const includePad = attrInt(c.node, 'count_include_pad', 0) === 1;
    const outSize = range(0, sp).map((a) => {
      const span = xs[a + 2] + g.pb[a] + g.pe[a] - g.k[a];
      let o = (ceil ? Math.ceil(span / g.s[a]) : Math.floor(span / g.s[a])) + 1;
      if (ceil && (o - 1) * g.s[a] >= xs[a + 2] + g.pb[a]) o--;
      return o;
    });
    // per-axis divisor factors, then their outer product
    const perAxis = range(0, sp).map((a) => range(0, outSize[a]).map((o) => {
      const start = o * g.s[a] - g.pb[a];
      const endPadded = Math.min(start + g.k[a], xs[a + 2] + g.pe[a]);
      return includePad ? endPadded - start : Math.min(start + g.k[a], xs[a + 2]) - Math.max(start, 0);
    }));
    const counts: number[] = [];
    const walk = (a: number, prod: number) => {
      if (a === sp) { counts.push(prod); return; }
      for (const v of perAxis[a]) walk(a + 1, prod * v);
    };
    walk(0, 1);
    const C = xs[1];
    const kprod = numel(g.k);
    const uniform = counts.every((v) => v === counts[0]);
    let dy = In(c, 0);
    let kernelValue = 1 / kprod;
    if (!uniform) {
      dy = op(c, 'Mul', [dy, c.em.constF(`${c.node.name}.inv_count`, [1, 1, ...outSize], counts.map((v) => 1 / v))], 'dy_over_count');
      kernelValue = 1;
    } else {
      kernelValue = 1 / counts[0];
    }
    const kernel = c.em.constF(`${c.node.name}.kernel`, [C, 1, ...g.k], Array(C * kprod).fill(kernelValue));
    const full = range(0, sp).map((a) => g.s[a] * (outSize[a] - 1) + g.k[a] - g.pb[a] - g.pe[a]);
    const outputPadding = full.map((f, a) => Math.max(0, xs[a + 2] - f));
    const crop = full.some((f, a) => f > xs[a + 2]);
    const t = op(c, 'ConvTranspose', [dy, kernel], 'dx_full', {
      kernel_shape: g.k, strides: g.s, pads: [...g.pb, ...g.pe], group: C, output_padding: outputPadding,
    }, crop ? undefined : Out(c, 0));
    if (crop) {
      op(c, 'Slice', [t, i64(c, 'starts', Array(sp).fill(0)), i64(c, 'ends', xs.slice(2)), i64(c, 'axes', range(2, 2 + sp))], 'dx', {}, Out(c, 0));
    }
  },
  BatchNormInternal(c) {
    // Training-mode BN: batch mean and biased variance over (N, spatial); Y through the fused inference kernel on
    // those statistics; saved_mean / saved_inv_std = 1/√(var + ε); running = momentum·running + (1 − momentum)·batch.
    const [x, scale, bias, rMean, rVar] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4)];
    const xs = c.shape(x);
    const C = xs[1];
    const eps = attrFloat(c.node, 'epsilon', 1e-5);
    const momentum = attrFloat(c.node, 'momentum', 0.9);
    const axes = [0, ...range(2, xs.length)];
    const meanK = reduceMean(c, x, axes, true, 'mean_k');
    const centered = op(c, 'Sub', [x, meanK], 'centered');
    const varK = reduceMean(c, op(c, 'Mul', [centered, centered], 'centered2'), axes, true, 'var_k');
    const mean = reshape(c, meanK, [C], 'mean', Out(c, 3) || undefined);
    const variance = reshape(c, varK, [C], 'var');
    c.em.node('BatchNormalization', [x, scale, bias, mean, variance], [Out(c, 0)], { epsilon: { float: eps } });
    if (Out(c, 4)) {
      op(c, 'Reciprocal', [op(c, 'Sqrt', [op(c, 'Add', [variance, f32(c, 'eps', eps)], 'var_eps')], 'std')], 'inv_std', {}, Out(c, 4));
    }
    const m = f32(c, 'momentum', momentum);
    const m1 = f32(c, 'one_minus_momentum', 1 - momentum);
    const update = (running: string, batch: string, i: number) => {
      if (!Out(c, i)) return;
      op(c, 'Add', [op(c, 'Mul', [running, m], `running${i}_m`), op(c, 'Mul', [batch, m1], `batch${i}_m`)], `running${i}`, {}, Out(c, i));
    };
    update(rMean, mean, 1);
    update(rVar, variance, 2);
  },
  BatchNormalizationGrad(c) {
    // xhat = (X − μ)·σ⁻¹; dβ = Σ dY; dγ = Σ dY·xhat; dX = γσ⁻¹·(dY − dβ/M − xhat·dγ/M), M = N·spatial.
    const [dy, x, scale, mean, invStd] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4)];
    const xs = c.shape(x);
    const C = xs[1];
    const bshape = [1, C, ...xs.slice(2).map(() => 1)];
    const M = numel(xs) / C;
    const axes = [0, ...range(2, xs.length)];
    const invB = reshape(c, invStd, bshape, 'inv_std_b');
    const xhat = op(c, 'Mul', [op(c, 'Sub', [x, reshape(c, mean, bshape, 'mean_b')], 'centered'), invB], 'xhat');
    const dBias = reduceSum(c, dy, axes, false, 'dbias', Out(c, 2) || undefined);
    const dScale = reduceSum(c, op(c, 'Mul', [dy, xhat], 'dy_xhat'), axes, false, 'dscale', Out(c, 1) || undefined);
    if (!Out(c, 0)) return;
    const a = op(c, 'Mul', [scale, invStd], 'a'); // [C]
    const negAOverM = op(c, 'Mul', [a, f32(c, 'minus_inv_m', -1 / M)], 'neg_a_m');
    const bCoef = reshape(c, op(c, 'Mul', [negAOverM, dScale], 'b'), bshape, 'b_b');
    const cCoef = reshape(c, op(c, 'Mul', [negAOverM, dBias], 'c'), bshape, 'c_b');
    const t = op(c, 'Add', [op(c, 'Mul', [dy, reshape(c, a, bshape, 'a_b')], 'a_dy'), op(c, 'Mul', [xhat, bCoef], 'b_xhat')], 'sum1');
    op(c, 'Add', [t, cCoef], 'dx', {}, Out(c, 0));
  },
  LayerNormalizationGrad(c) {
    // xhat = (X − μ)·σ⁻¹ over axes [axis, rank); dβ = Σ_outer dY; dγ = Σ_outer dY·xhat;
    // dX = σ⁻¹·(g − mean(g) − xhat·mean(g·xhat)), g = dY·γ.
    const [dy, x, scale, mean, invStd] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4)];
    const r = c.shape(x).length;
    let axis = attrInt(c.node, 'axis', -1);
    if (axis < 0) axis += r;
    const outer = range(0, axis);
    const inner = range(axis, r);
    const xhat = op(c, 'Mul', [op(c, 'Sub', [x, mean], 'centered'), invStd], 'xhat');
    if (Out(c, 2)) reduceSum(c, dy, outer, false, 'dbias', Out(c, 2));
    if (Out(c, 1)) reduceSum(c, op(c, 'Mul', [dy, xhat], 'dy_xhat'), outer, false, 'dscale', Out(c, 1));
    if (!Out(c, 0)) return;
    const gy = op(c, 'Mul', [dy, scale], 'g');
    const m1 = reduceMean(c, gy, inner, true, 'mean_g');
    const m2 = reduceMean(c, op(c, 'Mul', [gy, xhat], 'g_xhat'), inner, true, 'mean_g_xhat');
    const inside = op(c, 'Sub', [op(c, 'Sub', [gy, m1], 'g_centered'), op(c, 'Mul', [xhat, m2], 'xhat_m2')], 'inside');
    op(c, 'Mul', [inside, invStd], 'dx', {}, Out(c, 0));
  },
  SoftmaxCrossEntropyLossGrad(c) {
    // dX = (softmax − onehot(label)) · w_n · dY / (Σ w_n for "mean"), w_n = weight[label]·[label ≠ ignore_index].
    const [dy, logProb, labels, weights] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3)];
    const ls = c.shape(logProb);
    const C = ls[1];
    const reduction = (attrString(c.node, 'reduction') ?? 'mean');
    const ignore = (c.node.attribute ?? []).find((a) => a.name === 'ignore_index');
    let lab = labels;
    if (c.elemType(labels) !== DataType.INT64) lab = op(c, 'Cast', [labels], 'labels64', { to: DataType.INT64 });
    let valid: string | null = null;
    if (ignore) {
      const ii = toInt(ignore.i as number);
      valid = op(c, 'Not', [op(c, 'Equal', [lab, i64(c, 'ignore_index', [ii])], 'ignored')], 'valid');
      lab = op(c, 'Where', [valid, lab, i64(c, 'zero_label', [0])], 'labels_safe');
    }
    const classes = c.em.fresh(`${c.node.name}.classes`);
    c.em.initializers.push(int64Tensor(classes, range(0, C), [1, C, ...ls.slice(2).map(() => 1)]));
    const onehot = op(c, 'Cast', [op(c, 'Equal', [op(c, 'Unsqueeze', [lab, i64(c, 'axis1', [1])], 'labels_u'), classes], 'onehot_b')], 'onehot', { to: DataType.FLOAT });
    const diff = op(c, 'Sub', [op(c, 'Exp', [logProb], 'prob'), onehot], 'diff');
    let w: string | null = weights ? op(c, 'Gather', [weights, lab], 'w', { axis: 0 }) : null;
    if (valid) {
      const vf = op(c, 'Cast', [valid], 'valid_f', { to: DataType.FLOAT });
      w = w ? op(c, 'Mul', [w, vf], 'w_valid') : vf;
    }
    let scale = dy;
    if (reduction === 'mean') {
      if (w) {
        const total = op(c, 'ReduceSum', [w], 'w_total', { keepdims: 0 });
        scale = op(c, 'Div', [dy, total], 'dy_mean');
      } else {
        scale = op(c, 'Mul', [dy, f32(c, 'inv_count', 1 / (numel(ls) / C))], 'dy_mean');
      }
    } else if (reduction !== 'sum' && reduction !== 'none') {
      throw new KqkdError(`${c.site} attribute reduction`, '"mean", "sum" or "none"', `"${reduction}"`);
    }
    if (w) scale = op(c, 'Mul', [scale, w], 'dy_w');
    if (w || reduction === 'none') scale = op(c, 'Unsqueeze', [scale, i64(c, 'axis1b', [1])], 'scale_u');
    op(c, 'Mul', [diff, scale], 'dx', {}, Out(c, 0));
  },
  GatherGrad(c) {
    // dX = scatter-add of dY rows at `indices` along `axis` (ScatterND with reduction add on [D, P, Q]).
    const [shapeIn, indices, dy] = [In(c, 0), In(c, 1), In(c, 2)];
    const xs = c.constant(shapeIn) ?? c.shape(Out(c, 0));
    let axis = attrInt(c.node, 'axis', 0);
    if (axis < 0) axis += xs.length;
    const D = xs[axis];
    const P = numel(xs.slice(0, axis));
    const Q = numel(xs.slice(axis + 1));
    const K = numel(c.shape(indices));
    let idx = indices;
    if (c.elemType(indices) !== DataType.INT64) idx = op(c, 'Cast', [idx], 'indices64', { to: DataType.INT64 });
    const known = c.constant(indices);
    idx = reshape(c, idx, [K, 1], 'indices_k1');
    if (!known || known.some((v) => v < 0)) {
      const neg = op(c, 'Less', [idx, i64(c, 'zero', [0])], 'negative');
      idx = op(c, 'Where', [neg, op(c, 'Add', [idx, i64(c, 'dim', [D])], 'wrapped'), idx], 'indices_norm');
    }
    let upd = reshape(c, dy, [P, K, Q], 'dy_pkq');
    if (P > 1) upd = op(c, 'Transpose', [upd], 'dy_kpq', { perm: [1, 0, 2] });
    else upd = reshape(c, upd, [K, P, Q], 'dy_kpq');
    let s = op(c, 'ScatterND', [zeros(c, [D, P, Q], 'zeros'), idx, upd], 'dx_dpq', { reduction: 'add' });
    if (P > 1) s = op(c, 'Transpose', [s], 'dx_pdq', { perm: [1, 0, 2] });
    reshape(c, s, xs, 'dx', Out(c, 0));
  },
  SliceGrad(c) {
    // dX = dY placed back where the slice came from: Pad when the slice is a constant unit-step box, else
    // ScatterElements at Slice(arange(numel(X))) (the flat positions the forward read).
    const [dy, shapeIn, starts, ends, axesIn, stepsIn] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4), In(c, 5)];
    const xs = c.constant(shapeIn) ?? c.shape(Out(c, 0));
    const r = xs.length;
    const st = c.constant(starts);
    const en = c.constant(ends);
    const ax = axesIn ? c.constant(axesIn) : range(0, st?.length ?? 0);
    const steps = stepsIn ? c.constant(stepsIn) : (st ? st.map(() => 1) : null);
    if (st && en && ax && steps && steps.every((v) => v === 1)) {
      const pads = Array(2 * r).fill(0);
      ax.forEach((a0, k) => {
        const a = a0 < 0 ? a0 + r : a0;
        const D = xs[a];
        const clamp = (v: number) => Math.min(D, Math.max(0, v < 0 ? v + D : v));
        const [b, e] = [clamp(st[k]), clamp(en[k])];
        pads[a] = b;
        pads[a + r] = D - Math.max(b, e);
      });
      op(c, 'Pad', [dy, i64(c, 'pads', pads)], 'dx', { mode: 'constant' }, Out(c, 0));
      return;
    }
    const n = numel(xs);
    const ar = op(c, 'Range', [i64Scalar(c, 'zero', 0), i64Scalar(c, 'n', n), i64Scalar(c, 'one', 1)], 'arange');
    const ins = [reshape(c, ar, xs, 'arange_x'), starts, ends];
    if (axesIn || stepsIn) ins.push(axesIn);
    if (stepsIn) ins.push(stepsIn);
    const pos = reshape(c, op(c, 'Slice', ins, 'positions'), [-1], 'positions_flat');
    const s = op(c, 'ScatterElements', [zeros(c, [n], 'zeros'), pos, reshape(c, dy, [-1], 'dy_flat')], 'dx_flat', { axis: 0 });
    reshape(c, s, xs, 'dx', Out(c, 0));
  },
  Gelu(c, o) {
    if (!o.lowerGelu) {
      c.em.node('Gelu', c.node.input!, c.node.output!, c.node.attribute ?? [], MS, c.node.name ?? undefined);
      return;
    }
    const x = In(c, 0);
    const erf = op(c, 'Erf', [op(c, 'Mul', [x, f32(c, 'inv_sqrt2', Math.SQRT1_2)], 'x_sqrt1_2')], 'erf');
    const half = op(c, 'Mul', [x, f32(c, 'half', 0.5)], 'half_x');
    op(c, 'Mul', [half, op(c, 'Add', [erf, f32(c, 'one', 1)], 'one_plus_erf')], 'y', {}, Out(c, 0));
  },
};

/**
 * Rewrites a training model from `buildTrainingGraphs` into a model that onnxruntime-node's CPU inference build runs:
 * inputs are the user inputs and the parameters (trainable first, then frozen, by their names); outputs are the
 * loss, the extra outputs, the `<stat>.updated` BN statistics and `<p>.gradient` per trainable parameter.
 */
export function lowerTrainingGraph(trainingModel: ModelProto, options: LowerOptions = {}): ModelProto {
  const o: LowerOptions = { exposeGradients: true, lowerGelu: false, convWeightGradient: 'auto', convInputGradient: 'auto', ...options };
  const model = cloneModel(trainingModel);
  const graph = model.graph;
  if (!graph) throw new KqkdError('trainingModel', 'a ModelProto with a graph', 'none');
  const opset = (model.opsetImport ?? []).find((x) => !x.domain || x.domain === 'ai.onnx');
  const opsetVersion = toInt(opset?.version as number, 0);
  if (opsetVersion < 16) {
    throw new KqkdError('trainingModel opset_import (ai.onnx)', 'version 16 or later (ScatterElements/ScatterND reduction)', String(opsetVersion));
  }
  let types: Map<string, TensorType>;
  try {
    types = tensorTypes(model);
  } catch {
    types = new Map();
  }
  const inits = new Map<string, TensorProto>((graph.initializer ?? []).map((t) => [t.name!, t]));
  const nodes = graph.node ?? [];
  const used = new Set<string>([...types.keys(), ...inits.keys(), ...(graph.input ?? []).map((v) => v.name!),
    ...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? []), n.name ?? ''])]);
  const em = new Emitter(used);
  const staticShape = staticShapes(types, inits);

  // accumulators: drop them, remember which gradient each parameter's buffer received
  const accumulated: { param: string; grad: string; out: string }[] = [];
  const kept: NodeProto[] = [];
  for (const n of nodes) {
    if (n.opType === 'InPlaceAccumulatorV2') {
      const buffer = n.input![0];
      const param = buffer.endsWith(ACCUMULATION_BUFFER_SUFFIX) ? buffer.slice(0, -ACCUMULATION_BUFFER_SUFFIX.length) : buffer;
      accumulated.push({ param, grad: n.input![1], out: n.output![0] });
    } else {
      kept.push(n);
    }
  }
  const droppedOutputs = new Set(accumulated.map((a) => a.out));
  // A gradient tensor is its parameter's whole gradient when nothing but the (removed) accumulator reads it.
  // (an Identity exposing it as `<p>.gradient` reads the same values, so it does not count).
  const readers = new Map<string, number>();
  const exposesGradient = (n: NodeProto) => n.opType === 'Identity' && (n.output?.[0] ?? '').endsWith(GRADIENT_OUTPUT_SUFFIX);
  for (const n of kept) if (!exposesGradient(n)) for (const i of n.input ?? []) readers.set(i, (readers.get(i) ?? 0) + 1);
  const identityOut = new Map(kept.filter((n) => n.opType === 'Identity' && !exposesGradient(n) && n.input?.length === 1)
    .map((n) => [n.input![0], n.output![0]]));
  const graphOutputs = new Set((graph.output ?? []).map((v) => v.name!));
  const wholeGradient = new Map(accumulated.filter((a) => !readers.has(a.grad) && !graphOutputs.has(a.grad)).map((a) => [a.grad, a.param]));
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name!));
  const host: HostConvWeightGradient[] = [];

  const out: NodeProto[] = [];
  for (const n of kept) {
    const domain = n.domain ?? '';
    const type = n.opType ?? '';
    const isMs = domain === MS;
    const rule = Object.prototype.hasOwnProperty.call(RULES, type) ? RULES[type] : undefined;
    const lower = rule !== undefined && (isMs || type === 'MaxPoolGrad' || type === 'AveragePoolGrad') && (type !== 'Gelu' || isMs);
    if (!lower) {
      if (isMs) {
        throw new KqkdError(`${type} node "${n.name}"`, `an op the lowering for onnxruntime-node knows (${LOWERED_OPS.join(', ')}, Gelu)`,
          `com.microsoft ${type}`);
      }
      const start = em.nodes.length;
      if (o.nchwcBlockSize && emitNchwcForwardConv(n, em, types, staticShape, o.nchwcBlockSize)) {
        out.push(...em.nodes.slice(start));
      } else {
        out.push(n);
      }
      continue;
    }
    const site = `${type} node "${n.name}"`;
    const start = em.nodes.length;
    const ctx: Ctx = {
      node: n, em, opset: opsetVersion, site,
      shape(name) {
        const s = staticShape(name);
        if (!s) {
          const found = types.get(name)?.shape;
          throw new KqkdError(`tensor "${name}" of ${site}`, 'a static shape (build the training graph with staticDims)', found ? `[${found.join(', ')}]` : 'no shape');
        }
        return s;
      },
      elemType: (name) => types.get(name)?.elemType ?? inits.get(name)?.dataType ?? undefined,
      constant(name) {
        const t = inits.get(name);
        return t ? tensorValues(t) : null;
      },
      wholeGradientOf(name) {
        // through Identity renames (autodiff writes `<p>_grad` as an Identity of the op's output)
        for (let t: string | undefined = name; t !== undefined; t = readers.get(t) === 1 ? identityOut.get(t) : undefined) {
          if (wholeGradient.has(t)) return wholeGradient.get(t);
        }
        return undefined;
      },
      isGraphInput: (name) => graphInputs.has(name) || inits.has(name),
      host,
    };
    rule(ctx, o);
    out.push(...em.nodes.slice(start));
  }

  // outputs: drop accumulator outputs, add <p>.gradient where missing
  const outputs = (graph.output ?? []).filter((v) => !droppedOutputs.has(v.name!));
  if (o.exposeGradients) {
    const have = new Set(outputs.map((v) => v.name!));
    for (const a of accumulated) {
      const name = `${a.param}${GRADIENT_OUTPUT_SUFFIX}`;
      if (have.has(name)) continue;
      out.push({ name: `${name}.node`, opType: 'Identity', input: [a.grad], output: [name], attribute: [] });
      const pt = types.get(a.param);
      outputs.push(makeValueInfo(name, { elemType: DataType.FLOAT, shape: pt?.shape ?? null }));
    }
  }
  // Host weight gradients: X and dY become outputs (by their own names: no copy in the graph), listed in metadata.
  if (host.length) {
    const have = new Set(outputs.map((v) => v.name!));
    for (const h of host) {
      for (const [name, shape] of [[h.x, h.xShape], [h.dy, h.dyShape]] as const) {
        if (have.has(name)) continue;
        have.add(name);
        outputs.push(makeValueInfo(name, { elemType: DataType.FLOAT, shape: [...shape] }));
      }
    }
    model.metadataProps = [...(model.metadataProps ?? []).filter((m) => m.key !== HOST_CONV_WEIGHT_GRADIENTS_KEY),
      { key: HOST_CONV_WEIGHT_GRADIENTS_KEY, value: JSON.stringify(host) }];
  }
  graph.node = out;
  graph.output = outputs;
  graph.input = (graph.input ?? []).filter((v) => v.name !== LAZY_RESET_GRAD && !v.name!.endsWith(ACCUMULATION_BUFFER_SUFFIX));
  graph.initializer = [...(graph.initializer ?? []), ...em.initializers];
  graph.valueInfo = [...(graph.valueInfo ?? []).filter((v) => !droppedOutputs.has(v.name!)), ...em.valueInfo];
  const keepMs = out.some((n) => n.domain === MS);
  model.opsetImport = (model.opsetImport ?? []).filter((x) => x.domain !== MS || keepMs);
  if (keepMs && !model.opsetImport.some((x) => x.domain === MS)) model.opsetImport.push({ domain: MS, version: 1 });
  if (out.some((n) => n.domain === NCHWC_DOMAIN)) model.opsetImport.push({ domain: NCHWC_DOMAIN, version: 1 });
  model.producerName = 'kqkd-autodiff-lower';
  void ACCUMULATION_OUT_SUFFIX;
  return model;
}
