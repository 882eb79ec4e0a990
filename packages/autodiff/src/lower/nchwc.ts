/**
 * NCHWc convolutions for the lowered training graph. ONNX Runtime's CPU build has blocked-layout convolution kernels
 * (domain com.microsoft.nchwc: ReorderInput → Conv → ReorderOutput, MLAS "NCHWc" direct kernels, no im2col) that
 * its own layout transformer only uses when the weights are constant initializers. In a training session the
 * weights are graph inputs, so standard Conv nodes run as im2col + SGEMM. This pass writes the blocked form
 * explicitly: the weights are reordered by Reshape + Transpose inside the graph (cheap: weights are small), the
 * activations by ReorderInput/ReorderOutput around each convolution (one copy each way), and the convolution itself
 * runs on the faster kernels — measured 10–30 % faster per ResNet convolution on AVX-512 including both reorders.
 *
 * The block size is a property of the CPU (MLAS: 16 with AVX-512F, 8 with AVX2, none otherwise) and must match
 * what the runtime uses, so it is never guessed: `nchwcProbeModel` lets the caller ask ONNX Runtime (a ReorderInput
 * of 4 channels pads them to one block).
 */
import {
  DataType, attrInt, attrInts, attrString, cloneModel, makeValueInfo, tensorTypes, toInt,
  type ModelProto, type NodeProto, type TensorProto, type TensorType,
} from '@kqkd/onnx';
import { Emitter, type AttrValue } from '../emitter.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** The smallest model that reveals the NCHWc block size: y = ReorderInput(x), x [1, 4, 1, 1] → y [1, block, 1, 1]. */
export function nchwcProbeModel(): ModelProto {
  return {
    irVersion: 8,
    producerName: 'kqkd-nchwc-probe',
    opsetImport: [{ domain: '', version: 17 }, { domain: NCHWC_DOMAIN, version: 1 }],
    graph: {
      name: 'nchwc_probe',
      node: [{ name: 'reorder', opType: 'ReorderInput', domain: NCHWC_DOMAIN, input: ['x'], output: ['y'], attribute: [] }],
      input: [makeValueInfo('x', { elemType: DataType.FLOAT, shape: [1, 4, 1, 1] })],
      output: [makeValueInfo('y', { elemType: DataType.FLOAT, shape: null })],
    },
  };
}

/** One 2-D convolution to emit: y = Conv(x, w[, b]) with the given static shapes and ONNX attributes. */
export interface ConvSite {
  em: Emitter;
  /** Base for the names of the generated tensors. */
  name: string;
  x: string;
  w: string;
  b?: string;
  y: string;
  xShape: number[];
  wShape: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin…, end…] */
  pads: number[];
  group: number;
  /** Convolve with W spatially flipped (the stride-1 input gradient's kernel): done on the blocked weights. */
  flipKernel?: boolean;
}

/**
 * How a convolution can run on the NCHWc kernels with block size `block`: "blocked" (input channels a multiple of the
 * block: input reordered, weights OIHWBiBo), "plain-input" (fewer input channels than one block, e.g. the RGB stem:
 * input stays NCHW, weights OIHWBo), "depthwise" (one input and one output channel per group, channels a multiple of
 * the block: input reordered, weights OIHWBo with I = 1; MLAS runs it vectorised over the block's channels — 1.1–3×
 * faster than the standard grouped Conv on MobileNetV2's shapes, reorders included), or null: not 2-D, other grouped
 * convolutions, channel counts the kernels would need padded, or 1×1 — a pointwise convolution is already one GEMM
 * without im2col in the standard kernel, and the two reorders around it cost more than they save (MobileNetV2's step
 * was 1.6× slower with them).
 */
export function nchwcKind(xShape: number[], wShape: number[], group: number, block: number): 'blocked' | 'plain-input' | 'depthwise' | null {
  if (block < 4 || xShape.length !== 4 || wShape.length !== 4) return null;
  if (wShape[2] * wShape[3] === 1) return null;
  const [O, C] = [wShape[0], wShape[1]];
  if (group !== 1) return C === 1 && O === group && O % block === 0 && xShape[1] === group ? 'depthwise' : null;
  if (O % block !== 0) return null;
  if (C % block === 0) return 'blocked';
  return C < block ? 'plain-input' : null;
}

