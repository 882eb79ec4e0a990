/** `models`: the zoo — every model with its parameter count and generalized layers for a given input and class count. */
import { listModels, type ModelListing } from '@kqkd/models';

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
