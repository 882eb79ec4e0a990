/** The generalized layers' types: what a layer is, why each kind counts, what `findGeneralizedLayers` returns. */
import type { Shape } from './shapes.js';

/**
 * What ends the layer. 'bottleneck': an inverted-residual block without skip connection, ending at its linear
 * projection. 'named': an explicit name, or a metadata-declared tensor that the structural rules do not mark.
 */
export type GeneralizedLayerKind = 'activation' | 'residual' | 'bottleneck' | 'transformer-block' | 'stem' | 'flatten' | 'class-token' | 'named';

/** Why a layer of each kind counts (`kqkd models --onnx`, docs/knowledge-quality.md). */
export const LAYER_KIND_REASONS: Readonly<Record<GeneralizedLayerKind, string>> = {
  activation: 'a non-linearity on the main path, outside any block',
  residual: 'a residual block\'s output (after its Add, or the activation right after it)',
  bottleneck: 'a block without a skip connection, at its last op (the linear 1×1 projection)',
  'transformer-block': 'a transformer encoder block\'s output (the Add closing its MLP sub-layer, or the LayerNorm after it)',
  stem: 'the stem\'s output (the tensor the first block starts from, when no activation ends the stem)',
  flatten: 'the pooled / flattened features the classifier reads',
  'class-token': 'the class token the classifier reads (a transformer\'s last layer, like a token average)',
  named: 'named explicitly, or declared in the model\'s kqkd.generalized_layers metadata',
};

export interface GeneralizedLayer {
  /** Position among the generalized layers, from 0. */
  index: number;
  /** The tensor after this layer: "the features of layer `index`". */
  tensor: string;
  /** Operator that produces `tensor` (Relu, Clip, Add, LayerNormalization, Flatten, ...). */
  opType: string;
  kind: GeneralizedLayerKind;
  /** From value_info or forward inference; null when it cannot be known without running the model. */
  shape: Shape | null;
}

export interface GeneralizedLayers {
  layers: GeneralizedLayer[];
  /**
   * Index of the last backbone layer (the Flatten or token average when there is one); the classification head is
   * everything after it. Layers after it are the head's own non-linearities (VGG's classifier ReLUs).
   */
  headStartsAfter: number;
  /** Where the list comes from: explicit `names`, the model's `kqkd.generalized_layers` metadata, or structure. */
  source?: 'names' | 'metadata' | 'structure';
}

export interface FindLayersOptions {
  /** Explicit tensor names instead of structural detection; returned in graph order. */
  names?: string[];
}
