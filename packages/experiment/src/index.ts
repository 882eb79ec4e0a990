export * from './types.js';
export { parseExperimentConfig, experimentConfigSchema, tuningSchema, experimentHash, EXPERIMENT_CONFIG_VERSION, type ExperimentConfig, type ExperimentConfigInput } from './config.js';
export { PRESETS, PRESET_NAMES, QUICK_PRESET, QUICK_TUNE_PRESET, QUICK_TUNED_LR, MOBILENETV2_TUNED_LR, VGG11_TUNED_LR, VIT_ETT_TUNED_LR, LR_GRID, VIT_LR_GRID, COMMITTED_TEACHER, presetConfig, paperLearningRate, PAPER_STUDENT_LAYERS, PAPER_BASELINE_LAYERS } from './presets.js';
export {
  prepareExperiment, openExperiment, runConfig, tuningDataset, KQ_FILE, EXPERIMENT_JSON, IMPORTED_TEACHER, TEACHER_CACHE_DIR,
  type ExperimentProgress, type PreparedExperiment, type PrepareOptions,
} from './prepare.js';
export {
  runStudent, readStudentRun, planStudentRun, studentJobs, jobTitle, peakLearningRate, peakLearningRateWithSource, RUNS_DIR,
  type StudentJob, type StudentRunPlan, type StudentRunOptions,
} from './student-run.js';
export { experimentResults, methodResult, writeExperimentResults, RESULTS_FILE, RESULTS_MD } from './results.js';
export { runExperiment, inExperimentFolder, autoParallel, experimentStages, groupByMethod, EXPERIMENT_FILES, type RunExperimentOptions, type StagesOutcome } from './run.js';
export { LR_POLICIES, methodLearningRate, methodLearningRateWithSource, paperCodeLearningRate, type LrPolicy, type LrSource } from './lr-policy.js';
export { TUNING_RULE, tuningJobs, tuningSeeds, chooseLearningRate, methodTuning, tuningOutcome, chosenRates } from './tuning.js';
export * from './report.js';
