/**
 * The graph builder: a typed DSL that adds ONNX nodes with named parameters and returns output tensors whose shape
 * and element type it infers at build time (builder-infer.ts). A shape mismatch throws right where the model is
 * written, naming the op, the node, the input and both shapes. Parameters are recorded as trainable or frozen so that
 * @kqkd/autodiff can turn the forward graph into ORT training artifacts; `scope()` prefixes every name inside it.
 * The graph's state, naming, initializers and node emission are GraphCore's (builder-core.ts), which GraphBuilder
 * extends with the operators.
 */
import { invalidArgument } from '@kqkd/common';
import { DataType } from './proto.js';
import { formatShape, type Shape } from './shapes.js';
import {
  broadcastShapes, concatShape, convShape, gatherShape, gemmShape, matMulShape, normAxis, reduceShape, reshapeShape,
  shapeError, sliceShape, spatialOutput, transposeShape, type OpSite,
} from './builder-infer.js';
import { attribute, GraphCore, MS_DOMAIN, type AttrValue, type Tensor, type WeightInit } from './builder-core.js';

export {
  DEFAULT_OPSET, IR_VERSION, MS_DOMAIN, type GraphBuilderOptions, type ParameterInfo, type ParamOptions, type Tensor, type WeightInit,
} from './builder-core.js';

/** docString marking an Identity node as a stop-gradient (detach) point for @kqkd/autodiff. */
export const STOP_GRADIENT = 'kqkd.stop_gradient';
/** docString marking a BatchNormalization node whose running statistics stay fixed during training. */
export const FROZEN_STATS = 'kqkd.batchnorm.frozen_stats';

export interface ConvOptions {
  name?: string;
  /** Weight (and bias) initialisation when no explicit `weight` is given (default `he-fan-in`). */
  init?: WeightInit;
  kernel?: number;
  stride?: number;
  /** Symmetric padding; default keeps the spatial size for odd kernels at stride 1 (dilation-aware). */
  pad?: number;
  dilation?: number;
  /** Groups; `group = in = out channels` is a depthwise convolution. */
  group?: number;
  bias?: boolean;
  /** Explicit weights [out, in/group, k, k] (and bias [out]) instead of seeded He init. */
  weight?: Float32Array;
  biasValues?: Float32Array;
}

export interface BatchNormOptions {
  name?: string;
  epsilon?: number;
  /** Amount of seeded noise around the identity statistics (scale 1, bias 0, mean 0, var 1). 0 = exact identity. */
  jitter?: number;
  /** ONNX momentum: running = momentum · running + (1 − momentum) · batch (PyTorch 0.1 = ONNX 0.9). */
  momentum?: number;
  /** Keep the running statistics fixed in training (inference-mode BN); scale/bias may still train. */
  frozenStats?: boolean;
  /** Initial scale γ (default 1); 0 makes a residual branch start as the identity (torchvision zero_init_residual). */
  scale?: number;
}

export interface PoolOptions {
  name?: string;
  kernel?: number;
  stride?: number;
  pad?: number;
  /** AveragePool only: count padded cells in the divisor. */
  countIncludePad?: boolean;
}

const F = DataType.FLOAT;
const I64 = DataType.INT64;

/** The graph builder: the operators, written on GraphCore's state and node emission (builder-core.ts). */
export class GraphBuilder extends GraphCore {
  // ------------------------------------------------------------------ layers with parameters

