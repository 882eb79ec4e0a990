/**
 * kqkd image metadata in ONNX metadata_props. The expectation is the written JSON itself (parsed here with
 * JSON.parse, not with readImageMetadata) and the round trip through the encoded model bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeModel, encodeModel, GraphBuilder, readImageMetadata, withImageMetadata, withGeneralizedLayers, type ModelProto,
} from '../src/index.js';

function classifier(channels: number, side: number, classes: number): ModelProto {
  const b = new GraphBuilder({ seed: 1 });
  const x = b.input('x', ['N', channels, side, side]);
  b.output(b.gemm(b.flatten(b.globalAveragePool(x)), classes, 'fc'), 'logits');
  return b.build();
}

const META = {
  classNames: ['ant', 'bee', 'cat'], normalization: { mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] }, imageSize: [32, 32], channels: 3,
  resize: 'shorter-side-center-crop',
} as const;

describe('withImageMetadata / readImageMetadata', () => {
  it('writes the three keys as JSON, keeps other metadata, and reads back through the model bytes', () => {
    const base = withGeneralizedLayers(classifier(3, 32, 3), { layers: [{ index: 0, tensor: 'logits' }], headStartsAfter: 0 });
    const m = withImageMetadata(base, META);
    const props = Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key, p.value]));
    expect(JSON.parse(props['kqkd.class_names']!)).toEqual(['ant', 'bee', 'cat']);
    expect(JSON.parse(props['kqkd.normalization']!)).toEqual({ mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] });
    expect(JSON.parse(props['kqkd.input']!)).toEqual({ channels: 3, height: 32, width: 32, resize: 'shorter-side-center-crop' });
    expect(props['kqkd.generalized_layers']).toBeDefined();
    expect(base.metadataProps?.some((p) => p.key === 'kqkd.class_names')).toBe(false); // not modified
    const back = readImageMetadata(decodeModel(encodeModel(m), 'm'));
    expect(back).toEqual({ ...META, classNames: [...META.classNames], imageSize: [32, 32] });
    // written again: replaced, not duplicated
    const twice = withImageMetadata(m, { ...META, classNames: ['a', 'b', 'c'] });
    expect(twice.metadataProps!.filter((p) => p.key === 'kqkd.class_names').map((p) => p.value)).toEqual(['["a","b","c"]']);
  });

  it('a model without the keys gives null', () => {
    expect(readImageMetadata(classifier(1, 8, 2))).toBeNull();
  });

  it('refuses metadata that does not fit the graph or is malformed, naming the field', () => {
    const m = classifier(3, 32, 3);
    expect(() => withImageMetadata(m, { ...META, imageSize: [28, 28] })).toThrow(/Expected the model's input geometry \[N, 3, 32, 32\] \(input "x"\) for metadata but received channels 3, imageSize \[28, 28\]/);
    expect(() => withImageMetadata(m, { ...META, classNames: ['a', 'b'] })).toThrow(/Expected 3 names \(the model's output "logits" has 3 classes\) for metadata\.classNames but received 2/);
    expect(() => withImageMetadata(m, { ...META, channels: 2 })).toThrow(/Expected 1 or 3 for metadata\.channels but received 2/);
    expect(() => withImageMetadata(m, { ...META, normalization: { mean: [0.1, 0.2, 0.3], std: [0.4, 0, 0.6] } })).toThrow(/for metadata\.normalization\.std/);
    expect(() => withImageMetadata(m, { ...META, classNames: ['a', 'a', 'b'] })).toThrow(/Expected distinct class names for metadata\.classNames but received "a" twice/);
    expect(() => withImageMetadata(m, { ...META, resize: 'stretch' })).toThrow(/for metadata\.resize/);
    const partial = { ...m, metadataProps: [{ key: 'kqkd.class_names', value: '["a","b","c"]' }] };
    expect(() => readImageMetadata(partial, 'ONNX file "x.onnx"')).toThrow(/for ONNX file "x\.onnx" metadata but received no kqkd\.normalization, kqkd\.input/);
    const bad = withImageMetadata(m, META);
    bad.metadataProps = bad.metadataProps!.map((p) => (p.key === 'kqkd.input' ? { key: p.key, value: '{not json' } : p));
    expect(() => readImageMetadata(bad)).toThrow(/Expected JSON for model metadata kqkd\.input/);
    const wrongLength = withImageMetadata(m, META);
    wrongLength.metadataProps = wrongLength.metadataProps!.map((p) => (p.key === 'kqkd.normalization' ? { key: p.key, value: '{"mean":[0.5],"std":[0.5]}' } : p));
    expect(() => readImageMetadata(wrongLength)).toThrow(/Expected 3 finite numbers \(one per channel\) for model metadata\.normalization\.mean/);
  });
});
