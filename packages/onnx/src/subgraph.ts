/**
 * Importing a piece of another ONNX model into a graph being built: the nodes of `model` that compute tensor `to`
 * from tensor `from` (backward reachability from `to`, stopping at `from`), with `from` replaced by a tensor of the
 * builder. Used to reuse a trained teacher's classifier head (ResNet: GlobalAveragePool → Flatten → Gemm; ViT: final
 * LayerNorm → ReduceMean → Gemm) on the student's features (SimKD).
 *
 * Names: every float initializer the piece uses becomes a builder parameter `<prefix>.<original>` (frozen unless
 * `trainable`; BatchNormalization running statistics are recorded as statistics), int64 initializers and Constant
 * nodes become constants `<prefix>.<original>`, and every intermediate tensor is `<prefix>.<original tensor>`. The
 * builder names a node after its output, so an imported node is named `<prefix>.<its output tensor>` (the original
 * node name is not kept). The result is the tensor `<prefix>.<to>`.
 *
 * Nodes go through the builder's public API: the named helpers where one expresses the node exactly (so shapes are
 * checked as the model is written and the op is one @kqkd/autodiff differentiates), `op()` with the node's attributes
 * for the remaining operators the generic shape rules follow. Anything else is a clear error naming the node.
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from './builder.js';
import { topologicalNodes, tensorTypes } from './io.js';
import {
  AttributeType, DataType, attrFloat, attrInt, attrInts, attrString, getAttribute, tensorValues, toInt,
  type AttributeProto, type ModelProto, type NodeProto, type TensorProto,
} from './proto.js';
import { formatShape, type Shape } from './shapes.js';

export interface ImportSubgraphOptions {
  /** The tensor of `model` that `input` stands for (a graph input or any intermediate tensor). */
  from: string;
  /** The tensor of `model` to compute. */
  to: string;
  /** The builder's tensor fed where `model` has `from`. */
  input: Tensor;
  /** Prefix of every imported name (`<prefix>.<original>`). */
  prefix: string;
  /** Whether the imported parameters train. Default false (frozen). */
  trainable?: boolean;
}

type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** Operators copied through `op()` with their attributes (the builder's generic shape rules cover them). */
const GENERIC = new Set([
  'Conv', 'MaxPool', 'AveragePool', 'GlobalMaxPool', 'BatchNormalization', 'InstanceNormalization', 'Erf', 'Abs',
  'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'PRelu', 'Max', 'Min',
]);

interface LongLike { toNumber(): number }

/** A node attribute as the builder's `op()` takes it (INT, INTS, FLOAT, FLOATS, STRING). */
function attrValue(node: NodeProto, a: AttributeProto): AttrValue {
  const type = a.type ?? 0;
  if (type === AttributeType.INT) return toInt(a.i as number | LongLike | null);
  if (type === AttributeType.INTS) return (a.ints ?? []).map((v) => toInt(v as number | LongLike));
  if (type === AttributeType.FLOAT) return { float: a.f ?? 0 };
  if (type === AttributeType.FLOATS) return { floats: (a.floats ?? []).slice() };
  if (type === AttributeType.STRING) return Buffer.from(a.s ?? new Uint8Array()).toString('utf8');
  throw new KqkdError(`importSubgraph node "${node.name ?? node.output?.[0]}" (${node.opType}) attribute "${a.name}"`,
    'an INT, INTS, FLOAT, FLOATS or STRING attribute', `attribute type ${type}`);
}

function copyAttributes(node: NodeProto, drop: string[] = []): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const a of node.attribute ?? []) if (a.name && !drop.includes(a.name)) out[a.name] = attrValue(node, a);
  return out;
}

/** Float values of an initializer (raw little-endian bytes or float_data). */
function floatData(t: TensorProto): Float32Array {
  const n = (t.dims ?? []).reduce<number>((p, d) => p * toInt(d as number | LongLike), 1);
  if (t.rawData && t.rawData.byteLength > 0) {
    if (t.rawData.byteLength !== 4 * n) throw new KqkdError(`initializer "${t.name}"`, `${4 * n} bytes of float data`, `${t.rawData.byteLength} bytes`);
    const copy = new Uint8Array(t.rawData); // aligned copy: decoded raw views may be unaligned slices
    return new Float32Array(copy.buffer, copy.byteOffset, n);
  }
  const data = Float32Array.from(t.floatData ?? []);
  if (data.length !== n) throw new KqkdError(`initializer "${t.name}"`, `${n} floats`, `${data.length} (external data is not supported)`);
  return data;
}

