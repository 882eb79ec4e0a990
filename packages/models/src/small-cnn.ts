/**
 * The small CNN of the training proof (conv-BN-ReLU blocks each followed by a 2×2 max-pool, then Flatten and a
 * linear head) — parameter names `block{i}.conv`, `block{i}.bn`, `head` — and its `batchNorm: false` variant.
 * Generalized layers: each block's ReLU, the Flatten.
 */
import { expectInteger, invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { checkBuild, LayerTaps } from './taps.js';
import type { ZooBuildOptions, ZooModel } from './types.js';

export const SMALL_CNN_DEFAULT_WIDTHS: readonly number[] = [16, 32];

export interface SmallCnnOptions extends ZooBuildOptions {
  /** Output channels of each conv-BN-ReLU block (each block halves the spatial size). Default [16, 32] × width. */
  widths?: readonly number[];
  /**
   * false: conv WITH bias + ReLU blocks, no BatchNorm, so a step's gradient is a per-sample mean and micro-batch
   * accumulation equals a larger batch (the gradient-accumulation tests need it). Default true.
   */
  batchNorm?: boolean;
}

export function smallCnn(b: GraphBuilder, input: Tensor, options: SmallCnnOptions): ZooModel {
  const o = checkBuild('small-cnn', input, options, 2);
  const widths = options.widths ?? SMALL_CNN_DEFAULT_WIDTHS.map((w) => Math.max(1, Math.round(w * o.multiplier)));
  if (!Array.isArray(widths) || widths.length === 0) invalidArgument('small-cnn widths', 'a non-empty array of channel counts', widths);
  widths.forEach((w, i) => expectInteger(`small-cnn widths[${i}]`, w, 1));
  const taps = new LayerTaps('small-cnn');
  let h = input;
  widths.forEach((w, i) => {
    const side = h.shape[2];
    if (typeof side === 'number' && side < 2) invalidArgument('small-cnn widths', `at most ${i} blocks for this input size`, widths.length);
    h = b.scope(`block${i}`, () => {
      if (options.batchNorm === false) {
        const r = taps.tap(b.relu(b.conv(h, w, { name: 'conv', kernel: 3, bias: true }), 'relu'));
        return b.maxPool(r, { name: 'pool', kernel: 2, stride: 2 });
      }
      // No conv bias: BN's shift makes it redundant (as in torchvision's conv-BN blocks).
      const c = b.conv(h, w, { name: 'conv', kernel: 3, bias: false });
      const r = taps.tap(b.relu(b.batchNorm(c, { name: 'bn', momentum: 0.9 }), 'relu'));
      return b.maxPool(r, { name: 'pool', kernel: 2, stride: 2 });
    });
  });
  const flat = taps.tap(b.flatten(h, 1, 'flatten'));
  const headStartsAfter = taps.last;
  return { logits: b.gemm(flat, o.classes, 'head'), layers: taps.layers, headStartsAfter };
}
