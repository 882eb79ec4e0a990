export {
  createNativeTrainingSession, nativeGradientOutputName,
  type NativeTrainingSession, type NativeTrainingSessionOptions, type NativeTrainingParameter, type NativeStepResult, type NativeFeedTensor,
} from './session.js';
export { TRAINING_EXECUTION_PROVIDERS, CUDA_INSTALL_HINT, cudaProviderInstalled, type TrainingExecutionProvider } from './providers.js';
