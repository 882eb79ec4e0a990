/** @kqkd/runtime — the only importer of onnxruntime: inference sessions and streamed feature extraction. */
export {
  createInferenceSession, RuntimeError, EXECUTION_PROVIDERS,
  type InferenceSession, type SessionOptions, type FloatTensor, type ExecutionProvider,
} from './session.js';
export { runFeatureExtraction, type FeatureBatch, type FeatureExtractionOptions, type FeatureExtractionSummary } from './extract.js';
export {
  createTrainingSession, loadTrainingRuntime, applyGluePatches, decodeWasmException, GLUE_PATCHES, ORT_WEB_TRAINING_VERSION,
  type TrainingSession, type TrainingArtifacts, type TrainingFeeds, type TrainingFeedTensor, type GluePatch,
  type TrainingRuntimeOptions,
} from './training/index.js';
export {
  createNativeTrainingSession, nativeGradientOutputName, TRAINING_EXECUTION_PROVIDERS, CUDA_INSTALL_HINT, cudaProviderInstalled,
  type NativeTrainingSession, type NativeTrainingSessionOptions, type NativeTrainingParameter, type NativeStepResult, type NativeFeedTensor,
  type TrainingExecutionProvider,
} from './native-training/index.js';
