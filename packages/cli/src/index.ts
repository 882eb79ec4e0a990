/**
 * kqkd's one programmatic entry point: everything the `kqkd` command does is available from here.
 *
 *   import { scoreModel, scoreLayers, computeLayerGeometry } from '@kqkd/cli';
 */
export {
  scoreLayers, scoreModel, knowledgeQuality, selectTopK, drawSubsets, explicitSubsets, poolAndFlatten,
  reportToJson, reportToTable, MODEL_DATASETS,
  type KqReport, type ModelKqReport, type LayerFeatures, type LayerScore, type ScoreOptions, type ScoreModelOptions,
  type KnowledgeQuality, type Subsets,
} from '@kqkd/kq';
export {
  computeLayerGeometry, validateGeometryInput, resolveBackend, cudaStatus, buildInfo, BACKENDS,
  type GeometryInput, type GeometryOptions, type LayerGeometry, type BackendChoice,
} from '@kqkd/geometry';
export { findGeneralizedLayers, exposeOutputs, loadModel, saveModel, type GeneralizedLayer } from '@kqkd/onnx';
export { loadFashionMnist, readNpy, writeNpy } from '@kqkd/data';
export { kqCurvesSpec, renderChart, writeChart } from '@kqkd/plots';
export { KqkdError } from '@kqkd/common';
export { main, buildProgram } from './main.js';
export { train, parseTrainConfig, type TrainOptions, type TrainResults, type TrainConfig } from '@kqkd/distill';
export {
  runExperiment, parseExperimentConfig, presetConfig, PRESET_NAMES, METHODS, METHOD_KEYS, getMethod, buildTeacherCache, openTeacherCache,
  type ExperimentConfig, type ExperimentConfigInput, type ExperimentResults, type RunExperimentOptions, type MethodDefinition,
} from '@kqkd/distill';
export { GraphBuilder } from '@kqkd/onnx';
export { buildTrainingGraphs } from '@kqkd/autodiff';
export { ZOO, ZOO_NAMES, getModel, buildZooModel, listModels, type ModelDefinition, type ZooLayer } from '@kqkd/models';
export { loadDataset, batches, DATASET_NAMES, NORMALIZATION } from '@kqkd/data';
