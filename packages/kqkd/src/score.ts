/**
 * `score`: the Knowledge Quality of a teacher's layers, from feature files (`.npy`, or arrays in memory) or from an
 * ONNX model run over a class-balanced sample of a training split; optionally written as `kq.json` and the
 * per-layer curves (`kq-curves.svg` / `.png`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { invalidArgumentText, KqkdError, ownFolder, RunFailedError, writeFileAtomic } from '@kqkd/common';
import { readNpy } from '@kqkd/data';
import type { BackendChoice } from '@kqkd/geometry';
import {
  explicitSubsets, reportToJson, scoreLayers, scoreModel, type KqReport, type LayerFeatures, type ModelDataset, type ModelKqReport, type Subsets,
} from '@kqkd/kq';
import { kqCurvesSpec, writeChart } from '@kqkd/plots';

interface ScoreCommon {
  /** Seed of the subsets M and P (and of the sample, for a model). Default 0. */
  seed?: number;
  /** Layers to select (default 4). */
  topK?: number;
  /** Geometry backend (default cpu). */
  backend?: BackendChoice;
  /** Geometry threads (0 = all cores). */
  threads?: number;
  /** KQ-SPEC §5: drop all-zero rows of M instead of failing. */
  dropZeroNormRows?: boolean;
  /** Explicit subsets: `.npy` int64 index files or index arrays (both, or neither). */
  idxMain?: string | readonly number[];
  idxClass?: string | readonly number[];
  /** Folder for kq.json and the pictures (written atomically); absent = nothing written. Checked before any work. */
  out?: string;
  /** Write into `out` even if it holds files kqkd did not write. */
  force?: boolean;
  onProgress?: (event: { stage: string; done: number; total: number; detail?: string }) => void;
  signal?: AbortSignal;
}

export interface ScoreFeaturesOptions extends ScoreCommon {
  /** One entry per layer: a `.npy` float32 file [N, ...] or features in memory. */
  features: readonly (string | LayerFeatures)[];
  /** `.npy` int64/int32 labels [N] or labels in memory. */
  labels: string | Int32Array;
  /** Size of the training set the features come from (enters E). */
  datasetSize: number;
}

export interface ScoreModelApiOptions extends ScoreCommon {
  /** An ONNX classifier: its path or bytes. */
  model: string | Uint8Array;
  data: ModelDataset;
  dataDir?: string;
  /** Explicit tensor names instead of the detected generalized layers. */
  layers?: string[];
  /** Class-balanced training samples (default 6000). */
  samples?: number;
  batchSize?: number;
}

export interface ScoreResult {
  report: KqReport | ModelKqReport;
  /** What was written (with `out`). */
  files?: { json: string; svg: string; png: string };
}

/** Labels of a `.npy` file as class indices, refusing values that are not small non-negative integers. */
export function readLabelsNpy(path: string, flag = 'labels'): Int32Array {
  const npy = readNpy(path);
  if (npy.shape.length !== 1) invalidArgumentText(flag, 'a 1-D array [N]', `shape [${npy.shape.join(', ')}] in ${path}`);
  if (npy.dtype !== 'int64' && npy.dtype !== 'int32') invalidArgumentText(flag, 'int64 or int32 labels', `${npy.dtype} in ${path}`);
  const out = new Int32Array(npy.data.length);
  const src = npy.data as ArrayLike<number | bigint>;
  for (let i = 0; i < out.length; i++) {
    const v = src[i];
    // int64 values beyond 2^31 would wrap in an Int32Array: refuse them instead of scoring another class.
    if (typeof v === 'bigint' ? v < 0n || v > 1_000_000n : !Number.isInteger(v) || v < 0 || v > 1_000_000) {
      invalidArgumentText(flag, 'class indices between 0 and 1 000 000', `${String(v)} at row ${i} of ${path}`);
    }
    out[i] = Number(v);
  }
  return out;
}

/** Row indices of a `.npy` int64 file [n], n ≥ 1. */
export function readIndicesNpy(path: string, flag: string): number[] {
  const npy = readNpy(path);
  if (npy.shape.length !== 1 || npy.dtype !== 'int64') {
    invalidArgumentText(flag, 'a 1-D int64 index array', `${npy.dtype} of shape [${npy.shape.join(', ')}] in ${path}`);
  }
  if (npy.data.length === 0) invalidArgumentText(flag, 'at least one row index', `an empty array in ${path}`);
  const out: number[] = [];
  for (const v of npy.data as BigInt64Array) {
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) invalidArgumentText(flag, 'non-negative row indices', `${v} in ${path}`);
    out.push(Number(v));
  }
  return out;
}