  conv(x: Tensor, outChannels: number, options: ConvOptions = {}): Tensor {
    const name = this.scoped(options.name ?? this.fresh('conv'));
    const inChannels = this.channels(x, 'conv input');
    const k = options.kernel ?? 3;
    const group = options.group ?? 1;
    const dil = options.dilation ?? 1;
    const pad = options.pad ?? Math.floor((dil * (k - 1)) / 2);
    if (inChannels % group !== 0 || outChannels % group !== 0) {
      shapeError({ op: 'Conv', node: name }, 'input X', `channels divisible by group ${group} (output channels ${outChannels})`, x.shape);
    }
    const wDims = [outChannels, inChannels / group, k, k];
    const hasBias = options.bias ?? false;
    const drawn = options.weight ? undefined
      : this.initWeights(options.init ?? 'he-fan-in', wDims.reduce((p, d) => p * d, 1), { in: (inChannels / group) * k * k, out: outChannels * k * k }, hasBias ? outChannels : 0);
    const inputs = [x.name, this.paramAbs(`${name}.weight`, wDims, options.weight ?? drawn!.weight).name];
    if (hasBias) {
      inputs.push(this.paramAbs(`${name}.bias`, [outChannels], options.biasValues ?? drawn?.bias ?? new Float32Array(outChannels)).name);
    }
    return this.convNode(inputs, { kernel: k, stride: options.stride ?? 1, pad, group, dilation: dil }, name);
  }

  /** Conv of x with explicit weight (and bias) tensors: W [M, C/group, k, k]. */
  convWith(x: Tensor, w: Tensor, b: Tensor | undefined, options: { name?: string; stride?: number; pad?: number; dilation?: number; group?: number } = {}): Tensor {
    const name = this.scoped(options.name ?? this.fresh('conv'));
    const k = w.shape[2];
    if (typeof k !== 'number' || w.shape.length !== 4 || w.shape[3] !== k) shapeError({ op: 'Conv', node: name }, 'input W', 'a square kernel [M, C/group, k, k]', w.shape);
    const dil = options.dilation ?? 1;
    return this.convNode(b ? [x.name, w.name, b.name] : [x.name, w.name],
      { kernel: k, stride: options.stride ?? 1, pad: options.pad ?? Math.floor((dil * (k - 1)) / 2), group: options.group ?? 1, dilation: dil }, name);
  }

  batchNorm(x: Tensor, options: BatchNormOptions = {}): Tensor {
    const name = this.scoped(options.name ?? this.fresh('bn'));
    const c = this.channels(x, 'batchNorm input');
    const j = options.jitter ?? 0;
    const gen = (base: number, positive = false) => Float32Array.from({ length: c }, () => {
      const v = base + j * this.rng.nextNormal();
      return positive ? Math.max(v, 0.05) : v;
    });
    const gamma = options.scale ?? 1;
    if (typeof gamma !== 'number' || !Number.isFinite(gamma)) invalidArgument('batchNorm scale', 'a finite number', gamma);
    const scale = this.paramAbs(`${name}.weight`, [c], gamma === 1 ? gen(1, true) : Float32Array.from({ length: c }, () => gamma));
    const bias = this.paramAbs(`${name}.bias`, [c], gen(0));
    const mean = this.paramAbs(`${name}.running_mean`, [c], gen(0), { statistic: true });
    const variance = this.paramAbs(`${name}.running_var`, [c], gen(1, true), { statistic: true });
    const attrs: Record<string, AttrValue> = { epsilon: { float: options.epsilon ?? 1e-5 } };
    if (options.momentum !== undefined) attrs.momentum = { float: options.momentum };
    const y = this.node('BatchNormalization', [x.name, scale.name, bias.name, mean.name, variance.name], attrs, name, name, x.shape);
    if (options.frozenStats) this.nodes[this.nodes.length - 1].docString = FROZEN_STATS;
    return y;
  }

  /** Linear layer on [N, in]: Gemm with transB = 1 (weights [out, in], as PyTorch stores them); `init` default `he-fan-in`. */
  gemm(x: Tensor, outFeatures: number, name?: string, init: WeightInit = 'he-fan-in'): Tensor {
    const n = this.scoped(name ?? this.fresh('fc'));
    const inFeatures = x.shape[x.shape.length - 1];
    if (typeof inFeatures !== 'number') invalidArgument('gemm input', 'a known feature dimension', formatShape(x.shape));
    const drawn = this.initWeights(init, outFeatures * inFeatures, { in: inFeatures, out: outFeatures }, outFeatures);
    const w = this.paramAbs(`${n}.weight`, [outFeatures, inFeatures], drawn.weight);
    const b = this.paramAbs(`${n}.bias`, [outFeatures], drawn.bias);
    return this.gemmNode(x, w, b, { transB: true }, n);
  }

