import { closeSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fsErrorText, KqkdError, invalidArgument, writeFileAtomic } from '@kqkd/common';
import { DataType, onnx, toInt, type ModelProto, type NodeProto } from './proto.js';
import { graphTensorTypes, valueInfoType, type TensorType } from './shapes.js';

/** Decodes an ONNX ModelProto from bytes; `source` names the file in errors. */
export function decodeModel(bytes: Uint8Array, source = 'model bytes'): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new KqkdError(source, 'a valid ONNX ModelProto', `${bytes.byteLength} bytes that do not decode`, (err as Error).message);
  }
  if (!model.graph) throw new KqkdError(source, 'an ONNX model with a graph', 'a ModelProto without a graph');
  return model;
}

/** Serialises a model to protobuf bytes (deterministic for a given message). */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model as InstanceType<typeof onnx.ModelProto>).finish();
}

/** Loads an ONNX model from a file path (external tensor data inlined, see `readModelFile`) or from its bytes. */
export function loadModel(source: string | Uint8Array): ModelProto {
  if (source instanceof Uint8Array) return decodeModel(source);
  return readModelFile(source, 'source').model;
}

const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL

/**
 * Reads an ONNX file. Tensors stored as external data (large models keep their weights in files next to the .onnx)
 * are read into the model, so it can travel as bytes (sessions, exports, exposing outputs); a data file must lie in
 * the model's own folder or below it — a `location` that leaves it (`../`, an absolute path, a link out) is refused.
 * `bytes` is the model as read when it has no external data, else the self-contained re-encoding.
 */
export function readModelFile(path: string, arg = 'model'): { model: ModelProto; bytes: Uint8Array; source: string } {
  if (typeof path !== 'string' || path.length === 0) invalidArgument(arg, 'a path to an .onnx file', path);
  const source = `ONNX file "${path}"`;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KqkdError(arg, 'a readable .onnx file', `"${path}"`, fsErrorText(err));
  }
  const model = decodeModel(bytes, source);
  const external = (model.graph!.initializer ?? []).filter((t) => t.dataLocation === EXTERNAL);
  if (external.length === 0) return { model, bytes, source };
  const folder = realpathSync(dirname(resolve(path)));
  for (const t of external) {
    const entry = (key: string) => (t.externalData ?? []).find((e) => e.key === key)?.value ?? undefined;
    const location = entry('location');
    const where = `${source} initializer "${t.name}"`;
    if (!location) throw new KqkdError(where, 'external data with a location', 'none');
    const file = resolve(folder, location);
    const outside = (p: string) => { const r = relative(folder, p); return r.startsWith('..') || isAbsolute(r); };
    if (isAbsolute(location) || outside(file)) {
      throw new KqkdError(where, `a data file inside the model's folder ${folder}`, `"${location}" (outside it)`);
    }
    let real: string;
    try {
      real = realpathSync(file);
    } catch (err) {
      throw new KqkdError(where, `its data file "${location}" next to the model`, fsErrorText(err));
    }
    if (outside(real)) throw new KqkdError(where, `a data file inside the model's folder ${folder}`, `"${location}" (a link to ${real}, outside it)`);
    const offset = Number(entry('offset') ?? 0);
    const size = statSync(real).size;
    const length = entry('length') !== undefined ? Number(entry('length')) : size - offset;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new KqkdError(where, `offset + length within "${location}" (${size} bytes)`, `offset ${entry('offset') ?? 0}, length ${entry('length') ?? 'to the end'}`);
    }
    const data = new Uint8Array(length);
    const fd = openSync(real, 'r');
    try {
      for (let got = 0; got < length;) {
        const r = readSync(fd, data, got, length - got, offset + got);
        if (r === 0) break;
        got += r;
      }
    } finally {
      closeSync(fd);
    }
    t.rawData = data;
    t.dataLocation = 0;
    t.externalData = [];
  }
  return { model, bytes: encodeModel(model), source };
}

