import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, expectInteger, expectOneOf, invalidArgument, invalidArgumentText, KqkdError, makeDirs, writeAllSync } from '@kqkd/common';
import {
  batches, classBalancedIndices, datasetNormalization, loadDataset, DATASET_NAMES, DATASETS, FASHION_MNIST_DIR,
  type Dataset, type DatasetName, type LoadDatasetOptions, type Normalization,
} from '@kqkd/data';
import { decodeModel, encodeModel, exposeOutputs, findGeneralizedLayers, graphInputs, readModelFile, type GeneralizedLayer } from '@kqkd/onnx';
import { createInferenceSession, runFeatureExtraction, type InferenceSession } from '@kqkd/runtime';
import { MAX_FEATURE_DIM, poolAndFlatten } from './features.js';
import { scoreLayers, type KqReport, type ScoreOptions } from './score.js';

/** Every dataset of @kqkd/data: fashion-mnist, cifar10, cifar100, tiny-imagenet. */
export const MODEL_DATASETS = DATASET_NAMES;
export type ModelDataset = DatasetName;

export interface ScoreModelOptions extends Omit<ScoreOptions, 'datasetSize' | 'onProgress'> {
  /** An ONNX classifier taking [N, C, H, W] float input: its path, or its bytes (a teacher held in memory). */
  model: string | Uint8Array;
  /**
   * The training split of a dataset by name (opened here, streamed), or an already-open @kqkd/data `Dataset` (any
   * split, e.g. limited to its first N samples); its `count` is the training-set size that enters E.
   */
  dataset: ModelDataset | Dataset;
  /** The dataset's folder, with a name: required for cifar10, cifar100, tiny-imagenet and image-folder (Fashion-MNIST defaults to Debian's). */
  dataDir?: string;
  /** With the name 'image-folder': its options (imageSize, channels, testFraction, splitSeed, cacheDir, skipBad, onProgress, log). */
  dataOptions?: Omit<LoadDatasetOptions, 'dir' | 'split' | 'cache'>;
  /**
   * Input normalisation, default `NORMALIZATION[dataset name]` (the constants training uses; an image folder's own
   * training statistics); 'dataset' takes the
   * open Dataset's own `normalization`, 'none' is pixel/255.
   */
  normalization?: 'dataset' | 'none' | Normalization;
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
  model: {
    /** The .onnx file, or null for a model given as bytes. */
    path: string | null;
    /** SHA-256 (hex) of the model's bytes, as given or as read from `path`. */
    sha256: string;
    input: string;
    inputShape: number[];
    headStartsAfter: number;
    layers: GeneralizedLayer[];
  };
  dataset: {
    name: ModelDataset;
    split: 'train' | 'test';
    /** Images in the split used (after any limit of an open Dataset): the size that enters E. */
    size: number;
    samples: number;
    sampleSeed: number;
    /** The folder opened, or null for an open Dataset (its folder is not known here). */
    dir: string | null;
    normalization: { mean: number[]; std: number[] };
  };
}

function readModel(model: unknown): { bytes: Uint8Array; path: string | null; source: string } {
  if (model instanceof Uint8Array) return { bytes: model, path: null, source: `<${model.byteLength} model bytes>` };
  if (typeof model !== 'string' || model.length === 0) invalidArgument('model', 'a path to an .onnx file or its bytes (Uint8Array)', model);
  // external tensor data next to the model is read in (and refused when it lies outside the model's folder)
  const { bytes } = readModelFile(model);
  return { bytes, path: model, source: model };
}

async function openDataset(options: ScoreModelOptions): Promise<{ dataset: Dataset; dir: string | null }> {
  const { dataset, dataDir } = options;
  if (typeof dataset === 'string') {
    const name = expectOneOf('dataset', dataset, MODEL_DATASETS);
    if (dataDir === undefined) {
      if (name !== 'fashion-mnist') {
        throw new KqkdError('dataDir', `the ${DATASETS[name].title} folder (${name} is not installed by default; pass its folder, CLI --data-dir DIR)`, 'nothing');
      }
    } else if (typeof dataDir !== 'string' || dataDir.length === 0) {
      invalidArgument('dataDir', 'a folder path', dataDir);
    }
    const opened = await loadDataset(name, { ...(options.dataOptions ?? {}), split: 'train', ...(dataDir !== undefined ? { dir: dataDir } : {}) });
    return { dataset: opened, dir: dataDir ?? FASHION_MNIST_DIR };
  }
  if (!dataset || typeof dataset !== 'object' || typeof (dataset as Dataset).readImages !== 'function') {
    invalidArgument('dataset', `a dataset name (${MODEL_DATASETS.join(', ')}) or an open Dataset (@kqkd/data loadDataset)`, dataset);
  }
  if (dataDir !== undefined) invalidArgument('dataDir', 'nothing with an open Dataset (its folder was given when it was opened)', dataDir);
  expectOneOf('dataset.name', dataset.name, MODEL_DATASETS);
  expectInteger('dataset.count', dataset.count, 1);
  if (!dataset.labels || dataset.labels.length !== dataset.count) {
    invalidArgumentText('dataset.labels', `${dataset.count} labels (one per image, dataset.count)`, String(dataset.labels?.length));
  }
  return { dataset, dir: null };
}

