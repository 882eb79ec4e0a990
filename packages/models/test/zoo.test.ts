/**
 * Build-time facts of every zoo model at full width (no training): the generalized-layer counts of METHOD.md §7,
 * their shapes and the head start, parameter counts and BN statistics against an independent PyTorch definition,
 * exact agreement with @kqkd/onnx's structural layer finder, the layer metadata of exports, and argument errors.
 *
 * Reference numbers: test/fixtures/torch-reference.json, written by
 *   /usr/bin/python3 tools/zoo/param_counts.py --fixture packages/models/test/fixtures/torch-reference.json
 * from tools/zoo/zoo_torch.py (PyTorch definitions written independently of this package; Debian python3-torch
 * here, not needed in CI). "params" = sum(p.numel() for p in model.parameters()) — BN running statistics are NOT
 * included; they are "statistics" (running_mean + running_var; num_batches_tracked not counted). "shapes" come
 * from forward hooks on the PyTorch modules that end each generalized layer.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { countParameters, decodeModel, encodeModel, findGeneralizedLayers, GENERALIZED_LAYERS_METADATA_KEY, GraphBuilder } from '@kqkd/onnx';
import { buildZooModel, getModel, listModels, isOnnxModelPath, ZOO, ZOO_NAMES } from '../src/index.js';

interface Ref { params: number; statistics: number; layers: number; shapes: number[][] }
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torch-reference.json', import.meta.url), 'utf8')) as
  { widths: Record<string, Record<string, Ref>> };

/** METHOD.md §7 — what a layer index means. */
const LAYER_COUNTS: Record<string, number> = {
  resnet9: 6, resnet34: 18, vgg11: 11, vgg19: 19, mobilenetv2: 20, vit_b: 13, vit_et: 9, vit_ett: 9, 'small-cnn': 3,
};

/** Full-width parameter counts at 3×32×32, 10 classes, copied from the fixture above so they read in one place. */
const PARAMS_CIFAR10: Record<string, number> = {
  resnet9: 4_903_242, resnet34: 21_282_122, vgg11: 28_149_514, vgg19: 38_958_922, mobilenetv2: 2_236_682,
  vit_b: 85_150_474, vit_et: 5_299_466, vit_ett: 2_991_562, 'small-cnn': 25_626,
};

const CONFIGS: { tag: string; input: [number, number, number]; classes: number }[] = [
  { tag: '3x32x32', input: [3, 32, 32], classes: 10 },
  { tag: '3x32x32', input: [3, 32, 32], classes: 100 },
  { tag: '1x28x28', input: [1, 28, 28], classes: 10 },
  { tag: '3x64x64', input: [3, 64, 64], classes: 200 },
];

