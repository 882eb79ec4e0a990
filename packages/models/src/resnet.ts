/**
 * CIFAR ResNets with BasicBlocks (METHOD.md §7): ResNet9 = blocks [1, 1, 1, 1], ResNet34 = [3, 4, 6, 3], widths
 * 64/128/256/512. The stem is a 3×3 stride-1 conv + BN + ReLU (no 7×7 conv); a 3×3 stride-2 max-pool follows it only
 * for inputs of 64×64 and larger (Tiny ImageNet). Global average pool, Flatten, Linear.
 * Generalized layers: the stem ReLU, one per BasicBlock (its output ReLU), the Flatten.
 * Parameter names follow torchvision's ResNet state_dict (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc).
 * Initialisation as the paper's code (torchvision's ResNet with zero_init_residual): every conv kaiming-normal with
 * fan_out and the ReLU gain, BN weight 1 / bias 0, the last BN of every residual branch (bn2) weight 0 so each block
 * starts as the identity, and the Linear head PyTorch's default U(±1/√fan_in).
 */
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { checkBuild, LayerTaps, scaled } from './taps.js';
import type { ZooBuildOptions, ZooModel } from './types.js';

/** PyTorch BN momentum 0.1 is ONNX momentum 0.9. */
export const BN_MOMENTUM = 0.9;
const WIDTHS = [64, 128, 256, 512];
/** torchvision's conv initialisation for ResNet, VGG and MobileNetV2. */
export const CONV_INIT = 'kaiming-normal-fan-out' as const;

function basicBlock(b: GraphBuilder, x: Tensor, planes: number, stride: number): Tensor {
  const inPlanes = x.shape[1];
  let h = b.conv(x, planes, { name: 'conv1', kernel: 3, stride, pad: 1, init: CONV_INIT });
  h = b.relu(b.batchNorm(h, { name: 'bn1', momentum: BN_MOMENTUM }), 'relu1');
  h = b.conv(h, planes, { name: 'conv2', kernel: 3, pad: 1, init: CONV_INIT });
  h = b.batchNorm(h, { name: 'bn2', momentum: BN_MOMENTUM, scale: 0 });
  let shortcut = x;
  if (stride !== 1 || inPlanes !== planes) {
    shortcut = b.conv(x, planes, { name: 'downsample.0', kernel: 1, stride, pad: 0, init: CONV_INIT });
    shortcut = b.batchNorm(shortcut, { name: 'downsample.1', momentum: BN_MOMENTUM });
  }
  return b.relu(b.add(h, shortcut, 'add'), 'out');
}

export function resnet(model: string, blocks: readonly number[]) {
  return (b: GraphBuilder, input: Tensor, options: ZooBuildOptions): ZooModel => {
    const o = checkBuild(model, input, options);
    const taps = new LayerTaps(model);
    let h = b.conv(input, scaled(64, o.multiplier), { name: 'conv1', kernel: 3, stride: 1, pad: 1, init: CONV_INIT });
    h = taps.tap(b.relu(b.batchNorm(h, { name: 'bn1', momentum: BN_MOMENTUM }), 'relu'));
    if (Math.min(o.height, o.width) >= 64) h = b.maxPool(h, { name: 'maxpool', kernel: 3, stride: 2, pad: 1 });
    blocks.forEach((n, stage) => {
      for (let i = 0; i < n; i++) {
        const stride = i === 0 && stage > 0 ? 2 : 1;
        h = taps.tap(b.scope(`layer${stage + 1}.${i}`, () => basicBlock(b, h, scaled(WIDTHS[stage], o.multiplier), stride)));
      }
    });
    const flat = taps.tap(b.flatten(b.globalAveragePool(h, 'avgpool'), 1, 'flatten'));
    const headStartsAfter = taps.last;
    return { logits: b.gemm(flat, o.classes, 'fc', 'pytorch-default'), layers: taps.layers, headStartsAfter };
  };
}
