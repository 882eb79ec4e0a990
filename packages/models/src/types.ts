import type { GraphBuilder, Tensor } from '@kqkd/onnx';

/** Input shape of one sample: [channels, height, width] (3×32×32 CIFAR, 1×28×28 Fashion-MNIST, 3×64×64 Tiny ImageNet). */
export type InputShape = readonly [number, number, number];

export interface ZooBuildOptions {
  /** Number of classes of the classifier (≥ 2). */
  classes: number;
  /**
   * Width multiplier (default 1 = the paper's widths). CNNs scale every channel count (VGG also its 4096-wide
   * classifier; MobileNetV2 rounds to multiples of 8 as torchvision does); ViTs scale the head dimension (heads and
   * depth stay) and the MLP width.
   */
  width?: number;
  /** ViT only: patch size (default 4 for inputs up to 32×32, including 28×28; 8 from 64×64). */
  patch?: number;
}

/** One generalized layer (METHOD.md §1) of a zoo model. */
export interface ZooLayer {
  /** Position among the generalized layers, from 0 (the paper's layer index). */
  index: number;
  /** Graph tensor after this layer: "the features of layer `index`". */
  tensor: string;
  /** Static shape of ONE sample (the batch dimension left out): [C, H, W], [tokens, dim] or [features]. */
  shape: number[];
}

/** What a zoo model adds to a graph. */
export interface ZooModel {
  /** Logits [N, classes]. */
  logits: Tensor;
  layers: ZooLayer[];
  /** Index of the last backbone layer: the Flatten (or token average) layer; everything after it is the classifier head. */
  headStartsAfter: number;
}

/** 'onnx': a student imported from an ONNX file (onnx-student.ts), not a zoo model. */
export type ZooFamily = 'resnet' | 'vgg' | 'mobilenet' | 'vit' | 'cnn' | 'onnx';

export interface ModelDefinition {
  name: string;
  family: ZooFamily;
  description: string;
  /** Adds the model to `b` on the image batch `input` [N, C, H, W] and returns its logits and generalized layers. */
  build(b: GraphBuilder, input: Tensor, options: ZooBuildOptions): ZooModel;
}
