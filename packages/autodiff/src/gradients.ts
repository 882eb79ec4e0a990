/**
 * Gradient rules, one per forward op: how ORT itself differentiates it (orttraining gradient_builder.cc), using the
 * gradient kernels the onnxruntime-web 1.19.2 training build ships (see shared/design/ORT-TRAINING.md), and
 * standard ONNX ops where no gradient kernel exists (GlobalAveragePool, Clip, Reduce*, inference-mode BN, ...).
 * Shapes are static: broadcasting is undone by ReduceSum over build-time axes, then Reshape.
 */
import { KqkdError } from '@kqkd/common';
import { attrFloat, attrInt, attrInts, attrString, broadcastAxes, type AttributeProto, type NodeProto, type Shape } from '@kqkd/onnx';
import { MS, type Emitter } from './emitter.js';

export interface GradContext {
  node: NodeProto;
  em: Emitter;
  /** Static shape of a tensor of the forward graph (throws for symbolic dims). */
  shape(name: string): number[];
  /** Constant values of a small initializer input, or null. */
  constant(name: string): number[] | null;
  /** Gradient of output i, or null when no gradient flows into it. */
  dY(i: number): string | null;
  /** Whether input i needs a gradient. */
  needs(i: number): boolean;
  /** Contributes `grad` (already of the input's shape) as (part of) the gradient of input i. */
  give(i: number, grad: string): void;
  /** A base for fresh names of this node's gradient tensors. */
  base: string;
}

export interface GradRule {
  /** Input indices that never carry a gradient (indices, labels, shapes, statistics...). */
  nonDiff?: number[];
  emit(ctx: GradContext): void;
}

const I = (ctx: GradContext, i: number) => ctx.node.input![i];
const O = (ctx: GradContext, i: number) => ctx.node.output![i];
const copyAttrs = (node: NodeProto, keep: string[]): AttributeProto[] => (node.attribute ?? []).filter((a) => keep.includes(a.name ?? ''));

/** Reduces `g` (shape `gShape`) to `target` by summing the broadcast axes, then reshaping. */
export function reduceTo(ctx: GradContext, g: string, gShape: number[], target: number[], tag: string): string {
  const axes = broadcastAxes(target, gShape);
  let out = g;
  if (axes.length > 0) {
    const kept = gShape.map((d, k) => (axes.includes(k) ? 1 : d));
    out = ctx.em.op('ReduceSum', [g, ctx.em.constI64(`${ctx.base}.${tag}.axes`, axes)], `${ctx.base}.${tag}.sum`, { keepdims: 1 }, '', kept);
    if (kept.length !== target.length || kept.some((d, k) => d !== target[k])) {
      out = ctx.em.op('Reshape', [out, ctx.em.constI64(`${ctx.base}.${tag}.shape`, target)], `${ctx.base}.${tag}.reshaped`, {}, '', target);
    }
  }
  return out;
}

const unaryMs = (op: string, useOutput: boolean, attrs: string[] = []): GradRule => ({
  emit(ctx) {
    const dy = ctx.dY(0)!;
    ctx.give(0, ctx.em.op(op, [dy, useOutput ? O(ctx, 0) : I(ctx, 0)], `${ctx.base}.dx`, copyAttrs(ctx.node, attrs), MS, ctx.shape(I(ctx, 0))));
  },
});

function binary(kind: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow'): GradRule {
  return {
    emit(ctx) {
      const dy = ctx.dY(0)!;
      const [a, b] = [I(ctx, 0), I(ctx, 1)];
      const ys = ctx.shape(O(ctx, 0));
      const em = ctx.em;
      const pre = (i: number): string => {
        switch (kind) {
          case 'Add': return dy;
          case 'Sub': return i === 0 ? dy : em.op('Neg', [dy], `${ctx.base}.neg_dy`);
          case 'Mul': return em.op('Mul', [dy, i === 0 ? b : a], `${ctx.base}.d${i}_full`);
          case 'Div':
            if (i === 0) return em.op('Div', [dy, b], `${ctx.base}.d0_full`);
            // d/dB (A/B) = −A/B² = −Y/B
            return em.op('Neg', [em.op('Div', [em.op('Mul', [dy, O(ctx, 0)], `${ctx.base}.dy_y`), b], `${ctx.base}.dy_y_b`)], `${ctx.base}.d1_full`);
          case 'Pow': {
            if (i === 0) {
              const one = em.constF(`${ctx.base}.one`, [], [1]);
              const pm1 = em.op('Pow', [a, em.op('Sub', [b, one], `${ctx.base}.b_minus_1`)], `${ctx.base}.a_pow_bm1`);
              return em.op('Mul', [em.op('Mul', [dy, b], `${ctx.base}.dy_b`), pm1], `${ctx.base}.d0_full`);
            }
            return em.op('Mul', [em.op('Mul', [dy, O(ctx, 0)], `${ctx.base}.dy_y`), em.op('Log', [a], `${ctx.base}.log_a`)], `${ctx.base}.d1_full`);
          }
        }
      };
      for (const i of [0, 1]) {
        if (!ctx.needs(i)) continue;
        ctx.give(i, reduceTo(ctx, pre(i), ys, ctx.shape(I(ctx, i)), `d${i}`));
      }
    },
  };
}

