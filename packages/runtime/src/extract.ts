import { KqkdError, invalidArgument } from '@kqkd/common';
import type { FloatTensor, InferenceSession } from './session.js';

export interface FeatureBatch {
  /** 0-based batch number. */
  index: number;
  /** Samples in this batch (the input's first dimension). */
  batchSize: number;
  /** Samples before this batch. */
  offset: number;
  /** One entry per requested output; buffers belong to the callback once handed over. */
  outputs: Record<string, FloatTensor>;
}

export interface FeatureExtractionOptions {
  inputName: string;
  batches: AsyncIterable<FloatTensor> | Iterable<FloatTensor>;
  /** Graph outputs to fetch (generalized-layer tensors exposed with exposeOutputs). */
  outputs: string[];
  /** Called once per batch, in order, before the next batch runs; may be async (e.g. appending to a file). */
  onBatch: (batch: FeatureBatch) => void | Promise<void>;
}

export interface FeatureExtractionSummary {
  batches: number;
  samples: number;
}

/**
 * Streams `batches` through the session one at a time and hands each batch's outputs to `onBatch`. Only one
 * batch's input and outputs are alive at once, so memory stays bounded by the batch size whatever the dataset
 * size; pooling or appending to disk is the callback's business.
 */
export async function runFeatureExtraction(session: InferenceSession, options: FeatureExtractionOptions): Promise<FeatureExtractionSummary> {
  const { inputName, batches, outputs, onBatch } = options;
  if (!session || typeof session.run !== 'function') invalidArgument('session', 'a session from createInferenceSession', session);
  if (!session.inputNames.includes(inputName)) {
    throw new KqkdError('inputName', `an input of ${session.source} (${session.inputNames.map((n) => `"${n}"`).join(', ')})`, JSON.stringify(inputName));
  }
  if (!Array.isArray(outputs) || outputs.length === 0) invalidArgument('outputs', 'a non-empty array of output names', outputs);
  if (typeof onBatch !== 'function') invalidArgument('onBatch', 'a callback function', onBatch);
  if (!batches || (typeof (batches as AsyncIterable<FloatTensor>)[Symbol.asyncIterator] !== 'function'
    && typeof (batches as Iterable<FloatTensor>)[Symbol.iterator] !== 'function')) {
    invalidArgument('batches', 'an iterable or async iterable of { data, shape }', batches);
  }
  let index = 0;
  let samples = 0;
  for await (const batch of batches) {
    if (!batch || !(batch.data instanceof Float32Array) || !Array.isArray(batch.shape)) {
      invalidArgument(`batches[${index}]`, 'a { data: Float32Array, shape: number[] } batch', batch);
    }
    const result = await session.run({ [inputName]: batch }, outputs);
    const batchSize = batch.shape[0] ?? 1;
    await onBatch({ index, batchSize, offset: samples, outputs: result });
    index++;
    samples += batchSize;
  }
  return { batches: index, samples };
}
