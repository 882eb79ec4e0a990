/**
 * kqkd's public programmatic API — the one entry point for applications (the `kqkd` command is a thin layer over it):
 *
 *   import { scoreModel, train, evaluateModel, runExperiment, listModels } from '@kqkd/kqkd';
 */
export {
  scoreLayers, scoreModel, knowledgeQuality, selectTopK, drawSubsets, explicitSubsets, poolAndFlatten,
  reportToJson, reportToTable, MODEL_DATASETS,
  type KqReport, type ModelKqReport, type LayerFeatures, type LayerScore, type ScoreOptions, type ScoreModelOptions,
  type KnowledgeQuality, type Subsets, type ModelDataset,
} from '@kqkd/kq';
export {
  computeLayerGeometry, validateGeometryInput, resolveBackend, cudaStatus, buildInfo, BACKENDS as GEOMETRY_BACKENDS,
  type GeometryInput, type GeometryOptions, type LayerGeometry, type BackendChoice,
} from '@kqkd/geometry';
export { findGeneralizedLayers, exposeOutputs, loadModel, saveModel, GraphBuilder, type GeneralizedLayer } from '@kqkd/onnx';
export { loadFashionMnist, loadDataset, batches, readNpy, writeNpy, DATASET_NAMES, NORMALIZATION } from '@kqkd/data';
export { kqCurvesSpec, renderChart, writeChart } from '@kqkd/plots';
export { KqkdError } from '@kqkd/common';
export {
  train, parseTrainConfig, evaluateModel, benchTrainStep, openSplits,
  BACKENDS, DEFAULT_BACKEND, MODEL_NAMES, DATASETS_NEEDING_DIR, OPTIMIZER_TYPES, SCHEDULES,
  type TrainOptions, type TrainResults, type TrainConfig, type TrainConfigInput, type TrainProgress, type Evaluation, type EvaluateOptions,
  type BenchTrainStepOptions, type BenchTrainStepResult, type BackendName,
} from '@kqkd/train';
export {
  METHODS, METHOD_KEYS, getMethod, buildTeacherCache, openTeacherCache, distillObjective, benchDistillObjective, SELECTION_RULE_KEYS,
  type MethodDefinition, type DistillSpecInput,
} from '@kqkd/distill';
export {
  runExperiment, parseExperimentConfig, presetConfig, PRESET_NAMES, LR_POLICIES,
  type ExperimentConfig, type ExperimentConfigInput, type ExperimentResults, type RunExperimentOptions, type ExperimentProgress,
} from '@kqkd/experiment';
export { ZOO, ZOO_NAMES, getModel, buildZooModel, listModels, type ModelDefinition, type ZooLayer } from '@kqkd/models';
