/**
 * Tensor types of a graph: declared ones (inputs, outputs, value_info) first, then a small forward shape inference
 * for the operators CNN and transformer classifiers are made of. Unknown stays unknown (null), never guessed.
 * New operators are added as one entry in `RULES`.
 */
import {
  DataType, attrInt, attrInts, attrString, tensorValues, toInt,
  type GraphProto, type NodeProto, type ValueInfoProto,
} from './proto.js';

/** A dimension: a size, a symbolic name (e.g. "N" for the batch) or null when unknown. */
export type Dim = number | string | null;
export type Shape = Dim[];

export interface TensorType {
  /** ONNX TensorProto.DataType code (1 = float). */
  elemType: number;
  /** Null when the rank is unknown. */
  shape: Shape | null;
}

export function valueInfoType(vi: ValueInfoProto): TensorType | null {
  const tt = vi.type?.tensorType;
  if (!tt) return null;
  const elemType = tt.elemType ?? DataType.FLOAT;
  if (!tt.shape) return { elemType, shape: null };
  const shape = (tt.shape.dim ?? []).map((d): Dim => {
    // Decoded messages expose the oneof case as `value`; plain objects only have the field that was set.
    const which = (d as { value?: string }).value;
    if (which === 'dimParam' || (which === undefined && d.dimParam)) return d.dimParam ?? null;
    if (which === 'dimValue' || (which === undefined && d.dimValue !== null && d.dimValue !== undefined)) return toInt(d.dimValue);
    return null;
  });
  return { elemType, shape };
}

export function makeValueInfo(name: string, type: TensorType): ValueInfoProto {
  const tensorType: Record<string, unknown> = { elemType: type.elemType };
  if (type.shape) {
    tensorType.shape = {
      dim: type.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
    };
  }
  return { name, type: { tensorType } };
}

