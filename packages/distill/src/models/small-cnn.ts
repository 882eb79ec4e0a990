/**
 * The small CNN. Its definition lives in @kqkd/models (the zoo's `small-cnn`: conv-BN-ReLU blocks each followed by a
 * 2×2 max-pool, Flatten, a linear head) and is the one every training run builds; it was moved there from this
 * package unchanged, and the graphs it builds are byte-identical to the ones this package built before (same names,
 * same order of seeded initialiser draws: test/models.test.ts checks the encoded bytes against hashes recorded from
 * the old definition), so config hashes and checkpoints of earlier runs still match.
 *
 * What stays here is only the `batchNorm: false` variant, which the zoo does not offer: conv WITH bias + ReLU, no
 * batch statistics, so a step's gradient is a per-sample mean and micro-batch accumulation equals a larger batch
 * (the gradient-accumulation tests need it). Same parameter names as the zoo model minus `bn`.
 */
import { expectInteger, invalidArgument } from '@kqkd/common';
import { scaled, SMALL_CNN_DEFAULT_WIDTHS } from '@kqkd/models';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';

export { smallCnn, SMALL_CNN_DEFAULT_WIDTHS, type SmallCnnOptions } from '@kqkd/models';

/** small-cnn without BatchNorm: conv (bias) + ReLU + 2×2 max-pool blocks, Flatten, `head`. Returns the logits. */
export function smallCnnWithoutBatchNorm(g: GraphBuilder, x: Tensor, options: { widths?: readonly number[]; width?: number; classes: number }): Tensor {
  const widths = options.widths ?? SMALL_CNN_DEFAULT_WIDTHS.map((w) => scaled(w, options.width ?? 1));
  if (!Array.isArray(widths) || widths.length === 0) invalidArgument('small-cnn widths', 'a non-empty array of channel counts', widths);
  widths.forEach((w, i) => expectInteger(`small-cnn widths[${i}]`, w, 1));
  expectInteger('small-cnn classes', options.classes, 2);
  if (x.shape.length !== 4) invalidArgument('small-cnn input', 'an NCHW tensor', x.shape);
  let h = x;
  widths.forEach((w, i) => {
    const side = h.shape[2];
    if (typeof side === 'number' && side < 2) invalidArgument('small-cnn widths', `at most ${i} blocks for this input size`, widths.length);
    h = g.scope(`block${i}`, () => {
      const r = g.relu(g.conv(h, w, { name: 'conv', kernel: 3, bias: true }), 'relu');
      return g.maxPool(r, { name: 'pool', kernel: 2, stride: 2 });
    });
  });
  const f = g.flatten(h, 1, 'flatten');
  return g.gemm(f, options.classes, 'head');
}
