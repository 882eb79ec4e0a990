import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from './run-cli.js';

const run = runCli;
afterEach(() => vi.restoreAllMocks());

describe('kqkd models --onnx', () => {
  const fixture = (name: string) => new URL(`../../../models/torchvision/${name}.onnx`, import.meta.url).pathname;

  it('lists the layers of a PyTorch export with op, shape, kind and why each counts', async () => {
    const r = await run(['models', '--onnx', fixture('mobilenet_v3_small')]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/mobilenet_v3_small\.onnx": 15 generalized layers \(found from its graph structure\), head starts after layer 13$/);
    expect(lines[1]).toMatch(/^layer +tensor +op +shape +kind +why it counts$/);
    expect(lines[2]).toMatch(/^0 +\/features\/features\.0\/features\.0\.2\/Mul_output_0 +Mul +batch×8×14×14 +activation +a non-linearity on the main path/);
    expect(lines[15]).toMatch(/^13 +\/Flatten_output_0 +Flatten +batch×144 +flatten +the pooled \/ flattened features .*← head after$/);
    expect(lines).toHaveLength(17);
  });

  it('--json gives the documented fields; a missing file names --onnx (exit 2)', async () => {
    const r = await run(['models', '--onnx', fixture('vit_small'), '--json']);
    const j = JSON.parse(r.stdout) as { source: string; headStartsAfter: number; layers: { index: number; kind: string; shape: unknown; why: string }[] };
    expect(Object.keys(j)).toEqual(['model', 'source', 'headStartsAfter', 'layers']);
    expect(j.source).toBe('structure');
    expect(j.layers.map((l) => l.kind)).toEqual(['transformer-block', 'transformer-block', 'transformer-block', 'transformer-block', 'class-token']);
    expect(Object.keys(j.layers[0])).toEqual(['index', 'tensor', 'opType', 'kind', 'shape', 'why']);
    const bad = await run(['models', '--onnx', '/nonexistent/m.onnx']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/a readable \.onnx file for --onnx but received "\/nonexistent\/m\.onnx"/);
  });
});

describe('kqkd models', () => {
  it('--json prints exactly the documented fields for every zoo model', async () => {
    const r = await run(['models', '--json', '--classes', '100', '--input', '3x32x32']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; params: number; generalizedLayers: { index: number; tensor: string; shape: number[] }[]; headStartsAfter: number }[];
    expect(list.map((m) => m.name)).toEqual(['resnet9', 'resnet34', 'vgg11', 'vgg19', 'mobilenetv2', 'vit_b', 'vit_et', 'vit_ett', 'small-cnn']);
    for (const m of list) {
      expect(Object.keys(m)).toEqual(['name', 'params', 'generalizedLayers', 'headStartsAfter']);
      for (const l of m.generalizedLayers) expect(Object.keys(l)).toEqual(['index', 'tensor', 'shape']);
    }
    const r34 = list.find((m) => m.name === 'resnet34')!;
    // tools/zoo/param_counts.py (PyTorch): ResNet34, 3×32×32, 100 classes
    expect(r34.params).toBe(21_328_292);
    expect(r34.generalizedLayers).toHaveLength(18);
    expect(r34.generalizedLayers[0]).toEqual({ index: 0, tensor: 'relu', shape: [64, 32, 32] });
    expect(r34.headStartsAfter).toBe(17);
    expect(list.map((m) => m.generalizedLayers.length)).toEqual([6, 18, 11, 19, 20, 13, 9, 9, 3]);
  });

  it('--input 1x28x28 and 3x64x64 change shapes; the table names layers and the head', async () => {
    const tiny = JSON.parse((await run(['models', '--json', '--classes', '200', '--input', '3x64x64'])).stdout);
    expect(tiny.find((m: { name: string }) => m.name === 'vit_b').generalizedLayers[0].shape).toEqual([64, 768]);
    const r = await run(['models', '--input', '1x28x28']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/resnet9: .*\n {2}4,902,090 parameters \(\+ 5,760 BN running statistics\), 6 generalized layers, head starts after layer 5/);
    expect(r.stdout).toMatch(/ 8 {2}flatten +512 {2}← head after/);
  });

  it('rejects a bad --input or --classes without a stack trace', async () => {
    const bad = await run(['models', '--input', '3x32']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--input/);
    expect(bad.stderr).not.toMatch(/at .*\.ts/);
    expect((await run(['models', '--classes', '1'])).stderr).toMatch(/--classes/);
  });
});
