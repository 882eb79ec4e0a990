/**
 * The ONNX protobuf messages, from the protobufjs-generated `onnx-proto` package (ONNX v1.10 schema). Everything
 * else in this package works on these message objects; int64 fields may decode as `Long`, so read them with `toInt`.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

export const onnx = onnxProto.onnx;

export type ModelProto = OnnxTypes.IModelProto;
export type GraphProto = OnnxTypes.IGraphProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type ValueInfoProto = OnnxTypes.IValueInfoProto;
export type AttributeProto = OnnxTypes.IAttributeProto;

/** ONNX TensorProto.DataType codes used here. */
export const DataType = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10,
  DOUBLE: 11, UINT32: 12, UINT64: 13,
} as const;

export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

interface LongLike { toNumber(): number }

/** int64 fields decode as number or Long depending on magnitude and the protobufjs build: normalise to number. */
export function toInt(value: number | LongLike | null | undefined, fallback = 0): number {
  if (value === null || value === undefined) return fallback;
  return typeof value === 'number' ? value : value.toNumber();
}

export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name);
  return a ? toInt(a.i as number | LongLike | null, fallback) : fallback;
}

export function attrFloat(node: NodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name);
  return a && typeof a.f === 'number' ? a.f : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  return a?.ints ? a.ints.map((v) => toInt(v as number | LongLike)) : undefined;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const a = getAttribute(node, name);
  return a?.s ? Buffer.from(a.s).toString('utf8') : undefined;
}

/** Values of a (small) constant tensor as numbers, or null for types this package does not decode. */
export function tensorValues(t: TensorProto): number[] | null {
  const type = t.dataType ?? 0;
  const raw = t.rawData && t.rawData.byteLength > 0 ? t.rawData : null;
  if (raw) {
    const copy = new Uint8Array(raw); // copy: raw views may be unaligned slices of the decode buffer
    const dv = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
    const out: number[] = [];
    const step = type === DataType.FLOAT || type === DataType.INT32 ? 4
      : type === DataType.INT64 || type === DataType.DOUBLE ? 8 : type === DataType.UINT8 || type === DataType.BOOL ? 1 : 0;
    if (step === 0) return null;
    for (let off = 0; off + step <= dv.byteLength; off += step) {
      if (type === DataType.FLOAT) out.push(dv.getFloat32(off, true));
      else if (type === DataType.INT32) out.push(dv.getInt32(off, true));
      else if (type === DataType.INT64) out.push(Number(dv.getBigInt64(off, true)));
      else if (type === DataType.DOUBLE) out.push(dv.getFloat64(off, true));
      else out.push(dv.getUint8(off));
    }
    return out;
  }
  if (type === DataType.FLOAT) return (t.floatData ?? []).slice();
  if (type === DataType.DOUBLE) return (t.doubleData ?? []).slice();
  if (type === DataType.INT64) return (t.int64Data ?? []).map((v) => toInt(v as number | LongLike));
  if (type === DataType.INT32 || type === DataType.UINT8 || type === DataType.BOOL) return (t.int32Data ?? []).slice();
  return null;
}

/** A weight that is not a finite number: the initializer (or Constant node output), the flat index, the value. */
export interface NonFiniteWeight {
  tensor: string;
  index: number;
  value: number;
}

/**
 * The first NaN or ±Infinity among a model's float initializers and Constant tensors, or null. Float data is read in
 * place (no per-value array), so scanning a large teacher costs one pass over its bytes.
 */
export function firstNonFiniteWeight(model: ModelProto): NonFiniteWeight | null {
  const tensors: { name: string; t: TensorProto }[] = (model.graph?.initializer ?? []).map((t) => ({ name: t.name ?? '', t }));
  for (const n of model.graph?.node ?? []) {
    const value = n.opType === 'Constant' ? getAttribute(n, 'value')?.t : undefined;
    if (value) tensors.push({ name: n.output?.[0] ?? n.name ?? 'Constant', t: value });
  }
  for (const { name, t } of tensors) {
    const type = t.dataType ?? 0;
    if (type !== DataType.FLOAT && type !== DataType.DOUBLE) continue;
    const raw = t.rawData && t.rawData.byteLength > 0 ? t.rawData : null;
    let values: ArrayLike<number>;
    if (raw) {
      const copy = new Uint8Array(raw); // aligned: raw views may be unaligned slices of the decode buffer
      values = type === DataType.FLOAT ? new Float32Array(copy.buffer, 0, copy.byteLength >> 2) : new Float64Array(copy.buffer, 0, copy.byteLength >> 3);
    } else {
      values = (type === DataType.FLOAT ? t.floatData : t.doubleData) ?? [];
    }
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return { tensor: name, index: i, value: values[i] };
  }
  return null;
}
