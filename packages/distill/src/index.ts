/**
 * @kqkd/distill — the training engine: `train()` runs epochs of seeded fixed-size batches through ONNX Runtime
 * training artifacts, evaluates test top-1 every epoch, checkpoints atomically, resumes exactly, and exports a plain
 * inference ONNX model.
 */
export {
  train, scheduleFor, backendFactory, scoreLogits, METRICS_JSONL, METRICS_JSON, RESULTS_JSON, MODEL_ONNX,
  type TrainOptions, type TrainResults, type TrainProgress,
} from './train.js';
export {
  parseTrainConfig, configHash, canonicalJson, defaultMilestones, trainConfigSchema,
  MODEL_NAMES, DATASET_NAMES, BACKENDS, DEFAULT_BACKEND, type BackendName, DATASETS_NEEDING_DIR, OPTIMIZER_TYPES, SCHEDULES,
  type TrainConfig, type TrainConfigInput, type ModelSpec, type DatasetSpec, type OptimizerSpec, type ScheduleName,
} from './config.js';
export {
  loadRunState, saveRunState, encodeRunState, decodeRunState, checkpointPath, CHECKPOINT_DIR, CHECKPOINT_FILE,
  type RunState, type EpochMetrics,
} from './run-state.js';
export type { TrainBackend, ModelState } from './backend.js';
export { createOrtBackend, buildForward, inferenceModel, INPUT_NAME, LABELS_NAME, LOGITS_NAME, type BackendOptions } from './ort-backend.js';
export { smallCnn, smallCnnWithoutBatchNorm, SMALL_CNN_DEFAULT_WIDTHS, type SmallCnnOptions } from './models/small-cnn.js';
export { createNativeBackend, defaultLowering, optimizerConfigOf, type NativeBackendOptions } from './native-backend.js';
export {
  HostOptimizer, adamwScalars, adamwUpdate, adamwUpdateScalars, scheduleRate, type HostOptimizerOptions, type HostOptimizerSlot,
} from './host-optimizer.js';
export { nativeOptimizer, type AdamWScalars, type NativeOptimizerAddon } from './native-optimizer.js';
export { benchTrainStep, type BenchTrainStepOptions, type BenchTrainStepResult } from './bench.js';
export * from './losses/index.js';
export { buildTeacherCache, openTeacherCache, teacherModelSha256, TEACHER_CACHE_MANIFEST, TEACHER_CACHE_FORMAT, TEACHER_CACHE_VERSION, type TeacherCache, type TeacherCacheLayer, type TeacherCacheManifest, type TeacherCacheDatasetIdentity, type TeacherCacheProgress, type BuildTeacherCacheOptions } from './teacher-cache.js';
export { METHODS, METHOD_KEYS, BASELINE_METHODS, OURS_METHOD, REFERENCE_METHOD, getMethod, needsTeacher, type MethodDefinition } from './methods.js';
export { composeDistillation, distillationInputs, teacherLayerInput, TEACHER_LOGITS_INPUT, type DistillationGraphOptions } from './distill-graph.js';
export { distillSpecSchema, type DistillSpec, type DistillSpecInput } from './config.js';
export { openSplits } from './train.js';
export type { ExtraFeeds } from './backend.js';
export * from './experiment/index.js';