  /** x @ W (+ b) on the last axis, for token features [N, T, D]. */
  linear(x: Tensor, outFeatures: number, options: { name?: string; bias?: boolean } = {}): Tensor {
    const n = this.scoped(options.name ?? this.fresh('linear'));
    const inFeatures = x.shape[x.shape.length - 1];
    if (typeof inFeatures !== 'number') invalidArgument('linear input', 'a known feature dimension', formatShape(x.shape));
    const w = this.paramAbs(`${n}.weight`, [inFeatures, outFeatures], this.heNormal(outFeatures * inFeatures, inFeatures));
    const y = this.node('MatMul', [x.name, w.name], {}, options.bias === false ? n : `${n}.matmul`, undefined,
      matMulShape({ op: 'MatMul', node: n }, x.shape, w.shape));
    if (options.bias === false) return y;
    const b = this.paramAbs(`${n}.bias`, [outFeatures], new Float32Array(outFeatures));
    return this.node('Add', [y.name, b.name], {}, n, n, broadcastShapes({ op: 'Add', node: n }, y.shape, b.shape));
  }

  layerNorm(x: Tensor, options: { name?: string; epsilon?: number } = {}): Tensor {
    const n = this.scoped(options.name ?? this.fresh('layernorm'));
    const d = x.shape[x.shape.length - 1];
    if (typeof d !== 'number') invalidArgument('layerNorm input', 'a known last dimension', formatShape(x.shape));
    const scale = this.paramAbs(`${n}.weight`, [d], new Float32Array(d).fill(1));
    const bias = this.paramAbs(`${n}.bias`, [d], new Float32Array(d));
    return this.layerNormWith(x, scale, bias, { name: options.name ? options.name : undefined, epsilon: options.epsilon, absName: n });
  }

  /** LayerNormalization over axes [axis, rank) with explicit scale/bias of shape x.shape[axis:]. */
  layerNormWith(x: Tensor, scale: Tensor, bias: Tensor, options: { name?: string; epsilon?: number; axis?: number; absName?: string } = {}): Tensor {
    const n = options.absName ?? this.scoped(options.name ?? this.fresh('layernorm'));
    const site = { op: 'LayerNormalization', node: n };
    const axis = normAxis(site, 'attribute axis', options.axis ?? -1, x.shape.length, x.shape);
    const norm = x.shape.slice(axis);
    for (const [what, t] of [['Scale', scale], ['B', bias]] as const) {
      if (t.shape.length !== norm.length || t.shape.some((v, i) => v !== norm[i])) {
        shapeError(site, `input ${what}`, `${formatShape(norm)} (the normalised dims of input X ${formatShape(x.shape)})`, t.shape);
      }
    }
    return this.node('LayerNormalization', [x.name, scale.name, bias.name], { axis: options.axis ?? -1, epsilon: { float: options.epsilon ?? 1e-5 } }, n, n, x.shape);
  }

  // ------------------------------------------------------------------ activations

  relu(x: Tensor, name?: string): Tensor {
    return this.unary('Relu', x, name ?? this.fresh('relu'));
  }

  /** ReLU6 as ONNX exports it since opset 11: Clip with min/max initializers. */
  relu6(x: Tensor, name?: string): Tensor {
    return this.clip(x, 0, 6, name ?? this.fresh('relu6'));
  }