function resolveNormalization(option: ScoreModelOptions['normalization'], dataset: Dataset): Normalization {
  if (option === undefined) return datasetNormalization(dataset);
  if (option === 'dataset') return dataset.normalization;
  if (option === 'none') return { mean: new Array(dataset.channels).fill(0), std: new Array(dataset.channels).fill(1) };
  if (option && typeof option === 'object' && Array.isArray(option.mean) && Array.isArray(option.std)) return option;
  return invalidArgument('normalization', '"dataset", "none" or { mean, std }', option);
}

/** The model's input fits the dataset ([N, C, H, W]) and the batch size; returns [C, H, W]. */
function checkInputFits(input: ReturnType<typeof graphInputs>[number], dataset: { channels: number; height: number; width: number; name: string }, batchSize: number, where: string): number[] {
  const expected = [dataset.channels, dataset.height, dataset.width];
  const declared = (input.shape ?? []).slice(1);
  if (declared.length !== 3 || declared.some((d, i) => typeof d === 'number' && d !== expected[i])) {
    invalidArgumentText('model', `an input of shape [N, ${expected.join(', ')}] for ${dataset.name}`,
      `input "${input.name}" of shape [${(input.shape ?? []).join(', ')}] in ${where}`);
  }
  const fixedBatch = (input.shape ?? [])[0];
  if (typeof fixedBatch === 'number' && fixedBatch !== batchSize) {
    invalidArgumentText('model', `an input with a symbolic batch dimension (or batchSize ${fixedBatch})`,
      `input "${input.name}" of shape [${(input.shape ?? []).join(', ')}] in ${where}: a fixed batch of ${fixedBatch}`);
  }
  return expected;
}

/** A class-balanced seeded sample of `samples` images (the same number per class; every class must have enough). */
function sampleIndices(dataset: Dataset, samples: number, seed: number): number[] {
  const perClass = Math.floor(samples / dataset.classes);
  if (perClass < 2) invalidArgumentText('samples', `at least ${2 * dataset.classes} (2 per class)`, String(samples));
  const perClassCount = new Array<number>(dataset.classes).fill(0);
  for (const l of dataset.labels) if (l < dataset.classes) perClassCount[l]++;
  const fewest = Math.min(...perClassCount);
  if (fewest < perClass) {
    const c = perClassCount.indexOf(fewest);
    invalidArgumentText('samples', fewest < 2
      ? `a dataset with at least 2 images of every class (class ${c} of ${dataset.name} ${dataset.split} has ${fewest} in ${dataset.count})`
      : `at most ${fewest * dataset.classes} (class ${c} of ${dataset.name} ${dataset.split} has ${fewest} images in ${dataset.count})`,
    String(samples));
  }
  const indices = classBalancedIndices(dataset.labels, perClass, createRng(seed), dataset.classes);
  return indices;
}

/**
 * Streams the sample through the session and appends each layer's pooled/flattened features to its own file in
 * workDir (nothing of a failed extraction stays behind: a full disk is where it usually fails).
 */
