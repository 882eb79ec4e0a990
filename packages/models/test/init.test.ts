/**
 * The paper code's initialisation (torchvision's, which its ResNets/VGG/MobileNetV2 keep), checked by statistics of
 * the drawn weights with tolerances from their sample sizes: convolutions kaiming-normal with fan_out (std =
 * sqrt(2 / (out · k²))), BatchNorm weight 1 and bias 0 — the last BN of every residual branch (bn2) weight 0 —, the
 * ResNet head PyTorch's default U(±1/√fan_in), VGG / MobileNetV2 Linear layers N(0, 0.01²) with bias 0; the builder's
 * `initWeights` for every kind. Seeded: the same seed draws the same weights.
 */
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { GraphBuilder, type ParameterInfo } from '@kqkd/onnx';
import { buildZooModel } from '../src/index.js';

const params = (name: string, o: { width: number; input: number[]; seed?: number }) =>
  new Map(buildZooModel(name, { classes: 10, input: o.input, width: o.width, seed: o.seed ?? 1 }).builder.parameters().map((p) => [p.name, p]));

function moments(v: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const x of v) { s += x; s2 += x * x; }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean) };
}

/** N(0, σ²) samples: sample std within 5 standard errors (σ / sqrt(2n)) of σ, mean within 5 σ/√n of 0. */
function expectNormal(p: ParameterInfo, sigma: number) {
  const n = p.data.length;
  const { mean, std } = moments(p.data);
  expect(Math.abs(std - sigma), `${p.name} std ${std} vs ${sigma} (n = ${n})`).toBeLessThan((5 * sigma) / Math.sqrt(2 * n));
  expect(Math.abs(mean), `${p.name} mean`).toBeLessThan((5 * sigma) / Math.sqrt(n));
}

const convFanOut = (p: ParameterInfo) => p.dims[0] * p.dims[2] * p.dims[3];
const all = (v: Float32Array, x: number) => v.every((y) => y === x);

describe('ResNet (resnet9 and resnet34 at width 0.5, 3×32×32)', () => {
  for (const name of ['resnet9', 'resnet34']) {
    it(`${name}: convs kaiming-normal fan_out, BN 1/0 with bn2 weight 0, fc U(±1/√fan_in)`, () => {
      const p = params(name, { width: 0.5, input: [3, 32, 32] });
      const convs = [...p.values()].filter((q) => q.dims.length === 4);
      expect(convs.length).toBeGreaterThan(name === 'resnet9' ? 8 : 30);
      for (const c of convs) expectNormal(c, Math.sqrt(2 / convFanOut(c)));
      const bn2 = [...p.keys()].filter((n) => n.endsWith('.bn2.weight'));
      expect(bn2).toHaveLength(name === 'resnet9' ? 4 : 16);
      for (const [n, q] of p) {
        if (n.endsWith('.bn2.weight')) expect(all(q.data, 0), n).toBe(true);
        else if (/bn\d?\.weight$|downsample\.1\.weight$/.test(n)) expect(all(q.data, 1), n).toBe(true);
        if (/(bn\d?|downsample\.1)\.(bias|running_mean)$/.test(n)) expect(all(q.data, 0), n).toBe(true);
        if (n.endsWith('running_var')) expect(all(q.data, 1), n).toBe(true);
      }
      const w = p.get('fc.weight')!, b = p.get('fc.bias')!;
      const bound = 1 / Math.sqrt(w.dims[1]);
      for (const t of [w, b]) expect(t.data.every((x) => Math.abs(x) <= bound), t.name).toBe(true);
      // U(−a, a) has variance a²/3; the sample variance's relative standard error is ≈ sqrt(0.8 / n)
      const { std } = moments(w.data);
      expect(Math.abs((std * std) / (bound * bound / 3) - 1)).toBeLessThan(5 * Math.sqrt(0.8 / w.data.length));
      // not all near the bound: spread over it (a uniform's quartiles at ±a/2)
      expect(w.data.filter((x) => Math.abs(x) < bound / 2).length / w.data.length).toBeGreaterThan(0.4);
    });
  }
});

