/**
 * `train`: trains a model of the zoo (or one written with the graph-builder DSL) on a dataset with cross-entropy, or
 * with a distillation objective, on the `native` or `web-training` backend (@kqkd/train). Writes the run folder
 * (`runDir`: checkpoint/, metrics, results.json, model.onnx, and model-epoch-<N>.onnx after the `saveEpochs`); calling it
 * again on the same folder resumes, bit-exactly.
 * `onProgress` reports every batch and epoch; an aborted `signal` stops at the next optimizer step with a checkpoint.
 * `threads` sets the intra-op threads and `executionProvider` ('cpu' | 'cuda') the device of the training sessions.
 */
import { expectOneOf, KqkdError } from '@kqkd/common';
import { DEFAULT_BACKEND, train as trainRun, type TrainOptions, type TrainResults } from '@kqkd/train';

export const EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export async function train(o: TrainOptions): Promise<TrainResults> {
  if (o?.executionProvider !== undefined) {
    const provider = expectOneOf('executionProvider', o.executionProvider, EXECUTION_PROVIDERS);
    // CUDA is the native backend's execution provider; the training build runs in wasm and would silently ignore it.
    if (provider === 'cuda' && (o.backend ?? DEFAULT_BACKEND) !== 'native') {
      throw new KqkdError('executionProvider', `"cpu" with the ${o.backend} backend (CUDA runs the native backend only)`, '"cuda"');
    }
  }
  return trainRun(o);
}