/**
 * Emits `site` as ReorderInput → nchwc Conv → ReorderOutput when `nchwcKind` allows it (returns true), else returns
 * false and emits nothing. MLAS's filter layouts, written as Reshape + Transpose of W [O, C, kh, kw]:
 * OIHWBiBo = [O/B, C/B, kh, kw, bi, bo]; OIHWBo = [O/B, C, kh, kw, bo] (depthwise: C = 1). Both are then viewed as
 * [O, C, kh, kw].
 */
export function emitNchwcConv(site: ConvSite, block: number): boolean {
  const kind = nchwcKind(site.xShape, site.wShape, site.group, block);
  if (!kind) return false;
  const { em, name } = site;
  const [O, C, kh, kw] = site.wShape;
  let wt: string;
  if (kind === 'blocked') {
    // [O/B, bo, C/B, bi, kh, kw] → [O/B, C/B, kh, kw, bi, bo] as two single-axis moves (bo innermost, then bi past
    // kh·kw): ONNX Runtime has fast paths for those; the one 6-D Transpose took 2.5× as long (11 ms for 512 × 512 × 3 × 3).
    const w6 = em.op('Reshape', [site.w, em.constI64(`${name}.w_blocks.shape`, [O / block, block, C / block, block, kh, kw])], `${name}.w_blocks`);
    const boLast = em.op('Transpose', [w6], `${name}.w_bo_last`, { perm: [0, 2, 3, 4, 5, 1] });
    const w4 = em.op('Reshape', [boLast, em.constI64(`${name}.w_bi_k.shape`, [(O / block) * (C / block), block, kh * kw, block])], `${name}.w_bi_k`);
    wt = em.op('Transpose', [w4], `${name}.w_nchwc_t`, { perm: [0, 2, 1, 3] });
  } else {
    const w5 = em.op('Reshape', [site.w, em.constI64(`${name}.w_blocks.shape`, [O / block, block, C, kh, kw])], `${name}.w_blocks`);
    wt = em.op('Reshape', [em.op('Transpose', [w5], `${name}.w_nchwc_t`, { perm: [0, 2, 3, 4, 1] }),
      em.constI64(`${name}.w_k_bo.shape`, [(O / block) * C, kh * kw, block])], `${name}.w_k_bo`);
  }
  if (site.flipKernel) {
    // Flipping both spatial axes reverses the flattened kh·kw axis: runs of whole blocks, where a Slice with steps −1
    // on W's last two axes copies one value at a time (7.8 ms for 512 × 512 × 3 × 3).
    wt = em.op('Slice', [wt, em.constI64(`${name}.w_flip.starts`, [-1]), em.constI64(`${name}.w_flip.ends`, [-(2 ** 53)]),
      em.constI64(`${name}.w_flip.axes`, [1]), em.constI64(`${name}.w_flip.steps`, [-1])], `${name}.w_flip`);
  }
  const wb = em.op('Reshape', [wt, em.constI64(`${name}.w_nchwc.shape`, site.wShape)], `${name}.w_nchwc`);
  const xb = kind === 'plain-input' ? site.x : em.op('ReorderInput', [site.x], `${name}.x_nchwc`, {}, NCHWC_DOMAIN);
  const attrs: Record<string, AttrValue> = {
    kernel_shape: site.kernel, strides: site.strides, dilations: site.dilations, pads: site.pads, group: site.group,
  };
  const yb = em.op('Conv', site.b ? [xb, wb, site.b] : [xb, wb], `${name}.y_nchwc`, attrs, NCHWC_DOMAIN);
  em.node('ReorderOutput', [yb], [site.y], { channels: O }, NCHWC_DOMAIN);
  return true;
}

/** One depthwise weight gradient to emit (./index.ts ConvGrad): static shapes, the forward's geometry. */
export interface DepthwiseWeightGradientSite {
  em: Emitter;
  name: string;
  x: string;
  dy: string;
  /** dW [C, 1, kh, kw] */
  out: string;
  xShape: number[];
  dyShape: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
}