function modelOpset(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? toInt(entry.version as number | LongLike | null, 1) : 1;
}

/**
 * Copies into `b` the nodes of `model` that compute `to` from `from`, with `from` replaced by `input`; returns the
 * imported `to`. Throws, naming the tensor, when `to` needs a graph input other than `from` or a tensor no node
 * produces, and, naming the node, for an operator it cannot import.
 */
export function importSubgraph(b: GraphBuilder, model: ModelProto, options: ImportSubgraphOptions): Tensor {
  checkSubgraphOptions(b, model, options);
  const { from, to, input, prefix } = options;
  const m = indexModel(model);
  checkEnds(m, from, to);
  const { needed, seen } = neededNodes(m, from, to);
  // `input` must have the rank of `from`. Sizes may differ (a head after global pooling takes any spatial size);
  // the builder's shape checks name the first node they do not fit.
  const fromShape = tensorTypes(model).get(from)?.shape;
  if (fromShape && fromShape.length !== input.shape.length) {
    throw new KqkdError(`importSubgraph input "${input.name}"`, `the rank of "${from}" in the model ${formatShape(fromShape)}`, formatShape(input.shape));
  }

  // ---- emit, in topological order
  const statistics = new Set<string>();
  for (const n of needed) if (n.opType === 'BatchNormalization') for (const i of [3, 4]) if (n.input?.[i]) statistics.add(n.input[i]);
  const env = new Map<string, Tensor>([[from, input]]);
  const rename = (name: string) => `${prefix}.${name}`;
  const constantValues = constantValuesOf(m);
  const resolve = resolverOf(b, m, { env, rename, constantValues, statistics, trainable: options.trainable ?? false });
  const opset = modelOpset(model);
  for (const node of m.nodes) {
    if (!needed.has(node)) continue;
    const outs = node.output ?? [];
    const used = outs.map((o, i) => (i > 0 && o && seen.has(o) ? o : '')).filter(Boolean);
    if (used.length > 0) {
      throw new KqkdError(`importSubgraph node "${node.name || outs[0]}" (${node.opType})`, 'a node whose only used output is its first', `also used: ${used.join(', ')}`);
    }
    env.set(outs[0], importNode(b, node, { opset, rename, resolve, constantValues }));
  }
  return env.get(to)!;
}

/** Refuses a model without a graph, a prefix that is not a name, from/to that are not names, and an input that is not float. */
function checkSubgraphOptions(b: GraphBuilder, model: ModelProto, options: ImportSubgraphOptions): void {
  const graph = model?.graph;
  if (!graph) invalidArgument('importSubgraph model', 'an ONNX ModelProto with a graph', model);
  const { from, to, input, prefix } = options;
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.includes(' ')) invalidArgument('importSubgraph prefix', 'a non-empty name without spaces', prefix);
  if (typeof from !== 'string' || typeof to !== 'string') invalidArgument('importSubgraph from/to', 'tensor names', `${from}/${to}`);
  const elemType = input?.elemType ?? b.typeOf(input).elemType;
  if (elemType !== DataType.FLOAT) invalidArgument(`importSubgraph input "${input?.name}"`, 'a float tensor', `element type ${elemType}`);
}

/** The model's nodes in topological order, each tensor's producer, its initializers and its true graph inputs. */
interface ModelIndex {
  nodes: NodeProto[];
  producer: Map<string, NodeProto>;
  inits: Map<string, TensorProto>;
  graphInputs: Set<string>;
}

function indexModel(model: ModelProto): ModelIndex {
  const graph = model.graph!;
  const nodes = topologicalNodes(model);
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) if (o) producer.set(o, n);
  const inits = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) inits.set(t.name, t);
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name).filter((n): n is string => !!n && !inits.has(n)));
  return { nodes, producer, inits, graphInputs };
}

const isConstantNode = (n: NodeProto | undefined) => n?.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx');

