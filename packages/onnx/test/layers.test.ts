import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { buildTinyCnn, findGeneralizedLayers } from '../src/index.js';
import { mobileNetCnn, plainCnn, residualCnn, tinyTransformer } from './models.js';

const summary = (model: Parameters<typeof findGeneralizedLayers>[0]) => {
  const { layers, headStartsAfter } = findGeneralizedLayers(model);
  return { layers: layers.map((l) => [l.index, l.tensor, l.opType, l.kind, l.shape]), headStartsAfter };
};

describe('findGeneralizedLayers', () => {
  it('plain CNN: every activation, then the Flatten; the MLP head is not backbone', () => {
    expect(summary(plainCnn())).toEqual({
      layers: [
        [0, 'a1', 'Relu', 'activation', ['N', 4, 8, 8]],
        [1, 'a2', 'LeakyRelu', 'activation', ['N', 4, 8, 8]],
        [2, 'a3', 'Relu', 'activation', ['N', 8, 4, 4]],
        [3, 'flat', 'Flatten', 'flatten', ['N', 128]],
      ],
      headStartsAfter: 3,
    });
  });

  it('residual blocks: one layer per block (Add→ReLU), the inner ReLU is inside the block', () => {
    expect(summary(residualCnn())).toEqual({
      layers: [
        [0, 'stem.relu', 'Relu', 'activation', ['N', 8, 8, 8]],
        [1, 'layer1.relu2', 'Relu', 'residual', ['N', 8, 8, 8]],
        [2, 'layer2.relu2', 'Relu', 'residual', ['N', 16, 4, 4]],
        [3, 'flatten', 'Flatten', 'flatten', ['N', 16]],
      ],
      headStartsAfter: 3,
    });
  });

  it('MobileNet-style: ReLU6 (Clip 0..6), the inverted residual ends at its Add', () => {
    expect(summary(mobileNetCnn())).toEqual({
      layers: [
        [0, 'stem.relu6', 'Clip', 'activation', ['N', 8, 8, 8]],
        [1, 'ir1.add', 'Add', 'residual', ['N', 8, 8, 8]],
        // No skip connection in ir2: nothing in the graph marks its boundary, so its ReLU6s count singly.
        [2, 'ir2.expand_relu6', 'Clip', 'activation', ['N', 16, 8, 8]],
        [3, 'ir2.dw_relu6', 'Clip', 'activation', ['N', 16, 4, 4]],
        [4, 'last.relu6', 'Clip', 'activation', ['N', 32, 4, 4]],
        [5, 'flatten', 'Flatten', 'flatten', ['N', 32]],
      ],
      headStartsAfter: 5,
    });
  });

  it('pre-norm transformer: the MLP residual Add ends each block; attention Add and MLP ReLU are inside', () => {
    expect(summary(tinyTransformer())).toEqual({
      layers: [
        [0, 'block0.mlp_add', 'Add', 'transformer-block', ['N', 4, 8]],
        [1, 'block1.mlp_add', 'Add', 'transformer-block', ['N', 4, 8]],
        [2, 'flatten', 'Flatten', 'flatten', ['N', 32]],
      ],
      headStartsAfter: 2,
    });
  });

  it('post-norm transformer: the LayerNormalization after the MLP Add ends each block', () => {
    expect(summary(tinyTransformer(true)).layers.map((l) => l.slice(0, 3))).toEqual([
      [0, 'block0.ln2', 'LayerNormalization'],
      [1, 'block1.ln2', 'LayerNormalization'],
      [2, 'flatten', 'Flatten'],
    ]);
  });

  it('the tiny-cnn fixture: stem, residual block, two convs, flatten', () => {
    expect(summary(buildTinyCnn()).layers.map((l) => l.slice(1, 5))).toEqual([
      ['relu1', 'Relu', 'activation', ['N', 16, 28, 28]],
      ['block1.relu', 'Relu', 'residual', ['N', 16, 28, 28]],
      ['relu3', 'Relu', 'activation', ['N', 32, 14, 14]],
      ['relu4', 'Relu', 'activation', ['N', 32, 14, 14]],
      ['flatten', 'Flatten', 'flatten', ['N', 32]],
    ]);
  });

  it('works without value_info (shapes by inference)', () => {
    const model = residualCnn();
    model.graph!.valueInfo = [];
    expect(findGeneralizedLayers(model).layers[2]).toMatchObject({ tensor: 'layer2.relu2', shape: ['N', 16, 4, 4] });
  });

  it('explicit names come back in graph order with shapes', () => {
    const found = findGeneralizedLayers(residualCnn(), { names: ['flatten', 'layer1.relu1', 'stem.relu'] });
    expect(found.layers.map((l) => [l.index, l.tensor, l.opType, l.kind])).toEqual([
      [0, 'stem.relu', 'Relu', 'named'],
      [1, 'layer1.relu1', 'Relu', 'named'],
      [2, 'flatten', 'Flatten', 'named'],
    ]);
    expect(found.headStartsAfter).toBe(2);
  });

  it('a typo in names is an error naming the argument and the closest tensors', () => {
    const call = () => findGeneralizedLayers(residualCnn(), { names: ['stem.relu', 'layer1.relu_2'] });
    expect(call).toThrow(KqkdError);
    expect(call).toThrow(/names\[1\].*"layer1\.relu_2".*closest matches: "layer1\.relu2"/);
  });

  it('rejects duplicate and non-string names, and weights as features', () => {
    expect(() => findGeneralizedLayers(residualCnn(), { names: ['stem.relu', 'stem.relu'] })).toThrow(/names\[1\]/);
    expect(() => findGeneralizedLayers(residualCnn(), { names: [3 as unknown as string] })).toThrow(/names\[0\]/);
    expect(() => findGeneralizedLayers(residualCnn(), { names: ['fc.weight'] })).toThrow(/computed by the model/);
    expect(() => findGeneralizedLayers(residualCnn(), { names: [] })).toThrow(/non-empty/);
  });
});