describe('generalized layers and parameter counts match METHOD.md §7 and PyTorch', () => {
  for (const width of ['1', '0.125']) {
    for (const c of CONFIGS) {
      it(`width ${width}, ${c.tag}, ${c.classes} classes`, () => {
        for (const name of ZOO_NAMES) {
          const m = buildZooModel(name, { input: c.input, classes: c.classes, width: Number(width), initialize: false });
          const ref = fixture.widths[width][`${name}/${c.tag}/${c.classes}`];
          expect(m.layers.length, name).toBe(LAYER_COUNTS[name]);
          expect(ref.layers, `${name} reference`).toBe(LAYER_COUNTS[name]);
          expect(m.layers.map((l) => l.index)).toEqual(m.layers.map((_, i) => i));
          expect(m.layers.map((l) => l.shape), name).toEqual(ref.shapes);
          expect({ params: m.params, statistics: m.statistics }, name).toEqual({ params: ref.params, statistics: ref.statistics });
          // what kqkd reports for an imported ONNX teacher, read from the graph alone
          expect(countParameters(m.model), `${name} countParameters`).toBe(ref.params);
          expect(new Set(m.layers.map((l) => l.tensor)).size).toBe(m.layers.length);
          expect(m.logits.shape).toEqual(['N', c.classes]);
        }
      });
    }
  }

  it('full-width CIFAR-10 counts', () => {
    for (const name of ZOO_NAMES) {
      expect(buildZooModel(name, { input: [3, 32, 32], classes: 10, initialize: false }).params, name).toBe(PARAMS_CIFAR10[name]);
    }
  });

  it('the head starts after the Flatten / token average; VGG keeps its classifier ReLUs as the last two layers', () => {
    const flatten = (name: string) => {
      const m = buildZooModel(name, { input: [3, 32, 32], classes: 10, initialize: false });
      return { h: m.headStartsAfter, t: m.layers[m.headStartsAfter].tensor, n: m.layers.length };
    };
    expect(flatten('resnet34')).toEqual({ h: 17, t: 'flatten', n: 18 });
    expect(flatten('resnet9')).toEqual({ h: 5, t: 'flatten', n: 6 });
    expect(flatten('vgg11')).toEqual({ h: 8, t: 'flatten', n: 11 });
    expect(flatten('vgg19')).toEqual({ h: 16, t: 'flatten', n: 19 });
    expect(flatten('mobilenetv2')).toEqual({ h: 19, t: 'flatten', n: 20 });
    expect(flatten('vit_b')).toEqual({ h: 12, t: 'token_average', n: 13 });
    expect(flatten('vit_ett')).toEqual({ h: 8, t: 'token_average', n: 9 });
  });

  it('ResNets max-pool after the stem only from 64×64; MobileNetV2 strides its stem only from 64×64', () => {
    const ops = (name: string, side: number) => buildZooModel(name, { input: [3, side, side], classes: 10, width: 0.125, initialize: false })
      .model.graph!.node!;
    expect(ops('resnet9', 32).some((n) => n.opType === 'MaxPool')).toBe(false);
    expect(ops('resnet9', 64).filter((n) => n.opType === 'MaxPool').map((n) => n.name)).toEqual(['maxpool']);
    const stem = (side: number) => ops('mobilenetv2', side).find((n) => n.name === 'features.0.0')!.attribute!.find((a) => a.name === 'strides')!.ints;
    expect(stem(32).map(Number)).toEqual([1, 1]);
    expect(stem(64).map(Number)).toEqual([2, 2]);
  });

  it('ViT patch: 4 at 32×32 and 28×28, 8 at 64×64; zero-initialised head', () => {
    const tokens = (side: number) => buildZooModel('vit_ett', { input: [3, side, side], classes: 10, width: 0.125 }).layers[0].shape[0];
    expect([tokens(32), tokens(28), tokens(64)]).toEqual([64, 49, 64]);
    const b = buildZooModel('vit_ett', { input: [3, 32, 32], classes: 10, width: 0.125 }).builder;
    const head = b.parameters().filter((p) => p.name.startsWith('heads.head.'));
    expect(head.map((p) => p.name)).toEqual(['heads.head.weight', 'heads.head.bias']);
    expect(head.every((p) => p.data.every((v) => v === 0))).toBe(true);
  });

  it('the structural finder of @kqkd/onnx finds exactly the zoo\'s layers and head start (metadata stripped)', () => {
    // Width 1 and 0.125 differ in which MobileNetV2 blocks have a skip (features.1: 32→16 channels at width 1,
    // 8→8 at 0.125), and 28×28 / 64×64 change VGG's pools and the stems; structure must get every case right.
    for (const width of [1, 0.125]) {
      for (const input of [[3, 32, 32], [1, 28, 28], [3, 64, 64]]) {
        for (const name of ZOO_NAMES) {
          const m = buildZooModel(name, { input, classes: 10, width, initialize: false });
          const found = findGeneralizedLayers({ ...m.model, metadataProps: [] });
          const where = `${name} width ${width} ${input.join('x')}`;
          expect(found.source, where).toBe('structure');
          expect(found.layers.map((l) => l.tensor), where).toEqual(m.layers.map((l) => l.tensor));
          expect(found.headStartsAfter, where).toBe(m.headStartsAfter);
        }
      }
    }
  });

  it('exported zoo models declare their layers in ONNX metadata, which the finder reads first; names still win', () => {
    for (const name of ZOO_NAMES) {
      const m = buildZooModel(name, { input: [3, 32, 32], classes: 10, width: 0.125, initialize: false });
      const ours = m.layers.map((l) => l.tensor);
      const entry = m.model.metadataProps!.find((p) => p.key === GENERALIZED_LAYERS_METADATA_KEY)!;
      expect(JSON.parse(entry.value!), name).toEqual({ layers: m.layers.map(({ index, tensor }) => ({ index, tensor })), headStartsAfter: m.headStartsAfter });
      const found = findGeneralizedLayers(decodeModel(encodeModel(m.model)));
      expect(found.source, name).toBe('metadata');
      expect(found.layers.map((l) => l.tensor), name).toEqual(ours);
      expect(found.layers.map((l) => l.shape), name).toEqual(m.layers.map((l) => ['N', ...l.shape]));
      expect(found.layers.every((l) => l.kind !== 'named'), `${name}: structure marks every declared tensor`).toBe(true);
      expect(found.headStartsAfter, name).toBe(m.headStartsAfter);
      expect(findGeneralizedLayers(m.model, { names: ours.slice(0, 2) }).layers.map((l) => l.tensor)).toEqual(ours.slice(0, 2));
    }
  });

  it('builds inside a caller scope on the caller\'s input (how a distillation graph holds teacher and student)', () => {
    const g = new GraphBuilder({ seed: 3 });
    const x = g.input('input', [8, 3, 32, 32]);
    const t = g.scope('teacher', () => ZOO.resnet34.build(g, x, { classes: 10, width: 0.125 }), { frozen: true });
    const s = g.scope('student', () => ZOO.resnet9.build(g, x, { classes: 10, width: 0.125 }));
    expect(t.layers.slice(12, 16).map((l) => l.tensor)).toEqual(['teacher.layer3.4.out', 'teacher.layer3.5.out', 'teacher.layer4.0.out', 'teacher.layer4.1.out']);
    expect(s.layers[1].tensor).toBe('student.layer1.0.out');
    expect(t.logits.shape).toEqual([8, 10]);
    expect(g.parameters().filter((p) => p.name.startsWith('teacher.')).every((p) => !p.trainable)).toBe(true);
  });

  it('listModels lists every model with counts, layers and head start', () => {
    const list = listModels({ classes: 100, input: [3, 32, 32] });
    expect(list.map((m) => m.name)).toEqual([...ZOO_NAMES]);
    expect(list.find((m) => m.name === 'resnet34')!.params).toBe(fixture.widths['1']['resnet34/3x32x32/100'].params);
  });

  it('is deterministic for a seed', () => {
    const a = buildZooModel('resnet9', { input: [3, 32, 32], classes: 10, width: 0.125, seed: 5 }).builder.parameters();
    const b = buildZooModel('resnet9', { input: [3, 32, 32], classes: 10, width: 0.125, seed: 5 }).builder.parameters();
    expect(a.map((p) => Array.from(p.data))).toEqual(b.map((p) => Array.from(p.data)));
  });

  it('rejects bad arguments with errors naming them', () => {
    expect(() => getModel('resnet50')).toThrow(KqkdError);
    expect(() => getModel('resnet50')).toThrow(/one of resnet9, resnet34/);
    expect(() => buildZooModel('resnet9', { input: [3, 32, 32], classes: 1 })).toThrow(/resnet9 classes/);
    expect(() => buildZooModel('vgg11', { input: [3, 32, 32], classes: 10, width: 0 })).toThrow(/vgg11 width/);
    expect(() => buildZooModel('vit_b', { input: [3, 30, 30], classes: 10, width: 0.125 })).toThrow(/vit_b patch/);
    expect(() => buildZooModel('vit_b', { input: [3, 30, 30], classes: 10, width: 0.125, patch: 5 })).not.toThrow();
    expect(() => buildZooModel('resnet9', { input: [3, 32] as unknown as number[], classes: 10 })).toThrow(/input/);
    expect(() => buildZooModel('resnet9', { input: [3, 4, 4], classes: 10 })).toThrow(/at least 8×8/);
  });
});

describe('isOnnxModelPath: the one rule telling an ONNX file from a zoo name', () => {
  it('a .onnx name in any case or anything with a path separator is a file; a bare name is not', () => {
    const cases: [string, boolean][] = [
      ['student.onnx', true], ['Student.ONNX', true], ['runs/student', true], ['runs\\student', true], ['./resnet9', true],
      ['resnet9', false], ['vit_ett', false], ['onnx', false], ['model.onnx.txt', false],
    ];
    for (const [arg, isFile] of cases) expect([arg, isOnnxModelPath(arg)]).toEqual([arg, isFile]);
  });
});