function featuresOf(entries: readonly (string | LayerFeatures)[]): LayerFeatures[] {
  return entries.map((e, index) => {
    if (typeof e !== 'string') return e;
    const npy = readNpy(e);
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
  const read = (v: string | readonly number[], flag: string) => (typeof v === 'string' ? readIndicesNpy(v, flag) : [...v]);
  return explicitSubsets(read(o.idxMain, 'idxMain'), read(o.idxClass, 'idxClass'));
}

async function write(report: KqReport, out: string, meta: Record<string, unknown>): Promise<ScoreResult['files']> {
  const dir = resolve(out);
  const json = join(dir, 'kq.json');
  writeFileAtomic(json, reportToJson(report, { meta }));
  const chart = await writeChart(kqCurvesSpec(report.layers, `Knowledge Quality per generalized layer — ${String(meta.source)}`), join(dir, 'kq-curves'));
  return { json, svg: chart.svg, png: chart.png };
}

const SCORE_FILES = ['kq.json', 'kq-curves.svg', 'kq-curves.png', '.features'];

/**
 * Runs `work` with `out` checked, locked and claimed for `kind`; a refusal (a KqkdError that is not a run failure)
 * leaves the folder as it was. Without `out`, just runs `work`.
 */
export async function inOutputFolder<T>(out: string | undefined, kind: string, ownFiles: readonly string[], force: boolean | undefined,
  work: () => Promise<T>): Promise<T> {
  if (out === undefined) return work();
  const folder = ownFolder(resolve(out), 'out', { kind, configHash: kind, ownFiles, ...(force ? { force } : {}) });
  try {
    const result = await work();
    folder.release();
    return result;
  } catch (err) {
    if (err instanceof KqkdError && !(err instanceof RunFailedError) && !folder.resumed) folder.rollback();
    else folder.release();
    throw err;
  }
}

/** Knowledge Quality of every given layer (features) or of every generalized layer of a model. */
export async function score(o: ScoreFeaturesOptions | ScoreModelApiOptions): Promise<ScoreResult> {
  return inOutputFolder(o.out, 'score', SCORE_FILES, o.force, () => scoreIn(o));
}

async function scoreIn(o: ScoreFeaturesOptions | ScoreModelApiOptions): Promise<ScoreResult> {
  const common = {
    seed: o.seed ?? 0, topK: o.topK ?? 4, backend: o.backend ?? 'cpu', threads: o.threads ?? 0,
    zeroNormRows: o.dropZeroNormRows ? 'drop' as const : 'error' as const,
  };
  const subsets = subsetsOf(o);
  const progress = o.onProgress ?? (() => {});
  if ('features' in o && 'model' in o) invalidArgumentText('features/model', 'one source of features', 'both');
  if ('features' in o) {
    const labels = typeof o.labels === 'string' ? readLabelsNpy(o.labels) : o.labels;
    const layers = featuresOf(o.features);
    const report = await scoreLayers(layers, labels, {
      ...common, datasetSize: o.datasetSize, ...(subsets ? { subsets } : {}),
      onProgress: (e) => {
        if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
        progress({ stage: 'scoring layers', done: e.done, total: e.total, detail: `${e.layer} ${e.seconds.toFixed(2)} s` });
      },
    });
    const files = o.out ? await write(report, o.out, { source: 'features', files: o.features.map((f) => (typeof f === 'string' ? f : f.name)) }) : undefined;
    return { report, ...(files ? { files } : {}) };
  }
  // The streamed per-layer features go next to the outputs (same disk), or to a temporary folder.
  const work = o.out ? join(resolve(o.out), '.features') : mkdtempSync(join(tmpdir(), 'kqkd-score-'));
  const report = await scoreModel({
    ...common, model: o.model, dataset: o.data, ...(o.dataDir ? { dataDir: o.dataDir } : {}), ...(o.layers ? { layers: o.layers } : {}),
    ...(o.samples !== undefined ? { samples: o.samples } : {}), ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(subsets ? { subsets } : {}), workDir: work,
    onProgress: (e) => {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
      progress(e);
    },
  });
  if (!o.out) rmSync(work, { recursive: true, force: true });
  const source = typeof o.model === 'string' ? basename(o.model) : 'model bytes';
  const files = o.out ? await write(report, o.out, { source, model: typeof o.model === 'string' ? o.model : null, data: o.data }) : undefined;
  return { report, ...(files ? { files } : {}) };
}
