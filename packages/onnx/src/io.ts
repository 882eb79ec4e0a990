import { readFileSync } from 'node:fs';
import { KqkdError, invalidArgument, writeFileAtomic } from '@kqkd/common';
import { onnx, type ModelProto, type NodeProto } from './proto.js';
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

/** Loads an ONNX model from a file path or from its bytes. */
export function loadModel(source: string | Uint8Array): ModelProto {
  if (source instanceof Uint8Array) return decodeModel(source);
  if (typeof source !== 'string' || source.length === 0) invalidArgument('source', 'a path to an .onnx file or its bytes', source);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(source);
  } catch (err) {
    throw new KqkdError('source', 'a readable .onnx file', `"${source}"`, (err as Error).message);
  }
  return decodeModel(bytes, `ONNX file "${source}"`);
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
