/**
 * `score`: the Knowledge Quality (Q = S + sqrt(I·E)) of a teacher's layers and the top-k selection, from feature files
 * (`.npy`, or arrays in memory) with their labels, or from an ONNX classifier run over a class-balanced sample of a
 * dataset's training split. With `out` it writes `kq.json` and the per-layer curves (`kq-curves.svg` / `.png`),
 * atomically, and returns their paths.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { expectInteger, invalidArgumentText } from '@kqkd/common';
import { DATASET_NAMES as MODEL_DATASETS, readNpy } from '@kqkd/data';
import { nativeFileMapper, type BackendChoice } from '@kqkd/geometry';
// Layers only: scoring a model (onnxruntime, the ONNX reader) is imported when a model is scored, so that
// `kqkd score --features` starts without them (docs/benchmarks.md, score-process).
import { explicitSubsets, scoreLayers, type KqReport, type LayerFeatures, type Subsets } from '@kqkd/kq/layers';
import type { ModelDataset, ModelKqReport, ScoreModelOptions } from '@kqkd/kq';
import { preloadRenderers } from '@kqkd/plots';
import { writeKqFiles } from './kq-files.js';
import { inOutputFolder, throwIfAborted } from './output-folder.js';

/** A stage of scoring: `done` of `total` items (layers scored, images run through the model, …). */
export interface ScoreProgress {
  stage: string;
  done: number;
  total: number;
  detail?: string;
}

interface ScoreCommon {
  /** Seed of the subsets M and P (and of the sample, for a model). Default 0. */
  seed?: number;
  /** Layers to select (default 4). */
  topK?: number;
  /** Geometry backend (default cpu). */
  backend?: BackendChoice;
  /** Geometry threads (0 = all cores, the default). */
  threads?: number;
  /** KQ-SPEC §5: drop all-zero rows of M instead of failing. */
  dropZeroNormRows?: boolean;
  /** Explicit subsets M and P: `.npy` int64 index files or index arrays (both, or neither; default: drawn from `seed`). */
  idxMain?: string | readonly number[];
  idxClass?: string | readonly number[];
  /** Folder for kq.json and the pictures (written atomically); absent = nothing written. Checked before any work. */
  out?: string;
  /** Write into `out` even if it holds files kqkd did not write. */
  force?: boolean;
  onProgress?: (event: ScoreProgress) => void;
  /** Stops between layers (and between batches of a model) with the signal's reason. */
  signal?: AbortSignal;
}

export interface ScoreFeaturesOptions extends ScoreCommon {
  /** One entry per layer: a `.npy` float32 file [N, ...] or features in memory. */
  features: readonly (string | LayerFeatures)[];
  /** `.npy` int64/int32 labels [N] (class indices 0 … C−1), or labels in memory. */
  labels: string | Int32Array;
  /** Size of the training set the features come from (enters E); at least N. */
  datasetSize: number;
}

export interface ScoreModelApiOptions extends ScoreCommon {
  /** An ONNX classifier taking normalised [N, C, H, W] images: its path or bytes. */
  model: string | Uint8Array;
  /** The dataset whose training split is sampled. */
  data: ModelDataset;
  /** The dataset's folder; required except for fashion-mnist (Debian's /usr/share/datasets/fashion-mnist). */
  dataDir?: string;
  /** image-folder: imageSize (the model's input side), channels, testFraction, splitSeed, cacheDir, skipBad. */
  dataOptions?: ScoreModelOptions['dataOptions'];
  /** Explicit tensor names instead of the detected generalized layers. */
  layers?: string[];
  /** Class-balanced training samples (default 6000). */
  samples?: number;
  /** Inference batch size (default 250). */
  batchSize?: number;
  /** Intra-op threads of the ONNX Runtime session (default: its own choice). */
  inferenceThreads?: number;
}

export type ScoreOptions = ScoreFeaturesOptions | ScoreModelApiOptions;

export interface ScoreResult {
  /** Per layer S, I, E, Q, rank and selection (and, for a model, the model, dataset and sample). */
  report: KqReport | ModelKqReport;
  /** What was written (with `out`). */
  files?: { json: string; svg: string; png: string };
}

const INT32_LIMIT = 2n ** 31n;

/**
 * Labels of a `.npy` file (int64 or int32 [N]) as class indices. Nothing is truncated: an int64 value of 2^31 or
 * more, a negative value, or a label that does not fit the class count C (the file's distinct labels must be
 * 0 … C−1, so a label ≥ C leaves a class without samples) is refused naming `argument`, the rule, the value, its row
 * and the file.
 */
