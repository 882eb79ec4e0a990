/**
 * The small CNN of the training proof: conv-BN-ReLU blocks, each followed by a 2×2 max-pool, then flatten and a
 * linear head. Written with the graph-builder DSL so the same definition yields the training graph (through
 * @kqkd/autodiff) and the plain inference graph.
 */
import { expectInteger, invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';

export interface SmallCnnOptions {
  /** Output channels of each conv-BN-ReLU block (each block halves the spatial size). Default [16, 32]. */
  widths?: readonly number[];
  classes: number;
  /**
   * BatchNorm after each conv (default true). false: conv WITH bias + ReLU, no batch statistics, so a step's gradient
   * is a per-sample mean and micro-batch accumulation equals a larger batch (tests of gradient accumulation).
   */
  batchNorm?: boolean;
}

export const SMALL_CNN_DEFAULT_WIDTHS: readonly number[] = [16, 32];

/** Adds the network to `g` and returns the logits [N, classes]. Parameter names: `block{i}.conv`, `block{i}.bn`, `head`. */
export function smallCnn(g: GraphBuilder, x: Tensor, options: SmallCnnOptions): Tensor {
  const widths = options.widths ?? SMALL_CNN_DEFAULT_WIDTHS;
  if (!Array.isArray(widths) || widths.length === 0) invalidArgument('small-cnn widths', 'a non-empty array of channel counts', widths);
  widths.forEach((w, i) => expectInteger(`small-cnn widths[${i}]`, w, 1));
  expectInteger('small-cnn classes', options.classes, 2);
  if (x.shape.length !== 4) invalidArgument('small-cnn input', 'an NCHW tensor', x.shape);
  let h = x;
  widths.forEach((w, i) => {
    const side = h.shape[2];
    if (typeof side === 'number' && side < 2) invalidArgument('small-cnn widths', `at most ${i} blocks for this input size`, widths.length);
    h = g.scope(`block${i}`, () => {
      if (options.batchNorm === false) {
        const r = g.relu(g.conv(h, w, { name: 'conv', kernel: 3, bias: true }), 'relu');
        return g.maxPool(r, { name: 'pool', kernel: 2, stride: 2 });
      }
      // No conv bias: BN's shift makes it redundant (as in torchvision's conv-BN blocks).
      const c = g.conv(h, w, { name: 'conv', kernel: 3, bias: false });
      const b = g.batchNorm(c, { name: 'bn', momentum: 0.9 });
      const r = g.relu(b, 'relu');
      return g.maxPool(r, { name: 'pool', kernel: 2, stride: 2 });
    });
  });
  const f = g.flatten(h, 1, 'flatten');
  return g.gemm(f, options.classes, 'head');
}
