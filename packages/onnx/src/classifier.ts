/**
 * What every command that runs a user's ONNX classifier (a teacher to import, a model to evaluate) checks before
 * any work: one image input `[N, C, H, W]` of the data's shape, logits for the data's classes, finite weights. A
 * model that fails is refused naming the model, the input/output/tensor and what came, before a folder is touched.
 */
import { KqkdError } from '@kqkd/common';
import { graphInputs, graphOutputs, type TensorInfo } from './io.js';
import { firstNonFiniteWeight, type ModelProto } from './proto.js';

export interface ImageData {
  /** Dataset name, for messages. */
  name: string;
  channels: number;
  height: number;
  width: number;
  classes: number;
}

/** Checks `model` as a classifier of `data`'s images; returns its image input and logits output. */
export function checkClassifier(model: ModelProto, modelName: string, data: ImageData, o: { weights?: boolean } = {}): { input: TensorInfo; output: TensorInfo } {
  const inputs = graphInputs(model);
  if (inputs.length !== 1) {
    throw new KqkdError(modelName, `an ONNX classifier with ONE image input [N, ${data.channels}, ${data.height}, ${data.width}]`,
      inputs.length === 0 ? 'a graph without inputs' : `${inputs.length} inputs: ${inputs.map((i) => `"${i.name}"`).join(', ')}`);
  }
  const input = inputs[0];
  const dims = input.shape ?? [];
  if (dims.length !== 4 || [data.channels, data.height, data.width].some((v, i) => typeof dims[i + 1] === 'number' && dims[i + 1] !== v)) {
    throw new KqkdError(`${modelName} input "${input.name}"`, `[N, ${data.channels}, ${data.height}, ${data.width}] (${data.name} images)`, `[${dims.join(', ')}]`);
  }
  const output = graphOutputs(model)[0];
  if (!output) throw new KqkdError(modelName, 'an ONNX classifier with a logits output [N, classes]', 'a graph without outputs');
  const out = output.shape;
  const last = out && out.length > 0 ? out[out.length - 1] : undefined;
  if (out && (out.length !== 2 || (typeof last === 'number' && last !== data.classes))) {
    throw new KqkdError(`${modelName} output "${output.name}"`, `logits [N, ${data.classes}] (${data.name} has ${data.classes} classes)`, `[${out.join(', ')}]`);
  }
  if (o.weights ?? true) {
    const bad = firstNonFiniteWeight(model);
    if (bad) {
      throw new KqkdError(`${modelName} weights`, 'finite numbers (a model with NaN or Infinity weights gives meaningless outputs)',
        `${String(bad.value)} in "${bad.tensor}" at flat index ${bad.index}`);
    }
  }
  return { input, output };
}
