/**
 * ONNX students: a classifier exported by `torch.onnx.export` (opsets 13–18), replayed into a GraphBuilder on the
 * student input, so that kqkd trains it with its own autodiff exactly like a zoo model (cross-entropy, distillation
 * objectives, checkpoints, inference export): `loadOnnxStudent(file).build(g, input, { classes })` returns the same
 * `ZooModel` a zoo definition does. docs/onnx-students.md is the user's guide.
 *
 * What the replay does to the exported graph, before anything is built:
 * - every node is checked against the operators the replay and @kqkd/autodiff support (ONNX_STUDENT_OPS); any other
 *   one (LSTM, Loop, ...) is refused with a KqkdError naming its op type, node name and input shapes;
 * - constant folding: Constant nodes, int64 initializers and the shape arithmetic exporters write (Shape → Gather →
 *   Unsqueeze → Concat → Reshape, with Slice / Squeeze / Cast / Add / Sub / Mul / Div on the way) are evaluated at
 *   import, with the batch dimension kept symbolic ("N"; training fixes it later through staticDims). A folded
 *   Reshape target gets 0 (copy) where it holds the input's own symbolic dimension at the same position, then −1
 *   for a single remaining symbolic entry; any other target that cannot be made static is refused naming the node;
 * - float initializers consumed as weights become trainable parameters under their ONNX names; the running mean and
 *   variance of BatchNormalization become running statistics; Clip bounds, Pow exponents and `onnx::` scalars stay
 *   constants. An Identity that aliases an initializer (torch's eval export shares identical initializers, e.g. the
 *   LayerNorm weights that are all ones) gets its own parameter under the alias name, so the tensors train apart;
 * - BatchNormalization: a training-mode export's `training_mode = 1` and running-statistic outputs are dropped; kqkd
 *   runs every BN in training mode with running statistics (as the zoo's `batchNorm`), keeping epsilon and the
 *   exported momentum (ONNX convention: running = momentum · running + (1 − momentum) · batch; torch 0.1 = ONNX 0.9);
 * - Dropout is the identity: kqkd training is deterministic (the ratios are recorded in `info.dropout`);
 * - the graph is replayed at the builder's opset (17): opset-18 reductions with an axes input become attributes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { KqkdError } from '@kqkd/common';
import {
  DataType, GraphBuilder, attrFloat, attrInt, decodeModel, encodeModel, topologicalNodes, findGeneralizedLayers, formatShape, getAttribute, importNode,
  tensorTypes, tensorValues, toInt, type AttributeProto, type ModelProto, type NodeProto, type Shape, type Tensor, type TensorProto,
} from '@kqkd/onnx';
import type { ModelDefinition, ZooBuildOptions, ZooLayer, ZooModel } from './types.js';

/** Operators a student graph may hold (beyond Constant and Shape, which are always folded). */
export const ONNX_STUDENT_OPS: readonly string[] = [
  'Conv', 'BatchNormalization', 'LayerNormalization', 'Gemm', 'MatMul', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh',
  'HardSigmoid', 'HardSwish', 'Erf', 'Gelu', 'Softmax', 'LogSoftmax', 'Exp', 'Log', 'Sqrt', 'Neg', 'Add', 'Sub', 'Mul',
  'Div', 'Pow', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze',
  'Concat', 'Slice', 'Gather', 'ReduceMean', 'ReduceSum', 'Cast', 'Identity', 'Dropout',
];
/** Evaluated at import only (their outputs are shape arithmetic). */
const FOLD_ONLY = new Set(['Constant', 'Shape']);
/** Ops evaluated at import when every input is a folded value. */
const FOLDABLE = new Set(['Constant', 'Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Slice', 'Cast', 'Add', 'Sub', 'Mul', 'Div', 'Identity', 'Neg']);
/** Names the training graph around the student uses: an ONNX tensor so named is renamed `onnx.<name>`. */
const RESERVED = new Set(['input', 'labels', 'loss']);

/** A folded value: int64 shape arithmetic (entries may be symbolic, e.g. the batch "N") or a float constant. */
interface Folded { dims: number[]; values: (number | string)[]; float: boolean }

