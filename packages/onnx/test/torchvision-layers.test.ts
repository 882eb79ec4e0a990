/**
 * Generalized layers of real exports (`models/torchvision/*.onnx`, made by models/torchvision/export.py with Debian's
 * PyTorch 1.13 from torchvision 0.14's own definitions, adapted to 1×28×28 and 10 classes, eval-mode export at opset
 * 13: BatchNorm folded, HardSwish as HardSigmoid·Mul, SiLU as Sigmoid·Mul, GELU in its Erf form, LayerNorm
 * decomposed). The expected lists are written from each architecture's definition — torchvision's block tables
 * below, with its channel rounding — block by block: one layer per block, at its residual Add (or the activation
 * right after it) when the block has a skip connection, else at its last op; the stem; the pooled features or the
 * class token; the classifier's hidden activations. Squeeze-excitation branches are never layers.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeModel, findGeneralizedLayers, type GeneralizedLayerKind } from '../src/index.js';

const DIR = resolve(__dirname, '../../../models/torchvision');

interface Expected { node: string; op: string; kind: GeneralizedLayerKind }
const L = (node: string, op: string, kind: GeneralizedLayerKind): Expected => ({ node, op, kind });

/** torchvision's _make_divisible: channels × width, rounded to a multiple of 8, never 10 % below. */
function divisible(v: number, divisor = 8): number {
  let r = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

function found(name: string) {
  const model = decodeModel(readFileSync(join(DIR, `${name}.onnx`)), name);
  const producer = new Map<string, { name: string; op: string }>();
  for (const n of model.graph!.node!) for (const o of n.output ?? []) producer.set(o, { name: n.name ?? '', op: n.opType ?? '' });
  const g = findGeneralizedLayers(model);
  return { ...g, nodes: g.layers.map((l) => ({ ...producer.get(l.tensor)!, kind: l.kind })) };
}

function expectLayers(name: string, expected: Expected[], headStartsAfter: number): void {
  const g = found(name);
  const got = g.nodes.map((n) => `${n.name} ${n.op} ${n.kind}`);
  expect(got.length, got.join('\n')).toBe(expected.length);
  expected.forEach((e, i) => {
    expect(g.nodes[i].name.startsWith(e.node), `${name} layer ${i}: ${got[i]} should be in ${e.node}`).toBe(true);
    expect(`${g.nodes[i].op} ${g.nodes[i].kind}`, `${name} layer ${i}: ${got[i]}`).toBe(`${e.op} ${e.kind}`);
  });
  expect(g.headStartsAfter, name).toBe(headStartsAfter);
}

/** Inverted-residual blocks: a skip when stride 1 and the channels stay (torchvision's use_res_connect). */
const block = (node: string, inC: number, outC: number, stride: number, lastOp: string): Expected =>
  stride === 1 && inC === outC ? L(node, 'Add', 'residual') : L(node, lastOp, 'bottleneck');

describe('generalized layers of torchvision exports', () => {
  it('ResNet18: stem ReLU, 8 BasicBlocks at the ReLU after their Add, the flattened pool', () => {
    const blocks = [1, 2, 3, 4].flatMap((s) => [0, 1].map((b) => L(`/layer${s}/layer${s}.${b}/relu_1/`, 'Relu', 'residual')));
    expectLayers('resnet18', [L('/relu/', 'Relu', 'activation'), ...blocks, L('/Flatten', 'Flatten', 'flatten')], 9);
  });

  it('MobileNetV2 ×0.25: stem, 17 inverted residuals, the last 1×1 stage, the flattened pool', () => {
    // (t, c, n, s) of torchvision's inverted_residual_setting
    const setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
    let inC = divisible(32 * 0.25);
    let i = 1;
    const blocks: Expected[] = [];
    for (const [, c, n, s] of setting) {
      const outC = divisible(c * 0.25);
      for (let j = 0; j < n; j++, i++) {
        // t = 1 blocks have no expansion conv: their projection is conv.1, else conv.2
        blocks.push(block(`/features/features.${i}/`, inC, outC, j === 0 ? s : 1, 'Conv'));
        inC = outC;
      }
    }
    expect(blocks).toHaveLength(17);
    expectLayers('mobilenet_v2', [L('/features/features.0/', 'Clip', 'activation'), ...blocks,
      L('/features/features.18/', 'Clip', 'activation'), L('/Flatten', 'Flatten', 'flatten')], 19);
  });

  it('MobileNetV3-Small ×0.25: stem, 11 blocks, last conv stage, pooled features, classifier HardSwish; no SE internals', () => {
    // (input, kernel, expanded, out, SE, activation, stride) of torchvision's small configuration
    const setting: [number, number, number, number, boolean, string, number][] = [
      [16, 3, 16, 16, true, 'RE', 2], [16, 3, 72, 24, false, 'RE', 2], [24, 3, 88, 24, false, 'RE', 1], [24, 5, 96, 40, true, 'HS', 2],
      [40, 5, 240, 40, true, 'HS', 1], [40, 5, 240, 40, true, 'HS', 1], [40, 5, 120, 48, true, 'HS', 1], [48, 5, 144, 48, true, 'HS', 1],
      [48, 5, 288, 96, true, 'HS', 2], [96, 5, 576, 96, true, 'HS', 1], [96, 5, 576, 96, true, 'HS', 1],
    ];
    const blocks = setting.map(([inC, , , outC, , , s], i) => block(`/features/features.${i + 1}/`, divisible(inC * 0.25), divisible(outC * 0.25), s, 'Conv'));
    const g = found('mobilenet_v3_small');
    expectLayers('mobilenet_v3_small', [
      L('/features/features.0/', 'Mul', 'activation'), ...blocks, L('/features/features.12/', 'Mul', 'activation'),
      L('/Flatten', 'Flatten', 'flatten'), L('/classifier/classifier.1/', 'Mul', 'activation'),
    ], 13);
    // The squeeze-excitation branches (avgpool → fc1 → ReLU → fc2 → HardSigmoid) hold no layer.
    expect(g.nodes.filter((n) => /\/(fc1|fc2|avgpool|activation|scale_activation)\//.test(n.name))).toEqual([]);
  });

  it('EfficientNet-B0 ×0.25: SiLU stem, 16 MBConv blocks (SE inside), the SiLU of the last 1×1 stage, the flattened pool', () => {
    // (expand, kernel, stride, in, out, layers) of torchvision's efficientnet_b0 configuration
    const setting = [[1, 3, 1, 32, 16, 1], [6, 3, 2, 16, 24, 2], [6, 5, 2, 24, 40, 2], [6, 3, 2, 40, 80, 3], [6, 5, 1, 80, 112, 3], [6, 5, 2, 112, 192, 4], [6, 3, 1, 192, 320, 1]];
    const blocks = setting.flatMap(([, , s, inC, outC, n], stage) => Array.from({ length: n }, (_, j) =>
      block(`/features/features.${stage + 1}/features.${stage + 1}.${j}/`, divisible((j === 0 ? inC : outC) * 0.25), divisible(outC * 0.25), j === 0 ? s : 1, 'Conv')));
    expect(blocks).toHaveLength(16);
    expectLayers('efficientnet_b0', [L('/features/features.0/', 'Mul', 'activation'), ...blocks,
      L('/features/features.8/', 'Mul', 'activation'), L('/Flatten', 'Flatten', 'flatten')], 18);
  });

  it('RegNetY-400MF (graph only): stem, 16 bottleneck blocks with SE at the ReLU after their Add, the flattened pool', () => {
    const depths = [1, 3, 6, 6];
    const blocks = depths.flatMap((d, s) => Array.from({ length: d }, (_, j) => L(`/trunk_output/block${s + 1}/block${s + 1}-${j}/activation/`, 'Relu', 'residual')));
    expectLayers('regnet_y_400mf', [L('/stem/', 'Relu', 'activation'), ...blocks, L('/Flatten', 'Flatten', 'flatten')], 17);
  });

  it('a small VisionTransformer: 4 encoder blocks, then the class token that feeds the head', () => {
    const blocks = [0, 1, 2, 3].map((i) => L(`/encoder/layers/encoder_layer_${i}/Add_1`, 'Add', 'transformer-block'));
    expectLayers('vit_small', [...blocks, L('/Gather', 'Gather', 'class-token')], 4);
  });

  it('ConvNeXt blocks: the stem (conv → LayerNorm, no activation), 4 blocks at their Add, the flattened features', () => {
    const blocks = [[1, 0], [1, 1], [3, 0], [3, 1]].map(([s, b]) => L(`/features/features.${s}/features.${s}.${b}/Add`, 'Add', 'residual'));
    expectLayers('convnext_small', [L('/features/features.0/', 'Transpose', 'stem'), ...blocks, L('/classifier/classifier.1/', 'Flatten', 'flatten')], 5);
  });

  it('every fixture is at most 2 MB', () => {
    for (const name of ['resnet18', 'mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0', 'regnet_y_400mf', 'vit_small', 'convnext_small']) {
      expect(readFileSync(join(DIR, `${name}.onnx`)).length, name).toBeLessThanOrEqual(2 * 1024 * 1024);
    }
  });
});
