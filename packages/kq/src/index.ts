/**
 * @kqkd/kq — Knowledge Quality (Q = S + sqrt(I·E)) of every generalized layer, per KQ-SPEC.md:
 * subset sampling, S/I/E/Q from the native geometry, top-k selection, JSON and table reports.
 */
export { drawSubsets, explicitSubsets, numClassesOf, MAIN_SUBSET_TOTAL, CLASS_SUBSET_MAX_PER_CLASS, type Subsets } from './sampling.js';
export { poolAndFlatten, poolingKernel, pooledSampleShape, MAX_FEATURE_DIM } from './features.js';
export { knowledgeQuality, varianceRatios, embeddingDim, windowEntropy, VARIANCE_THRESHOLD, type KnowledgeQuality } from './quality.js';
export { selectTopK, type Scored } from './select.js';
export { scoreLayers, type LayerFeatures, type LayerScore, type ScoreOptions, type KqReport } from './score.js';
export { reportToJson, reportToTable } from './report.js';
export { scoreModel, MODEL_DATASETS, type ModelDataset, type ScoreModelOptions, type ModelKqReport } from './model.js';