export interface OnnxStudentInfo {
  /** Absolute path of the file, when loaded from one. */
  file?: string;
  /** sha256 (hex) of the file's bytes (or of the encoded model). */
  sha256: string;
  /** Opset of the default domain in the file. */
  opset: number;
  /** [C, H, W] of the graph input. */
  inputShape: [number, number, number];
  classes: number;
  /** BatchNormalization nodes kept (a training-mode export); 0 for the default eval-mode export (BN folded). */
  batchNorms: number;
  /** Dropout nodes replaced by the identity, with their ratios. */
  dropout: { node: string; ratio: number }[];
  /** Trainable parameters and running statistics (element counts). */
  params: number;
  statistics: number;
  /** Nodes replayed (after folding) and nodes folded away. */
  nodes: number;
  folded: number;
  /** Plain-language notes for the log (BN folded, dropout, ...). */
  notes: string[];
}

export interface OnnxStudent extends ModelDefinition {
  info: OnnxStudentInfo;
  /** The generalized layers found in the replayed graph (findGeneralizedLayers, as for teachers). */
  layers: ZooLayer[];
  headStartsAfter: number;
}

type LongLike = { toNumber(): number };
const int = (v: unknown) => toInt(v as number | LongLike);

function opsetOf(model: ModelProto): number {
  const e = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return e ? int(e.version) : 1;
}

function constantOf(node: NodeProto): Folded | null {
  const t = getAttribute(node, 'value')?.t;
  if (t) {
    const v = tensorValues(t);
    if (!v) return null;
    return { dims: (t.dims ?? []).map(int), values: v, float: (t.dataType ?? DataType.FLOAT) === DataType.FLOAT || t.dataType === DataType.DOUBLE };
  }
  const read: [string, (a: AttributeProto) => number[], boolean, boolean][] = [
    ['value_float', (a) => [a.f ?? 0], true, true], ['value_int', (a) => [int(a.i)], false, true],
    ['value_floats', (a) => (a.floats ?? []).slice(), true, false], ['value_ints', (a) => (a.ints ?? []).map(int), false, false],
  ];
  for (const [name, f, float, scalar] of read) {
    const a = getAttribute(node, name);
    if (a) { const v = f(a); return { dims: scalar ? [] : [v.length], values: v, float }; }
  }
  return null;
}

const where = (n: NodeProto) => `ONNX student node "${n.name || n.output?.[0]}" (${n.opType})`;

/** Reads a model: a ModelProto, its bytes, or a path (resolved against the working directory). */
function readSource(source: ModelProto | Uint8Array | string): { model: ModelProto; sha256: string; file?: string } {
  if (typeof source === 'string') {
    const file = resolvePath(source);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new KqkdError('ONNX student file', 'a readable .onnx file', `${file} (${(e as Error).message})`);
    }
    return { model: decodeModel(bytes, file), sha256: createHash('sha256').update(bytes).digest('hex'), file };
  }
  if (source instanceof Uint8Array) return { model: decodeModel(source), sha256: createHash('sha256').update(source).digest('hex') };
  return { model: source, sha256: createHash('sha256').update(encodeModel(source)).digest('hex') };
}

/** Refuses, before any work, a node whose operator the replay or the autodiff does not support. */
function checkOperators(model: ModelProto): void {
  const types = tensorTypes(model);
  const supported = new Set(ONNX_STUDENT_OPS);
  for (const n of model.graph?.node ?? []) {
    const op = n.opType ?? '';
    const domain = n.domain ?? '';
    const ok = (domain === '' || domain === 'ai.onnx') ? supported.has(op) || FOLD_ONLY.has(op) : domain === 'com.microsoft' && op === 'Gelu';
    if (ok) continue;
    const shapes = (n.input ?? []).filter(Boolean).map((i) => `${i} ${formatShape(types.get(i)?.shape ?? null)}`).join(', ');
    throw new KqkdError(`ONNX student: node "${n.name || n.output?.[0] || '?'}" (${domain ? `${domain}.` : ''}${op}, inputs ${shapes || 'none'})`,
      `an operator kqkd can train (${ONNX_STUDENT_OPS.join(', ')}; Constant and shape arithmetic are folded)`, `op type ${op}`);
  }
}

interface Replay {
  logits: Tensor;
  params: number;
  statistics: number;
  nodes: number;
  folded: number;
  dropout: { node: string; ratio: number }[];
  batchNorms: number;
}

