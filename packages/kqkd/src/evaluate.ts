/**
 * `evaluate`: top-1, per-class accuracy and the confusion matrix of any ONNX classifier (a kqkd teacher or student,
 * or a model from elsewhere taking normalised [N, C, H, W] images) on a dataset split (@kqkd/train evaluateModel).
 * With `out` it writes `eval.json` and the confusion-matrix picture (`confusion.svg` / `.png`), atomically.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { KqkdError, writeFileAtomic } from '@kqkd/common';
import { DATASET_NAMES, DATASETS, loadDataset, type DatasetName } from '@kqkd/data';
import { readModelFile } from '@kqkd/onnx';
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
  /** Default 'test'. */
  split?: 'test' | 'train';
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
  split: 'test' | 'train';
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
  if (split !== 'test' && split !== 'train') throw new KqkdError('split', '"test" or "train"', JSON.stringify(split));
  // a file's external tensor data is read in (and refused when it lies outside the model's folder)
  const bytes = typeof o.model === 'string' ? readModelFile(o.model).bytes : o.model;
  const dataset = await loadDataset(o.data, { split, ...(o.dataDir ? { dir: o.dataDir } : {}) });
  const e = await evaluateModel({
    model: bytes, modelName: typeof o.model === 'string' ? `ONNX file "${o.model}"` : 'model bytes', dataset,
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}), ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...(o.signal ? { signal: o.signal } : {}),
  });
  const result: EvaluateResult = {
    ...e, model: { path: typeof o.model === 'string' ? resolve(o.model) : null, sha256: createHash('sha256').update(bytes).digest('hex') },
    dataset: o.data, split,
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