const reshapeBack: GradRule = {
  nonDiff: [1],
  emit(ctx) {
    const xs = ctx.shape(I(ctx, 0));
    ctx.give(0, ctx.em.op('Reshape', [ctx.dY(0)!, ctx.em.constI64(`${ctx.base}.x_shape`, xs)], `${ctx.base}.dx`, {}, '', xs));
  },
};

function reduceRule(mean: boolean): GradRule {
  return {
    nonDiff: [1],
    emit(ctx) {
      const xs = ctx.shape(I(ctx, 0));
      const axesRaw = mean ? attrInts(ctx.node, 'axes') : (ctx.node.input![1] ? ctx.constant(ctx.node.input![1]) : null);
      if (!mean && ctx.node.input![1] && !axesRaw) {
        throw new KqkdError(`ReduceSum node "${ctx.node.name}" input axes`, 'a constant initializer (static axes)', `"${ctx.node.input![1]}"`);
      }
      const axes = (axesRaw && axesRaw.length ? axesRaw : xs.map((_, k) => k)).map((a) => (a < 0 ? a + xs.length : a));
      const kept = xs.map((d, k) => (axes.includes(k) ? 1 : d));
      let g = ctx.em.op('Reshape', [ctx.dY(0)!, ctx.em.constI64(`${ctx.base}.kept`, kept)], `${ctx.base}.dy_kept`, {}, '', kept);
      if (mean) {
        const count = axes.reduce((p, a) => p * xs[a], 1);
        g = ctx.em.op('Mul', [g, ctx.em.constF(`${ctx.base}.inv_count`, [], [1 / count])], `${ctx.base}.dy_scaled`, {}, '', kept);
      }
      ctx.give(0, ctx.em.op('Expand', [g, ctx.em.constI64(`${ctx.base}.x_shape`, xs)], `${ctx.base}.dx`, {}, '', xs));
    },
  };
}

function lastTwo(rank: number): number[] {
  const p = Array.from({ length: rank }, (_, k) => k);
  [p[rank - 2], p[rank - 1]] = [p[rank - 1], p[rank - 2]];
  return p;
}