/** Replays `model` into `b` on `input` (whose shape holds the symbolic batch dim). */
function replay(b: GraphBuilder, model: ModelProto, input: Tensor): Replay {
  const graph = model.graph!;
  const opset = opsetOf(model);
  const nodes = topologicalNodes(model);
  const s = new ReplayState(b, model, nodes, input);
  for (const node of nodes) {
    if (foldAtImport(s, node)) {
      s.foldedCount++;
      continue;
    }
    replayNode(s, node, opset);
    s.replayed++;
  }
  const outName = graph.output?.[0]?.name;
  const logits = outName ? s.env.get(outName) : undefined;
  if (!logits) throw new KqkdError('ONNX student output', 'a graph output computed from the input', outName ? `"${outName}" (a constant)` : 'none');
  return { logits, params: s.params, statistics: s.stats, nodes: s.replayed, folded: s.foldedCount, dropout: s.dropout, batchNorms: s.batchNorms };
}

/** How each float initializer is used: BN statistics, constant operands, or weights. */
function initializerUses(nodes: readonly NodeProto[], initOf: (name: string) => TensorProto | undefined) {
  const statistics = new Set<string>();
  const constantUse = new Set<string>();
  const weightUse = new Set<string>();
  for (const n of nodes) {
    (n.input ?? []).forEach((i, k) => {
      if (!i || !initOf(i)) return;
      if (n.opType === 'BatchNormalization' && (k === 3 || k === 4)) statistics.add(i);
      else if ((n.opType === 'Clip' && k > 0) || (n.opType === 'Pow' && k === 1)) constantUse.add(i);
      else weightUse.add(i);
    });
  }
  return { statistics, constantUse, weightUse };
}

/** What the replay knows as it walks the nodes: the built tensors, the folded values, the names taken, the counts. */
class ReplayState {
  readonly graph: NonNullable<ModelProto['graph']>;
  readonly inits = new Map<string, TensorProto>();
  /** Identity aliases of initializers (torch's deduplication) become initializers of their own. */
  readonly alias = new Map<string, string>();
  readonly uses: ReturnType<typeof initializerUses>;
  readonly env: Map<string, Tensor>;
  readonly folded = new Map<string, Folded>();
  readonly used: Set<string>;
  params = 0;
  stats = 0;
  replayed = 0;
  foldedCount = 0;
  batchNorms = 0;
  readonly dropout: { node: string; ratio: number }[] = [];
  overrideShape: { name: string; values: number[] } | null = null;

  constructor(readonly b: GraphBuilder, model: ModelProto, readonly nodes: readonly NodeProto[], input: Tensor) {
    this.graph = model.graph!;
    for (const t of this.graph.initializer ?? []) if (t.name) this.inits.set(t.name, t);
    const inputName = (this.graph.input ?? []).map((v) => v.name!).find((n) => !this.inits.has(n))!;
    for (const n of nodes) if (n.opType === 'Identity' && this.inits.has(n.input![0])) this.alias.set(n.output![0], n.input![0]);
    this.uses = initializerUses(nodes, this.initOf);
    this.env = new Map<string, Tensor>([[inputName, input]]);
    this.used = new Set<string>([input.name]);
  }

  initOf = (name: string): TensorProto | undefined => this.inits.get(name) ?? (this.alias.has(name) ? this.inits.get(this.alias.get(name)!) : undefined);

  isParameter(name: string, t: TensorProto): boolean {
    const n = (t.dims ?? []).reduce<number>((p, d) => p * int(d), 1);
    return this.uses.weightUse.has(name) && !(n <= 1 && name.startsWith('onnx::'));
  }

  rename = (name: string): string => {
    let out = RESERVED.has(name) ? `onnx.${name}` : name;
    while (this.used.has(out)) out = `onnx.${out}`;
    this.used.add(out);
    return out;
  };

  materialize(name: string, f: Folded, node: NodeProto): Tensor {
    if (f.values.some((v) => typeof v !== 'number')) {
      throw new KqkdError(`${where(node)} input "${name}"`, 'a value known at import (static shape arithmetic)',
        `[${f.values.join(', ')}], which depends on a symbolic dimension`);
    }
    const t = f.float ? this.b.constant(this.rename(name), f.dims, f.values as number[]) : this.b.int64Constant(this.rename(name), f.values as number[], f.dims);
    this.env.set(name, t);
    return t;
  }

  resolve = (name: string, node: NodeProto): Tensor => {
    const known = this.env.get(name);
    if (known) return known;
    const f = this.folded.get(name);
    if (f) return this.materialize(name, f, node);
    const init = this.initOf(name);
    if (!init) throw new KqkdError(`${where(node)} input "${name}"`, 'a tensor of the model (a node output, an initializer or the input)', 'nothing produces it');
    const t = this.initializerTensor(name, init);
    this.env.set(name, t);
    return t;
  };

