import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import {
  buildTinyCnn, findGeneralizedLayers, GENERALIZED_LAYERS_METADATA_KEY, readGeneralizedLayersMetadata, withGeneralizedLayers,
} from '../src/index.js';
import { depthwiseCnn, gatedCnn, mobileNetCnn, plainCnn, residualCnn, tinyTransformer } from './models.js';

const summary = (model: Parameters<typeof findGeneralizedLayers>[0]) => {
  const { layers, headStartsAfter } = findGeneralizedLayers(model);
  return { layers: layers.map((l) => [l.index, l.tensor, l.opType, l.kind, l.shape]), headStartsAfter };
};

describe('findGeneralizedLayers', () => {
  it('plain CNN: every activation, then the Flatten; the MLP head is not backbone but its ReLU is a layer', () => {
    // METHOD.md §1 ends a layer at every non-linearity (§7: VGG's two classifier ReLUs are its last layers); the
    // head still starts after the Flatten.
    expect(summary(plainCnn())).toEqual({
      layers: [
        [0, 'a1', 'Relu', 'activation', ['N', 4, 8, 8]],
        [1, 'a2', 'LeakyRelu', 'activation', ['N', 4, 8, 8]],
        [2, 'a3', 'Relu', 'activation', ['N', 8, 4, 4]],
        [3, 'flat', 'Flatten', 'flatten', ['N', 128]],
        [4, 'fc1_relu', 'Relu', 'activation', ['N', 16]],
      ],
      headStartsAfter: 3,
    });
  });

  it('HardSwish (one op), SiLU (Sigmoid·Mul) and Erf-GELU are activations; a squeeze-excitation branch holds no layer', () => {
    const { layers, headStartsAfter } = findGeneralizedLayers(gatedCnn());
    expect(layers.map((l) => [l.tensor, l.opType, l.kind])).toEqual([
      ['hswish', 'HardSwish', 'activation'],
      ['silu', 'Mul', 'activation'],
      ['relu3', 'Relu', 'activation'],
      ['flat', 'Flatten', 'flatten'],
      ['gelu', 'Mul', 'activation'],
    ]);
    expect(headStartsAfter).toBe(3);
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

  it('MobileNet-style: ReLU6 (Clip 0..6); an inverted residual ends at its Add, or at its linear projection without skip', () => {
    expect(summary(mobileNetCnn())).toEqual({
      layers: [
        [0, 'stem.relu6', 'Clip', 'activation', ['N', 8, 8, 8]],
        [1, 'ir1.add', 'Add', 'residual', ['N', 8, 8, 8]],
        // No skip in ir2 (stride 2): expand and depthwise ReLU6s are inside; the block ends at the projection's BN.
        [2, 'ir2.project_bn', 'BatchNormalization', 'bottleneck', ['N', 12, 4, 4]],
        [3, 'last.relu6', 'Clip', 'activation', ['N', 32, 4, 4]],
        [4, 'flatten', 'Flatten', 'flatten', ['N', 32]],
      ],
      headStartsAfter: 4,
    });
  });

  it('depthwise convs: a t=1 block keeps the stem apart; a pointwise conv followed by ReLU is no bottleneck', () => {
    expect(summary(depthwiseCnn())).toEqual({
      layers: [
        [0, 'stem.relu6', 'Clip', 'activation', ['N', 8, 8, 8]],
        [1, 'b1.project_bn', 'BatchNormalization', 'bottleneck', ['N', 12, 8, 8]],
        [2, 'v1.dw_relu', 'Relu', 'activation', ['N', 12, 4, 4]],
        [3, 'v1.pw_relu', 'Relu', 'activation', ['N', 16, 4, 4]],
        [4, 'flatten', 'Flatten', 'flatten', ['N', 16]],
      ],
      headStartsAfter: 4,
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

  it('a token average (ReduceMean over tokens to [N, D]) before the classifier is the flatten-kind layer', () => {
    expect(summary(tinyTransformer(false, 'mean'))).toEqual({
      layers: [
        [0, 'block0.mlp_add', 'Add', 'transformer-block', ['N', 4, 8]],
        [1, 'block1.mlp_add', 'Add', 'transformer-block', ['N', 4, 8]],
        [2, 'token_average', 'ReduceMean', 'flatten', ['N', 8]],
      ],
      headStartsAfter: 2,
    });
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

describe('kqkd.generalized_layers metadata', () => {
  const declared = { layers: [{ index: 0, tensor: 'layer1.relu1' }, { index: 1, tensor: 'layer2.relu2' }, { index: 2, tensor: 'gap' }], headStartsAfter: 1 };
  const tensors = (r: ReturnType<typeof findGeneralizedLayers>) => r.layers.map((l) => l.tensor);

  it('is written as JSON under its key, replacing an earlier one, without touching the input model', () => {
    const model = residualCnn();
    model.metadataProps = [{ key: 'author', value: 'me' }];
    const once = withGeneralizedLayers(model, declared);
    const twice = withGeneralizedLayers(once, { layers: declared.layers.slice(0, 2), headStartsAfter: 1 });
    expect(model.metadataProps).toEqual([{ key: 'author', value: 'me' }]);
    expect(twice.metadataProps!.map((p) => p.key)).toEqual(['author', GENERALIZED_LAYERS_METADATA_KEY]);
    expect(JSON.parse(twice.metadataProps![1].value!)).toEqual({ layers: declared.layers.slice(0, 2), headStartsAfter: 1 });
    expect(twice.graph).toBe(model.graph);
  });

  it('when present and valid it decides the layers and head start, even against structure; kinds from structure', () => {
    const found = findGeneralizedLayers(withGeneralizedLayers(residualCnn(), declared));
    expect(found.source).toBe('metadata');
    expect(found.layers.map((l) => [l.index, l.tensor, l.opType, l.kind, l.shape])).toEqual([
      [0, 'layer1.relu1', 'Relu', 'named', ['N', 8, 8, 8]],
      [1, 'layer2.relu2', 'Relu', 'residual', ['N', 16, 4, 4]],
      [2, 'gap', 'GlobalAveragePool', 'named', ['N', 16, 1, 1]],
    ]);
    expect(found.headStartsAfter).toBe(1);
  });

  it('survives an encode/decode round trip', async () => {
    const { decodeModel, encodeModel } = await import('../src/index.js');
    const found = findGeneralizedLayers(decodeModel(encodeModel(withGeneralizedLayers(residualCnn(), declared))));
    expect([found.source, tensors(found), found.headStartsAfter]).toEqual(['metadata', ['layer1.relu1', 'layer2.relu2', 'gap'], 1]);
  });

  it('stale (a tensor no longer in the graph) or malformed: structure decides', () => {
    const structural = findGeneralizedLayers(residualCnn());
    expect(structural.source).toBe('structure');
    const stale = withGeneralizedLayers(residualCnn(), { layers: [{ index: 0, tensor: 'renamed.relu' }, { index: 1, tensor: 'flatten' }], headStartsAfter: 1 });
    expect(readGeneralizedLayersMetadata(stale)).not.toBeNull(); // well-formed, but
    expect(findGeneralizedLayers(stale)).toEqual(structural); // names a tensor the graph does not compute
    for (const value of ['not json', '{"layers":[],"headStartsAfter":0}', '{"layers":[{"index":1,"tensor":"flatten"}],"headStartsAfter":0}',
      '{"layers":[{"index":0,"tensor":"flatten"}],"headStartsAfter":3}', '{"layers":[{"index":0,"tensor":"fc.weight"}],"headStartsAfter":0}']) {
      const model = { ...residualCnn(), metadataProps: [{ key: GENERALIZED_LAYERS_METADATA_KEY, value }] };
      expect(findGeneralizedLayers(model), value).toEqual(structural);
    }
  });

  it('absent: structure; explicit names always win over metadata', () => {
    expect(readGeneralizedLayersMetadata(residualCnn())).toBeNull();
    const found = findGeneralizedLayers(withGeneralizedLayers(residualCnn(), declared), { names: ['stem.relu', 'flatten'] });
    expect([found.source, tensors(found), found.headStartsAfter]).toEqual(['names', ['stem.relu', 'flatten'], 1]);
  });

  it('rejects declarations that could not be read back', () => {
    const m = residualCnn();
    expect(() => withGeneralizedLayers(m, { layers: [], headStartsAfter: 0 })).toThrow(/layers/);
    expect(() => withGeneralizedLayers(m, { layers: [{ index: 1, tensor: 'a' }], headStartsAfter: 0 })).toThrow(/layers\[0\]\.index/);
    expect(() => withGeneralizedLayers(m, { layers: [{ index: 0, tensor: 'a' }, { index: 1, tensor: 'a' }], headStartsAfter: 0 })).toThrow(/layers\[1\]\.tensor/);
    expect(() => withGeneralizedLayers(m, { layers: [{ index: 0, tensor: 'a' }], headStartsAfter: 1 })).toThrow(/headStartsAfter/);
  });
});
