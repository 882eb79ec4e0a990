/**
 * VGG with batch normalization (METHOD.md §7): the standard configurations A (VGG11) and E (VGG19), conv 3×3 with
 * bias (as torchvision's make_layers writes it) + BN + ReLU, 2×2 max-pools, adaptive average pool to 1×1, then the
 * classifier Linear(512→4096) → ReLU → Dropout → Linear(4096→4096) → ReLU → Dropout → Linear(4096→C).
 * Dropout is the identity here: the zoo's graphs have no Dropout op (the paper's training is deterministic in
 * everything else; adding one is a change to the builder and autodiff).
 * A max-pool whose input side is below 2 is skipped (28×28 inputs: 28→14→7→3→1 after four pools; PyTorch's VGG
 * would fail on the fifth); the adaptive pool then sees 1×1.
 * Generalized layers: every conv ReLU, the Flatten, the two classifier ReLUs — 11 (VGG11) and 19 (VGG19).
 * Parameter names follow torchvision (features.<i>, classifier.0/3/6). Initialisation as torchvision's VGG: convs
 * kaiming-normal fan_out (ReLU gain), biases 0, BN 1 / 0, Linear layers N(0, 0.01²).
 */
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { BN_MOMENTUM, CONV_INIT } from './resnet.js';
import { checkBuild, LayerTaps, scaled } from './taps.js';
import type { ZooBuildOptions, ZooModel } from './types.js';

/** torchvision's Linear initialisation for VGG and MobileNetV2. */
export const LINEAR_INIT = { normal: 0.01 } as const;

export const VGG_CONFIGS = {
  vgg11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
} as const satisfies Record<string, readonly (number | 'M')[]>;

export function vgg(model: keyof typeof VGG_CONFIGS) {
  return (b: GraphBuilder, input: Tensor, options: ZooBuildOptions): ZooModel => {
    const o = checkBuild(model, input, options);
    const taps = new LayerTaps(model);
    let h = input;
    let index = 0; // torchvision's features.<index>: conv, bn, relu each take one slot, a pool one
    for (const v of VGG_CONFIGS[model]) {
      if (v === 'M') {
        const side = Math.min(h.shape[2] as number, h.shape[3] as number);
        if (side >= 2) h = b.maxPool(h, { name: `features.${index}`, kernel: 2, stride: 2 });
        index += 1;
        continue;
      }
      h = b.conv(h, scaled(v, o.multiplier), { name: `features.${index}`, kernel: 3, pad: 1, bias: true, init: CONV_INIT });
      h = b.batchNorm(h, { name: `features.${index + 1}`, momentum: BN_MOMENTUM });
      h = taps.tap(b.relu(h, `features.${index + 2}`));
      index += 3;
    }
    const flat = taps.tap(b.flatten(b.globalAveragePool(h, 'avgpool'), 1, 'flatten'));
    const headStartsAfter = taps.last;
    const hidden = scaled(4096, o.multiplier);
    let c = taps.tap(b.relu(b.gemm(flat, hidden, 'classifier.0', LINEAR_INIT), 'classifier.1'));
    c = taps.tap(b.relu(b.gemm(c, hidden, 'classifier.3', LINEAR_INIT), 'classifier.4'));
    return { logits: b.gemm(c, o.classes, 'classifier.6', LINEAR_INIT), layers: taps.layers, headStartsAfter };
  };
}
