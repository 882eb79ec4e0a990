/**
 * MobileNetV2 (METHOD.md §7) as torchvision defines it, with the CIFAR change: the 3×3 stem conv to 32 channels has
 * stride 1 for inputs below 64×64 (stride 2 from 64×64). Inverted-residual table (t, c, n, s): (1,16,1,1),
 * (6,24,2,2), (6,32,3,2), (6,64,4,2), (6,96,3,1), (6,160,3,2), (6,320,1,1); ReLU6; last 1×1 conv to 1280; global
 * average pool; Dropout (identity here) and Linear. Convs have no bias (BN follows each).
 * Generalized layers: the stem ReLU6, one per inverted-residual block (its Add, or its linear-bottleneck BN when
 * it has no skip), the last conv's ReLU6, the Flatten — 1 + 17 + 1 + 1 = 20.
 * Width multiplier as torchvision: channels rounded to multiples of 8, the last conv max(1, width)·1280.
 * Parameter names follow torchvision (features.<i>.conv.<j>, classifier.1). Initialisation as torchvision: convs
 * kaiming-normal fan_out, BN 1 / 0, the Linear N(0, 0.01²) with bias 0.
 */
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { BN_MOMENTUM, CONV_INIT } from './resnet.js';
import { LINEAR_INIT } from './vgg.js';
import { checkBuild, LayerTaps } from './taps.js';
import type { ZooBuildOptions, ZooModel } from './types.js';

export const MOBILENETV2_TABLE: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** torchvision's _make_divisible: nearest multiple of `divisor`, at least `divisor`, never below 90 % of v. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

function convBnRelu6(b: GraphBuilder, x: Tensor, out: number, kernel: number, stride: number, group = 1): Tensor {
  const c = b.conv(x, out, { name: '0', kernel, stride, pad: (kernel - 1) / 2, group, init: CONV_INIT });
  return b.relu6(b.batchNorm(c, { name: '1', momentum: BN_MOMENTUM }), '2');
}

function invertedResidual(b: GraphBuilder, x: Tensor, out: number, stride: number, t: number): Tensor {
  const inp = x.shape[1] as number;
  const hidden = Math.round(inp * t);
  let h = x;
  let j = 0;
  if (t !== 1) h = b.scope(`conv.${j++}`, () => convBnRelu6(b, h, hidden, 1, 1));
  h = b.scope(`conv.${j++}`, () => convBnRelu6(b, h, hidden, 3, stride, hidden));
  h = b.conv(h, out, { name: `conv.${j++}`, kernel: 1, pad: 0, init: CONV_INIT });
  h = b.batchNorm(h, { name: `conv.${j++}`, momentum: BN_MOMENTUM });
  return stride === 1 && inp === out ? b.add(x, h, 'add') : h;
}

export function mobilenetv2(b: GraphBuilder, input: Tensor, options: ZooBuildOptions): ZooModel {
  const o = checkBuild('mobilenetv2', input, options);
  const taps = new LayerTaps('mobilenetv2');
  const stemStride = Math.min(o.height, o.width) >= 64 ? 2 : 1;
  let h = taps.tap(b.scope('features.0', () => convBnRelu6(b, input, makeDivisible(32 * o.multiplier), 3, stemStride)));
  let index = 1;
  for (const [t, c, n, s] of MOBILENETV2_TABLE) {
    const out = makeDivisible(c * o.multiplier);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      h = taps.tap(b.scope(`features.${index++}`, () => invertedResidual(b, h, out, stride, t)));
    }
  }
  h = taps.tap(b.scope(`features.${index}`, () => convBnRelu6(b, h, makeDivisible(1280 * Math.max(1, o.multiplier)), 1, 1)));
  const flat = taps.tap(b.flatten(b.globalAveragePool(h, 'avgpool'), 1, 'flatten'));
  const headStartsAfter = taps.last;
  return { logits: b.gemm(flat, o.classes, 'classifier.1', LINEAR_INIT), layers: taps.layers, headStartsAfter };
}
