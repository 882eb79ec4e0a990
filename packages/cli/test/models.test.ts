import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from './run-cli.js';

const run = runCli;
afterEach(() => vi.restoreAllMocks());

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
