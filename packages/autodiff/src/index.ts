/** @kqkd/autodiff — reverse-mode differentiation of ONNX graphs into ONNX Runtime training artifacts. */
export {
  buildTrainingGraphs, GRAD_SUFFIX, ACCUMULATION_BUFFER_SUFFIX, ACCUMULATION_OUT_SUFFIX, LAZY_RESET_GRAD, GRADIENT_OUTPUT_SUFFIX,
  UPDATED_STAT_SUFFIX,
  type TrainingGraphsOptions, type TrainingGraphs, type TrainingParameter, type BatchNormStatistic,
} from './training-graphs.js';
export { RULES as GRADIENT_RULES, NON_DIFFERENTIABLE, type GradRule, type GradContext } from './gradients.js';
export * from './artifacts/index.js';
export { lowerTrainingGraph, LOWERED_OPS, KEPT_MICROSOFT_OPS, type LowerOptions } from './lower/index.js';
export { nchwcProbeModel, nchwcKind, useNchwcConvolutions, NCHWC_DOMAIN } from './lower/nchwc.js';
export { hostConvWeightGradients, HOST_CONV_WEIGHT_GRADIENTS_KEY, type HostConvWeightGradient } from './lower/host-weight-gradients.js';
