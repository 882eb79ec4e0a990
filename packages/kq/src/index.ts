/**
 * @kqkd/kq — Knowledge Quality (Q = S + sqrt(I·E)) of every generalized layer, per KQ-SPEC.md:
 * subset sampling, S/I/E/Q from the native geometry, top-k selection, JSON and table reports (./layers.js), and the
 * scoring of a whole ONNX model (./model.js).
 */
export * from './layers.js';
export { scoreModel, MODEL_DATASETS, type ModelDataset, type ScoreModelOptions, type ModelKqReport } from './model.js';