export const RULES: Record<string, GradRule> = {
  Identity: { emit: (ctx) => ctx.give(0, ctx.dY(0)!) },
  Relu: unaryMs('ReluGrad', true),
  LeakyRelu: unaryMs('LeakyReluGrad', true, ['alpha']),
  Sigmoid: unaryMs('SigmoidGrad', true),
  Tanh: unaryMs('TanhGrad', true),
  Gelu: unaryMs('GeluGrad', false),
  Softmax: unaryMs('SoftmaxGrad_13', true, ['axis']),
  LogSoftmax: unaryMs('LogSoftmaxGrad_13', true, ['axis']),
  Neg: { emit: (ctx) => ctx.give(0, ctx.em.op('Neg', [ctx.dY(0)!], `${ctx.base}.dx`)) },
  Exp: { emit: (ctx) => ctx.give(0, ctx.em.op('Mul', [ctx.dY(0)!, O(ctx, 0)], `${ctx.base}.dx`)) },
  Log: { emit: (ctx) => ctx.give(0, ctx.em.op('Div', [ctx.dY(0)!, I(ctx, 0)], `${ctx.base}.dx`)) },
  Sqrt: {
    emit(ctx) {
      const half = ctx.em.op('Mul', [ctx.dY(0)!, ctx.em.constF(`${ctx.base}.half`, [], [0.5])], `${ctx.base}.half_dy`);
      ctx.give(0, ctx.em.op('Div', [half, O(ctx, 0)], `${ctx.base}.dx`));
    },
  },
  Clip: {
    nonDiff: [1, 2],
    emit(ctx) {
      // No ClipGrad kernel: dX = dY where min < X < max (ORT's own rule masks the same way).
      const x = I(ctx, 0);
      const em = ctx.em;
      let mask: string | null = null;
      if (ctx.node.input![1]) mask = em.op('Greater', [x, ctx.node.input![1]], `${ctx.base}.above_min`);
      if (ctx.node.input![2]) {
        const below = em.op('Less', [x, ctx.node.input![2]], `${ctx.base}.below_max`);
        mask = mask ? em.op('And', [mask, below], `${ctx.base}.inside`) : below;
      }
      if (!mask) { ctx.give(0, ctx.dY(0)!); return; }
      const m = em.op('Cast', [mask], `${ctx.base}.mask`, { to: 1 });
      ctx.give(0, em.op('Mul', [ctx.dY(0)!, m], `${ctx.base}.dx`, {}, '', ctx.shape(x)));
    },
  },
  Erf: {
    emit(ctx) {
      // d erf(x)/dx = 2/√π · exp(−x²) (standard ops: no ErfGrad kernel is needed, nothing to lower).
      const em = ctx.em;
      const x = I(ctx, 0);
      const e = em.op('Exp', [em.op('Neg', [em.op('Mul', [x, x], `${ctx.base}.x2`)], `${ctx.base}.neg_x2`)], `${ctx.base}.exp`);
      const d = em.op('Mul', [e, em.constF(`${ctx.base}.two_over_sqrt_pi`, [], [2 / Math.sqrt(Math.PI)])], `${ctx.base}.derf`);
      ctx.give(0, em.op('Mul', [ctx.dY(0)!, d], `${ctx.base}.dx`, {}, '', ctx.shape(x)));
    },
  },
  HardSigmoid: {
    emit(ctx) {
      // y = clamp(αx + β, 0, 1): dX = dY · α where 0 < αx + β < 1, else 0.
      const em = ctx.em;
      const x = I(ctx, 0);
      const alpha = attrFloat(ctx.node, 'alpha', 0.2);
      const beta = attrFloat(ctx.node, 'beta', 0.5);
      const t = em.op('Add', [em.op('Mul', [x, em.constF(`${ctx.base}.alpha`, [], [alpha])], `${ctx.base}.ax`), em.constF(`${ctx.base}.beta`, [], [beta])], `${ctx.base}.t`);
      const inside = em.op('And', [em.op('Greater', [t, em.constF(`${ctx.base}.zero`, [], [0])], `${ctx.base}.above`),
        em.op('Less', [t, em.constF(`${ctx.base}.one`, [], [1])], `${ctx.base}.below`)], `${ctx.base}.inside`);
      const m = em.op('Mul', [em.op('Cast', [inside], `${ctx.base}.mask`, { to: 1 }), em.constF(`${ctx.base}.alpha_d`, [], [alpha])], `${ctx.base}.dydx`);
      ctx.give(0, em.op('Mul', [ctx.dY(0)!, m], `${ctx.base}.dx`, {}, '', ctx.shape(x)));
    },
  },
  HardSwish: {
    emit(ctx) {
      // y = x · clamp(x/6 + 1/2, 0, 1): dy/dx = 0 below −3, x/3 + 1/2 on (−3, 3), 1 from 3 (ONNX: α = 1/6, β = 1/2).
      const em = ctx.em;
      const x = I(ctx, 0);
      const c = (tag: string, v: number) => em.constF(`${ctx.base}.${tag}`, [], [v]);
      const inside = em.op('And', [em.op('Greater', [x, c('minus3', -3)], `${ctx.base}.above`), em.op('Less', [x, c('plus3', 3)], `${ctx.base}.below`)],
        `${ctx.base}.inside`);
      const slope = em.op('Add', [em.op('Mul', [x, c('third', 1 / 3)], `${ctx.base}.x_third`), c('half', 0.5)], `${ctx.base}.slope`);
      const mid = em.op('Mul', [slope, em.op('Cast', [inside], `${ctx.base}.inside_f`, { to: 1 })], `${ctx.base}.mid`);
      const high = em.op('Cast', [em.op('Not', [em.op('Less', [x, c('plus3_b', 3)], `${ctx.base}.lt3`)], `${ctx.base}.ge3`)], `${ctx.base}.high`, { to: 1 });
      const d = em.op('Add', [mid, high], `${ctx.base}.dydx`);
      ctx.give(0, em.op('Mul', [ctx.dY(0)!, d], `${ctx.base}.dx`, {}, '', ctx.shape(x)));
    },
  },
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Pow: binary('Pow'),
  Expand: {
    nonDiff: [1],
    emit: (ctx) => ctx.give(0, reduceTo(ctx, ctx.dY(0)!, ctx.shape(O(ctx, 0)), ctx.shape(I(ctx, 0)), 'dx')),
  },
  MatMul: {
    emit(ctx) {
      const [a, b] = [I(ctx, 0), I(ctx, 1)];
      const [as, bs, ys] = [ctx.shape(a), ctx.shape(b), ctx.shape(O(ctx, 0))];
      const em = ctx.em;
      if (ctx.needs(0)) {
        const bt = em.op('Transpose', [b], `${ctx.base}.b_t`, { perm: lastTwo(bs.length) });
        const full = em.op('MatMul', [ctx.dY(0)!, bt], `${ctx.base}.d0_full`);
        ctx.give(0, reduceTo(ctx, full, [...ys.slice(0, -2), as[as.length - 2], as[as.length - 1]], as, 'd0'));
      }
      if (ctx.needs(1)) {
        const at = em.op('Transpose', [a], `${ctx.base}.a_t`, { perm: lastTwo(as.length) });
        const full = em.op('MatMul', [at, ctx.dY(0)!], `${ctx.base}.d1_full`);
        ctx.give(1, reduceTo(ctx, full, [...ys.slice(0, -2), bs[bs.length - 2], bs[bs.length - 1]], bs, 'd1'));
      }
    },
  },
  Gemm: {
    emit(ctx) {
      const [a, b] = [I(ctx, 0), I(ctx, 1)];
      const dy = ctx.dY(0)!;
      const tA = attrInt(ctx.node, 'transA', 0) === 1;
      const tB = attrInt(ctx.node, 'transB', 0) === 1;
      const alpha = attrFloat(ctx.node, 'alpha', 1);
      const beta = attrFloat(ctx.node, 'beta', 1);
      const g = (x: string, y: string, ta: boolean, tb: boolean, tag: string, shape: number[]) => ctx.em.op('Gemm', [x, y], `${ctx.base}.${tag}`,
        { transA: ta ? 1 : 0, transB: tb ? 1 : 0, alpha: { float: alpha }, beta: { float: 0 } }, '', shape);
      if (ctx.needs(0)) {
        const s = ctx.shape(a);
        ctx.give(0, !tA ? g(dy, b, false, !tB, 'da', s) : g(b, dy, tB, true, 'da', s));
      }
      if (ctx.needs(1)) {
        const s = ctx.shape(b);
        ctx.give(1, !tB ? g(a, dy, !tA, false, 'db', s) : g(dy, a, true, tA, 'db', s));
      }
      if (ctx.node.input![2] && ctx.needs(2)) {
        let dc = reduceTo(ctx, dy, ctx.shape(O(ctx, 0)), ctx.shape(I(ctx, 2)), 'dc');
        if (beta !== 1) dc = ctx.em.op('Mul', [dc, ctx.em.constF(`${ctx.base}.beta`, [], [beta])], `${ctx.base}.dc_scaled`);
        ctx.give(2, dc);
      }
    },
  },
  Conv: {
    emit(ctx) {
      const outs = ctx.node.input!.map((name, i) => (ctx.needs(i) ? ctx.em.fresh(`${ctx.base}.d${i}`) : ''));
      ctx.em.node('ConvGrad', [ctx.dY(0)!, I(ctx, 0), I(ctx, 1)], outs,
        copyAttrs(ctx.node, ['kernel_shape', 'strides', 'pads', 'dilations', 'group', 'auto_pad']), MS);
      outs.forEach((o, i) => {
        if (!o) return;
        ctx.em.shape(o, ctx.shape(I(ctx, i)));
        ctx.give(i, o);
      });
    },
  },
  MaxPool: {
    emit(ctx) {
      // Forward rewritten to also output Indices (output 1); the kernel needs a fully static dX shape.
      const dx = ctx.em.op('MaxPoolGrad', [ctx.dY(0)!, O(ctx, 1)], `${ctx.base}.dx`,
        copyAttrs(ctx.node, ['kernel_shape', 'strides', 'pads', 'auto_pad', 'ceil_mode', 'dilations', 'storage_order']), '', ctx.shape(I(ctx, 0)));
      ctx.give(0, dx);
    },
  },
  AveragePool: {
    emit(ctx) {
      const dx = ctx.em.op('AveragePoolGrad', [ctx.dY(0)!], `${ctx.base}.dx`,
        copyAttrs(ctx.node, ['kernel_shape', 'strides', 'pads', 'auto_pad', 'ceil_mode', 'count_include_pad']), '', ctx.shape(I(ctx, 0)));
      ctx.give(0, dx);
    },
  },
  GlobalAveragePool: {
    emit(ctx) {
      // GlobalAveragePoolGrad is not in the wasm build: dX = Expand(dY / (H·W), shape(X)).
      const xs = ctx.shape(I(ctx, 0));
      const hw = xs.slice(2).reduce((p, d) => p * d, 1);
      const scaled = ctx.em.op('Mul', [ctx.dY(0)!, ctx.em.constF(`${ctx.base}.inv_hw`, [], [1 / hw])], `${ctx.base}.dy_scaled`);
      ctx.give(0, ctx.em.op('Expand', [scaled, ctx.em.constI64(`${ctx.base}.x_shape`, xs)], `${ctx.base}.dx`, {}, '', xs));
    },
  },
  BatchNormInternal: {
    nonDiff: [3, 4],
    emit(ctx) {
      const outs = [0, 1, 2].map((i) => ctx.em.fresh(`${ctx.base}.d${i}`));
      ctx.em.node('BatchNormalizationGrad', [ctx.dY(0)!, I(ctx, 0), I(ctx, 1), O(ctx, 3), O(ctx, 4)], outs,
        { epsilon: { float: attrFloat(ctx.node, 'epsilon', 1e-5) } }, MS);
      outs.forEach((o, i) => {
        ctx.em.shape(o, ctx.shape(I(ctx, i)));
        if (ctx.needs(i)) ctx.give(i, o);
      });
    },
  },
  BatchNormalization: {
    // Inference mode (frozen statistics): an affine map per channel, differentiated with standard ops.
    nonDiff: [3, 4],
    emit(ctx) {
      const em = ctx.em;
      const [x, scale, , mean, variance] = ctx.node.input!;
      const xs = ctx.shape(x);
      const c = xs[1];
      const bshape = [c, ...xs.slice(2).map(() => 1)];
      const eps = attrFloat(ctx.node, 'epsilon', 1e-5);
      const cshape = em.constI64(`${ctx.base}.c_shape`, bshape);
      const inv = em.op('Reciprocal', [em.op('Sqrt', [em.op('Add', [variance, em.constF(`${ctx.base}.eps`, [], [eps])], `${ctx.base}.var_eps`)], `${ctx.base}.std`)], `${ctx.base}.inv_std`);
      const invB = em.op('Reshape', [inv, cshape], `${ctx.base}.inv_std_b`);
      const dy = ctx.dY(0)!;
      const axes = em.constI64(`${ctx.base}.axes`, [0, ...xs.slice(2).map((_, k) => k + 2)]);
      if (ctx.needs(0)) {
        const sB = em.op('Reshape', [em.op('Mul', [scale, inv], `${ctx.base}.s_inv`), cshape], `${ctx.base}.s_inv_b`);
        ctx.give(0, em.op('Mul', [dy, sB], `${ctx.base}.dx`, {}, '', xs));
      }
      if (ctx.needs(1)) {
        const xhat = em.op('Mul', [em.op('Sub', [x, em.op('Reshape', [mean, cshape], `${ctx.base}.mean_b`)], `${ctx.base}.centered`), invB], `${ctx.base}.xhat`);
        ctx.give(1, em.op('ReduceSum', [em.op('Mul', [dy, xhat], `${ctx.base}.dy_xhat`), axes], `${ctx.base}.dscale`, { keepdims: 0 }, '', [c]));
      }
      if (ctx.needs(2)) ctx.give(2, em.op('ReduceSum', [dy, axes], `${ctx.base}.dbias`, { keepdims: 0 }, '', [c]));
    },
  },
  LayerNormalization: {
    emit(ctx) {
      // Forward rewritten to output Mean (1) and InvStdDev (2).
      const outs = [0, 1, 2].map((i) => ctx.em.fresh(`${ctx.base}.d${i}`));
      ctx.em.node('LayerNormalizationGrad', [ctx.dY(0)!, I(ctx, 0), I(ctx, 1), O(ctx, 1), O(ctx, 2)], outs,
        copyAttrs(ctx.node, ['axis', 'epsilon']), MS);
      outs.forEach((o, i) => {
        if (!ctx.node.input![i]) return;
        ctx.em.shape(o, ctx.shape(I(ctx, i)));
        if (ctx.needs(i)) ctx.give(i, o);
      });
    },
  },
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: {
    emit(ctx) {
      const rank = ctx.shape(I(ctx, 0)).length;
      const perm = attrInts(ctx.node, 'perm') ?? Array.from({ length: rank }, (_, k) => rank - 1 - k);
      const inv: number[] = [];
      perm.forEach((p, k) => { inv[p] = k; });
      ctx.give(0, ctx.em.op('Transpose', [ctx.dY(0)!], `${ctx.base}.dx`, { perm: inv }, '', ctx.shape(I(ctx, 0))));
    },
  },
  Concat: {
    emit(ctx) {
      const shapes = ctx.node.input!.map((n) => ctx.shape(n));
      const rank = shapes[0].length;
      let axis = attrInt(ctx.node, 'axis', 0);
      if (axis < 0) axis += rank;
      const outs = shapes.map((_, i) => ctx.em.fresh(`${ctx.base}.d${i}`));
      ctx.em.node('Split', [ctx.dY(0)!, ctx.em.constI64(`${ctx.base}.split`, shapes.map((s) => s[axis]))], outs, { axis });
      outs.forEach((o, i) => {
        ctx.em.shape(o, shapes[i]);
        if (ctx.needs(i)) ctx.give(i, o);
      });
    },
  },
  Slice: {
    nonDiff: [1, 2, 3, 4],
    emit(ctx) {
      const xs = ctx.shape(I(ctx, 0));
      const ins = [ctx.dY(0)!, ctx.em.constI64(`${ctx.base}.x_shape`, xs), ...ctx.node.input!.slice(1)];
      ctx.give(0, ctx.em.op('SliceGrad', ins, `${ctx.base}.dx`, {}, MS, xs));
    },
  },
  Gather: {
    nonDiff: [1],
    emit(ctx) {
      const xs = ctx.shape(I(ctx, 0));
      ctx.give(0, ctx.em.op('GatherGrad', [ctx.em.constI64(`${ctx.base}.x_shape`, xs), I(ctx, 1), ctx.dY(0)!], `${ctx.base}.dx`,
        copyAttrs(ctx.node, ['axis']), MS, xs));
    },
  },
  ReduceSum: reduceRule(false),
  ReduceMean: reduceRule(true),
  SoftmaxCrossEntropyLoss: {
    nonDiff: [1, 2],
    emit(ctx) {
      if (ctx.node.input![2] && ctx.needs(2)) {
        throw new KqkdError(`SoftmaxCrossEntropyLoss node "${ctx.node.name}" input weights`, 'constant class weights', 'weights that need a gradient');
      }
      const ins = [ctx.dY(0)!, O(ctx, 1), I(ctx, 1)];
      if (ctx.node.input![2]) ins.push(I(ctx, 2));
      ctx.give(0, ctx.em.op('SoftmaxCrossEntropyLossGrad', ins, `${ctx.base}.dx`, copyAttrs(ctx.node, ['reduction', 'ignore_index']), MS,
        ctx.shape(I(ctx, 0))));
    },
  },
  Cast: {
    emit(ctx) {
      if (attrInt(ctx.node, 'to', 1) !== 1) {
        throw new KqkdError(`Cast node "${ctx.node.name}"`, 'a cast to float on a differentiable path', `a cast to type ${attrInt(ctx.node, 'to', 1)}`);
      }
      ctx.give(0, ctx.dY(0)!);
    },
  },
};

/** Ops that have no gradient at all (their outputs are integer, boolean or piecewise constant). */
export const NON_DIFFERENTIABLE = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'Equal', 'Greater', 'Less', 'Not', 'And', 'Or',
  'Floor', 'Ceil', 'Round', 'Sign', 'NonZero', 'TopK', 'ConstantOfShape', 'Range', 'OneHot']);

export function ruleFor(node: NodeProto): GradRule | undefined {
  return RULES[node.opType ?? ''];
}

export { attrString };