/** `from` must be a tensor of the model, `to` one a (non-Constant) node computes, and the two different. */
function checkEnds(m: ModelIndex, from: string, to: string): void {
  if (!m.producer.has(from) && !m.graphInputs.has(from)) {
    throw new KqkdError('importSubgraph from', 'a tensor of the model (a graph input or a node output)', `"${from}"`);
  }
  if (!m.producer.has(to) || isConstantNode(m.producer.get(to))) {
    throw new KqkdError('importSubgraph to', 'a tensor some node of the model computes', `"${to}"`);
  }
  if (to === from) invalidArgument('importSubgraph to', `a tensor computed from "${from}" (not "${from}" itself)`, to);
}

/**
 * Backward reachability from `to`, stopping at `from`: the nodes to import and the tensors seen. Throws when `to`
 * depends on another graph input, on a tensor nothing produces, or not on `from`.
 */
function neededNodes(m: ModelIndex, from: string, to: string): { needed: Set<NodeProto>; seen: Set<string> } {
  const needed = new Set<NodeProto>();
  const seen = new Set<string>();
  const stack = [to];
  let usesFrom = false;
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    if (name === from) { usesFrom = true; continue; }
    if (m.inits.has(name)) continue;
    const p = m.producer.get(name);
    if (p && !isConstantNode(p)) {
      if (!needed.has(p)) {
        needed.add(p);
        for (const i of p.input ?? []) if (i) stack.push(i);
      }
      continue;
    }
    if (p) continue; // a Constant node: imported as a constant when used
    if (m.graphInputs.has(name)) {
      throw new KqkdError(`importSubgraph: tensor "${name}"`, `only "${from}" as input of the subgraph computing "${to}"`,
        `"${to}" also depends on the graph input "${name}"`);
    }
    throw new KqkdError(`importSubgraph: tensor "${name}"`, 'a tensor the model computes, an initializer or a graph input', 'nothing produces it');
  }
  if (!usesFrom) throw new KqkdError(`importSubgraph to "${to}"`, `a tensor computed from "${from}"`, 'a tensor that does not depend on it');
  return { needed, seen };
}

/** Values of a constant input (initializer or Constant node), or null. */
function constantValuesOf(m: ModelIndex): NodeContext['constantValues'] {
  return (name) => {
    if (!name) return null;
    const init = m.inits.get(name);
    if (init) return tensorValues(init);
    const p = m.producer.get(name);
    if (!isConstantNode(p)) return null;
    const value = getAttribute(p!, 'value');
    if (value?.t) return tensorValues(value.t);
    for (const [attr, read] of [['value_float', (a: AttributeProto) => [a.f ?? 0]], ['value_int', (a: AttributeProto) => [toInt(a.i as number | LongLike)]],
      ['value_floats', (a: AttributeProto) => (a.floats ?? []).slice()], ['value_ints', (a: AttributeProto) => (a.ints ?? []).map((v) => toInt(v as number | LongLike))]] as const) {
      const a = getAttribute(p!, attr);
      if (a) return read(a);
    }
    return null;
  };
}

/**
 * How an input resolves to a builder tensor: one already imported, or an initializer (float: a parameter, frozen
 * unless trainable; int64: a constant) or a Constant node (float or int64), built once under its renamed name.
 */
function resolverOf(b: GraphBuilder, m: ModelIndex, s: {
  env: Map<string, Tensor>; rename: (name: string) => string; constantValues: NodeContext['constantValues']; statistics: Set<string>; trainable: boolean;
}): NodeContext['resolve'] {
  return (name, node) => {
    const known = s.env.get(name);
    if (known) return known;
    const init = m.inits.get(name);
    let t: Tensor | undefined;
    if (init) {
      const dims = (init.dims ?? []).map((d) => toInt(d as number | LongLike));
      const type = init.dataType ?? DataType.FLOAT;
      if (type === DataType.FLOAT) {
        t = b.param(s.rename(name), dims, floatData(init), { trainable: s.trainable, statistic: s.statistics.has(name) });
      } else if (type === DataType.INT64) {
        t = b.int64Constant(s.rename(name), tensorValues(init) ?? [], dims);
      }
    } else if (isConstantNode(m.producer.get(name))) {
      t = constantNodeTensor(b, m.producer.get(name)!, s.rename(name), s.constantValues(name));
    }
    if (!t) {
      throw new KqkdError(`importSubgraph node "${node.name || node.output?.[0]}" (${node.opType}) input "${name}"`,
        'a float or int64 initializer or constant', 'another element type or external data');
    }
    s.env.set(name, t);
    return t;
  };
}