/**
 * Depthwise dW[c, 0, κ] = Σ_n Σ_o dY[n, c, o] · X[n, c, o·s + κ·d − p] as ONE NCHWc depthwise convolution over the
 * N·C (sample, channel) planes: input X viewed as [1, N·C, H, W], kernel dY [N·C, 1, Ho, Wo] (stride d, dilation s,
 * the forward's pads), output [1, N·C, ≥ kh, ≥ kw] cropped to the kernel and summed over samples. No shifted copies
 * (the Slice + Mul + ReduceSum per offset it replaces moved ~27 tensor-sized buffers): 4.6–5.6× faster on
 * MobileNetV2's layers. Returns false (nothing emitted) when the planes are not whole blocks or some kernel offset
 * would read padding only (MLAS would get an empty kernel row).
 */
export function emitNchwcDepthwiseWeightGradient(site: DepthwiseWeightGradientSite, block: number): boolean {
  const { em, name, xShape, dyShape, kernel: k, strides: s, dilations: d, padsBegin: pb, padsEnd: pe } = site;
  if (block < 4 || xShape.length !== 4 || dyShape.length !== 4) return false;
  const [N, C, H, W] = xShape;
  const [Ho, Wo] = [dyShape[2], dyShape[3]];
  if ((N * C) % block !== 0) return false;
  // Offset κ reads input positions κ·d − p + s·o, o < out: some of them must lie inside [0, size).
  const reads = (kappa: number, a: number, size: number, out: number) => {
    const first = kappa * d[a] - pb[a];
    const firstInside = first >= 0 ? first : first + Math.ceil(-first / s[a]) * s[a];
    return firstInside <= first + s[a] * (out - 1) && firstInside < size;
  };
  for (let kh = 0; kh < k[0]; kh++) if (!reads(kh, 0, H, Ho)) return false;
  for (let kw = 0; kw < k[1]; kw++) if (!reads(kw, 1, W, Wo)) return false;
  const NC = N * C;
  const x1 = em.op('Reshape', [site.x, em.constI64(`${name}.x_planes.shape`, [1, NC, H, W])], `${name}.x_planes`);
  const xb = em.op('ReorderInput', [x1], `${name}.x_planes_nchwc`, {}, NCHWC_DOMAIN);
  // The kernel's OIHWBo layout [N·C/B, 1, Ho, Wo, B] is exactly ReorderInput's blocked layout of dY viewed as one
  // image of N·C channels (MLAS's reorder; a 5-D Transpose doing the same was 6 % of MobileNetV2's step).
  const dy1 = em.op('Reshape', [site.dy, em.constI64(`${name}.dy_planes.shape`, [1, NC, Ho, Wo])], `${name}.dy_planes`);
  const dyr = em.op('ReorderInput', [dy1], `${name}.dy_planes_nchwc`, {}, NCHWC_DOMAIN);
  const dyb = em.op('Reshape', [dyr, em.constI64(`${name}.dy_kernel.shape`, [NC, 1, Ho, Wo])], `${name}.dy_kernel`);
  const yb = em.op('Conv', [xb, dyb], `${name}.dw_planes_nchwc`, {
    kernel_shape: [Ho, Wo], strides: d, dilations: s, pads: [...pb, ...pe], group: NC,
  }, NCHWC_DOMAIN);
  let planes = em.op('ReorderOutput', [yb], `${name}.dw_planes`, { channels: NC }, NCHWC_DOMAIN);
  const kOut = [0, 1].map((a) => Math.floor(([H, W][a] + pb[a] + pe[a] - s[a] * ([Ho, Wo][a] - 1) - 1) / d[a]) + 1);
  if (kOut[0] !== k[0] || kOut[1] !== k[1]) {
    planes = em.op('Slice', [planes, em.constI64(`${name}.dw_crop.starts`, [0, 0]), em.constI64(`${name}.dw_crop.ends`, k),
      em.constI64(`${name}.dw_crop.axes`, [2, 3])], `${name}.dw_planes_cropped`);
  }
  const perSample = em.op('Reshape', [planes, em.constI64(`${name}.dw_samples.shape`, [N, C, k[0], k[1]])], `${name}.dw_samples`);
  const sum = em.op('ReduceSum', [perSample, em.constI64(`${name}.dw_sum.axes`, [0])], `${name}.dw_sum`, { keepdims: 1 });
  em.node('Reshape', [sum, em.constI64(`${name}.dw.shape`, [C, 1, k[0], k[1]])], [site.out]);
  return true;
}

