/** The registry of zoo models, a one-call builder for a standalone classifier, and the listing `kqkd models` prints. */
import { expectInteger, invalidArgument, KqkdError } from '@kqkd/common';
import { GraphBuilder, withGeneralizedLayers, type ModelProto, type ParameterInfo, type Tensor } from '@kqkd/onnx';
import { mobilenetv2 } from './mobilenetv2.js';
import { resnet } from './resnet.js';
import { smallCnn } from './small-cnn.js';
import type { InputShape, ModelDefinition, ZooBuildOptions, ZooLayer, ZooModel } from './types.js';
import { vgg } from './vgg.js';
import { vit } from './vit.js';

export const ZOO_NAMES = ['resnet9', 'resnet34', 'vgg11', 'vgg19', 'mobilenetv2', 'vit_b', 'vit_et', 'vit_ett', 'small-cnn'] as const;
export type ZooName = (typeof ZOO_NAMES)[number];

/**
 * Whether a model argument names an ONNX file rather than a zoo model: it ends in `.onnx` (any case) or holds a path
 * separator. The one rule of `kqkd train --model`, `kqkd distill --student` and the API's `student`.
 */
export function isOnnxModelPath(model: string): boolean {
  return /\.onnx$/i.test(model) || /[\\/]/.test(model);
}

const def = (name: ZooName, family: ModelDefinition['family'], description: string, build: ModelDefinition['build']): ModelDefinition =>
  ({ name, family, description, build });

export const ZOO: Record<ZooName, ModelDefinition> = {
  resnet9: def('resnet9', 'resnet', 'ResNet9: BasicBlocks [1,1,1,1], widths 64-512, CIFAR stem (student)', resnet('resnet9', [1, 1, 1, 1])),
  resnet34: def('resnet34', 'resnet', 'ResNet34: BasicBlocks [3,4,6,3], widths 64-512, CIFAR stem (teacher)', resnet('resnet34', [3, 4, 6, 3])),
  vgg11: def('vgg11', 'vgg', 'VGG11-BN with the 4096-wide classifier (student)', vgg('vgg11')),
  vgg19: def('vgg19', 'vgg', 'VGG19-BN with the 4096-wide classifier (teacher)', vgg('vgg19')),
  mobilenetv2: def('mobilenetv2', 'mobilenet', 'MobileNetV2, stride-1 stem below 64x64, ReLU6 (student)', mobilenetv2),
  vit_b: def('vit_b', 'vit', 'ViT_B: 12 blocks, 12 heads, dim 768, MLP 3072, token average (teacher)', vit('vit_b')),
  vit_et: def('vit_et', 'vit', 'ViT_ET: 8 blocks, 8 heads, dim 256, MLP 768, token average', vit('vit_et')),
  vit_ett: def('vit_ett', 'vit', 'ViT_ETT: 8 blocks, 6 heads, dim 192, MLP 576, token average (student)', vit('vit_ett')),
  'small-cnn': def('small-cnn', 'cnn', 'small CNN of the training proof: conv-BN-ReLU-pool x2, Linear', smallCnn),
};

/** The definition of a zoo model; an unknown name throws listing the valid ones. */
export function getModel(name: string): ModelDefinition {
  if (!Object.prototype.hasOwnProperty.call(ZOO, name)) {
    throw new KqkdError('model', `one of ${ZOO_NAMES.join(', ')}`, JSON.stringify(name));
  }
  return ZOO[name as ZooName];
}

/** Checks [C, H, W]. */
export function checkInputShape(input: unknown): InputShape {
  if (!Array.isArray(input) || input.length !== 3) invalidArgument('input', 'a shape [C, H, W]', input);
  input.forEach((d, i) => expectInteger(`input[${i}]`, d, 1, 4096));
  return [input[0], input[1], input[2]];
}

export interface ParameterCount {
  /** Trainable and frozen parameters, BN running statistics excluded: PyTorch's sum(p.numel() for p in model.parameters()). */
  params: number;
  /** BatchNorm running means and variances (PyTorch buffers; num_batches_tracked is not counted). */
  statistics: number;
}

export function countParameters(parameters: readonly ParameterInfo[]): ParameterCount {
  let params = 0;
  let statistics = 0;
  for (const p of parameters) {
    const n = p.dims.reduce((a, d) => a * d, 1);
    if (p.statistic) statistics += n; else params += n;
  }
  return { params, statistics };
}

/**
 * A builder whose seeded initialisers return zeros without drawing: graphs for counting and listing (ViT_B's 85 M
 * He-normal draws take seconds). Shapes, names and parameter counts are those of the real build.
 */
export class ZeroInitBuilder extends GraphBuilder {
  override heNormal(size: number): Float32Array { return new Float32Array(size); }
  override normal(size: number): Float32Array { return new Float32Array(size); }
  override uniform(size: number): Float32Array { return new Float32Array(size); }
}

export interface BuildZooModelOptions extends ZooBuildOptions {
  input: readonly number[];
  /** Seed of the builder's initialisation (default 0). */
  seed?: number;
  /** Batch dimension of the graph input (default "N", symbolic). */
  batch?: number | string;
  inputName?: string;
  logitsName?: string;
  /** false: zero weights instead of the seeded initialisation (fast; for shapes, names and counts). Default true. */
  initialize?: boolean;
}

export interface BuiltZooModel extends ZooModel, ParameterCount {
  name: ZooName;
  builder: GraphBuilder;
  input: Tensor;
  /**
   * The standalone inference model (BatchNormalization on running statistics), input → logits. Its ONNX metadata
   * declares the generalized layers (`kqkd.generalized_layers`), so any consumer of the exported file gets these
   * exact indices from @kqkd/onnx's findGeneralizedLayers.
   */
  model: ModelProto;
}

/** Builds a zoo model alone in a fresh graph: input `input` [N, C, H, W] → output `logits`. */
export function buildZooModel(name: string, options: BuildZooModelOptions): BuiltZooModel {
  const definition = getModel(name);
  const [C, H, W] = checkInputShape(options.input);
  const Builder = options.initialize === false ? ZeroInitBuilder : GraphBuilder;
  const builder = new Builder({ name: definition.name.replace(/-/g, '_'), seed: options.seed ?? 0 });
  const input = builder.input(options.inputName ?? 'input', [options.batch ?? 'N', C, H, W]);
  const built = definition.build(builder, input, options);
  const logits = builder.output(built.logits, options.logitsName ?? 'logits');
  const model = withGeneralizedLayers(builder.build(), { layers: built.layers, headStartsAfter: built.headStartsAfter });
  return {
    name: definition.name as ZooName, builder, input, ...built, logits, model,
    ...countParameters(builder.parameters()),
  };
}

export interface ModelListing {
  name: string;
  description: string;
  params: number;
  statistics: number;
  generalizedLayers: ZooLayer[];
  headStartsAfter: number;
}

/** Every zoo model built for these classes and input (width 1 by default): parameter counts and generalized layers. */
export function listModels(options: { classes: number; input: readonly number[]; width?: number }): ModelListing[] {
  return ZOO_NAMES.map((name) => {
    const m = buildZooModel(name, { classes: options.classes, input: options.input, width: options.width, initialize: false });
    return {
      name, description: ZOO[name].description, params: m.params, statistics: m.statistics,
      generalizedLayers: m.layers, headStartsAfter: m.headStartsAfter,
    };
  });
}
