export * from './types.js';
export { parseExperimentConfig, experimentConfigSchema, experimentHash, EXPERIMENT_CONFIG_VERSION, type ExperimentConfig, type ExperimentConfigInput } from './config.js';
export { PRESETS, PRESET_NAMES, QUICK_PRESET, COMMITTED_TEACHER, presetConfig, paperLearningRate, PAPER_STUDENT_LAYERS, PAPER_BASELINE_LAYERS } from './presets.js';
export {
  prepareExperiment, openExperiment, runConfig, KQ_FILE, EXPERIMENT_JSON, IMPORTED_TEACHER, TEACHER_CACHE_DIR,
  type ExperimentProgress, type PreparedExperiment, type PrepareOptions,
} from './prepare.js';
export {
  runStudent, readStudentRun, planStudentRun, studentJobs, peakLearningRate, RUNS_DIR,
  type StudentJob, type StudentRunPlan, type StudentRunOptions,
} from './student-run.js';
export { experimentResults, methodResult, writeExperimentResults, RESULTS_FILE, RESULTS_MD } from './results.js';
export { runExperiment, inExperimentFolder, autoParallel, EXPERIMENT_FILES, type RunExperimentOptions } from './run.js';
export { LR_POLICIES, methodLearningRate, paperCodeLearningRate, type LrPolicy } from './lr-policy.js';
export * from './report.js';