describe('VGG11 (width 0.25, 3×32×32) and MobileNetV2 (width 0.5, 3×32×32)', () => {
  it('VGG11: convs kaiming-normal fan_out with bias 0, Linear layers N(0, 0.01²) with bias 0', () => {
    const p = params('vgg11', { width: 0.25, input: [3, 32, 32] });
    for (const [n, q] of p) {
      if (q.dims.length === 4) expectNormal(q, Math.sqrt(2 / convFanOut(q)));
      if (n.startsWith('classifier.') && n.endsWith('.weight')) expectNormal(q, 0.01);
      if (n.endsWith('.bias') && (n.startsWith('classifier.') || p.get(n.replace('.bias', '.weight'))?.dims.length === 4)) expect(all(q.data, 0), n).toBe(true);
    }
  });

  it('MobileNetV2: every conv (depthwise included: fan_out = out · k²) kaiming-normal, classifier N(0, 0.01²)', () => {
    const p = params('mobilenetv2', { width: 0.5, input: [3, 32, 32] });
    const depthwise = [...p.values()].filter((q) => q.dims.length === 4 && q.dims[1] === 1 && q.dims[2] === 3);
    expect(depthwise.length).toBeGreaterThan(10);
    // small depthwise tensors: pool them by standardising with their own σ
    const z = Float32Array.from(depthwise.flatMap((q) => Array.from(q.data, (x) => x / Math.sqrt(2 / convFanOut(q)))));
    expectNormal({ name: 'depthwise (standardised)', dims: [z.length], data: z, trainable: true, statistic: false }, 1);
    for (const q of p.values()) if (q.dims.length === 4 && q.data.length >= 500) expectNormal(q, Math.sqrt(2 / convFanOut(q)));
    expectNormal(p.get('classifier.1.weight')!, 0.01);
    expect(all(p.get('classifier.1.bias')!.data, 0)).toBe(true);
  });

  it('seeded: the same seed draws the same weights, another seed others', () => {
    const a = params('resnet9', { width: 0.25, input: [1, 28, 28], seed: 4 }).get('layer2.0.conv1.weight')!.data;
    const b = params('resnet9', { width: 0.25, input: [1, 28, 28], seed: 4 }).get('layer2.0.conv1.weight')!.data;
    const c = params('resnet9', { width: 0.25, input: [1, 28, 28], seed: 5 }).get('layer2.0.conv1.weight')!.data;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});

describe('GraphBuilder.initWeights', () => {
  const fan = { in: 50, out: 200 };
  it('every kind draws what it says', () => {
    const g = new GraphBuilder({ seed: 3 });
    const n = 20000;
    const he = g.initWeights('he-fan-in', n, fan, 4);
    expectNormal({ name: 'he-fan-in', dims: [n], data: he.weight, trainable: true, statistic: false }, Math.sqrt(2 / 50));
    expect(all(he.bias, 0)).toBe(true);
    const ko = g.initWeights('kaiming-normal-fan-out', n, fan, 4);
    expectNormal({ name: 'kaiming-normal-fan-out', dims: [n], data: ko.weight, trainable: true, statistic: false }, Math.sqrt(2 / 200));
    const pd = g.initWeights('pytorch-default', n, fan, 4000);
    const bound = 1 / Math.sqrt(50);
    for (const v of [pd.weight, pd.bias]) expect(v.every((x) => Math.abs(x) <= bound) && v.some((x) => Math.abs(x) > 0.9 * bound)).toBe(true);
    const nm = g.initWeights({ normal: 0.01 }, n, fan, 4);
    expectNormal({ name: 'normal 0.01', dims: [n], data: nm.weight, trainable: true, statistic: false }, 0.01);
    const z = g.initWeights('zeros', 10, fan, 2);
    expect([all(z.weight, 0), all(z.bias, 0)]).toEqual([true, true]);
  });
  it('an unknown kind is a KqkdError naming init', () => {
    expect(() => new GraphBuilder().initWeights('xavier' as never, 4, fan, 1)).toThrow(KqkdError);
    expect(() => new GraphBuilder().initWeights('xavier' as never, 4, fan, 1)).toThrow(/for init but received/);
    expect(() => new GraphBuilder().initWeights({ normal: -1 }, 4, fan, 1)).toThrow(/for init/);
  });
});
