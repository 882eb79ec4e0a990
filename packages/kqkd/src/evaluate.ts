/**
 * `evaluate`: top-1, per-class accuracy and the confusion matrix of any ONNX classifier (a kqkd teacher or student,
 * or a model from elsewhere taking normalised [N, C, H, W] images) on a dataset split (@kqkd/train evaluateModel).
 * With `out` it writes `eval.json` and the confusion-matrix picture (`confusion.svg` / `.png`), atomically.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { KqkdError, writeFileAtomic } from '@kqkd/common';
import { DATASET_NAMES, DATASETS, loadDataset, type DatasetName, type LoadDatasetOptions } from '@kqkd/data';
import { decodeModel, graphInputs, readImageMetadata, readModelFile, type ImageMetadata } from '@kqkd/onnx';
import { confusionMatrixSpec, writeChart } from '@kqkd/plots';
import { evaluateModel, type Evaluation } from '@kqkd/train';
import { inOutputFolder, throwIfAborted } from './output-folder.js';

export interface EvaluateApiOptions {
  /** The ONNX classifier: its path, or its bytes. */
  model: string | Uint8Array;
  /** The dataset; the model's input must be its image shape [N, C, H, W]. */
  data: DatasetName;
  /** Required except for fashion-mnist (Debian's folder). */
  dataDir?: string;
  /** Default 'test'. 'val' only for image-folder: its val/ folder (else test/, else the held-out fraction). */
  split?: 'test' | 'train' | 'val';
  /**
   * image-folder: imageSize, channels, testFraction, splitSeed, cacheDir, skipBad. Image size, channels and
   * normalisation default to the model's kqkd image metadata (`kqkd.input`, `kqkd.normalization`), else to its static
   * input shape and the folder's training statistics.
   */
  dataOptions?: Pick<LoadDatasetOptions, 'imageSize' | 'channels' | 'testFraction' | 'splitSeed' | 'cacheDir' | 'skipBad' | 'normalization'>;
  /** Images decoded into an image folder's cache so far (only while it is built). */
  onDecode?: (done: number, total: number, label: string) => void;
  /** Notable events (bad files skipped). */
  log?: (line: string) => void;
  /** Inference batch size (default 500). */
  batchSize?: number;
  /** Intra-op threads of the ONNX Runtime session (default: its own choice). */
  threads?: number;
  /** Folder for eval.json and confusion.svg / .png (written atomically); absent = nothing written. Checked before any work. */
  out?: string;
  /** Write into `out` even if it holds files kqkd did not write. */
  force?: boolean;
  /** Images evaluated so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
  /** Stops between batches with the signal's reason. */
  signal?: AbortSignal;
}

/** top1 (percent), correct, count, perClass (percent, NaN for a class without images), confusion[true][predicted], classNames. */
export interface EvaluateResult extends Evaluation {
  model: { path: string | null; sha256: string };
  dataset: DatasetName;
  split: 'test' | 'train' | 'val';
  /** image-folder: the preprocessing used, and where it came from ('metadata': the model's kqkd image metadata). */
  preprocessing?: { imageSize: number; channels: number; normalization: { mean: number[]; std: number[] }; source: 'metadata' | 'options' | 'model input' };
  /** What was written (with `out`). */
  files?: { json: string; svg: string; png: string };
}

export async function evaluate(o: EvaluateApiOptions): Promise<EvaluateResult> {
  throwIfAborted(o?.signal);
  return inOutputFolder(o.out, 'eval', ['eval.json', 'confusion.svg', 'confusion.png'], o.force, () => evaluateIn(o));
}

