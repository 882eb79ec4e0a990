export * from './types.js';
export { parseExperimentConfig, experimentConfigSchema, experimentHash, EXPERIMENT_CONFIG_VERSION, type ExperimentConfig, type ExperimentConfigInput } from './config.js';
export { PRESETS, PRESET_NAMES, QUICK_PRESET, presetConfig, paperLearningRate, PAPER_STUDENT_LAYERS, PAPER_BASELINE_LAYERS } from './presets.js';
export { runExperiment, RESULTS_FILE, RESULTS_MD, KQ_FILE, type ExperimentProgress, type RunExperimentOptions } from './run.js';
export { LR_POLICIES, methodLearningRate, paperCodeLearningRate, type LrPolicy } from './lr-policy.js';
export * from './report.js';
