import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, expectInteger, invalidArgumentText, KqkdError } from '@kqkd/common';
import {
  classBalancedIndices, loadFashionMnist, toFloatBatch, FASHION_MNIST_MEAN, FASHION_MNIST_STD, type ImageDataset,
} from '@kqkd/data';
import { encodeModel, exposeOutputs, findGeneralizedLayers, graphInputs, loadModel, type GeneralizedLayer } from '@kqkd/onnx';
import { createInferenceSession, runFeatureExtraction } from '@kqkd/runtime';
import { MAX_FEATURE_DIM, poolAndFlatten } from './features.js';
import { scoreLayers, type KqReport, type ScoreOptions } from './score.js';

export const MODEL_DATASETS = ['fashion-mnist'] as const;
export type ModelDataset = (typeof MODEL_DATASETS)[number];

export interface ScoreModelOptions extends Omit<ScoreOptions, 'datasetSize' | 'onProgress'> {
  /** Path to an ONNX classifier taking [N, C, H, W] float input. */
  model: string;
  dataset: ModelDataset;
  dataDir?: string;
  /** Explicit tensor names instead of the detected generalized layers. */
  layers?: string[];
  /** Class-balanced training samples to run through the model (default 6000). */
  samples?: number;
  batchSize?: number;
  /** Folder for the streamed per-layer feature files (deleted afterwards). */
  workDir: string;
  /** Threads for onnxruntime (default: its own choice). */
  inferenceThreads?: number;
  onProgress?: (event: { stage: string; done: number; total: number; detail?: string }) => void;
}

export interface ModelKqReport extends KqReport {
  model: { path: string; input: string; inputShape: number[]; headStartsAfter: number; layers: GeneralizedLayer[] };
  dataset: { name: ModelDataset; split: 'train'; size: number; samples: number; sampleSeed: number };
}

function loadDataset(name: ModelDataset, dir?: string): ImageDataset {
  switch (name) {
    case 'fashion-mnist':
      return loadFashionMnist({ dir, split: 'train' });
  }
}

/**
 * Knowledge Quality of every generalized layer of an ONNX teacher: finds the layers, exposes them as outputs,
 * streams a class-balanced training sample through onnxruntime-node, pools/flattens each batch (KQ-SPEC §0)
 * and appends it to one file per layer, then scores the layers one at a time. RAM holds one batch during
 * extraction and one layer during scoring, whatever the sample size.
 */
export async function scoreModel(options: ScoreModelOptions): Promise<ModelKqReport> {
  const samples = expectInteger('samples', options.samples ?? 6000, 2);
  const batchSize = expectInteger('batchSize', options.batchSize ?? 250, 1);
  const seed = expectInteger('seed', options.seed ?? 0, 0);
  const progress = options.onProgress ?? (() => {});

  const model = loadModel(options.model);
  const found = findGeneralizedLayers(model, options.layers ? { names: options.layers } : {});
  if (found.layers.length === 0) {
    throw new KqkdError('model', 'a classifier with generalized layers (ReLU/ReLU6/LeakyReLU, residual or transformer blocks, Flatten)',
      `none found in ${options.model}`, 'pass explicit tensor names with layers / --layers');
  }
  const inputs = graphInputs(model);
  if (inputs.length !== 1) {
    invalidArgumentText('model', 'a model with exactly one (image) input', `${inputs.length} inputs in ${options.model}`);
  }
  const input = inputs[0];

  const dataset = loadDataset(options.dataset, options.dataDir);
  const expected = [dataset.channels, dataset.height, dataset.width];
  const declared = (input.shape ?? []).slice(1);
  if (declared.length !== 3 || declared.some((d, i) => typeof d === 'number' && d !== expected[i])) {
    invalidArgumentText('model', `an input of shape [N, ${expected.join(', ')}] for ${options.dataset}`,
      `input "${input.name}" of shape [${(input.shape ?? []).join(', ')}] in ${options.model}`);
  }
  const perClass = Math.floor(samples / dataset.classes);
  if (perClass < 2) invalidArgumentText('samples', `at least ${2 * dataset.classes} (2 per class)`, String(samples));
  const indices = classBalancedIndices(dataset.labels, perClass, createRng(seed), dataset.classes);
  const n = indices.length;
  const labels = Int32Array.from(indices, (i) => dataset.labels[i]);

  const session = await createInferenceSession(encodeModel(exposeOutputs(model, found.layers.map((l) => l.tensor))),
    { threads: options.inferenceThreads });
  const workDir = options.workDir;
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const files = found.layers.map((l, i) => join(workDir, `layer-${i}.f32`));
  const fds = files.map((f) => openSync(f, 'w'));
  const sampleShapes: number[][] = found.layers.map(() => []);
  const dims: number[] = found.layers.map(() => 0);
  const maxDim = options.maxFeatureDim ?? MAX_FEATURE_DIM;
  try {
    const batches = function* () {
      for (let off = 0; off < n; off += batchSize) {
        yield toFloatBatch(dataset, indices.slice(off, off + batchSize), { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD });
      }
    };
    const totalBatches = Math.ceil(n / batchSize);
    progress({ stage: 'extracting features', done: 0, total: totalBatches });
    await runFeatureExtraction(session, {
      inputName: input.name,
      batches: batches(),
      outputs: found.layers.map((l) => l.tensor),
      onBatch: (batch) => {
        found.layers.forEach((layer, i) => {
          const out = batch.outputs[layer.tensor];
          const pooled = poolAndFlatten(out.data, out.shape, maxDim);
          sampleShapes[i] = out.shape.slice(1);
          dims[i] = pooled.dim;
          const bytes = new Uint8Array(pooled.data.buffer, pooled.data.byteOffset, pooled.data.byteLength);
          let off = 0;
          while (off < bytes.byteLength) off += writeSync(fds[i], bytes, off, bytes.byteLength - off);
        });
        progress({ stage: 'extracting features', done: batch.index + 1, total: totalBatches, detail: `${batch.offset + batch.batchSize} samples` });
      },
    });
  } finally {
    fds.forEach((fd) => closeSync(fd));
    await session.release();
  }

  try {
    progress({ stage: 'scoring layers', done: 0, total: found.layers.length });
    const report = await scoreLayers(
      found.layers.map((layer, i) => ({
        name: layer.tensor,
        index: layer.index,
        shape: [n, dims[i]],
        sampleShape: sampleShapes[i],
        // Loaded when its turn comes, so only one layer's features are in memory at a time.
        features: () => {
          const buf = readFileSync(files[i]);
          return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
        },
      })),
      labels,
      {
        ...options,
        datasetSize: dataset.count,
        onProgress: (e) => progress({ stage: 'scoring layers', done: e.done, total: e.total, detail: `${e.layer} ${e.seconds.toFixed(2)} s` }),
      },
    );
    return {
      ...report,
      model: { path: options.model, input: input.name, inputShape: [n, ...expected], headStartsAfter: found.headStartsAfter, layers: found.layers },
      dataset: { name: options.dataset, split: 'train', size: dataset.count, samples: n, sampleSeed: seed },
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