  /** An initializer built: a running statistic, a trainable parameter, or a constant (float or int64). */
  initializerTensor(name: string, init: TensorProto): Tensor {
    const b = this.b;
    const dims = (init.dims ?? []).map(int);
    const type = init.dataType ?? DataType.FLOAT;
    if (type === DataType.INT64 || type === DataType.INT32) return b.int64Constant(this.rename(name), tensorValues(init) ?? [], dims);
    if (type !== DataType.FLOAT) throw new KqkdError(`ONNX student initializer "${name}"`, 'a float or int64 tensor', `data type ${type}`);
    const values = Float32Array.from(tensorValues(init) ?? []);
    const size = dims.reduce((p, d) => p * d, 1);
    if (values.length !== size) throw new KqkdError(`ONNX student initializer "${name}"`, `${size} floats`, `${values.length} (external data is not supported)`);
    if (this.uses.statistics.has(name)) {
      this.stats += size;
      return b.param(this.rename(name), dims, values, { statistic: true });
    }
    if (this.isParameter(name, init)) {
      this.params += size;
      return b.param(this.rename(name), dims, values);
    }
    return b.constant(this.rename(name), dims, values);
  }

  /** Folded value of an input: Constant output, int64 initializer, or an earlier folded result. */
  foldedInput = (name: string): Folded | null => {
    if (!name) return null;
    const f = this.folded.get(name);
    if (f) return f;
    const init = this.env.has(name) ? undefined : this.initOf(name);
    if (init && (init.dataType === DataType.INT64 || init.dataType === DataType.INT32)) {
      return { dims: (init.dims ?? []).map(int), values: tensorValues(init) ?? [], float: false };
    }
    return null;
  };

  constantValues = (name: string | undefined): number[] | null => {
    if (!name) return null;
    if (this.overrideShape && this.overrideShape.name === name) return this.overrideShape.values;
    const f = this.foldedInput(name);
    if (f) return f.values.every((v) => typeof v === 'number') ? (f.values as number[]) : null;
    const init = this.initOf(name);
    return init ? tensorValues(init) : null;
  };
}

/**
 * Constant folding: an Identity alias of an initializer is dropped, Constant and Shape are evaluated, and a foldable
 * op whose inputs are all folded values is folded. True when the node was folded away.
 */
function foldAtImport(s: ReplayState, node: NodeProto): boolean {
  const op = node.opType ?? '';
  const ins = node.input ?? [];
  const outs = node.output ?? [];
  if (op === 'Identity' && s.alias.has(outs[0])) return true;
  if (op === 'Constant') {
    const c = constantOf(node);
    if (!c) throw new KqkdError(where(node), 'a float or integer constant', 'another value attribute');
    s.folded.set(outs[0], c);
    return true;
  }
  if (op === 'Shape') {
    s.folded.set(outs[0], shapeOf(s, node));
    return true;
  }
  const fins = ins.map((i) => (i ? s.foldedInput(i) : null));
  if (FOLDABLE.has(op) && ins.length > 0 && ins.every((i, k) => !i || fins[k])) {
    s.folded.set(outs[0], fold(node, fins as (Folded | null)[]));
    return true;
  }
  return false;
}

/** A Shape node's value: the input's dimensions (a symbolic one named after its tensor and position), sliced by start and end. */
function shapeOf(s: ReplayState, node: NodeProto): Folded {
  const ins = node.input ?? [];
  const x = s.env.get(ins[0]) ?? (s.folded.has(ins[0]) ? null : s.resolve(ins[0], node));
  const shape: (number | string)[] = x ? x.shape.map((d, k) => d ?? `${ins[0]}[${k}]`) : s.folded.get(ins[0])!.dims;
  const start = attrInt(node, 'start', 0);
  const endAttr = getAttribute(node, 'end');
  const norm = (v: number) => Math.min(Math.max(v < 0 ? v + shape.length : v, 0), shape.length);
  const values = shape.slice(norm(start), endAttr ? norm(int(endAttr.i)) : shape.length);
  return { dims: [values.length], values, float: false };
}

/**
 * A node replayed into the builder: Dropout as the identity, BatchNormalization without its training outputs, a
 * Reshape on its target with the batch dim symbolic, any other through @kqkd/onnx's importNode.
 */