/** A Constant node's value as a builder constant (float or int64); undefined for any other type. */
function constantNodeTensor(b: GraphBuilder, p: NodeProto, name: string, values: number[] | null): Tensor | undefined {
  const c = getAttribute(p, 'value')?.t;
  const isFloat = c ? (c.dataType ?? DataType.FLOAT) === DataType.FLOAT : !!(getAttribute(p, 'value_float') || getAttribute(p, 'value_floats'));
  const isInt64 = c ? c.dataType === DataType.INT64 : !!(getAttribute(p, 'value_int') || getAttribute(p, 'value_ints'));
  const scalar = !!(getAttribute(p, 'value_float') || getAttribute(p, 'value_int'));
  const dims = c ? (c.dims ?? []).map((d) => toInt(d as number | LongLike)) : scalar ? [] : [values?.length ?? 0];
  const type = isFloat ? DataType.FLOAT : isInt64 ? DataType.INT64 : -1;
  if (values && type === DataType.FLOAT) return b.constant(name, dims, values);
  if (values && type === DataType.INT64) return b.int64Constant(name, values, dims);
  return undefined;
}

/** What `importNode` needs from its caller: the source opset, naming, and how inputs resolve to builder tensors. */
export interface NodeContext {
  opset: number;
  rename: (name: string) => string;
  resolve: (name: string, node: NodeProto) => Tensor;
  constantValues: (name: string | undefined) => number[] | null;
}

/**
 * Adds one node of another model to `b` through the builder's public API (see the file comment), named
 * `c.rename(output 0)`; used by `importSubgraph` and by @kqkd/models' ONNX student importer, which resolves inputs
 * itself (parameters under their own names, folded shape arithmetic).
 */
export function importNode(b: GraphBuilder, node: NodeProto, c: NodeContext): Tensor {
  const n = nodeImport(b, node, c);
  const domain = node.domain ?? '';
  if (domain === 'com.microsoft') {
    if (n.op === 'Gelu') return b.gelu(n.x(), n.name);
    return n.unsupported(`com.microsoft operator ${n.op}`);
  }
  if (domain !== '' && domain !== 'ai.onnx') return n.unsupported(`domain "${domain}"`);
  return importActivation(n) ?? importArithmetic(n) ?? importLayout(n) ?? importNormalization(n) ?? importGeneric(n);
}

/** One node being imported: its builder, operator, inputs, output name, and the helpers every operator family uses. */
interface NodeImport {
  b: GraphBuilder;
  node: NodeProto;
  c: NodeContext;
  op: string;
  ins: string[];
  /** The output's name in the builder (`c.rename(output 0)`). */
  name: string;
  /** Input 0 as a builder tensor. */
  x(): Tensor;
  /** Input i as a builder tensor (undefined when omitted). */
  arg(i: number): Tensor | undefined;
  unsupported(why: string): never;
  /** The values of constant input i, refused (naming `what`) when it is not a constant. */
  constInput(i: number, what: string): number[];
  /** Axes from the attribute (older opsets) or the constant input `i` (newer); undefined when absent. */
  axesOf(i: number): number[] | undefined;
}

function nodeImport(b: GraphBuilder, node: NodeProto, c: NodeContext): NodeImport {
  const op = node.opType ?? '';
  const where = `importSubgraph node "${node.name || node.output?.[0]}" (${op})`;
  const ins = node.input ?? [];
  const name = c.rename(node.output![0]);
  const unsupported = (why: string): never => { throw new KqkdError(where, 'an operator form importSubgraph supports', why); };
  const constInput = (i: number, what: string): number[] => {
    const v = c.constantValues(ins[i]);
    if (!v) unsupported(`${what} (input ${i}, "${ins[i]}") is not a constant initializer`);
    return v!;
  };
  return {
    b, node, c, op, ins, name, unsupported, constInput,
    x: () => c.resolve(ins[0], node),
    arg: (i) => (ins[i] ? c.resolve(ins[i], node) : undefined),
    axesOf: (i) => attrInts(node, 'axes') ?? (ins[i] ? constInput(i, 'axes') : undefined),
  };
}