async function evaluateIn(o: EvaluateApiOptions): Promise<EvaluateResult> {
  if (!DATASET_NAMES.includes(o.data)) throw new KqkdError('data', `a dataset (${DATASET_NAMES.join(', ')})`, JSON.stringify(o.data));
  const split = o.split ?? 'test';
  const folder = o.data === 'image-folder';
  if (split !== 'test' && split !== 'train' && !(split === 'val' && folder)) {
    throw new KqkdError('split', folder ? '"test", "val" or "train"' : '"test" or "train" ("val" is for image-folder)', JSON.stringify(split));
  }
  if (o.dataOptions !== undefined && !folder) throw new KqkdError('dataOptions', `nothing for ${o.data} (image-folder options)`, JSON.stringify(o.dataOptions));
  // a file's external tensor data is read in (and refused when it lies outside the model's folder)
  const bytes = typeof o.model === 'string' ? readModelFile(o.model).bytes : o.model;
  const modelName = typeof o.model === 'string' ? `ONNX file "${o.model}"` : 'model bytes';
  let preprocessing: EvaluateResult['preprocessing'];
  let metadata: ImageMetadata | null = null;
  let extra: Partial<LoadDatasetOptions> = {};
  if (folder) {
    ({ preprocessing, metadata, extra } = folderPreprocessing(bytes, modelName, o));
  }
  const dataset = await loadDataset(o.data, { split, ...(o.dataDir ? { dir: o.dataDir } : {}), ...extra });
  if (metadata && metadata.classNames.join('\n') !== dataset.classNames.join('\n')) {
    throw new KqkdError(`${modelName} metadata kqkd.class_names`, `the folder's classes (${dataset.classNames.join(', ')})`, metadata.classNames.join(', '),
      'the model was trained on other class folders; labels would not line up');
  }
  if (preprocessing && preprocessing.source !== 'metadata' && o.dataOptions?.normalization === undefined) {
    preprocessing.normalization = { mean: [...dataset.normalization.mean], std: [...dataset.normalization.std] };
  }
  const e = await evaluateModel({
    model: bytes, modelName, dataset,
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}), ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...(o.signal ? { signal: o.signal } : {}),
  });
  const result: EvaluateResult = {
    ...e, model: { path: typeof o.model === 'string' ? resolve(o.model) : null, sha256: createHash('sha256').update(bytes).digest('hex') },
    dataset: o.data, split, ...(preprocessing ? { preprocessing } : {}),
  };
  if (o.out) {
    const dir = resolve(o.out);
    const json = join(dir, 'eval.json');
    writeFileAtomic(json, `${JSON.stringify({
      ...result, perClass: e.perClass.map((top1, c) => ({ class: c, name: e.classNames[c], top1: Number.isFinite(top1) ? top1 : null })),
      note: `top-1 in percent on the ${DATASETS[o.data].title} ${split} split (${e.count} images); confusion[true][predicted] = images`,
    }, null, 2)}\n`);
    const chart = await writeChart(confusionMatrixSpec(e.confusion, e.classNames,
      `${typeof o.model === 'string' ? o.model.split('/').pop() : 'model'} on ${DATASETS[o.data].title} ${split}: top-1 ${e.top1.toFixed(2)} %`), join(dir, 'confusion'));
    result.files = { json, svg: chart.svg, png: chart.png };
  }
  return result;
}

/**
 * An image folder's preprocessing for `model`: options given win, then the model's kqkd image metadata, then its
 * static input shape [N, C, S, S] (normalisation then: the folder's training statistics).
 */
function folderPreprocessing(bytes: Uint8Array, modelName: string, o: EvaluateApiOptions): {
  preprocessing: NonNullable<EvaluateResult['preprocessing']>; metadata: ImageMetadata | null; extra: Partial<LoadDatasetOptions>;
} {
  const model = decodeModel(bytes, modelName);
  const metadata = readImageMetadata(model, modelName);
  const d = o.dataOptions ?? {};
  let imageSize = d.imageSize;
  let channels = d.channels;
  let normalization = d.normalization ? { mean: [...d.normalization.mean], std: [...d.normalization.std] } : undefined;
  let source: 'metadata' | 'options' | 'model input' = 'options';
  if (metadata) {
    if (metadata.imageSize[0] !== metadata.imageSize[1]) {
      throw new KqkdError(`${modelName} metadata kqkd.input`, 'a square input (height = width: images are centre-cropped squares)', metadata.imageSize.join('×'));
    }
    imageSize ??= metadata.imageSize[0];
    channels ??= metadata.channels;
    if (normalization === undefined && channels === metadata.channels) normalization = metadata.normalization;
    if (d.imageSize === undefined && d.channels === undefined && d.normalization === undefined) source = 'metadata';
  } else {
    const shape = graphInputs(model)[0]?.shape;
    const [c, h, w] = shape && shape.length === 4 ? shape.slice(1) : [];
    if (imageSize === undefined && typeof h === 'number' && h === w) { imageSize = h; source = 'model input'; }
    if (channels === undefined && (c === 1 || c === 3)) { channels = c; source = 'model input'; }
  }
  const extra: Partial<LoadDatasetOptions> = {
    ...d, ...(imageSize !== undefined ? { imageSize } : {}), ...(channels !== undefined ? { channels } : {}), ...(normalization ? { normalization } : {}),
    ...(o.onDecode ? { onProgress: o.onDecode } : {}), ...(o.log ? { log: o.log } : {}),
  };
  return {
    preprocessing: { imageSize: imageSize ?? 32, channels: channels ?? 3, normalization: normalization ?? { mean: [], std: [] }, source },
    metadata, extra,
  };
}