function replayNode(s: ReplayState, node: NodeProto, opset: number): void {
  const op = node.opType ?? '';
  const ins = node.input ?? [];
  const outs = node.output ?? [];
  const extra = outs.slice(1).filter(Boolean);
  const consumers = (t: string) => s.nodes.some((m) => (m.input ?? []).includes(t)) || (s.graph.output ?? []).some((o) => o.name === t);
  if (op === 'Dropout') {
    if (extra.some(consumers)) throw new KqkdError(where(node), 'a Dropout whose mask output is unused', `mask "${extra[0]}" used`);
    const ratio = ins[1] ? s.constantValues(ins[1])?.[0] ?? 0.5 : attrFloat(node, 'ratio', 0.5);
    s.dropout.push({ node: node.name || outs[0], ratio });
    s.env.set(outs[0], s.b.identity(s.resolve(ins[0], node), s.rename(outs[0])));
    return;
  }
  let n = node;
  if (op === 'BatchNormalization') {
    if (extra.some(consumers)) {
      throw new KqkdError(where(node), 'a BatchNormalization whose running-statistic outputs are unused', `${extra.filter(consumers).join(', ')} used`);
    }
    n = { ...node, output: [outs[0]], attribute: (node.attribute ?? []).filter((a) => a.name !== 'training_mode') };
    s.batchNorms++;
  } else if (extra.length > 0) {
    throw new KqkdError(where(node), 'a node with one output', `${outs.length} outputs`);
  }
  if (op === 'Reshape') {
    const target = s.foldedInput(ins[1]);
    s.overrideShape = { name: ins[1], values: reshapeTarget(node, s.resolve(ins[0], node), target, s.constantValues(ins[1])) };
  }
  try {
    s.env.set(outs[0], importNode(s.b, n, { opset, rename: s.rename, resolve: s.resolve, constantValues: s.constantValues }));
  } finally {
    s.overrideShape = null;
  }
}

/** The Reshape target with the batch dim symbolic: 0 where the input's own symbol sits, −1 for one other unknown. */
function reshapeTarget(node: NodeProto, x: Tensor, f: Folded | null, values: number[] | null): number[] {
  const raw: (number | string)[] | null = f ? f.values : values;
  if (!raw) throw new KqkdError(`${where(node)} input shape`, 'a shape known at import (constants and shape arithmetic)', `"${node.input?.[1]}", computed from tensors`);
  if (attrInt(node, 'allowzero', 0) === 1 && raw.some((v) => v === 0)) {
    throw new KqkdError(where(node), 'a Reshape without allowzero = 1 on a 0 entry', 'allowzero = 1');
  }
  const out = raw.map((v, i) => (typeof v === 'string' && x.shape[i] === v ? 0 : v));
  const unknown = out.map((v, i) => (typeof v === 'number' ? -1 : i)).filter((i) => i >= 0);
  if (unknown.length === 0) return out as number[];
  if (unknown.length === 1 && !out.includes(-1)) {
    out[unknown[0]] = -1;
    return out as number[];
  }
  throw new KqkdError(`${where(node)} target shape`, 'a shape that can be made static (the batch dim copied with 0, at most one other unknown entry as −1)',
    `[${raw.join(', ')}] for input ${formatShape(x.shape as Shape)}`);
}