/** Unary activations and the (log-)softmax; undefined for any other operator. */
function importActivation(n: NodeImport): Tensor | undefined {
  const { b, node, c, op, ins, name, x } = n;
  switch (op) {
    case 'Identity': return b.identity(x(), name);
    case 'Dropout': return b.identity(x(), name); // inference: a copy
    case 'Relu': return b.relu(x(), name);
    case 'Sigmoid': return b.sigmoid(x(), name);
    case 'Tanh': return b.tanh(x(), name);
    case 'Sqrt': return b.sqrt(x(), name);
    case 'Exp': return b.exp(x(), name);
    case 'Log': return b.log(x(), name);
    case 'Neg': return b.neg(x(), name);
    case 'LeakyRelu': return b.leakyRelu(x(), attrFloat(node, 'alpha', 0.01), name);
    case 'Gelu':
      if ((attrString(node, 'approximate') ?? 'none') !== 'none') return n.unsupported('tanh-approximate Gelu');
      return b.gelu(x(), name);
    case 'Clip': {
      const lo = c.opset >= 11 ? (ins[1] ? n.constInput(1, 'min')[0] : undefined) : attrFloat(node, 'min', -3.4028234663852886e38);
      const hi = c.opset >= 11 ? (ins[2] ? n.constInput(2, 'max')[0] : undefined) : attrFloat(node, 'max', 3.4028234663852886e38);
      return b.clip(x(), lo ?? -3.4028234663852886e38, hi ?? 3.4028234663852886e38, name);
    }
    case 'Softmax':
    case 'LogSoftmax': {
      const rank = x().shape.length;
      let axis = attrInt(node, 'axis', c.opset >= 13 ? -1 : 1);
      if (axis < 0) axis += rank;
      // Before opset 13 the op flattened [0, axis) and [axis, rank) to 2-D: per-axis only when axis is the last.
      if (c.opset < 13 && axis !== rank - 1) return n.unsupported(`opset ${c.opset} ${op} over axes ${axis}…${rank - 1} (coerced to 2-D)`);
      return op === 'Softmax' ? b.softmax(x(), axis, name) : b.logSoftmax(x(), axis, name);
    }
    default:
      return undefined;
  }
}

/** Binary arithmetic, MatMul and Gemm; undefined for any other operator. */
function importArithmetic(n: NodeImport): Tensor | undefined {
  const { b, node, name, x, arg } = n;
  switch (n.op) {
    case 'Add': return b.add(x(), arg(1)!, name);
    case 'Sub': return b.sub(x(), arg(1)!, name);
    case 'Mul': return b.mul(x(), arg(1)!, name);
    case 'Div': return b.div(x(), arg(1)!, name);
    case 'Pow': return b.pow(x(), arg(1)!, name);
    case 'MatMul': return b.matMul(x(), arg(1)!, name);
    case 'Gemm':
      return b.gemmWith(x(), arg(1)!, arg(2), {
        name, transA: attrInt(node, 'transA', 0) === 1, transB: attrInt(node, 'transB', 0) === 1,
        alpha: attrFloat(node, 'alpha', 1), beta: attrFloat(node, 'beta', 1),
      });
    default:
      return undefined;
  }
}

/** Shape and layout operators (Flatten, pooling to 1×1, Reshape, Transpose, (Un)Squeeze, Concat, Slice, Gather, Cast); undefined for any other. */
function importLayout(n: NodeImport): Tensor | undefined {
  const { b, node, c, op, ins, name, x } = n;
  switch (op) {
    case 'Flatten': return b.flatten(x(), attrInt(node, 'axis', 1), name);
    case 'GlobalAveragePool': return b.globalAveragePool(x(), name);
    case 'Reshape':
      if (attrInt(node, 'allowzero', 0) === 1) return n.unsupported('Reshape with allowzero = 1');
      return b.reshape(x(), n.constInput(1, 'shape'), name);
    case 'Transpose': {
      const t = x();
      return b.transpose(t, attrInts(node, 'perm') ?? t.shape.map((_, i) => t.shape.length - 1 - i), name);
    }
    case 'Squeeze':
    case 'Unsqueeze': return importSqueeze(n);
    case 'Concat': return b.concat(ins.map((i) => c.resolve(i, node)), attrInt(node, 'axis', 0), name);
    case 'Slice': {
      if (c.opset < 10) {
        const starts = attrInts(node, 'starts') ?? [];
        return b.slice(x(), starts, attrInts(node, 'ends') ?? [], attrInts(node, 'axes'), undefined, name);
      }
      return b.slice(x(), n.constInput(1, 'starts'), n.constInput(2, 'ends'), ins[3] ? n.constInput(3, 'axes') : undefined,
        ins[4] ? n.constInput(4, 'steps') : undefined, name);
    }
    case 'Gather': return b.gather(x(), n.arg(1)!, attrInt(node, 'axis', 0), name);
    case 'Cast': return b.cast(x(), attrInt(node, 'to', DataType.FLOAT), name);
    default:
      return undefined;
  }
}