/**
 * A standard 2-D Conv node as a ConvSite when its weight shape is static and its input is 4-D (the batch and spatial
 * sizes may be symbolic: the rewrite needs only the channels); null otherwise (auto_pad SAME, unknown shapes).
 */
export function convSiteOf(n: NodeProto, em: Emitter, xRank: number | null, wShape: number[] | null): ConvSite | null {
  const [x, w, b] = [n.input?.[0] ?? '', n.input?.[1] ?? '', n.input?.[2] ?? ''];
  const autoPad = attrString(n, 'auto_pad') ?? 'NOTSET';
  if (xRank !== 4 || !wShape || wShape.length !== 4 || (autoPad !== 'NOTSET' && autoPad !== 'VALID') || !n.output?.[0]) return null;
  return {
    em, name: n.name || n.output[0], x, w, ...(b ? { b } : {}), y: n.output[0], xShape: [-1, wShape[1] * attrInt(n, 'group', 1), -1, -1], wShape,
    kernel: attrInts(n, 'kernel_shape') ?? wShape.slice(2), strides: attrInts(n, 'strides') ?? [1, 1],
    dilations: attrInts(n, 'dilations') ?? [1, 1], pads: autoPad === 'VALID' ? [0, 0, 0, 0] : attrInts(n, 'pads') ?? [0, 0, 0, 0],
    group: attrInt(n, 'group', 1),
  };
}

/** name → its static shape (from the model's types or an initializer's dims); null when unknown or symbolic. */
export function staticShapes(types: Map<string, TensorType>, inits: Map<string, TensorProto>): (name: string) => number[] | null {
  return (name) => {
    const s = types.get(name)?.shape ?? (inits.has(name) ? (inits.get(name)!.dims ?? []).map((d) => toInt(d)) : null);
    return s && s.every((d) => typeof d === 'number') ? (s as number[]) : null;
  };
}

/** A standard Conv node written onto the NCHWc kernels when it qualifies (`convSiteOf`, `nchwcKind`); false otherwise. */
export function emitNchwcForwardConv(n: NodeProto, em: Emitter, types: Map<string, TensorType>,
  shapeOf: (name: string) => number[] | null, block: number): boolean {
  if (n.opType !== 'Conv' || n.domain) return false;
  const site = convSiteOf(n, em, types.get(n.input?.[0] ?? '')?.shape?.length ?? null, shapeOf(n.input?.[1] ?? ''));
  return site !== null && emitNchwcConv(site, block);
}

/**
 * An inference model whose convolution weights are graph inputs (the training backends' eval model) with every
 * qualifying Conv on the NCHWc kernels (`nchwcKind`); a new model, the input untouched. ONNX Runtime does this itself
 * when the weights are initializers, so models with constant weights gain nothing from it.
 */
export function useNchwcConvolutions(model: ModelProto, block: number): ModelProto {
  const out = cloneModel(model);
  const graph = out.graph;
  if (!graph || block < 4) return out;
  const types = tensorTypes(out);
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const nodes = graph.node ?? [];
  const em = new Emitter([...types.keys(), ...inits.keys(), ...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? []), n.name ?? ''])]);
  const shapeOf = staticShapes(types, inits);
  const rewritten: NodeProto[] = [];
  let any = false;
  for (const n of nodes) {
    const start = em.nodes.length;
    if (emitNchwcForwardConv(n, em, types, shapeOf, block)) {
      rewritten.push(...em.nodes.slice(start));
      any = true;
    } else {
      rewritten.push(n);
    }
  }
  if (!any) return out;
  graph.node = rewritten;
  graph.initializer = [...(graph.initializer ?? []), ...em.initializers];
  out.opsetImport = [...(out.opsetImport ?? []).filter((o) => o.domain !== NCHWC_DOMAIN), { domain: NCHWC_DOMAIN, version: 1 }];
  return out;
}
