/**
 * kqkd's public programmatic API — the one entry point for applications; the `kqkd` command is a thin layer over it,
 * and importing this module loads no command-line framework (test/no-cli-framework.test.ts).
 *
 *   import { score, train, evaluate, distill, runExperiment, models, benchTrainStep, startWorker } from '@kqkd/kqkd';
 *
 * One module per function. Long calls take `onProgress` and an AbortSignal (`signal`); training and experiments stop
 * at the next optimizer step with a checkpoint and resume when called again. Errors are KqkdErrors naming the
 * option, the rule and the value.
 */
export {
  score, readLabelsNpy, readIndicesNpy,
  type ScoreOptions, type ScoreFeaturesOptions, type ScoreModelApiOptions, type ScoreProgress, type ScoreResult,
  scoreTeachers, rankingToTable, RANK_BY, type RankBy, type ScoreTeachersOptions, type ScoreTeachersProgress, type ScoreTeachersResult, type TeacherRanking, type RankedTeacher,
} from './score.js';
export { train, EXECUTION_PROVIDERS, type ExecutionProvider } from './train.js';
export { evaluate, type EvaluateApiOptions, type EvaluateResult } from './evaluate.js';
export { predict, type PredictOptions, type PredictResult, type Prediction } from './predict.js';
export {
  distill, distillExperiment, defaultEpochs, defaultValidation, DISTILL_COMPARE,
  type DistillOptions, type DistillResult, type DistillProgress, type DistilledModel, type DistillCompare,
} from './distill.js';
export {
  runExperiment, resolveExperimentConfig, type RunExperimentApiOptions, type ResolveExperimentOptions, type ExperimentOverrides,
} from './experiment.js';
export { models, onnxLayers, type ModelsOptions, type OnnxLayersOptions, type OnnxLayerListing } from './models.js';
export { benchTrainStep, type BenchTrainStepApiOptions, type BenchDistillSpec } from './bench.js';
export { startWorker } from './worker.js';
export { parseQueueUrl } from '@kqkd/queue/connection';
export type { WorkerOptions, WorkerEvent, WorkerSummary } from '@kqkd/queue';

// The types of the options and results above, the names the command line offers as choices, a run's file names.
export {
  BACKENDS, DEFAULT_BACKEND, MODEL_NAMES, DATASETS_NEEDING_DIR, OPTIMIZER_TYPES, SCHEDULES, epochModelFile,
  type TrainOptions, type TrainResults, type TrainConfig, type TrainConfigInput, type TrainProgress, type Evaluation,
  type BenchTrainStepOptions, type BenchTrainStepResult, type BenchTrainStepProfile, type BackendName,
} from '@kqkd/train';
export { benchDistillObjective, METHODS, METHOD_KEYS, SELECTION_RULE_KEYS, type MethodDefinition, type DistillSpecInput } from '@kqkd/distill';
export {
  PRESET_NAMES, LR_POLICIES, type ExperimentConfig, type ExperimentConfigInput, type ExperimentResults, type ExperimentProgress, type LrPolicy,
} from '@kqkd/experiment';
export { MODEL_DATASETS, reportToTable, type KqReport, type ModelKqReport, type LayerFeatures, type ModelDataset } from '@kqkd/kq';
export { BACKENDS as GEOMETRY_BACKENDS, type BackendChoice } from '@kqkd/geometry';
export { DATASET_NAMES, type DatasetName } from '@kqkd/data';
export { KqkdError, RunFailedError } from '@kqkd/common';
export type { ModelListing } from '@kqkd/models';
export { isOnnxModelPath } from '@kqkd/models';