export function readLabelsNpy(path: string, argument = 'labels'): Int32Array {
  const npy = readNpy(path);
  if (npy.shape.length !== 1) invalidArgumentText(argument, 'a 1-D array [N]', `shape [${npy.shape.join(', ')}] in ${path}`);
  if (npy.dtype !== 'int64' && npy.dtype !== 'int32') invalidArgumentText(argument, 'int64 or int32 labels', `${npy.dtype} in ${path}`);
  const out = new Int32Array(npy.data.length);
  const src = npy.data as ArrayLike<number | bigint>;
  const classes = new Set<number>();
  let max = -1;
  let maxRow = -1;
  for (let i = 0; i < out.length; i++) {
    const v = src[i];
    // An int64 label of 2^31 or more would wrap in an Int32Array and score another class: refuse it.
    const negative = typeof v === 'bigint' ? v < 0n : v < 0;
    if (negative) invalidArgumentText(argument, 'class indices ≥ 0', `${String(v)} at row ${i} of ${path}`);
    if (typeof v === 'bigint' ? v >= INT32_LIMIT : !Number.isInteger(v)) {
      invalidArgumentText(argument, 'class indices below 2^31 (int64 labels are not truncated)', `${String(v)} at row ${i} of ${path}`);
    }
    const c = Number(v);
    out[i] = c;
    classes.add(c);
    if (c > max) { max = c; maxRow = i; }
  }
  if (max >= classes.size) {
    let empty = 0;
    while (classes.has(empty)) empty++;
    invalidArgumentText(argument, `labels that fit the class count (the file holds ${classes.size} distinct labels, so classes 0 … ${classes.size - 1})`,
      `${max} at row ${maxRow} of ${path} (class ${empty} has no sample)`);
  }
  return out;
}

/** Row indices of a `.npy` int64 file [n], n ≥ 1; `argument` (the option or flag) and the file are named in errors. */
export function readIndicesNpy(path: string, argument: string): number[] {
  const npy = readNpy(path);
  if (npy.shape.length !== 1 || npy.dtype !== 'int64') {
    invalidArgumentText(argument, 'a 1-D int64 index array', `${npy.dtype} of shape [${npy.shape.join(', ')}] in ${path}`);
  }
  if (npy.data.length === 0) invalidArgumentText(argument, 'at least one row index', `an empty array in ${path}`);
  const out: number[] = [];
  for (const v of npy.data as BigInt64Array) {
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) invalidArgumentText(argument, 'non-negative row indices', `${v} in ${path}`);
    out.push(Number(v));
  }
  return out;
}

function featuresOf(entries: readonly (string | LayerFeatures)[]): LayerFeatures[] {
  if (!Array.isArray(entries) || entries.length === 0) invalidArgumentText('features', 'at least one layer (a .npy file or features in memory)', 'none');
  const mapper = entries.some((e) => typeof e === 'string') ? nativeFileMapper() : undefined;
  return entries.map((e, index) => {
    if (typeof e !== 'string') return e;
    // Mapped, not read: the geometry reads the page cache directly (a 5000 × 16384 layer is 328 MB).
    const npy = readNpy(e, mapper ? { mapFile: mapper } : {});
    if (npy.dtype !== 'float32') invalidArgumentText('features', 'float32 features', `${npy.dtype} in ${e}`);
    if (npy.shape.length < 1) invalidArgumentText('features', 'an array [N, ...]', `a scalar in ${e}`);
    // [N] is one feature per sample.
    const shape = npy.shape.length === 1 ? [npy.shape[0], 1] : npy.shape;
    return { name: basename(e).replace(/\.npy$/, ''), index, features: npy.data as Float32Array, shape };
  });
}

function subsetsOf(o: ScoreCommon): Subsets | undefined {
  if ((o.idxMain === undefined) !== (o.idxClass === undefined)) {
    invalidArgumentText('idxMain/idxClass', 'both index sets or neither', 'only one of them');
  }
  if (o.idxMain === undefined || o.idxClass === undefined) return undefined;
  const read = (v: string | readonly number[], argument: string) => {
    if (typeof v === 'string') return readIndicesNpy(v, argument);
    if (v.length === 0) invalidArgumentText(argument, 'at least one row index', 'an empty list');
    return [...v];
  };
  return explicitSubsets(read(o.idxMain, 'idxMain'), read(o.idxClass, 'idxClass'));
}

const SCORE_FILES = ['kq.json', 'kq-curves.svg', 'kq-curves.png', '.features'];

/**
 * Knowledge Quality of every given layer (`features` + `labels` + `datasetSize`) or of every generalized layer of a
 * model (`model` + `data`): one of the two sources.
 */
