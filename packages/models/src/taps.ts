/** Records generalized layers in the order a model definition marks them, and validates common build arguments. */
import { expectInteger, invalidArgument } from '@kqkd/common';
import { formatShape, type Tensor } from '@kqkd/onnx';
import type { ZooBuildOptions, ZooLayer } from './types.js';

export class LayerTaps {
  readonly layers: ZooLayer[] = [];

  constructor(private readonly model: string) {}

  /** Marks `t` as the output of the next generalized layer; returns `t`. */
  tap(t: Tensor): Tensor {
    const shape = t.shape.slice(1);
    if (!shape.every((d): d is number => typeof d === 'number')) {
      invalidArgument(`${this.model} layer ${this.layers.length} (${t.name}) shape`, 'a static per-sample shape', formatShape(t.shape));
    }
    this.layers.push({ index: this.layers.length, tensor: t.name, shape });
    return t;
  }

  /** Index of the most recent layer. */
  get last(): number {
    return this.layers.length - 1;
  }
}

export interface CheckedInput { channels: number; height: number; width: number; classes: number; multiplier: number }

/** Validates the input tensor [N, C, H, W] and the options shared by every zoo model. */
export function checkBuild(model: string, input: Tensor, options: ZooBuildOptions, minSide = 8): CheckedInput {
  if (!options || typeof options !== 'object') invalidArgument(`${model} options`, 'an object { classes, width? }', options);
  const classes = expectInteger(`${model} classes`, options.classes, 2);
  const multiplier = options.width ?? 1;
  if (typeof multiplier !== 'number' || !(multiplier > 0) || !Number.isFinite(multiplier) || multiplier > 16) {
    invalidArgument(`${model} width`, 'a width multiplier in (0, 16]', multiplier);
  }
  const [, c, h, w] = input.shape;
  if (input.shape.length !== 4 || typeof c !== 'number' || typeof h !== 'number' || typeof w !== 'number') {
    invalidArgument(`${model} input`, 'an image batch [N, C, H, W] with static C, H, W', formatShape(input.shape));
  }
  if (h < minSide || w < minSide) invalidArgument(`${model} input`, `images of at least ${minSide}×${minSide}`, formatShape(input.shape));
  return { channels: c, height: h, width: w, classes, multiplier };
}

/** A channel count scaled by the width multiplier (at least 1). */
export function scaled(channels: number, multiplier: number): number {
  return Math.max(1, Math.round(channels * multiplier));
}
