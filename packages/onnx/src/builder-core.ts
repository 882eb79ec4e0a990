/**
 * The graph builder's core (GraphCore, which GraphBuilder extends): the graph's state, names and scopes, inputs and
 * outputs, initializers and parameters, the seeded weight draws, node emission with its shape checks, and `build()`.
 * The operators themselves (layers, activations, pooling, arithmetic, shape ops, losses) are GraphBuilder's
 * (builder.ts), written on these.
 */
import { createRng, expectInteger, invalidArgument, KqkdError, type Rng } from '@kqkd/common';
import { AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from './proto.js';
import { formatShape, inferNodeTypes, makeValueInfo, type Shape, type TensorType } from './shapes.js';

export const DEFAULT_OPSET = 17;
/** IR version 8 is what the bundled ONNX schema (v1.10) writes and every current runtime reads. */
export const IR_VERSION = 8;
/** Microsoft contrib domain (Gelu in opset 17; ORT training ops). */
export const MS_DOMAIN = 'com.microsoft';

/** A tensor produced in the graph being built. */
export interface Tensor {
  readonly name: string;
  readonly shape: Shape;
  /** ONNX element type (1 = float, 7 = int64, 9 = bool). */
  readonly elemType?: number;
}

export interface GraphBuilderOptions {
  name?: string;
  /** Seed for weight initialisation (He-normal convolutions/linears). */
  seed?: number;
  opset?: number;
}

/**
 * How a conv / linear layer's weights are drawn (seeded by the builder):
 * - `he-fan-in` (default): N(0, 2 / fan_in), bias 0;
 * - `kaiming-normal-fan-out`: PyTorch `kaiming_normal_(mode='fan_out', nonlinearity='relu')`, N(0, 2 / fan_out) with
 *   fan_out = out_channels · k · k, bias 0 (torchvision ResNet / VGG / MobileNetV2 convolutions);
 * - `pytorch-default`: what `nn.Conv2d` / `nn.Linear` do on construction (kaiming-uniform with a = √5), weight and
 *   bias U(±1/√fan_in);
 * - `{ normal: std }`: N(0, std²), bias 0 (torchvision VGG / MobileNetV2 Linear layers: 0.01);
 * - `zeros`: weight and bias 0 (the ViT head).
 */
export type WeightInit = 'he-fan-in' | 'kaiming-normal-fan-out' | 'pytorch-default' | 'zeros' | { normal: number };

export interface ParamOptions {
  /** Default true. Frozen parameters are inputs of the training graph without gradients. */
  trainable?: boolean;
  /** BatchNorm running statistic (frozen, updated by training-mode BN, returned as an extra output). */
  statistic?: boolean;
}

/** A named initializer the builder created as a model parameter. */
export interface ParameterInfo {
  name: string;
  dims: number[];
  data: Float32Array;
  trainable: boolean;
  statistic: boolean;
}

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export function attribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

function floatTensor(name: string, dims: number[], data: Float32Array): TensorProto {
  // rawData is little-endian by spec; Float32Array bytes are little-endian on every platform Node ships for.
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

const F = DataType.FLOAT;
const I64 = DataType.INT64;

/** The state of a graph being built and what every operator of GraphBuilder is written on. */
export class GraphCore {
  readonly name: string;
  readonly opset: number;
  protected readonly rng: Rng;
  protected readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: { name: string; type: TensorType }[] = [];
  private readonly outputs: { name: string; type: TensorType }[] = [];
  protected readonly types = new Map<string, TensorType>();
  private readonly constants = new Map<string, number[]>();
  private readonly counters = new Map<string, number>();
  private readonly params = new Map<string, ParameterInfo>();
  private readonly prefixes: string[] = [];
  private readonly frozenScopes: boolean[] = [];
  protected usesMsDomain = false;

  constructor(options: GraphBuilderOptions = {}) {
    this.name = options.name ?? 'graph';
    this.opset = options.opset ?? DEFAULT_OPSET;
    this.rng = createRng(options.seed ?? 0);
  }

  // ------------------------------------------------------------------ graph I/O, parameters, scoping

  /** A graph input; use a string for a symbolic dimension such as the batch ("N"). Names are never scoped. */
  input(name: string, shape: Shape, elemType: number = DataType.FLOAT): Tensor {
    this.claim(name);
    const type = { elemType, shape };
    this.inputs.push({ name, type });
    this.types.set(name, type);
    return { name, shape, elemType };
  }

  /** Marks a tensor as a graph output, optionally renaming it through an Identity node (names are not scoped). */
  output(tensor: Tensor, name?: string): Tensor {
    const out = name && name !== tensor.name ? this.node('Identity', [tensor.name], {}, name, name) : tensor;
    this.outputs.push({ name: out.name, type: this.types.get(out.name)! });
    return out;
  }

  /**
   * Runs `fn` with every name created inside prefixed by `name.` (nested scopes compose: `enc.block1.conv0`).
   * With `{ frozen: true }` every parameter created inside is frozen (a teacher, a backbone).
   */
  scope<T>(name: string, fn: () => T, options: { frozen?: boolean } = {}): T {
    if (typeof name !== 'string' || name.length === 0 || name.includes(' ')) invalidArgument('scope name', 'a non-empty name without spaces', name);
    this.prefixes.push(name);
    this.frozenScopes.push(options.frozen ?? false);
    try {
      return fn();
    } finally {
      this.prefixes.pop();
      this.frozenScopes.pop();
    }
  }

  /** The current scope prefix applied to `name` ("a.b.name"). */
  scoped(name: string): string {
    return this.prefixes.length ? `${this.prefixes.join('.')}.${name}` : name;
  }

  /** A float initializer with explicit values (not a parameter: never trained, never in the checkpoint). */
  constant(name: string, dims: number[], data: Float32Array | number[]): Tensor {
    return this.floatInit(this.scoped(name), dims, data);
  }

  /** An int64 initializer (shapes, axes, indices, labels). */
  int64Constant(name: string, values: number[], dims: number[] = [values.length]): Tensor {
    const n = this.scoped(name);
    this.claim(n);
    if (dims.reduce((p, d) => p * d, 1) !== values.length) invalidArgument(`${n} values`, `${dims.reduce((p, d) => p * d, 1)} integers for dims ${formatShape(dims)}`, values);
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name: n, dims, dataType: DataType.INT64, rawData: new Uint8Array(raw.buffer) });
    this.types.set(n, { elemType: DataType.INT64, shape: dims });
    if (values.length <= 64) this.constants.set(n, values.slice());
    return { name: n, shape: dims, elemType: I64 };
  }

  /** A model parameter (float initializer recorded as trainable or frozen; frozen inside a frozen scope). */
  param(name: string, dims: number[], data: Float32Array | number[], options: ParamOptions = {}): Tensor {
    const n = this.scoped(name);
    const t = this.floatInit(n, dims, data);
    const frozenScope = this.frozenScopes.includes(true);
    const statistic = options.statistic ?? false;
    this.params.set(n, {
      name: n, dims: dims.slice(), data: data instanceof Float32Array ? data : Float32Array.from(data),
      trainable: !statistic && !frozenScope && (options.trainable ?? true), statistic,
    });
    return t;
  }

  /** Freezes parameters: by exact name, by scope prefix (`"teacher"` freezes `teacher.*`) or by predicate. */
  freeze(which: string | ((name: string) => boolean)): number {
    let count = 0;
    for (const p of this.params.values()) {
      const hit = typeof which === 'function' ? which(p.name) : p.name === which || p.name.startsWith(`${which}.`);
      if (hit && p.trainable) { p.trainable = false; count++; }
    }
    if (count === 0 && typeof which === 'string' && !this.params.has(which)) {
      invalidArgument('freeze', 'a parameter name or scope prefix of this graph', which);
    }
    return count;
  }

  /** Parameters in creation order (the order of the training model's parameter inputs). */
  parameters(): ParameterInfo[] {
    return [...this.params.values()].map((p) => ({ ...p, dims: p.dims.slice() }));
  }

  /** Type of a tensor of this graph. */
  typeOf(t: Tensor | string): TensorType {
    const name = typeof t === 'string' ? t : t.name;
    const type = this.types.get(name);
    if (!type) invalidArgument('tensor', 'a tensor of this graph', name);
    return type;
  }

  /** Seeded He-normal weights: N(0, 2 / fanIn). */
  heNormal(size: number, fanIn: number): Float32Array {
    const std = Math.sqrt(2 / fanIn);
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.rng.nextNormal() * std;
    return out;
  }

  /** Seeded U(−bound, bound) values. */
  uniform(size: number, bound: number): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = (2 * this.rng.nextFloat() - 1) * bound;
    return out;
  }

  /** Seeded weight and bias values of a conv / linear layer under `init` (see `WeightInit`). */
  initWeights(init: WeightInit, size: number, fan: { in: number; out: number }, biasSize: number): { weight: Float32Array; bias: Float32Array } {
    if (init === 'he-fan-in') return { weight: this.heNormal(size, fan.in), bias: new Float32Array(biasSize) };
    if (init === 'kaiming-normal-fan-out') return { weight: this.normal(size, Math.sqrt(2 / fan.out)), bias: new Float32Array(biasSize) };
    if (init === 'pytorch-default') {
      const bound = 1 / Math.sqrt(fan.in);
      return { weight: this.uniform(size, bound), bias: this.uniform(biasSize, bound) };
    }
    if (init === 'zeros') return { weight: new Float32Array(size), bias: new Float32Array(biasSize) };
    if (init && typeof init === 'object' && typeof init.normal === 'number' && init.normal >= 0) {
      return { weight: this.normal(size, init.normal), bias: new Float32Array(biasSize) };
    }
    return invalidArgument('init', '"he-fan-in", "kaiming-normal-fan-out", "pytorch-default", "zeros" or { normal: std ≥ 0 }', init);
  }

  /** Seeded N(0, std²) values (test data, embeddings). */
  normal(size: number, std = 1): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.rng.nextNormal() * std;
    return out;
  }

  // ------------------------------------------------------------------ build

  /** The finished model: opset import, initializers, and value_info for every intermediate tensor. */
  build(options: { requireOutputs?: boolean } = {}): ModelProto {
    if ((options.requireOutputs ?? true) && this.outputs.length === 0) invalidArgument('graph outputs', 'at least one output (call output())', 0);
    const declared = new Set([...this.inputs, ...this.outputs].map((t) => t.name));
    const valueInfo = this.nodes.flatMap((n) => n.output ?? [])
      .filter((o) => !declared.has(o) && this.types.has(o))
      .map((o) => makeValueInfo(o, this.types.get(o)!));
    const opsetImport = [{ domain: '', version: this.opset }];
    if (this.usesMsDomain) opsetImport.push({ domain: MS_DOMAIN, version: 1 });
    return {
      irVersion: IR_VERSION,
      producerName: 'kqkd',
      producerVersion: '0.1.0',
      opsetImport,
      graph: {
        name: this.name,
        node: this.nodes.slice(),
        initializer: this.initializers.slice(),
        input: this.inputs.map((t) => makeValueInfo(t.name, t.type)),
        output: this.outputs.map((t) => makeValueInfo(t.name, t.type)),
        valueInfo,
      },
    };
  }

  // ------------------------------------------------------------------ internals shared with the operators

  protected paramAbs(absName: string, dims: number[], data: Float32Array | number[], options: ParamOptions = {}): Tensor {
    const saved = this.prefixes.splice(0);
    try {
      return this.param(absName, dims, data, options);
    } finally {
      this.prefixes.push(...saved);
    }
  }

  protected int64ConstantAbs(absName: string, values: number[]): Tensor {
    const saved = this.prefixes.splice(0);
    try {
      return this.int64Constant(absName, values);
    } finally {
      this.prefixes.push(...saved);
    }
  }

  protected floatInit(name: string, dims: number[], data: Float32Array | number[]): Tensor {
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    const size = dims.reduce((p, d) => p * d, 1);
    if (values.length !== size) invalidArgument(`${name} values`, `${size} floats for dims ${formatShape(dims)}`, values);
    dims.forEach((d, i) => expectInteger(`${name} dims[${i}]`, d, 0));
    this.claim(name);
    this.initializers.push(floatTensor(name, dims, values));
    this.types.set(name, { elemType: DataType.FLOAT, shape: dims });
    if (size <= 64) this.constants.set(name, Array.from(values));
    return { name, shape: dims, elemType: F };
  }

  /**
   * Adds one node. With `shape` the caller has inferred (and checked) the output; without it the generic rules in
   * shapes.ts apply (used by `op()`), and a node they cannot follow is an error.
   */
  protected node(opType: string, inputs: string[], attributes: Record<string, AttrValue>, name: string, output = name,
    shape?: Shape, elemType?: number): Tensor {
    this.claim(output);
    for (const i of inputs) {
      if (i && !this.types.has(i)) throw new KqkdError(`${opType} node "${name}" input`, 'a tensor of this graph', `"${i}"`);
    }
    const node: NodeProto = {
      name, opType, input: inputs, output: [output],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    };
    let type: TensorType | null;
    if (shape) {
      type = { elemType: elemType ?? this.types.get(inputs[0])?.elemType ?? F, shape };
    } else {
      [type] = inferNodeTypes(node, inputs.map((i) => this.types.get(i) ?? null), (i) => this.constants.get(inputs[i]) ?? null);
    }
    if (!type?.shape) invalidArgument(`${opType} node "${name}"`, 'inputs whose shapes the builder can follow',
      inputs.map((i) => `${i} ${formatShape(this.types.get(i)?.shape ?? null)}`).join(', '));
    this.nodes.push(node);
    this.types.set(output, type);
    return { name: output, shape: type.shape, elemType: type.elemType };
  }

  protected channels(x: Tensor, what: string): number {
    const c = x.shape[1];
    if (typeof c !== 'number' || x.shape.length < 3) invalidArgument(what, 'an NC... tensor with a known channel count', formatShape(x.shape));
    return c;
  }

  protected fresh(prefix: string): string {
    const key = this.scoped(prefix);
    const k = this.counters.get(key) ?? 0;
    this.counters.set(key, k + 1);
    return `${prefix}${k}`;
  }

  protected claim(name: string): void {
    if (this.types.has(name)) invalidArgument('tensor name', 'a name not used yet in this graph', name);
  }
}