/** Evaluates one shape-arithmetic node on folded inputs (int64 values; symbols stay symbols). */
function fold(node: NodeProto, ins: (Folded | null)[]): Folded {
  const op = node.opType!;
  const x = ins[0]!;
  const num = (f: Folded | null, what: string): number[] => {
    if (!f || f.values.some((v) => typeof v !== 'number')) throw new KqkdError(`${where(node)} ${what}`, 'a constant', f ? `[${f.values.join(', ')}]` : 'nothing');
    return f.values as number[];
  };
  const axesOf = () => (getAttribute(node, 'axes') ? (getAttribute(node, 'axes')!.ints ?? []).map(int) : ins[1] ? num(ins[1], 'axes') : undefined);
  switch (op) {
    case 'Identity': return x;
    case 'Cast': {
      const to = attrInt(node, 'to', DataType.FLOAT);
      const float = to === DataType.FLOAT || to === DataType.DOUBLE;
      return { ...x, values: float ? x.values : x.values.map((v) => (typeof v === 'number' ? Math.trunc(v) : v)), float };
    }
    case 'Neg': return { ...x, values: x.values.map((v) => (typeof v === 'number' ? -v : `-(${v})`)) };
    case 'Gather': {
      const axis = attrInt(node, 'axis', 0);
      if (axis !== 0 || x.dims.length !== 1) throw new KqkdError(where(node), 'a Gather on a 1-D shape vector along axis 0', formatShape(x.dims));
      const idx = num(ins[1], 'indices');
      const values = idx.map((i) => x.values[i < 0 ? i + x.values.length : i]);
      return { dims: ins[1]!.dims, values, float: x.float };
    }
    case 'Unsqueeze': {
      const axes = axesOf() ?? [];
      const rank = x.dims.length + axes.length;
      const at = axes.map((a) => (a < 0 ? a + rank : a));
      const rest = [...x.dims];
      return { ...x, dims: Array.from({ length: rank }, (_, i) => (at.includes(i) ? 1 : rest.shift()!)) };
    }
    case 'Squeeze': {
      const axes = axesOf();
      const rank = x.dims.length;
      const drop = (axes ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => (a < 0 ? a + rank : a));
      return { ...x, dims: x.dims.filter((_, i) => !drop.includes(i)) };
    }
    case 'Concat': {
      if (ins.some((f) => f!.dims.length !== 1)) throw new KqkdError(where(node), '1-D inputs (shape vectors)', ins.map((f) => formatShape(f!.dims)).join(', '));
      const values = ins.flatMap((f) => f!.values);
      return { dims: [values.length], values, float: x.float };
    }
    case 'Slice': {
      if (x.dims.length !== 1) throw new KqkdError(where(node), 'a Slice of a 1-D shape vector', formatShape(x.dims));
      const [s, e] = [num(ins[1], 'starts')[0], num(ins[2], 'ends')[0]];
      const step = ins[4] ? num(ins[4], 'steps')[0] : 1;
      const n = x.values.length;
      if (step !== 1) throw new KqkdError(where(node), 'a Slice of a shape vector with step 1', `step ${step}`);
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
      const values = x.values.slice(clamp(s), clamp(e));
      return { dims: [values.length], values, float: x.float };
    }
    case 'Add': case 'Sub': case 'Mul': case 'Div': {
      const y = ins[1]!;
      const n = Math.max(x.values.length, y.values.length);
      const dims = x.values.length >= y.values.length ? x.dims : y.dims;
      const float = x.float || y.float;
      const values = Array.from({ length: n }, (_, i) => {
        const a = x.values[x.values.length === 1 ? 0 : i];
        const c = y.values[y.values.length === 1 ? 0 : i];
        if (typeof a === 'number' && typeof c === 'number') {
          if (op === 'Add') return a + c;
          if (op === 'Sub') return a - c;
          if (op === 'Mul') return a * c;
          return float ? a / c : Math.trunc(a / c);
        }
        if ((op === 'Mul' || op === 'Div') && c === 1) return a;
        if ((op === 'Add' || op === 'Sub') && c === 0) return a;
        if (op === 'Mul' && a === 1) return c;
        if (op === 'Add' && a === 0) return c;
        return `(${a}${{ Add: '+', Sub: '-', Mul: '*', Div: '/' }[op]}${c})`;
      });
      return { dims, values, float };
    }
    default:
      throw new KqkdError(where(node), 'a shape-arithmetic op kqkd folds', op);
  }
}


/** Shape of one sample of a layer tensor (the batch dim left out), static. */
function sampleShape(b: GraphBuilder, tensor: string): number[] {
  const s = b.typeOf(tensor).shape ?? [];
  const rest = s.slice(1);
  if (rest.some((d) => typeof d !== 'number')) throw new KqkdError(`ONNX student layer "${tensor}"`, 'a static per-sample shape', formatShape(s));
  return rest as number[];
}

/**
 * Loads an ONNX classifier as a kqkd student: checks its operators (refusing before any work), reads its input
 * [C, H, W] and classes, replays it once to find its generalized layers, and returns a ModelDefinition whose
 * `build` replays it into a caller's graph (the same tensor names every time).
 */