async function extractToFiles(session: InferenceSession, c: {
  input: string; dataset: Dataset; indices: number[]; batchSize: number; normalization: Normalization; layers: GeneralizedLayer[];
  workDir: string; maxDim: number; progress: NonNullable<ScoreModelOptions['onProgress']>;
}) {
  const { dataset, indices, batchSize, normalization, layers, workDir, maxDim, progress } = c;
  const input = c.input;
  const n = indices.length;
  rmSync(workDir, { recursive: true, force: true });
  makeDirs(workDir, 'workDir');
  const files = layers.map((l, i) => join(workDir, `layer-${i}.f32`));
  const fds = files.map((f) => openSync(f, 'w'));
  const sampleShapes: number[][] = layers.map(() => []);
  const dims: number[] = layers.map(() => 0);
  try {
    const totalBatches = Math.ceil(n / batchSize);
    progress({ stage: 'extracting features', done: 0, total: totalBatches });
    await runFeatureExtraction(session, {
      inputName: input,
      batches: batches(dataset, { indices, batchSize, normalization }),
      outputs: layers.map((l) => l.tensor),
      onBatch: (batch) => {
        layers.forEach((layer, i) => {
          const out = batch.outputs[layer.tensor];
          const pooled = poolAndFlatten(out.data, out.shape, maxDim);
          sampleShapes[i] = out.shape.slice(1);
          dims[i] = pooled.dim;
          const bytes = new Uint8Array(pooled.data.buffer, pooled.data.byteOffset, pooled.data.byteLength);
          writeAllSync(fds[i], bytes, files[i], `the features of layer ${layer.index} (the folder is removed again)`);
        });
        progress({ stage: 'extracting features', done: batch.index + 1, total: totalBatches, detail: `${batch.offset + batch.batchSize} samples` });
      },
    });
  } catch (err) {
    // Nothing of a failed extraction stays behind (a full disk is where it usually fails).
    fds.forEach((fd) => closeSync(fd));
    fds.length = 0;
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  } finally {
    fds.forEach((fd) => closeSync(fd));
    await session.release();
  }

  return { files, sampleShapes, dims };
}

/**
 * Knowledge Quality of every generalized layer of an ONNX teacher: finds the layers, exposes them as outputs,
 * streams a class-balanced sample of the dataset through onnxruntime-node (pixels read or decoded one batch at a
 * time, the next batch prefetched), pools/flattens each batch (KQ-SPEC §0) and appends it to one file per layer,
 * then scores the layers one at a time. RAM holds a batch during extraction and one layer during scoring, whatever
 * the sample size (Fashion-MNIST by name is read whole, 47 MB, as @kqkd/data does).
 */
export async function scoreModel(options: ScoreModelOptions): Promise<ModelKqReport> {
  const samples = expectInteger('samples', options.samples ?? 6000, 2);
  const batchSize = expectInteger('batchSize', options.batchSize ?? 250, 1);
  const seed = expectInteger('seed', options.seed ?? 0, 0);
  const progress = options.onProgress ?? (() => {});

  const source = readModel(options.model);
  const model = decodeModel(source.bytes, source.path === null ? 'model bytes' : `ONNX file "${source.path}"`);
  const found = findGeneralizedLayers(model, options.layers ? { names: options.layers } : {});
  if (found.layers.length === 0) {
    throw new KqkdError('model', 'a classifier with generalized layers (ReLU/ReLU6/LeakyReLU, residual or transformer blocks, Flatten)',
      `none found in ${source.source}`, 'pass explicit tensor names with layers / --layers');
  }
  const inputs = graphInputs(model);
  if (inputs.length !== 1) {
    invalidArgumentText('model', 'a model with exactly one (image) input', `${inputs.length} inputs in ${source.source}`);
  }
  const input = inputs[0];

  const { dataset, dir } = await openDataset(options);
  const normalization = resolveNormalization(options.normalization, dataset);
  const expected = checkInputFits(input, dataset, batchSize, source.source);
  const indices = sampleIndices(dataset, samples, seed);
  const n = indices.length;
  const labels = Int32Array.from(indices, (i) => dataset.labels[i]);

  const session = await createInferenceSession(encodeModel(exposeOutputs(model, found.layers.map((l) => l.tensor))),
    { threads: options.inferenceThreads, name: source.source });
  const workDir = options.workDir;
  const { files, sampleShapes, dims } = await extractToFiles(session, { input: input.name, dataset, indices, batchSize, normalization, layers: found.layers, workDir, maxDim: options.maxFeatureDim ?? MAX_FEATURE_DIM, progress });
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
      model: {
        path: source.path, sha256: createHash('sha256').update(source.bytes).digest('hex'), input: input.name,
        inputShape: [n, ...expected], headStartsAfter: found.headStartsAfter, layers: found.layers,
      },
      dataset: {
        name: dataset.name, split: dataset.split, size: dataset.count, samples: n, sampleSeed: seed, dir,
        normalization: { mean: [...normalization.mean], std: [...normalization.std] },
      },
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