export async function score(o: ScoreOptions): Promise<ScoreResult> {
  if (o === null || typeof o !== 'object') invalidArgumentText('options', 'an object', String(o));
  const hasFeatures = (o as Partial<ScoreFeaturesOptions>).features !== undefined;
  const hasModel = (o as Partial<ScoreModelApiOptions>).model !== undefined;
  if (hasFeatures && hasModel) invalidArgumentText('features/model', 'one source of features', 'both');
  if (!hasFeatures && !hasModel) invalidArgumentText('features/model', 'a source of features (feature files, or a model)', 'neither');
  throwIfAborted(o.signal);
  return inOutputFolder(o.out, 'score', SCORE_FILES, o.force, () => (hasFeatures ? scoreFeatures(o as ScoreFeaturesOptions) : scoreOfModel(o as ScoreModelApiOptions)));
}

function commonOf(o: ScoreCommon) {
  return {
    seed: o.seed ?? 0, topK: o.topK ?? 4, backend: o.backend ?? 'cpu', threads: o.threads ?? 0,
    zeroNormRows: o.dropZeroNormRows ? 'drop' as const : 'error' as const,
  };
}

async function scoreFeatures(o: ScoreFeaturesOptions): Promise<ScoreResult> {
  if (o.labels === undefined) invalidArgumentText('labels', 'labels (a .npy file or an Int32Array) with features', 'nothing');
  const datasetSize = expectInteger('datasetSize', o.datasetSize, 1);
  const subsets = subsetsOf(o);
  const labels = typeof o.labels === 'string' ? readLabelsNpy(o.labels) : o.labels;
  const layers = featuresOf(o.features);
  const progress = o.onProgress ?? (() => {});
  if (o.out) preloadRenderers(); // the pictures' libraries load while the native geometry runs
  const report = await scoreLayers(layers, labels, {
    ...commonOf(o), datasetSize, ...(subsets ? { subsets } : {}),
    onProgress: (e) => {
      throwIfAborted(o.signal);
      progress({ stage: 'scoring layers', done: e.done, total: e.total, detail: `${e.layer} ${e.seconds.toFixed(2)} s` });
    },
  });
  const files = o.out ? await writeKqFiles(report, o.out, { source: 'features', files: o.features.map((f) => (typeof f === 'string' ? f : f.name)) }) : undefined;
  return { report, ...(files ? { files } : {}) };
}

async function scoreOfModel(o: ScoreModelApiOptions): Promise<ScoreResult> {
  if (!(MODEL_DATASETS as readonly string[]).includes(o.data)) {
    invalidArgumentText('data', `a dataset (${MODEL_DATASETS.join(', ')}) with a model`, o.data === undefined ? 'nothing' : JSON.stringify(o.data));
  }
  const subsets = subsetsOf(o);
  const progress = o.onProgress ?? (() => {});
  // The streamed per-layer features go next to the outputs (same disk), or to a temporary folder.
  const work = o.out ? join(resolve(o.out), '.features') : mkdtempSync(join(tmpdir(), 'kqkd-score-'));
  if (o.out) preloadRenderers();
  try {
    const { scoreModel } = await import('@kqkd/kq');
    const report = await scoreModel({
      ...commonOf(o), model: o.model, dataset: o.data, ...(o.dataDir ? { dataDir: o.dataDir } : {}), ...(o.layers ? { layers: o.layers } : {}),
      ...(o.dataOptions ? { dataOptions: o.dataOptions } : {}),
      ...(o.samples !== undefined ? { samples: o.samples } : {}), ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      ...(o.inferenceThreads !== undefined ? { inferenceThreads: o.inferenceThreads } : {}),
      ...(subsets ? { subsets } : {}), workDir: work,
      onProgress: (e) => {
        throwIfAborted(o.signal);
        progress(e);
      },
    });
    const source = typeof o.model === 'string' ? basename(o.model) : 'model bytes';
    const files = o.out ? await writeKqFiles(report, o.out, { source, model: typeof o.model === 'string' ? o.model : null, data: o.data }) : undefined;
    return { report, ...(files ? { files } : {}) };
  } finally {
    if (!o.out) rmSync(work, { recursive: true, force: true });
  }
}

// Several candidate teachers ranked by Knowledge Quality: through this module too, loading ONNX Runtime only when called.
export {
  scoreTeachers, defaultValidation, teacherNames,
  type ScoreTeachersOptions, type ScoreTeachersProgress, type ScoreTeachersResult,
} from './score-teachers.js';
export { RANK_BY, rankingToTable, type RankBy, type TeacherRanking, type RankedTeacher } from './teacher-ranking.js';

// What `kqkd score` needs beside `score`, from this module alone (@kqkd/kqkd/score), so the command loads no training code.
export { reportToTable } from '@kqkd/kq/layers';
export { BACKENDS as GEOMETRY_BACKENDS } from '@kqkd/geometry';
export { MODEL_DATASETS };
