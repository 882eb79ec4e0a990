/**
 * @kqkd/train — the training engine: `train()` runs epochs of seeded fixed-size batches through a training backend
 * (`native`: the gradient graph lowered into onnxruntime-node with the optimizer on the host; `web-training`:
 * onnxruntime-web 1.19.2's training build), evaluates every epoch, checkpoints atomically, resumes exactly, and
 * exports a plain inference ONNX model. What a student is trained for besides cross-entropy comes in as a
 * `TrainingObjective` (@kqkd/distill's methods).
 */
export {
  train, openSplits, evaluationSplit, scheduleFor, scoreLogits, recordedConfig, METRICS_JSONL, METRICS_JSON, RESULTS_JSON, MODEL_ONNX, BEST_MODEL_ONNX, RUN_FILES, DIVERGENCE_FACTOR,
  type TrainOptions, type TrainResults, type TrainProgress,
} from './train.js';
export {
  parseTrainConfig, configHash, canonicalJson, defaultMilestones, trainConfigSchema, modelSpecSchema, datasetSpecSchema,
  optimizerSchema, oneCycleSchema, augmentSchema, positiveInt, INIT_VERSION, ONNX_MODEL, checkOnnxModelSpec,
  MODEL_NAMES, DATASET_NAMES, DATASETS_NEEDING_DIR, OPTIMIZER_TYPES, SCHEDULES,
  type TrainConfig, type TrainConfigInput, type ModelSpec, type DatasetSpec, type OptimizerSpec, type ScheduleName,
  type AugmentConfig, type OneCycleConfig,
} from './config.js';
export { parseWithSchema, describeReceived, expectationOf } from './schema.js';
export {
  loadRunState, saveRunState, encodeRunState, decodeRunState, checkpointPath, CHECKPOINT_DIR, CHECKPOINT_FILE,
  type RunState, type EpochMetrics, type RecordedConfig,
} from './run-state.js';
export type { TrainingObjective, ExtraFeeds } from './objective.js';
export {
  buildForward, inferenceModel, exportInferenceBytes, trainingGraphsFor, initialValues, extraInputsOf, onnxStudent, INPUT_NAME, LABELS_NAME, LOGITS_NAME,
  type BackendOptions, type ModelState,
} from './student-graph.js';
export type { TrainBackend, BackendFactory } from './backends/types.js';
export { backendFactory, BACKENDS, DEFAULT_BACKEND, type BackendName } from './backends/registry.js';
export { createNativeBackend, hostWeightGradientsAsked, type NativeBackendOptions } from './backends/native.js';
export { createWebTrainingBackend } from './backends/web-training.js';
export { HostOptimizer, scheduleRate, optimizerConfigOf, type HostOptimizerOptions, type HostOptimizerSlot } from './optimizer/host-optimizer.js';
export { benchTrainStep, type BenchTrainStepOptions, type BenchTrainStepResult, type BenchTrainStepProfile } from './bench.js';
export {
  summarizeOrtProfile, type OrtProfileSummary, type OrtProfileOp, type OrtProfileNode, type SummarizeOrtProfileOptions,
} from './profile.js';
export { evaluateModel, predictions, type EvaluateOptions, type Evaluation } from './evaluate.js';
export { epochModelFile } from './model-files.js';
