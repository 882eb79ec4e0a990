export {
  featureLoss, projector, alignSpatial, adaptiveAveragePool, adaptivePoolMatrix, toChannelMap, tokenGrid, pairedChannelMap, PROJECTORS, type ProjectorKind, type FeaturePair, type FeatureLossOptions,
} from './feature.js';
export {
  kdLoss, vkdLoss, vkdLsLoss, spLoss, normalizedGram, standardizeLogits, detachedHead, VKD_TEMPERATURE, LS_EPS, SP_EPS,
  type KdOptions, type VkdOptions, type SpPair,
} from './logit.js';
export { simkd, SIMKD_FACTOR, type SimKdOptions } from './simkd.js';
export { semckdLoss, SEMCKD_NORM_EPS, type SemCkdOptions } from './semckd.js';