export function loadOnnxStudent(source: ModelProto | Uint8Array | string): OnnxStudent {
  const { model, sha256, file } = readSource(source);
  if (!model.graph) throw new KqkdError('ONNX student', 'an ONNX ModelProto with a graph', 'none');
  checkOperators(model);
  const inits = new Set((model.graph.initializer ?? []).map((t) => t.name));
  const inputs = (model.graph.input ?? []).filter((v) => !inits.has(v.name));
  if (inputs.length !== 1) throw new KqkdError('ONNX student inputs', 'one graph input (the image batch)', `${inputs.length}: ${inputs.map((v) => v.name).join(', ')}`);
  if ((model.graph.output ?? []).length !== 1) throw new KqkdError('ONNX student outputs', 'one graph output (the logits)', `${(model.graph.output ?? []).length}`);
  const types = tensorTypes(model);
  const inShape = types.get(inputs[0].name!)?.shape ?? null;
  if (!inShape || inShape.length !== 4 || inShape.slice(1).some((d) => typeof d !== 'number')) {
    throw new KqkdError(`ONNX student input "${inputs[0].name}"`, 'an image batch [N, C, H, W] with static C, H, W', formatShape(inShape));
  }
  if (typeof inShape[0] === 'number') {
    throw new KqkdError(`ONNX student input "${inputs[0].name}" batch dimension`,
      "a symbolic batch dimension (export with dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}}: shape arithmetic recorded at a fixed batch would not follow kqkd's batch)",
      `the fixed size ${inShape[0]}`);
  }
  const inputShape = inShape.slice(1) as [number, number, number];

  // One replay into a scratch graph: classes, counts, and the generalized layers of the replayed tensors.
  const scratch = new GraphBuilder({ name: 'onnx_student' });
  const x = scratch.input('input', ['N', ...inputShape]);
  const r = replay(scratch, model, x);
  if (r.logits.shape.length !== 2 || typeof r.logits.shape[1] !== 'number') {
    throw new KqkdError('ONNX student output', 'logits [N, classes]', formatShape(r.logits.shape));
  }
  const classes = r.logits.shape[1];
  scratch.output(r.logits);
  const found = findGeneralizedLayers(scratch.build());
  const layers: ZooLayer[] = found.layers.map((l) => ({ index: l.index, tensor: l.tensor, shape: sampleShape(scratch, l.tensor) }));
  const notes: string[] = [];
  if (r.batchNorms === 0) {
    notes.push('no BatchNormalization in the graph: if the PyTorch model has BatchNorm, this is a default eval-mode export that folded it into the convolutions, and the student trains WITHOUT batch normalisation (export with training=TrainingMode.TRAINING to keep it)');
  } else {
    notes.push(`${r.batchNorms} BatchNormalization nodes train in training mode (batch statistics, running statistics updated with the exported momentum)`);
  }
  if (r.dropout.length > 0) {
    notes.push(`Dropout is the identity in kqkd training (deterministic): ${r.dropout.map((d) => `${d.node} (ratio ${+d.ratio.toFixed(4)})`).join(', ')}`);
  }
  const info: OnnxStudentInfo = {
    ...(file ? { file } : {}), sha256, opset: opsetOf(model), inputShape, classes, batchNorms: r.batchNorms, dropout: r.dropout,
    params: r.params, statistics: r.statistics, nodes: r.nodes, folded: r.folded, notes,
  };
  const name = file ? file.replace(/^.*[\\/]/, '') : 'onnx-student';
  return {
    name, family: 'onnx', description: `ONNX student ${name} (opset ${info.opset}, ${info.params} parameters)`, info, layers, headStartsAfter: found.headStartsAfter,
    build(g: GraphBuilder, input: Tensor, options: ZooBuildOptions): ZooModel {
      const got = input.shape.slice(1);
      if (got.length !== 3 || got.some((d, i) => d !== inputShape[i])) {
        throw new KqkdError(`ONNX student ${name} input`, `[C, H, W] = [${inputShape.join(', ')}] (the model's)`, `the dataset's [${got.join(', ')}]`);
      }
      if (options.classes !== classes) {
        throw new KqkdError(`ONNX student ${name} classes`, `${classes} (the model's logits)`, `the dataset's ${options.classes}`);
      }
      if (options.width !== undefined && options.width !== 1) throw new KqkdError(`ONNX student ${name} width`, 'nothing (the file fixes the widths)', String(options.width));
      const out = replay(g, model, input);
      return { logits: out.logits, layers: layers.map((l) => ({ ...l, shape: l.shape.slice() })), headStartsAfter: found.headStartsAfter };
    },
  };
}