/** Squeeze and Unsqueeze as a Reshape to the shape they give (at most one unknown dimension). */
function importSqueeze(n: NodeImport): Tensor {
  const { op } = n;
  const t = n.x();
  const axes = n.axesOf(1);
  let out: Shape;
  if (op === 'Squeeze') {
    const rank = t.shape.length;
    const drop = (axes ?? t.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => (a < 0 ? a + rank : a));
    out = t.shape.filter((_, i) => !drop.includes(i));
  } else {
    if (!axes) return n.unsupported('Unsqueeze without axes');
    const rank = t.shape.length + axes.length;
    const at = axes.map((a) => (a < 0 ? a + rank : a));
    const rest = [...t.shape];
    out = Array.from({ length: rank }, (_, i) => (at.includes(i) ? 1 : rest.shift()!));
  }
  const unknown = out.filter((d) => typeof d !== 'number').length;
  if (unknown > 1) return n.unsupported(`${op} of ${formatShape(t.shape)} with more than one unknown dimension`);
  return n.b.reshape(t, out.map((d) => (typeof d === 'number' ? d : -1)), n.name);
}

/** Reductions and normalizations (ReduceMean, ReduceSum, LayerNormalization, inference BatchNormalization); undefined for any other. */
function importNormalization(n: NodeImport): Tensor | undefined {
  const { b, node, c, op, ins, name, x, arg } = n;
  switch (op) {
    case 'ReduceMean':
    case 'ReduceSum': {
      const axes = n.axesOf(1);
      const keep = attrInt(node, 'keepdims', 1) === 1;
      if ((!axes || axes.length === 0) && attrInt(node, 'noop_with_empty_axes', 0) === 1) return b.identity(x(), name);
      return op === 'ReduceMean' ? b.reduceMean(x(), axes, keep, name) : b.reduceSum(x(), axes, keep, name);
    }
    case 'LayerNormalization': {
      const t = x();
      const scale = arg(1)!;
      const bias = arg(2) ?? b.constant(`${name}.zero_bias`, scale.shape as number[], new Float32Array(scale.shape.reduce<number>((p, d) => p * (d as number), 1)));
      return b.layerNormWith(t, scale, bias, { name, axis: attrInt(node, 'axis', -1), epsilon: attrFloat(node, 'epsilon', 1e-5) });
    }
    case 'BatchNormalization':
      if (attrInt(node, 'training_mode', 0) === 1) return n.unsupported('BatchNormalization with training_mode = 1');
      if ((node.output ?? []).filter(Boolean).length > 1) return n.unsupported('BatchNormalization with running-statistics outputs');
      return b.op(op, ins.map((i) => c.resolve(i, node)), copyAttributes(node, ['training_mode', 'spatial']), name);
    default:
      return undefined;
  }
}

/** The GENERIC operators through `op()` with their attributes (trailing omitted inputs dropped); anything else refused. */
function importGeneric(n: NodeImport): Tensor {
  const { op, ins } = n;
  if (!GENERIC.has(op)) return n.unsupported(op);
  const last = ins.length - [...ins].reverse().findIndex((i) => !!i);
  const present = ins.slice(0, last === ins.length + 1 ? 0 : last);
  if (present.some((i) => !i)) return n.unsupported('an omitted optional input before a present one');
  return n.b.op(op, present.map((i) => n.c.resolve(i, n.node)), copyAttributes(n.node), n.name);
}
