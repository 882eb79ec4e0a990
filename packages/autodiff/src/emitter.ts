/**
 * A growing list of nodes, initializers and value_info for a generated graph, with fresh-name allocation.
 * Gradient rules write through it, so every constant they need becomes a named initializer and every tensor
 * whose shape is known gets a value_info entry (MaxPoolGrad/AveragePoolGrad need static output shapes).
 */
import { KqkdError } from '@kqkd/common';
import { AttributeType, DataType, makeValueInfo, type AttributeProto, type NodeProto, type Shape, type TensorProto, type ValueInfoProto } from '@kqkd/onnx';

export const MS = 'com.microsoft';
export type AttrValue = number | number[] | string | { float: number };

export function attr(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  return { name, type: AttributeType.FLOAT, f: value.float };
}

export function floatTensor(name: string, dims: number[], data: Float32Array | number[]): TensorProto {
  const values = data instanceof Float32Array ? data : Float32Array.from(data);
  const copy = new Uint8Array(values.byteLength);
  copy.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return { name, dims, dataType: DataType.FLOAT, rawData: copy };
}

export function int64Tensor(name: string, values: number[], dims: number[] = [values.length]): TensorProto {
  const raw = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dims, dataType: DataType.INT64, rawData: new Uint8Array(raw.buffer) };
}

export class Emitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly valueInfo: ValueInfoProto[] = [];
  private readonly used: Set<string>;
  private counter = 0;

  constructor(usedNames: Iterable<string>) {
    this.used = new Set(usedNames);
  }

  /** A name not used anywhere in the graph yet, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}.${++this.counter}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): string {
    if (this.used.has(name)) throw new KqkdError('generated tensor name', 'a name not used in the forward graph', `"${name}"`);
    this.used.add(name);
    return name;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> | AttributeProto[] = {}, domain = '', name?: string): string[] {
    const attribute = Array.isArray(attrs) ? attrs : Object.entries(attrs).map(([k, v]) => attr(k, v));
    const n: NodeProto = { name: name ?? this.fresh(`${outputs.find((o) => o) ?? opType}.node`), opType, input: inputs, output: outputs, attribute };
    if (domain) n.domain = domain;
    this.nodes.push(n);
    return outputs;
  }

  /** One-output node into a fresh tensor named after `base`. */
  op(opType: string, inputs: string[], base: string, attrs: Record<string, AttrValue> | AttributeProto[] = {}, domain = '', shape?: Shape): string {
    const out = this.fresh(base);
    this.node(opType, inputs, [out], attrs, domain);
    if (shape) this.shape(out, shape);
    return out;
  }

  constF(base: string, dims: number[], values: number[]): string {
    const name = this.fresh(base);
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  constI64(base: string, values: number[]): string {
    const name = this.fresh(base);
    this.initializers.push(int64Tensor(name, values));
    return name;
  }

  shape(name: string, shape: Shape, elemType: number = DataType.FLOAT): void {
    this.valueInfo.push(makeValueInfo(name, { elemType, shape }));
  }
}
