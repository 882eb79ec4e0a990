import { KqkdError, invalidArgument } from '@kqkd/common';
import { cloneModel, tensorTypes } from './io.js';
import { closestNames } from './layers.js';
import { DataType, type ModelProto } from './proto.js';
import { makeValueInfo } from './shapes.js';

/**
 * A copy of `model` whose graph outputs also include `tensorNames` (the original outputs stay first, in order).
 * Types come from value_info or inference; a tensor of unknown shape is declared as float of unknown shape.
 */
export function exposeOutputs(model: ModelProto, tensorNames: string[]): ModelProto {
  if (!model?.graph) invalidArgument('model', 'an ONNX ModelProto with a graph', model);
  if (!Array.isArray(tensorNames)) invalidArgument('tensorNames', 'an array of tensor names', tensorNames);
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const available = new Set<string>();
  for (const vi of graph.input ?? []) if (vi.name) available.add(vi.name);
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) available.add(o);
  const types = tensorTypes(copy);
  const outputs = graph.output ?? (graph.output = []);
  const present = new Set(outputs.map((o) => o.name));
  tensorNames.forEach((name, i) => {
    if (typeof name !== 'string' || !available.has(name)) {
      throw new KqkdError(`tensorNames[${i}]`, 'the name of a tensor in the model', JSON.stringify(name),
        typeof name === 'string' ? `closest matches: ${closestNames(name, available).map((c) => `"${c}"`).join(', ')}` : undefined);
    }
    if (present.has(name)) return;
    present.add(name);
    outputs.push(makeValueInfo(name, types.get(name) ?? { elemType: DataType.FLOAT, shape: null }));
  });
  return copy;
}
