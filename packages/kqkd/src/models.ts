/**
 * `models`: the zoo — every model with its parameter count and generalized layers for a given input and class count;
 * `onnxLayers`: the generalized layers found in any ONNX model.
 */
import { listModels, type ModelListing } from '@kqkd/models';
import { findGeneralizedLayers, readModelFile, LAYER_KIND_REASONS, type GeneralizedLayer, type GeneralizedLayerKind } from '@kqkd/onnx';

export interface ModelsOptions {
  /** Classes of the classifier (default 10). */
  classes?: number;
  /** [C, H, W] of one image (default 3×32×32). */
  input?: readonly number[];
  /** Width multiplier (default 1). */
  width?: number;
}

export function models(o: ModelsOptions = {}): ModelListing[] {
  return listModels({ classes: o.classes ?? 10, input: o.input ?? [3, 32, 32], ...(o.width !== undefined ? { width: o.width } : {}) });
}

export interface OnnxLayersOptions {
  /** Path of any ONNX classifier (a teacher, a student exported from PyTorch, a kqkd export). */
  model: string;
}

export interface OnnxLayerListing {
  index: number;
  tensor: string;
  /** The op that produces the tensor. */
  opType: string;
  kind: GeneralizedLayerKind;
  /** Null when the graph does not say and it cannot be inferred without running the model. */
  shape: GeneralizedLayer['shape'];
  /** Why it counts as a generalized layer (docs/knowledge-quality.md). */
  why: string;
}

/**
 * The generalized layers kqkd finds in an ONNX model (what `score --model` and a distillation pair by), so a user can
 * check them before scoring: `source` says whether the model declared them (kqkd exports) or structure found them.
 */
export function onnxLayers(o: OnnxLayersOptions): { model: string; source: 'metadata' | 'structure'; layers: OnnxLayerListing[]; headStartsAfter: number } {
  const { model, source } = readModelFile(o.model, 'model');
  const found = findGeneralizedLayers(model);
  return {
    model: source, source: found.source === 'metadata' ? 'metadata' : 'structure', headStartsAfter: found.headStartsAfter,
    layers: found.layers.map((l) => ({ index: l.index, tensor: l.tensor, opType: l.opType, kind: l.kind, shape: l.shape ? [...l.shape] : null, why: LAYER_KIND_REASONS[l.kind] })),
  };
}