/** Writes the model atomically (temp file + rename). */
export function saveModel(model: ModelProto, path: string): void {
  if (typeof path !== 'string' || path.length === 0) invalidArgument('path', 'a file path', path);
  writeFileAtomic(path, encodeModel(model));
}

/** Deep copy through the wire format, so edits never touch the caller's model. */
export function cloneModel(model: ModelProto): ModelProto {
  return onnx.ModelProto.decode(encodeModel(model));
}

export interface TensorInfo extends TensorType {
  name: string;
}

/** Graph inputs that are real inputs (not initializers listed as inputs, as older exporters do). */
export function graphInputs(model: ModelProto): TensorInfo[] {
  const graph = model.graph ?? {};
  const inits = new Set((graph.initializer ?? []).map((t) => t.name));
  return (graph.input ?? []).filter((vi) => vi.name && !inits.has(vi.name))
    .map((vi) => ({ name: vi.name!, ...(valueInfoType(vi) ?? { elemType: 0, shape: null }) }));
}

export function graphOutputs(model: ModelProto): TensorInfo[] {
  return (model.graph?.output ?? []).filter((vi) => vi.name)
    .map((vi) => ({ name: vi.name!, ...(valueInfoType(vi) ?? { elemType: 0, shape: null }) }));
}

/** Types of every tensor: declared (inputs, outputs, value_info, initializers) or inferred. */
export function tensorTypes(model: ModelProto): Map<string, TensorType> {
  return graphTensorTypes(model.graph ?? {}, topologicalNodes(model));
}

/**
 * Nodes in topological order (Kahn's algorithm, stable: ties keep file order). Exporters usually emit sorted
 * graphs, but the ONNX spec only requires it loosely; a cycle is reported rather than looped on.
 */
export function topologicalNodes(model: ModelProto): NodeProto[] {
  const nodes = model.graph?.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)));
  const indegree = nodes.map(() => 0);
  const consumers: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const deps = new Set<number>();
    for (const inp of n.input ?? []) {
      const p = inp ? producer.get(inp) : undefined;
      if (p !== undefined && p !== i) deps.add(p);
    }
    indegree[i] = deps.size;
    for (const p of deps) consumers[p].push(i);
  });
  // Min-index ready set keeps the original order whenever it is already valid.
  const ready: number[] = [];
  indegree.forEach((d, i) => d === 0 && ready.push(i));
  const order: NodeProto[] = [];
  while (ready.length > 0) {
    let best = 0;
    for (let k = 1; k < ready.length; k++) if (ready[k] < ready[best]) best = k;
    const i = ready.splice(best, 1)[0];
    order.push(nodes[i]);
    for (const c of consumers[i]) if (--indegree[c] === 0) ready.push(c);
  }
  if (order.length !== nodes.length) {
    throw new KqkdError('model', 'an acyclic ONNX graph', `a graph where ${nodes.length - order.length} nodes are on a cycle`);
  }
  return order;
}

/**
 * The learned parameters of an inference model: the values of its floating-point initializers, leaving out what is
 * not learned by gradient — BatchNormalization's running mean and variance, scalar constants (Clip bounds, scale
 * factors) — and integer tensors (shapes, indices).
 */
export function countParameters(model: ModelProto): number {
  const statistics = new Set<string>();
  for (const n of model.graph?.node ?? []) {
    if (n.opType === 'BatchNormalization') for (const i of [3, 4]) if (n.input?.[i]) statistics.add(n.input[i]);
  }
  const floating = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, 16 /* BFLOAT16 */]);
  let total = 0;
  for (const t of model.graph?.initializer ?? []) {
    if (statistics.has(t.name ?? '') || !floating.has(t.dataType ?? 0) || (t.dims ?? []).length === 0) continue;
    total += (t.dims ?? []).reduce((p: number, d) => p * toInt(d), 1);
  }
  return total;
}