  clip(x: Tensor, min: number, max: number, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('clip'));
    if (!(min < max)) invalidArgument(`Clip "${n}" min/max`, 'min < max', `${min}/${max}`);
    const lo = this.floatInit(`${n}.min`, [], [min]);
    const hi = this.floatInit(`${n}.max`, [], [max]);
    return this.node('Clip', [x.name, lo.name, hi.name], {}, n, n, x.shape);
  }

  leakyRelu(x: Tensor, alpha = 0.01, name?: string): Tensor {
    return this.unary('LeakyRelu', x, name ?? this.fresh('leaky_relu'), { alpha: { float: alpha } });
  }

  /** Exact (erf) GELU: com.microsoft Gelu, which ORT (node and the training build) runs and differentiates. */
  gelu(x: Tensor, name?: string): Tensor {
    this.usesMsDomain = true;
    const y = this.unary('Gelu', x, name ?? this.fresh('gelu'));
    this.nodes[this.nodes.length - 1].domain = MS_DOMAIN;
    return y;
  }

  sigmoid(x: Tensor, name?: string): Tensor { return this.unary('Sigmoid', x, name ?? this.fresh('sigmoid')); }
  tanh(x: Tensor, name?: string): Tensor { return this.unary('Tanh', x, name ?? this.fresh('tanh')); }
  sqrt(x: Tensor, name?: string): Tensor { return this.unary('Sqrt', x, name ?? this.fresh('sqrt')); }
  exp(x: Tensor, name?: string): Tensor { return this.unary('Exp', x, name ?? this.fresh('exp')); }
  log(x: Tensor, name?: string): Tensor { return this.unary('Log', x, name ?? this.fresh('log')); }
  neg(x: Tensor, name?: string): Tensor { return this.unary('Neg', x, name ?? this.fresh('neg')); }
  identity(x: Tensor, name?: string): Tensor { return this.unary('Identity', x, name ?? this.fresh('identity')); }

  /** Stop-gradient: an Identity whose output carries no gradient back to its input (PyTorch `detach`). */
  detach(x: Tensor, name?: string): Tensor {
    const y = this.unary('Identity', x, name ?? this.fresh('detach'));
    this.nodes[this.nodes.length - 1].docString = STOP_GRADIENT;
    return y;
  }

  /**
   * Stop-gradient for the nodes ALREADY consuming `x`: a detached copy of `x` is inserted right after its producer and
   * every existing consumer reads the copy; nodes added later read `x` itself. This is how a distillation graph cuts
   * a model's classifier head off its backbone after the model is built (the feature losses added afterwards still
   * see the live tensor). Returns the detached tensor.
   */
  detachConsumers(x: Tensor, name?: string): Tensor {
    const consumers = this.nodes.filter((n) => (n.input ?? []).includes(x.name));
    if (consumers.length === 0) invalidArgument(`detachConsumers "${x.name}"`, 'a tensor some node of the graph consumes', 'no consumer');
    const y = this.detach(x, name ?? `${x.name}.detached`);
    const node = this.nodes.pop()!;
    const producer = this.nodes.findIndex((n) => (n.output ?? []).includes(x.name));
    this.nodes.splice(producer + 1, 0, node); // producer −1 (a graph input or initializer): at the front
    for (const n of consumers) n.input = (n.input ?? []).map((i) => (i === x.name ? y.name : i));
    return y;
  }

  softmax(x: Tensor, axis = -1, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('softmax'));
    normAxis({ op: 'Softmax', node: n }, 'attribute axis', axis, x.shape.length, x.shape);
    return this.node('Softmax', [x.name], { axis }, n, n, x.shape);
  }

  logSoftmax(x: Tensor, axis = -1, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('log_softmax'));
    normAxis({ op: 'LogSoftmax', node: n }, 'attribute axis', axis, x.shape.length, x.shape);
    return this.node('LogSoftmax', [x.name], { axis }, n, n, x.shape);
  }

  // ------------------------------------------------------------------ pooling

  maxPool(x: Tensor, kernel: number | PoolOptions = 2, stride?: number, name?: string): Tensor {
    const o: PoolOptions = typeof kernel === 'number' ? { kernel, stride: stride ?? kernel, name } : kernel;
    return this.pool('MaxPool', x, o, this.fresh('maxpool'));
  }

  averagePool(x: Tensor, options: PoolOptions = {}): Tensor {
    return this.pool('AveragePool', x, options, this.fresh('avgpool'));
  }

  globalAveragePool(x: Tensor, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('gap'));
    if (x.shape.length < 3) shapeError({ op: 'GlobalAveragePool', node: n }, 'input X', 'an [N, C, spatial...] tensor', x.shape);
    return this.node('GlobalAveragePool', [x.name], {}, n, n, [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)]);
  }

  // ------------------------------------------------------------------ arithmetic (numpy broadcasting)

  add(a: Tensor, b: Tensor, name?: string): Tensor { return this.binary('Add', a, b, name ?? this.fresh('add')); }
  sub(a: Tensor, b: Tensor, name?: string): Tensor { return this.binary('Sub', a, b, name ?? this.fresh('sub')); }
  mul(a: Tensor, b: Tensor, name?: string): Tensor { return this.binary('Mul', a, b, name ?? this.fresh('mul')); }
  div(a: Tensor, b: Tensor, name?: string): Tensor { return this.binary('Div', a, b, name ?? this.fresh('div')); }
  pow(a: Tensor, b: Tensor | number, name?: string): Tensor {
    const n = name ?? this.fresh('pow');
    const e = typeof b === 'number' ? this.floatInit(`${this.scoped(n)}.exponent`, [], [b]) : b;
    return this.binary('Pow', a, e, n);
  }

  mulScalar(x: Tensor, value: number, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('mul'));
    const s = this.floatInit(`${n}.scalar`, [], [value]);
    return this.node('Mul', [x.name, s.name], {}, n, n, x.shape);
  }

  addScalar(x: Tensor, value: number, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('add'));
    const s = this.floatInit(`${n}.scalar`, [], [value]);
    return this.node('Add', [x.name, s.name], {}, n, n, x.shape);
  }

  /** Batched matrix product with broadcasting over the leading dims (both operands rank >= 2). */
  matMul(a: Tensor, b: Tensor, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('matmul'));
    return this.node('MatMul', [a.name, b.name], {}, n, n, matMulShape({ op: 'MatMul', node: n }, a.shape, b.shape));
  }

  /** Y = alpha · op(A) · op(B) + beta · C. */
  gemmWith(a: Tensor, b: Tensor, c: Tensor | undefined, options: { name?: string; transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Tensor {
    return this.gemmNode(a, b, c, options, this.scoped(options.name ?? this.fresh('gemm')));
  }

  // ------------------------------------------------------------------ shape ops

  reshape(x: Tensor, shape: number[], name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('reshape'));
    const out = reshapeShape({ op: 'Reshape', node: n }, x.shape, shape);
    const s = this.int64ConstantAbs(`${n}.shape`, shape);
    return this.node('Reshape', [x.name, s.name], {}, n, n, out);
  }

  flatten(x: Tensor, axis = 1, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('flatten'));
    const site = { op: 'Flatten', node: n };
    const a = normAxis(site, 'attribute axis', axis, x.shape.length, x.shape, true);
    const prod = (s: Shape) => s.reduce<Shape[number]>((p, d) => (typeof p === 'number' && typeof d === 'number' ? p * d : p === 1 ? d : d === 1 ? p : null), 1);
    return this.node('Flatten', [x.name], { axis }, n, n, [prod(x.shape.slice(0, a)), prod(x.shape.slice(a))]);
  }

  transpose(x: Tensor, perm: number[], name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('transpose'));
    return this.node('Transpose', [x.name], { perm }, n, n, transposeShape({ op: 'Transpose', node: n }, x.shape, perm));
  }

  concat(xs: Tensor[], axis: number, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('concat'));
    if (xs.length < 1) invalidArgument(`Concat "${n}" inputs`, 'at least one tensor', xs.length);
    return this.node('Concat', xs.map((t) => t.name), { axis }, n, n, concatShape({ op: 'Concat', node: n }, xs.map((t) => t.shape), axis));
  }

  /** ONNX Slice with constant starts/ends/axes/steps. */
  slice(x: Tensor, starts: number[], ends: number[], axes?: number[], steps?: number[], name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('slice'));
    const ax = axes ?? starts.map((_, i) => i);
    const st = steps ?? starts.map(() => 1);
    const out = sliceShape({ op: 'Slice', node: n }, x.shape, starts, ends, ax, st);
    const ins = [x.name, this.int64ConstantAbs(`${n}.starts`, starts).name, this.int64ConstantAbs(`${n}.ends`, ends).name,
      this.int64ConstantAbs(`${n}.axes`, ax).name, this.int64ConstantAbs(`${n}.steps`, st).name];
    return this.node('Slice', ins, {}, n, n, out);
  }

  /** Gather along `axis` with int64 indices (a tensor, or constant values). */
  gather(x: Tensor, indices: Tensor | number[], axis = 0, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('gather'));
    const idx = Array.isArray(indices) ? this.int64ConstantAbs(`${n}.indices`, indices) : indices;
    if ((idx.elemType ?? this.types.get(idx.name)?.elemType) !== I64) {
      shapeError({ op: 'Gather', node: n }, 'input indices', 'an int64 tensor', `element type ${idx.elemType}`);
    }
    return this.node('Gather', [x.name, idx.name], { axis }, n, n, gatherShape({ op: 'Gather', node: n }, x.shape, idx.shape, axis));
  }

  reduceMean(x: Tensor, axes?: number[], keepdims = true, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('reduce_mean'));
    const out = reduceShape({ op: 'ReduceMean', node: n }, x.shape, axes, keepdims);
    const attrs: Record<string, AttrValue> = { keepdims: keepdims ? 1 : 0 };
    if (axes && axes.length) attrs.axes = axes;
    return this.node('ReduceMean', [x.name], attrs, n, n, out);
  }

  reduceSum(x: Tensor, axes?: number[], keepdims = true, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('reduce_sum'));
    const out = reduceShape({ op: 'ReduceSum', node: n }, x.shape, axes, keepdims);
    const ins = [x.name];
    if (axes && axes.length) ins.push(this.int64ConstantAbs(`${n}.axes`, axes).name);
    return this.node('ReduceSum', ins, { keepdims: keepdims ? 1 : 0 }, n, n, out);
  }

  cast(x: Tensor, to: number, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh('cast'));
    return this.node('Cast', [x.name], { to }, n, n, x.shape, to);
  }

  // ------------------------------------------------------------------ losses (scalar outputs)

  /**
   * Softmax cross-entropy of logits [N, C] against int64 labels [N] (ONNX SoftmaxCrossEntropyLoss, whose
   * gradient ORT emits as SoftmaxCrossEntropyLossGrad). `reduction` "mean" (default) or "sum".
   */
  softmaxCrossEntropy(logits: Tensor, labels: Tensor, options: { name?: string; reduction?: 'mean' | 'sum' } = {}): Tensor {
    const n = this.scoped(options.name ?? this.fresh('cross_entropy'));
    const site = { op: 'SoftmaxCrossEntropyLoss', node: n };
    if (logits.shape.length !== 2) shapeError(site, 'input scores', 'logits [N, C]', logits.shape);
    if (this.typeOf(labels).elemType !== I64) shapeError(site, 'input labels', 'an int64 tensor', `element type ${this.typeOf(labels).elemType}`);
    if (labels.shape.length !== 1 || labels.shape[0] !== logits.shape[0]) {
      shapeError(site, 'input labels', `[${logits.shape[0]}] (one label per row of scores ${formatShape(logits.shape)})`, labels.shape);
    }
    const reduction = options.reduction ?? 'mean';
    this.claim(n);
    this.claim(`${n}.log_prob`);
    this.nodes.push({
      name: n, opType: 'SoftmaxCrossEntropyLoss', input: [logits.name, labels.name], output: [n, `${n}.log_prob`],
      attribute: [attribute('reduction', reduction)],
    });
    this.types.set(n, { elemType: F, shape: [] });
    this.types.set(`${n}.log_prob`, { elemType: F, shape: logits.shape });
    return { name: n, shape: [], elemType: F };
  }

  /** Mean squared error over all elements. */
  mse(a: Tensor, b: Tensor, name?: string): Tensor {
    const n = name ?? this.fresh('mse');
    return this.scope(n, () => {
      const d = this.sub(a, b, 'diff');
      if (d.shape.length !== a.shape.length || d.shape.some((v, i) => v !== a.shape[i])) shapeError({ op: 'MSE', node: this.scoped('diff') }, 'input b', `the shape of input a ${formatShape(a.shape)}`, b.shape);
      return this.reduceMean(this.mul(d, d, 'sq'), undefined, false, 'mean');
    });
  }

  /**
   * Hinton KD: T² · mean_n Σ_c softmax(t/T) · (log softmax(t/T) − log softmax(s/T)) on logits [N, C].
   * `standardize` applies logit standardisation (Sun et al., CVPR 2024): z ↦ (z − mean z) / std z per row first.
   */
  klDivergence(student: Tensor, teacher: Tensor, options: { temperature?: number; standardize?: boolean; name?: string } = {}): Tensor {
    const n = options.name ?? this.fresh('kl_div');
    const T = options.temperature ?? 1;
    if (!(T > 0)) invalidArgument(`klDivergence "${n}" temperature`, 'a positive number', T);
    if (student.shape.length !== 2) shapeError({ op: 'KLDivergence', node: this.scoped(n) }, 'input student', 'logits [N, C]', student.shape);
    if (teacher.shape.length !== 2 || teacher.shape.some((d, i) => d !== student.shape[i])) {
      shapeError({ op: 'KLDivergence', node: this.scoped(n) }, 'input teacher', `the shape of input student ${formatShape(student.shape)}`, teacher.shape);
    }
    return this.scope(n, () => {
      const prep = (z: Tensor, tag: string) => {
        let v = z;
        if (options.standardize) {
          const c = this.sub(z, this.reduceMean(z, [1], true, `${tag}.mean`), `${tag}.centered`);
          const variance = this.reduceMean(this.mul(c, c, `${tag}.sq`), [1], true, `${tag}.var`);
          v = this.div(c, this.sqrt(this.addScalar(variance, 1e-6, `${tag}.var_eps`), `${tag}.std`), `${tag}.standardized`);
        }
        return T === 1 ? v : this.mulScalar(v, 1 / T, `${tag}.scaled`);
      };
      const ls = this.logSoftmax(prep(student, 'student'), 1, 'student.log_p');
      const lt = this.logSoftmax(prep(teacher, 'teacher'), 1, 'teacher.log_p');
      const pt = this.exp(lt, 'teacher.p');
      const kl = this.reduceSum(this.mul(pt, this.sub(lt, ls, 'log_ratio'), 'terms'), [1], false, 'per_sample');
      return this.mulScalar(this.reduceMean(kl, undefined, false, 'mean'), T * T, 'loss');
    });
  }

  /** 1 − cosine similarity of rows of a and b ([N, D]), averaged over N. */
  cosineLoss(a: Tensor, b: Tensor, options: { name?: string; eps?: number } = {}): Tensor {
    const n = options.name ?? this.fresh('cosine');
    if (a.shape.length !== 2) shapeError({ op: 'CosineLoss', node: this.scoped(n) }, 'input a', 'features [N, D]', a.shape);
    if (b.shape.length !== 2 || b.shape.some((d, i) => d !== a.shape[i])) shapeError({ op: 'CosineLoss', node: this.scoped(n) }, 'input b', `the shape of input a ${formatShape(a.shape)}`, b.shape);
    const eps = options.eps ?? 1e-8;
    return this.scope(n, () => {
      const dot = this.reduceSum(this.mul(a, b, 'ab'), [1], false, 'dot');
      const na = this.sqrt(this.addScalar(this.reduceSum(this.mul(a, a, 'aa'), [1], false, 'a2'), eps, 'a2_eps'), 'norm_a');
      const nb = this.sqrt(this.addScalar(this.reduceSum(this.mul(b, b, 'bb'), [1], false, 'b2'), eps, 'b2_eps'), 'norm_b');
      const cos = this.div(dot, this.mul(na, nb, 'norms'), 'cos');
      return this.neg(this.addScalar(this.reduceMean(cos, undefined, false, 'mean_cos'), -1, 'cos_minus_1'), 'loss');
    });
  }

  // ------------------------------------------------------------------ escape hatch (build() is GraphCore's)

  /** Any other operator, for what the named helpers do not cover (shapes through the generic rules). */
  op(opType: string, inputs: Tensor[], attributes: Record<string, AttrValue> = {}, name?: string): Tensor {
    const n = this.scoped(name ?? this.fresh(opType.toLowerCase()));
    return this.node(opType, inputs.map((t) => t.name), attributes, n);
  }

  // ------------------------------------------------------------------ node helpers of the operators

  private convNode(inputs: string[], a: { kernel: number; stride: number; pad: number; group: number; dilation: number }, name: string): Tensor {
    const site: OpSite = { op: 'Conv', node: name };
    const x = this.typeOf(inputs[0]).shape!;
    const w = this.typeOf(inputs[1]).shape!;
    const b = inputs[2] ? this.typeOf(inputs[2]).shape! : undefined;
    const out = convShape(site, x, w, a.group, {
      kernel: [a.kernel, a.kernel], strides: [a.stride, a.stride], pads: [a.pad, a.pad, a.pad, a.pad], dilations: [a.dilation, a.dilation],
    }, b);
    return this.node('Conv', inputs, {
      kernel_shape: [a.kernel, a.kernel], strides: [a.stride, a.stride], pads: [a.pad, a.pad, a.pad, a.pad], group: a.group,
      dilations: [a.dilation, a.dilation],
    }, name, name, out);
  }

  private gemmNode(a: Tensor, b: Tensor, c: Tensor | undefined, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number }, n: string): Tensor {
    const out = gemmShape({ op: 'Gemm', node: n }, a.shape, b.shape, o.transA ?? false, o.transB ?? false, c?.shape);
    const attrs: Record<string, AttrValue> = {};
    if (o.transA) attrs.transA = 1;
    attrs.transB = o.transB ? 1 : 0;
    attrs.alpha = { float: o.alpha ?? 1 };
    attrs.beta = { float: o.beta ?? 1 };
    return this.node('Gemm', c ? [a.name, b.name, c.name] : [a.name, b.name], attrs, n, n, out);
  }

  private pool(op: 'MaxPool' | 'AveragePool', x: Tensor, o: PoolOptions, fallbackName: string): Tensor {
    const n = this.scoped(o.name ?? fallbackName);
    const k = o.kernel ?? 2;
    const s = o.stride ?? k;
    const p = o.pad ?? 0;
    const spatial = x.shape.length - 2;
    const rep = (v: number, m = spatial) => Array.from({ length: m }, () => v);
    const out = spatialOutput({ op, node: n }, x.shape, x.shape[1], { kernel: rep(k), strides: rep(s), pads: rep(p, 2 * spatial), dilations: rep(1) });
    const attrs: Record<string, AttrValue> = { kernel_shape: rep(k), strides: rep(s), pads: rep(p, 2 * spatial) };
    if (op === 'AveragePool') attrs.count_include_pad = o.countIncludePad ? 1 : 0;
    return this.node(op, [x.name], attrs, n, n, out);
  }

  private unary(op: string, x: Tensor, name: string, attrs: Record<string, AttrValue> = {}): Tensor {
    const n = this.scoped(name);
    if (this.typeOf(x).elemType !== F) shapeError({ op, node: n }, 'input X', 'a float tensor', `element type ${this.typeOf(x).elemType}`);
    return this.node(op, [x.name], attrs, n, n, x.shape);
  }

  private binary(op: string, a: Tensor, b: Tensor, name: string): Tensor {
    const n = this.scoped(name);
    const ta = this.typeOf(a).elemType;
    const tb = this.typeOf(b).elemType;
    if (ta !== tb) shapeError({ op, node: n }, 'input B', `element type ${ta} like input A`, `element type ${tb}`);
    return this.node(op, [a.name, b.name], {}, n, n, broadcastShapes({ op, node: n }, a.shape, b.shape));
  }
}
