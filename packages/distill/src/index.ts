/**
 * @kqkd/distill — knowledge distillation for @kqkd/train: the loss terms, the methods of the paper and its baselines
 * composed from them (the student's backbone trained by feature losses only, CE on a detached head), the rules that
 * pick teacher layers (Knowledge Quality top-k and others), and a disk-backed cache of teacher features.
 */
export * from './losses/index.js';
export {
  METHODS, METHOD_KEYS, PAPER_METHOD_KEYS, BASELINE_METHODS, OURS_METHOD, OURS_LAYERS, REFERENCE_METHOD, getMethod, layerRuleOf, methodTerms, needsTeacher, pairing, predictorTerm, readsTeacherLogits,
  type MethodDefinition,
} from './methods.js';
export * from './terms/index.js';
export { composeDistillation, distillationInputs, teacherLayerInput, TEACHER_LOGITS_INPUT, type DistillationGraphOptions } from './distill-graph.js';
export { distillSpecSchema, parseDistillSpec, type DistillSpec, type DistillSpecInput } from './spec.js';
export { distillObjective, benchDistillObjective, DISTILL_OBJECTIVE_KEY, type DistillTeacher } from './objective.js';
export * from './selection/index.js';
export {
  buildTeacherCache, openTeacherCache, teacherModelSha256, TEACHER_CACHE_MANIFEST, TEACHER_CACHE_FORMAT, TEACHER_CACHE_VERSION,
  type TeacherCache, type TeacherCacheLayer, type TeacherCacheManifest, type TeacherCacheDatasetIdentity, type TeacherCacheProgress,
  type BuildTeacherCacheOptions,
} from './teacher-cache.js';
