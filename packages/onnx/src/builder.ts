/**
 * A minimal graph builder for test fixtures and tiny models: each method adds one ONNX node with named
 * initializers and returns the output tensor, whose shape the builder tracks (through the same rules as
 * `tensorTypes`) so that weights can be sized and every intermediate gets a value_info entry.
 */
import { createRng, invalidArgument, type Rng } from '@kqkd/common';
import { AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from './proto.js';
import { formatShape, inferNodeTypes, makeValueInfo, type Shape, type TensorType } from './shapes.js';

export const DEFAULT_OPSET = 17;
/** IR version 8 is what the bundled ONNX schema (v1.10) writes and every current runtime reads. */
export const IR_VERSION = 8;

/** A tensor produced in the graph being built. */
export interface Tensor {
  readonly name: string;
  readonly shape: Shape;
}

export interface GraphBuilderOptions {
  name?: string;
  /** Seed for weight initialisation (He-normal convolutions/linears). */
  seed?: number;
  opset?: number;
}

export interface ConvOptions {
  name?: string;
  kernel?: number;
  stride?: number;
  /** Symmetric padding; default keeps the spatial size for odd kernels at stride 1. */
  pad?: number;
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
}

type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

function attribute(name: string, value: AttrValue): AttributeProto {
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

export class GraphBuilder {
  readonly name: string;
  readonly opset: number;
  private readonly rng: Rng;
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: { name: string; type: TensorType }[] = [];
  private readonly outputs: { name: string; type: TensorType }[] = [];
  private readonly types = new Map<string, TensorType>();
  private readonly constants = new Map<string, number[]>();
  private readonly counters = new Map<string, number>();

  constructor(options: GraphBuilderOptions = {}) {
    this.name = options.name ?? 'graph';
    this.opset = options.opset ?? DEFAULT_OPSET;
    this.rng = createRng(options.seed ?? 0);
  }

  /** A graph input; use a string for a symbolic dimension such as the batch ("N"). */
  input(name: string, shape: Shape, elemType: number = DataType.FLOAT): Tensor {
    this.claim(name);
    const type = { elemType, shape };
    this.inputs.push({ name, type });
    this.types.set(name, type);
    return { name, shape };
  }

  /** Marks a tensor as a graph output, optionally renaming it through an Identity node. */
  output(tensor: Tensor, name?: string): Tensor {
    const out = name && name !== tensor.name ? this.node('Identity', [tensor.name], {}, name, name) : tensor;
    this.outputs.push({ name: out.name, type: this.types.get(out.name)! });
    return out;
  }

  /** A float initializer with explicit values. */
  constant(name: string, dims: number[], data: Float32Array | number[]): Tensor {
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    const size = dims.reduce((p, d) => p * d, 1);
    if (values.length !== size) invalidArgument(`${name} values`, `${size} floats for dims ${formatShape(dims)}`, values);
    this.claim(name);
    this.initializers.push(floatTensor(name, dims, values));
    this.types.set(name, { elemType: DataType.FLOAT, shape: dims });
    if (size <= 64) this.constants.set(name, Array.from(values));
    return { name, shape: dims };
  }

  /** An int64 initializer (shapes, axes). */
  int64Constant(name: string, values: number[]): Tensor {
    this.claim(name);
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(raw.buffer) });
    this.types.set(name, { elemType: DataType.INT64, shape: [values.length] });
    this.constants.set(name, values.slice());
    return { name, shape: [values.length] };
  }

  /** Seeded He-normal weights: N(0, 2 / fanIn). */
  heNormal(size: number, fanIn: number): Float32Array {
    const std = Math.sqrt(2 / fanIn);
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.rng.nextNormal() * std;
    return out;
  }

  conv(x: Tensor, outChannels: number, options: ConvOptions = {}): Tensor {
    const name = options.name ?? this.fresh('conv');
    const inChannels = this.channels(x, 'conv input');
    const k = options.kernel ?? 3;
    const group = options.group ?? 1;
    const pad = options.pad ?? Math.floor(k / 2);
    const wDims = [outChannels, inChannels / group, k, k];
    const w = options.weight ?? this.heNormal(wDims.reduce((p, d) => p * d, 1), (inChannels / group) * k * k);
    const inputs = [x.name, this.constant(`${name}.weight`, wDims, w).name];
    if (options.bias ?? false) {
      inputs.push(this.constant(`${name}.bias`, [outChannels], options.biasValues ?? new Float32Array(outChannels)).name);
    }
    return this.node('Conv', inputs, {
      kernel_shape: [k, k], strides: [options.stride ?? 1, options.stride ?? 1], pads: [pad, pad, pad, pad], group,
      dilations: [1, 1],
    }, name);
  }

  batchNorm(x: Tensor, options: BatchNormOptions = {}): Tensor {
    const name = options.name ?? this.fresh('bn');
    const c = this.channels(x, 'batchNorm input');
    const j = options.jitter ?? 0;
    const gen = (base: number, positive = false) => Float32Array.from({ length: c }, () => {
      const v = base + j * this.rng.nextNormal();
      return positive ? Math.max(v, 0.05) : v;
    });
    const scale = this.constant(`${name}.weight`, [c], gen(1, true));
    const bias = this.constant(`${name}.bias`, [c], gen(0));
    const mean = this.constant(`${name}.running_mean`, [c], gen(0));
    const variance = this.constant(`${name}.running_var`, [c], gen(1, true));
    return this.node('BatchNormalization', [x.name, scale.name, bias.name, mean.name, variance.name],
      { epsilon: { float: options.epsilon ?? 1e-5 } }, name);
  }

  relu(x: Tensor, name?: string): Tensor {
    return this.node('Relu', [x.name], {}, name ?? this.fresh('relu'));
  }

  /** ReLU6 as ONNX exports it since opset 11: Clip with min/max initializers. */
  relu6(x: Tensor, name?: string): Tensor {
    const n = name ?? this.fresh('relu6');
    const lo = this.constant(`${n}.min`, [], [0]);
    const hi = this.constant(`${n}.max`, [], [6]);
    return this.node('Clip', [x.name, lo.name, hi.name], {}, n);
  }

  leakyRelu(x: Tensor, alpha = 0.01, name?: string): Tensor {
    return this.node('LeakyRelu', [x.name], { alpha: { float: alpha } }, name ?? this.fresh('leaky_relu'));
  }

  maxPool(x: Tensor, kernel = 2, stride = kernel, name?: string): Tensor {
    return this.node('MaxPool', [x.name], { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [0, 0, 0, 0] },
      name ?? this.fresh('maxpool'));
  }

  add(a: Tensor, b: Tensor, name?: string): Tensor {
    return this.node('Add', [a.name, b.name], {}, name ?? this.fresh('add'));
  }

  globalAveragePool(x: Tensor, name?: string): Tensor {
    return this.node('GlobalAveragePool', [x.name], {}, name ?? this.fresh('gap'));
  }

  flatten(x: Tensor, axis = 1, name?: string): Tensor {
    return this.node('Flatten', [x.name], { axis }, name ?? this.fresh('flatten'));
  }

  /** Linear layer on [N, in]: Gemm with transB = 1 (weights [out, in], as PyTorch stores them). */
  gemm(x: Tensor, outFeatures: number, name?: string): Tensor {
    const n = name ?? this.fresh('fc');
    const inFeatures = x.shape[x.shape.length - 1];
    if (typeof inFeatures !== 'number') invalidArgument('gemm input', 'a known feature dimension', formatShape(x.shape));
    const w = this.constant(`${n}.weight`, [outFeatures, inFeatures], this.heNormal(outFeatures * inFeatures, inFeatures));
    const b = this.constant(`${n}.bias`, [outFeatures], new Float32Array(outFeatures));
    return this.node('Gemm', [x.name, w.name, b.name], { transB: 1, alpha: { float: 1 }, beta: { float: 1 } }, n);
  }

  /** x @ W (+ b) on the last axis, for token features [N, T, D]. */
  linear(x: Tensor, outFeatures: number, options: { name?: string; bias?: boolean } = {}): Tensor {
    const n = options.name ?? this.fresh('linear');
    const inFeatures = x.shape[x.shape.length - 1];
    if (typeof inFeatures !== 'number') invalidArgument('linear input', 'a known feature dimension', formatShape(x.shape));
    const w = this.constant(`${n}.weight`, [inFeatures, outFeatures], this.heNormal(outFeatures * inFeatures, inFeatures));
    const y = this.node('MatMul', [x.name, w.name], {}, options.bias === false ? n : `${n}.matmul`);
    if (options.bias === false) return y;
    const b = this.constant(`${n}.bias`, [outFeatures], new Float32Array(outFeatures));
    return this.node('Add', [y.name, b.name], {}, n);
  }

  matMul(a: Tensor, b: Tensor, name?: string): Tensor {
    return this.node('MatMul', [a.name, b.name], {}, name ?? this.fresh('matmul'));
  }

  transpose(x: Tensor, perm: number[], name?: string): Tensor {
    return this.node('Transpose', [x.name], { perm }, name ?? this.fresh('transpose'));
  }

  softmax(x: Tensor, axis = -1, name?: string): Tensor {
    return this.node('Softmax', [x.name], { axis }, name ?? this.fresh('softmax'));
  }

  mulScalar(x: Tensor, value: number, name?: string): Tensor {
    const n = name ?? this.fresh('mul');
    return this.node('Mul', [x.name, this.constant(`${n}.scalar`, [], [value]).name], {}, n);
  }

  layerNorm(x: Tensor, options: { name?: string; epsilon?: number } = {}): Tensor {
    const n = options.name ?? this.fresh('layernorm');
    const d = x.shape[x.shape.length - 1];
    if (typeof d !== 'number') invalidArgument('layerNorm input', 'a known last dimension', formatShape(x.shape));
    const scale = this.constant(`${n}.weight`, [d], new Float32Array(d).fill(1));
    const bias = this.constant(`${n}.bias`, [d], new Float32Array(d));
    return this.node('LayerNormalization', [x.name, scale.name, bias.name], { axis: -1, epsilon: { float: options.epsilon ?? 1e-5 } }, n);
  }

  /** Any other operator, for what the named helpers do not cover. */
  op(opType: string, inputs: Tensor[], attributes: Record<string, AttrValue> = {}, name?: string): Tensor {
    return this.node(opType, inputs.map((t) => t.name), attributes, name ?? this.fresh(opType.toLowerCase()));
  }

  /** The finished model: opset import, initializers, and value_info for every intermediate tensor. */
  build(): ModelProto {
    if (this.outputs.length === 0) invalidArgument('graph outputs', 'at least one output (call output())', 0);
    const declared = new Set([...this.inputs, ...this.outputs].map((t) => t.name));
    const valueInfo = this.nodes.flatMap((n) => n.output ?? [])
      .filter((o) => !declared.has(o) && this.types.has(o))
      .map((o) => makeValueInfo(o, this.types.get(o)!));
    return {
      irVersion: IR_VERSION,
      producerName: 'kqkd',
      producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: this.opset }],
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

  private node(opType: string, inputs: string[], attributes: Record<string, AttrValue>, name: string, output = name): Tensor {
    this.claim(output);
    const node: NodeProto = {
      name, opType, input: inputs, output: [output],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    };
    const [type] = inferNodeTypes(node, inputs.map((i) => this.types.get(i) ?? null), (i) => this.constants.get(inputs[i]) ?? null);
    if (!type?.shape) invalidArgument(`${opType} node "${name}"`, 'inputs whose shapes the builder can follow',
      inputs.map((i) => `${i} ${formatShape(this.types.get(i)?.shape ?? null)}`).join(', '));
    this.nodes.push(node);
    this.types.set(output, type);
    return { name: output, shape: type.shape };
  }

  private channels(x: Tensor, what: string): number {
    const c = x.shape[1];
    if (typeof c !== 'number' || x.shape.length < 3) invalidArgument(what, 'an NC... tensor with a known channel count', formatShape(x.shape));
    return c;
  }

  private fresh(prefix: string): string {
    const k = this.counters.get(prefix) ?? 0;
    this.counters.set(prefix, k + 1);
    return `${prefix}${k}`;
  }

  private claim(name: string): void {
    if (this.types.has(name)) invalidArgument('tensor name', 'a name not used yet in this graph', name);
  }
}
