/**
 * @kqkd/kq/layers — KQ of layers whose features are already in memory: everything of @kqkd/kq except `scoreModel`,
 * which runs a model through ONNX Runtime. Importing this loads neither onnxruntime nor the ONNX reader, so
 * `kqkd score --features` starts quickly.
 */
export { drawSubsets, explicitSubsets, numClassesOf, MAIN_SUBSET_TOTAL, CLASS_SUBSET_MAX_PER_CLASS, type Subsets } from './sampling.js';
export { poolAndFlatten, poolingKernel, pooledSampleShape, MAX_FEATURE_DIM } from './features.js';
export { knowledgeQuality, varianceRatios, embeddingDim, windowEntropy, VARIANCE_THRESHOLD, type KnowledgeQuality } from './quality.js';
export { selectTopK, type Scored } from './select.js';
export { scoreLayers, type LayerFeatures, type LayerScore, type ScoreOptions, type KqReport } from './score.js';
export { reportToJson, reportToTable } from './report.js';