export function formatShape(shape: Shape | null): string {
  return shape ? `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : 'unknown';
}

interface RuleContext {
  node: NodeProto;
  inputs: (TensorType | null)[];
  /** Constant values of input i (initializer or Constant node), when small and decodable. */
  constant(i: number): number[] | null;
}
type Rule = (ctx: RuleContext) => (TensorType | null)[];

const same: Rule = ({ inputs }) => [inputs[0] ?? null];

function broadcast(shapes: Shape[]): Shape | null {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let k = 0; k < rank; k++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + k] ?? 1;
      if (d === 1) continue;
      if (dim === 1) dim = d;
      else if (dim !== d) dim = typeof dim === 'number' && typeof d === 'number' ? NaN : null;
    }
    if (Number.isNaN(dim)) return null;
    out.push(dim);
  }
  return out;
}

const elementwise: Rule = ({ inputs }) => {
  const first = inputs.find((t) => t) ?? null;
  if (!first) return [null];
  if (inputs.some((t) => !t || !t.shape)) return [{ elemType: first.elemType, shape: null }];
  return [{ elemType: first.elemType, shape: broadcast(inputs.map((t) => t!.shape!)) }];
};

function mul(a: Dim, b: Dim): Dim {
  return typeof a === 'number' && typeof b === 'number' ? a * b : a === 1 ? b : b === 1 ? a : null;
}

function pooledSize(size: Dim, kernel: number, stride: number, padBegin: number, padEnd: number, dilation: number,
  ceil: boolean): Dim {
  if (typeof size !== 'number') return null;
  const span = dilation * (kernel - 1) + 1;
  const q = (size + padBegin + padEnd - span) / stride;
  return (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
}

function spatialRule(channelsOf: (ctx: RuleContext) => Dim, kernelOf: (ctx: RuleContext) => number[] | undefined): Rule {
  return (ctx) => {
    const x = ctx.inputs[0];
    if (!x?.shape) return [x ? { elemType: x.elemType, shape: null } : null];
    const spatial = x.shape.length - 2;
    const kernel = kernelOf(ctx);
    if (!kernel || kernel.length !== spatial) return [{ elemType: x.elemType, shape: null }];
    const strides = attrInts(ctx.node, 'strides') ?? kernel.map(() => 1);
    const dil = attrInts(ctx.node, 'dilations') ?? kernel.map(() => 1);
    const pads = attrInts(ctx.node, 'pads') ?? kernel.map(() => 0).concat(kernel.map(() => 0));
    const autoPad = attrString(ctx.node, 'auto_pad') ?? 'NOTSET';
    const ceil = attrInt(ctx.node, 'ceil_mode', 0) === 1;
    const out: Shape = [x.shape[0], channelsOf(ctx)];
    for (let k = 0; k < spatial; k++) {
      const size = x.shape[k + 2];
      if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
        out.push(typeof size === 'number' ? Math.ceil(size / strides[k]) : null);
      } else if (autoPad === 'VALID') {
        out.push(pooledSize(size, kernel[k], strides[k], 0, 0, dil[k], false));
      } else {
        out.push(pooledSize(size, kernel[k], strides[k], pads[k], pads[k + spatial], dil[k], ceil));
      }
    }
    return [{ elemType: x.elemType, shape: out }];
  };
}

const conv = spatialRule(
  (ctx) => ctx.inputs[1]?.shape?.[0] ?? null,
  (ctx) => attrInts(ctx.node, 'kernel_shape')
    ?? ctx.inputs[1]?.shape?.slice(2).map((d) => (typeof d === 'number' ? d : NaN)).filter((d) => !Number.isNaN(d)),
);
const pool = spatialRule((ctx) => ctx.inputs[0]?.shape?.[1] ?? null, (ctx) => attrInts(ctx.node, 'kernel_shape'));

const globalPool: Rule = ({ inputs }) => {
  const x = inputs[0];
  if (!x?.shape) return [x ?? null];
  return [{ elemType: x.elemType, shape: [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)] }];
};

const flatten: Rule = ({ node, inputs }) => {
  const x = inputs[0];
  if (!x?.shape) return [x ? { elemType: x.elemType, shape: null } : null];
  let axis = attrInt(node, 'axis', 1);
  if (axis < 0) axis += x.shape.length;
  const outer = x.shape.slice(0, axis).reduce<Dim>(mul, 1);
  const inner = x.shape.slice(axis).reduce<Dim>(mul, 1);
  return [{ elemType: x.elemType, shape: [outer, inner] }];
};

const gemm: Rule = ({ node, inputs }) => {
  const [a, b] = inputs;
  if (!a?.shape || !b?.shape || a.shape.length !== 2 || b.shape.length !== 2) return [a ? { elemType: a.elemType, shape: null } : null];
  const m = attrInt(node, 'transA', 0) ? a.shape[1] : a.shape[0];
  const n = attrInt(node, 'transB', 0) ? b.shape[0] : b.shape[1];
  return [{ elemType: a.elemType, shape: [m, n] }];
};

const matmul: Rule = ({ inputs }) => {
  const [a, b] = inputs;
  if (!a?.shape || !b?.shape || a.shape.length === 0 || b.shape.length === 0) return [a ? { elemType: a.elemType, shape: null } : null];
  const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const batch = broadcast([as.slice(0, -2), bs.slice(0, -2)]);
  if (!batch) return [{ elemType: a.elemType, shape: null }];
  const out: Shape = [...batch];
  if (a.shape.length > 1) out.push(as[as.length - 2]);
  if (b.shape.length > 1) out.push(bs[bs.length - 1]);
  return [{ elemType: a.elemType, shape: out }];
};

const reshape: Rule = ({ inputs, constant }) => {
  const x = inputs[0];
  const target = constant(1);
  if (!x || !target) return [x ? { elemType: x.elemType, shape: null } : null];
  const out: Shape = target.map((d, i) => (d === 0 ? (x.shape?.[i] ?? null) : d === -1 ? -1 : d));
  const minus = out.indexOf(-1);
  if (minus >= 0) {
    const total = x.shape?.reduce<Dim>(mul, 1) ?? null;
    const known = out.reduce<Dim>((p, d, i) => (i === minus ? p : mul(p, d)), 1);
    if (typeof total === 'number' && typeof known === 'number' && known > 0) out[minus] = total / known;
    else if (x.shape && typeof known === 'number' && known > 0 && typeof x.shape[0] === 'string'
      && minus === 0 && x.shape.slice(1).reduce<Dim>(mul, 1) === known) out[minus] = x.shape[0];
    else out[minus] = null;
  }
  return [{ elemType: x.elemType, shape: out }];
};

const transpose: Rule = ({ node, inputs }) => {
  const x = inputs[0];
  if (!x?.shape) return [x ?? null];
  const perm = attrInts(node, 'perm') ?? x.shape.map((_, i) => x.shape!.length - 1 - i);
  return [{ elemType: x.elemType, shape: perm.map((p) => x.shape![p] ?? null) }];
};

const reduce: Rule = ({ node, inputs, constant }) => {
  const x = inputs[0];
  if (!x?.shape) return [x ?? null];
  const rank = x.shape.length;
  const axesRaw = attrInts(node, 'axes') ?? (node.input && node.input.length > 1 && node.input[1] ? constant(1) : null);
  const axes = (axesRaw ?? x.shape.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a));
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const out: Shape = [];
  x.shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return [{ elemType: x.elemType, shape: out }];
};

const cast: Rule = ({ node, inputs }) => [inputs[0] ? { elemType: attrInt(node, 'to', DataType.FLOAT), shape: inputs[0].shape } : null];

const RULES: Record<string, Rule> = {
  Relu: same, Clip: same, LeakyRelu: same, Sigmoid: same, Tanh: same, Identity: same, Dropout: same,
  BatchNormalization: same, Softmax: same, LogSoftmax: same, Erf: same, Sqrt: same, Neg: same, Abs: same, Exp: same,
  Log: same, Gelu: same, HardSigmoid: same, HardSwish: same, Elu: same, Selu: same, PRelu: same,
  LayerNormalization: same, InstanceNormalization: same,
  Add: elementwise, Sub: elementwise, Mul: elementwise, Div: elementwise, Pow: elementwise, Max: elementwise,
  Min: elementwise,
  Conv: conv, MaxPool: pool, AveragePool: pool, GlobalAveragePool: globalPool, GlobalMaxPool: globalPool,
  Flatten: flatten, Gemm: gemm, MatMul: matmul, Reshape: reshape, Transpose: transpose,
  ReduceMean: reduce, ReduceSum: reduce, ReduceMax: reduce, Cast: cast,
};

/** Output types of one node from its input types; null entries where no rule applies. */
export function inferNodeTypes(node: NodeProto, inputs: (TensorType | null)[], constant: (i: number) => number[] | null): (TensorType | null)[] {
  const rule = RULES[node.opType ?? ''];
  if (!rule) return (node.output ?? []).map(() => null);
  return rule({ node, inputs, constant });
}

/**
 * Every tensor's type in `graph`: declared types win; the rest come from forward inference in node order
 * (`nodes`, already topologically sorted).
 */
export function graphTensorTypes(graph: GraphProto, nodes: NodeProto[] = graph.node ?? []): Map<string, TensorType> {
  const types = new Map<string, TensorType>();
  const constants = new Map<string, number[] | null>();
  for (const t of graph.initializer ?? []) {
    if (!t.name) continue;
    types.set(t.name, { elemType: t.dataType ?? DataType.FLOAT, shape: (t.dims ?? []).map((d) => toInt(d)) });
    const size = (t.dims ?? []).reduce<number>((p, d) => p * toInt(d), 1);
    if (size <= 64) constants.set(t.name, tensorValues(t));
  }
  for (const vi of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
    const t = vi.name ? valueInfoType(vi) : null;
    if (t && vi.name) types.set(vi.name, t);
  }
  for (const node of nodes) {
    if (node.opType === 'Constant') {
      const value = (node.attribute ?? []).find((a) => a.name === 'value')?.t;
      if (value && node.output?.[0]) {
        constants.set(node.output[0], tensorValues(value));
        if (!types.has(node.output[0])) {
          types.set(node.output[0], { elemType: value.dataType ?? DataType.FLOAT, shape: (value.dims ?? []).map((d) => toInt(d)) });
        }
      }
      continue;
    }
    const ins = node.input ?? [];
    const inferred = inferNodeTypes(node, ins.map((n) => (n ? types.get(n) ?? null : null)),
      (i) => (ins[i] ? constants.get(ins[i]) ?? null : null));
    (node.output ?? []).forEach((name, i) => {
      if (name && !types.has(name) && inferred[i]) types.set(name, inferred[i]!);
    });
  }
  return types;
}

