/** The training build of onnxruntime-web 1.19.2 (patched glue, decoded wasm exceptions) and a typed session over it. */
export {
  createTrainingSession,
  type TrainingSession, type TrainingArtifacts, type TrainingFeeds, type TrainingFeedTensor,
} from './session.js';
export {
  loadTrainingRuntime, applyGluePatches, decodeWasmException, GLUE_PATCHES, ORT_WEB_TRAINING_VERSION, TRAINING_DIST_FILE,
  type GluePatch, type TrainingRuntimeOptions,
} from './loader.js';
