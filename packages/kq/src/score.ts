import { KqkdError, expectInteger, invalidArgumentText } from '@kqkd/common';
import { computeLayerGeometry, type BackendChoice } from '@kqkd/geometry';
import { MAX_FEATURE_DIM, poolAndFlatten, poolingKernel } from './features.js';
import { knowledgeQuality, type KnowledgeQuality } from './quality.js';
import { drawSubsets, numClassesOf, type Subsets } from './sampling.js';
import { selectTopK } from './select.js';

/** One generalized layer's features: `shape` is [N, ...] (any rank), `features` row-major float32. */
export interface LayerFeatures {
  name: string;
  /** Generalized-layer index (METHOD.md §1); defaults to the position in the list. */
  index?: number;
  /** The features, or a loader called when this layer's turn comes (keeps one layer in memory at a time). */
  features: Float32Array | (() => Float32Array);
  shape: number[];
  /** Per-sample shape before pooling/flattening, when `shape` is already flattened (for reports). */
  sampleShape?: number[];
}

export interface ScoreOptions {
  /** Size of the training set the features come from (enters E through K), not N. */
  datasetSize: number;
  /** Seed for drawing M and P (ignored when `subsets` is given). Default 0. */
  seed?: number;
  /** Explicit subsets M and P, shared by all layers. */
  subsets?: Subsets;
  /** How many layers to select (default 4, as in the paper). */
  topK?: number;
  backend?: BackendChoice;
  threads?: number;
  /** KQ-SPEC §5: a zero-norm row in M is an error by default; 'drop' removes it from M for that layer. */
  zeroNormRows?: 'error' | 'drop';
  /** KQ-SPEC §0 pooling threshold for 4-D features (default 262 144, the reference's value). */
  maxFeatureDim?: number;
  /** Called after each layer. */
  onProgress?: (event: { layer: string; done: number; total: number; seconds: number }) => void;
}

export interface LayerScore extends KnowledgeQuality {
  name: string;
  index: number;
  /** Per-sample shape as given, and after KQ-SPEC §0 pooling/flattening. */
  sampleShape: number[];
  dim: number;
  poolingKernel: number;
  droppedZeroNormRows: number;
  selected: boolean;
  /** 1 = highest Q. */
  rank: number;
  backend: 'cpu' | 'cuda';
  seconds: number;
}

export interface KqReport {
  spec: 'KQ-SPEC reference mode';
  datasetSize: number;
  numClasses: number;
  samples: number;
  subsets: { source: Subsets['source']; seed?: number; main: number; class: number };
  topK: number;
  /** Indices of the selected layers, in depth order. */
  selected: number[];
  layers: LayerScore[];
}

function zeroNormRowsOf(data: Float32Array, dim: number, rows: number[]): Set<number> {
  const zero = new Set<number>();
  for (const r of rows) {
    let any = false;
    for (let j = r * dim, end = j + dim; j < end && !any; j++) any = data[j] !== 0;
    if (!any) zero.add(r);
  }
  return zero;
}

/** Scores every layer by Knowledge Quality and selects the top-k (KQ-SPEC §4). Layers run one at a time. */
export async function scoreLayers(layers: LayerFeatures[], labels: ArrayLike<number>, options: ScoreOptions): Promise<KqReport> {
  if (!Array.isArray(layers) || layers.length === 0) invalidArgumentText('layers', 'at least one layer', 'none');
  const n = labels.length;
  // The features are a sample of the training set, so it has at least as many images (E depends on its size).
  const datasetSize = expectInteger('datasetSize', options.datasetSize, Math.max(1, n));
  const topK = expectInteger('topK', options.topK ?? 4, 1);
  const numClasses = numClassesOf(labels);
  const subsets = options.subsets ?? drawSubsets(labels, options.seed ?? 0);
  const scores: LayerScore[] = [];
  for (const [position, layer] of layers.entries()) {
    const started = performance.now();
    if (layer.shape[0] !== n) {
      invalidArgumentText(`layers["${layer.name}"].shape`, `${n} rows (one per label)`, `[${layer.shape.join(', ')}]`);
    }
    const maxDim = options.maxFeatureDim ?? MAX_FEATURE_DIM;
    const raw = typeof layer.features === 'function' ? layer.features() : layer.features;
    const { data, dim } = poolAndFlatten(raw, layer.shape, maxDim);
    let mainIndices = subsets.mainIndices;
    let dropped = 0;
    if (options.zeroNormRows === 'drop') {
      const zero = zeroNormRowsOf(data, dim, mainIndices);
      dropped = zero.size;
      if (dropped > 0) mainIndices = mainIndices.filter((r) => !zero.has(r));
    }
    let geometry;
    try {
      geometry = await computeLayerGeometry(
        { features: data, rows: n, dim, labels, numClasses, mainIndices, classIndices: subsets.classIndices },
        { backend: options.backend, threads: options.threads },
      );
    } catch (err) {
      if (err instanceof KqkdError) err.message = `layer "${layer.name}": ${err.message}`;
      throw err;
    }
    const quality = knowledgeQuality(geometry, datasetSize);
    const seconds = (performance.now() - started) / 1000;
    scores.push({
      name: layer.name,
      index: layer.index ?? position,
      sampleShape: layer.sampleShape ?? layer.shape.slice(1),
      dim,
      poolingKernel: poolingKernel(layer.sampleShape ?? layer.shape.slice(1), maxDim),
      droppedZeroNormRows: dropped,
      ...quality,
      selected: false,
      rank: 0,
      backend: geometry.backend,
      seconds,
    });
    options.onProgress?.({ layer: layer.name, done: position + 1, total: layers.length, seconds });
  }
  const selected = selectTopK(scores, topK);
  const byQ = scores.slice().sort((a, b) => (b.Q !== a.Q ? b.Q - a.Q : b.index - a.index));
  byQ.forEach((s, i) => (s.rank = i + 1));
  for (const s of scores) s.selected = selected.includes(s.index);
  return {
    spec: 'KQ-SPEC reference mode',
    datasetSize,
    numClasses,
    samples: n,
    subsets: { source: subsets.source, seed: subsets.seed, main: subsets.mainIndices.length, class: subsets.classIndices.length },
    topK,
    selected,
    layers: scores,
  };
}
