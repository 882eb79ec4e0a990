/**
 * The paper code's initialisation (torchvision's, which its ResNets/VGG/MobileNetV2 keep), checked on the exported
 * ModelProto initializers by statistics of the drawn weights, with tolerances from their sample sizes:
 * - convolutions kaiming-normal with fan_out: N(0, 2 / (out · k²)) (PyTorch's fan_out ignores groups: depthwise too);
 * - BatchNorm weight 1, bias 0, running mean 0, running var 1 — except the last BN of every ResNet BasicBlock (bn2),
 *   whose weight is 0 (zero_init_residual);
 * - the ResNet head PyTorch's default U(±1/√fan_in) for weight and bias;
 * - VGG / MobileNetV2 Linear layers N(0, 0.01²) with bias 0, VGG conv bias 0;
 * and the builder's `initWeights` for every kind, its conv / gemm fans and the BatchNorm `scale`. Seeded: the same seed
 * draws the same weights, another seed others.
 *
 * Tolerances (n samples, σ the expected std): the sample std of N(0, σ²) has standard error σ/√(2(n−1)) and the mean
 * σ/√n; a proportion p has standard error √(p(1−p)/n); every check allows 5 standard errors (a false alarm has
 * probability < 1e-6 per check, and the seeds are fixed, so the outcome is deterministic). The smallest tensor checked
 * alone has 128 values (relative std error 6 %, tolerance 31 %), still far from the wrong fans (×√2 at least).
 */
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { GraphBuilder, type ModelProto, type ParameterInfo } from '@kqkd/onnx';
import { buildZooModel } from '../src/index.js';

// ------------------------------------------------------------------ statistics (float64)

function moments(v: ArrayLike<number>): { n: number; mean: number; std: number } {
  const n = v.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += v[i];
  const mean = s / n;
  let s2 = 0;
  for (let i = 0; i < n; i++) s2 += (v[i] - mean) ** 2;
  return { n, mean, std: Math.sqrt(s2 / (n - 1)) };
}

/** Samples of N(0, σ²): sample std within 5 σ/√(2(n−1)) of σ, mean within 5 σ/√n of 0. */
function expectNormal(what: string, v: ArrayLike<number>, sigma: number) {
  const { n, mean, std } = moments(v);
  expect(n, `${what}: sample size`).toBeGreaterThanOrEqual(100);
  expect(Math.abs(std - sigma), `${what}: std ${std} vs ${sigma} (n = ${n})`).toBeLessThan((5 * sigma) / Math.sqrt(2 * (n - 1)));
  expect(Math.abs(mean), `${what}: mean ${mean} (σ ${sigma}, n = ${n})`).toBeLessThan((5 * sigma) / Math.sqrt(n));
}

/**
 * Standardised samples z = x/σ look normal, not merely of the right variance: P(|z| < 1) = 0.6827 and P(|z| < 2) =
 * 0.9545 within 5 binomial standard errors (a uniform of the same variance has 0.577 and 1).
 */
function expectNormalShape(what: string, z: ArrayLike<number>) {
  const n = z.length;
  for (const [k, p] of [[1, 0.6826894921370859], [2, 0.9544997361036416], [3, 0.9973002039367398]] as const) {
    let inside = 0;
    for (let i = 0; i < n; i++) if (Math.abs(z[i]) < k) inside++;
    expect(Math.abs(inside / n - p), `${what}: P(|z| < ${k}) = ${inside / n} vs ${p} (n = ${n})`).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
  }
}

/**
 * Samples of U(−a, a): all in [−a, a); Kolmogorov–Smirnov distance to the uniform CDF below the α = 1e-4 critical value
 * √(ln(2/α)/2)/√n; sample variance within 5 relative standard errors (√(0.8/n): Var(x²)/E[x²]² = (a⁴/5 − a⁴/9)/(a⁴/9))
 * of a²/3.
 */
function expectUniform(what: string, v: ArrayLike<number>, a: number) {
  const n = v.length;
  const outside = Array.prototype.filter.call(v, (x: number) => !(x >= -a && x < a));
  expect(outside, `${what}: values outside [−${a}, ${a})`).toEqual([]);
  const sorted = Float64Array.from(v).sort();
  let d = 0;
  for (let i = 0; i < n; i++) {
    const F = (sorted[i] + a) / (2 * a);
    d = Math.max(d, (i + 1) / n - F, F - i / n);
  }
  expect(d, `${what}: KS distance (n = ${n})`).toBeLessThan(Math.sqrt(Math.log(2 / 1e-4) / 2) / Math.sqrt(n));
  const { mean, std } = moments(v);
  expect(Math.abs((std * std) / ((a * a) / 3) - 1), `${what}: variance ${std * std} vs ${(a * a) / 3}`).toBeLessThan(5 * Math.sqrt(0.8 / n));
  expect(Math.abs(mean), `${what}: mean`).toBeLessThan((5 * a) / Math.sqrt(3 * n));
}

const allEqual = (v: ArrayLike<number>, x: number) => Array.prototype.every.call(v, (y: number) => Object.is(y, x));
/** Index of the first element where a and b differ (−1: same length and values), a fast exact comparison. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

// ------------------------------------------------------------------ models

interface Param { name: string; dims: number[]; data: Float32Array; info: ParameterInfo }

/** The float initializers of the exported model, decoded from their raw little-endian bytes. */
function modelInitializers(model: ModelProto): Map<string, { dims: number[]; data: Float32Array }> {
  const out = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const t of model.graph!.initializer ?? []) {
    if (t.dataType !== 1) continue;
    const raw = t.rawData!;
    const bytes = Uint8Array.from(raw); // aligned copy
    out.set(t.name!, { dims: (t.dims ?? []).map(Number), data: new Float32Array(bytes.buffer, 0, bytes.length / 4) });
  }
  return out;
}

/** The parameters of a zoo model as the exported ModelProto holds them (checked equal to the builder's list). */
function zoo(name: string, o: { width: number; seed?: number; classes?: number; input?: number[] }): Map<string, Param> {
  const built = buildZooModel(name, { classes: o.classes ?? 10, input: o.input ?? [3, 32, 32], width: o.width, ...(o.seed !== undefined ? { seed: o.seed } : {}) });
  const inits = modelInitializers(built.model);
  const out = new Map<string, Param>();
  for (const p of built.builder.parameters()) {
    const t = inits.get(p.name);
    expect(t, `${p.name} is an initializer of the model`).toBeDefined();
    expect(t!.dims).toEqual(p.dims);
    expect(t!.data.length).toBe(p.dims.reduce((a, d) => a * d, 1));
    expect(firstDifference(t!.data, p.data), `${p.name}: initializer = builder parameter`).toBe(-1);
    out.set(p.name, { name: p.name, dims: p.dims, data: t!.data, info: p });
  }
  return out;
}

const convSigma = (p: Param) => Math.sqrt(2 / (p.dims[0] * p.dims[2] * p.dims[3]));

/** Checks a BatchNorm layer's four tensors: weight `gamma`, bias 0, running mean 0, running var 1 (exactly). */
function expectBn(params: Map<string, Param>, prefix: string, gamma: number) {
  const get = (s: string) => {
    const p = params.get(`${prefix}.${s}`);
    expect(p, `${prefix}.${s}`).toBeDefined();
    return p!;
  };
  const [w, b, m, v] = [get('weight'), get('bias'), get('running_mean'), get('running_var')];
  expect(allEqual(w.data, gamma), `${prefix}.weight all ${gamma}: ${Array.from(w.data.slice(0, 4))}…`).toBe(true);
  expect(allEqual(b.data, 0), `${prefix}.bias all 0`).toBe(true);
  expect(allEqual(m.data, 0), `${prefix}.running_mean all 0`).toBe(true);
  expect(allEqual(v.data, 1), `${prefix}.running_var all 1`).toBe(true);
  expect([w.info.trainable, b.info.trainable, m.info.statistic, v.info.statistic]).toEqual([true, true, true, true]);
}

/** Every weight of `convs` divided by its tensor's expected σ, in one array (pools small tensors). */
function standardised(convs: Param[]): Float64Array {
  const out = new Float64Array(convs.reduce((a, c) => a + c.data.length, 0));
  let o = 0;
  for (const c of convs) {
    const s = convSigma(c);
    for (let i = 0; i < c.data.length; i++) out[o++] = c.data[i] / s;
  }
  return out;
}

describe('ResNet (3×32×32): kaiming-normal fan_out convs, BN 1/0 with bn2 weight 0, head U(±1/√fan_in)', () => {
  // resnet34 at width 0.25: its smallest conv (the stem, 16·3·3·3) still has 432 weights
  const layout = { resnet9: { blocks: 4, downsamples: 3, width: 0.5 }, resnet34: { blocks: 16, downsamples: 3, width: 0.25 } } as const;
  for (const name of ['resnet9', 'resnet34'] as const) {
    it(`${name} at width ${layout[name].width}`, { timeout: 60_000 }, () => {
      const { blocks, downsamples, width } = layout[name];
      const p = zoo(name, { width, seed: 1 });
      const convs: Param[] = [];
      const bnLayers = new Set<string>();
      for (const q of p.values()) {
        if (/^(conv1|layer\d\.\d+\.(conv[12]|downsample\.0))\.weight$/.test(q.name)) convs.push(q);
        else if (/^(bn1|layer\d\.\d+\.(bn[12]|downsample\.1))\.(weight|bias|running_mean|running_var)$/.test(q.name)) bnLayers.add(q.name.replace(/\.[a-z_]+$/, ''));
        else expect(q.name, 'an unexpected parameter').toMatch(/^fc\.(weight|bias)$/);
      }
      // stem + 2 per block + the downsample 1×1 of stages 2–4 (stage 1 keeps its width at stride 1)
      expect(convs).toHaveLength(1 + 2 * blocks + downsamples);
      expect(bnLayers.size).toBe(1 + 2 * blocks + downsamples);

      for (const c of convs) {
        expect(c.dims, c.name).toHaveLength(4);
        expect(p.has(c.name.replace(/weight$/, 'bias')), `${c.name}: no conv bias`).toBe(false);
        expectNormal(c.name, c.data, convSigma(c));
      }
      // the stem (fan_in 27 vs fan_out 288) and the 1×1 downsamples (fan_out = 2 fan_in) tell fan_out from fan_in
      expect(convs.filter((c) => c.dims[0] * c.dims[2] * c.dims[3] !== c.dims[1] * c.dims[2] * c.dims[3]).length).toBe(1 + 2 * downsamples);
      expectNormalShape(`${name} convs pooled`, standardised(convs));

      const bn2 = [...bnLayers].filter((l) => l.endsWith('.bn2'));
      expect(bn2).toHaveLength(blocks);
      for (const l of bnLayers) expectBn(p, l, l.endsWith('.bn2') ? 0 : 1);

      const w = p.get('fc.weight')!, b = p.get('fc.bias')!;
      const features = 512 * width;
      expect(w.dims).toEqual([10, features]);
      expect(b.dims).toEqual([10]);
      const bound = 1 / Math.sqrt(features);
      expectUniform('fc.weight', w.data, bound);
      for (const x of b.data) expect(Math.abs(x)).toBeLessThanOrEqual(bound);
      expect(new Set(b.data).size, 'fc.bias is drawn, not constant').toBe(10);
    });
  }

  it('resnet9 with 1000 classes (width 0.25): the head bias too is U(±1/√fan_in)', { timeout: 60_000 }, () => {
    const p = zoo('resnet9', { width: 0.25, classes: 1000, seed: 2 });
    const bound = 1 / Math.sqrt(128);
    expect(p.get('fc.weight')!.dims).toEqual([1000, 128]);
    expectUniform('fc.weight', p.get('fc.weight')!.data, bound);
    expectUniform('fc.bias', p.get('fc.bias')!.data, bound);
  });
});

describe('VGG11 (width 0.25) and MobileNetV2 (width 0.5), 3×32×32', () => {
  it('VGG11: convs kaiming-normal fan_out with bias 0, BN 1/0, Linear layers N(0, 0.01²) with bias 0', { timeout: 60_000 }, () => {
    const p = zoo('vgg11', { width: 0.25, seed: 1 });
    const convs = [...p.values()].filter((q) => q.dims.length === 4);
    expect(convs.map((c) => c.dims[0])).toEqual([16, 32, 64, 64, 128, 128, 128, 128]);
    for (const c of convs) {
      expectNormal(c.name, c.data, convSigma(c));
      const bias = p.get(c.name.replace(/weight$/, 'bias'));
      expect(bias?.dims, `${c.name} has a bias`).toEqual([c.dims[0]]);
      expect(allEqual(bias!.data, 0), `${bias!.name} all 0`).toBe(true);
      // the BN right after it: features.<i+1>
      expectBn(p, c.name.replace(/^features\.(\d+)\.weight$/, (_, i) => `features.${Number(i) + 1}`), 1);
    }
    expectNormalShape('vgg11 convs pooled', standardised(convs));
    const linears = ['classifier.0', 'classifier.3', 'classifier.6'];
    expect(linears.map((l) => p.get(`${l}.weight`)?.dims)).toEqual([[1024, 128], [1024, 1024], [10, 1024]]);
    for (const l of linears) {
      expectNormal(`${l}.weight`, p.get(`${l}.weight`)!.data, 0.01);
      expect(allEqual(p.get(`${l}.bias`)!.data, 0), `${l}.bias all 0`).toBe(true);
    }
    expectNormalShape('classifier.3.weight / 0.01', Float64Array.from(p.get('classifier.3.weight')!.data, (x) => x / 0.01));
    // nothing else: 8 convs × (weight, bias) + 8 BNs × 4 + 3 linears × 2
    expect(p.size).toBe(8 * 2 + 8 * 4 + 3 * 2);
  });

  it('MobileNetV2: every conv (depthwise included: fan_out = out · k²) kaiming-normal, BN 1/0, classifier N(0, 0.01²)', { timeout: 60_000 }, () => {
    const p = zoo('mobilenetv2', { width: 0.5, seed: 1 });
    const convs = [...p.values()].filter((q) => q.dims.length === 4);
    const depthwise = convs.filter((q) => q.dims[1] === 1 && q.dims[2] === 3);
    expect(depthwise).toHaveLength(17); // one per inverted-residual block
    // each alone: fan_in (9) would give a std √(out) ≥ 4 times larger
    for (const c of convs) expectNormal(c.name, c.data, convSigma(c));
    // and pooled, standardised by each one's σ
    const z = standardised(depthwise);
    expectNormal('depthwise pooled (standardised)', z, 1);
    expectNormalShape('depthwise pooled', z);
    expectNormalShape('all convs pooled', standardised(convs));
    for (const c of convs) expect(p.has(c.name.replace(/weight$/, 'bias')), `${c.name}: no conv bias`).toBe(false);
    const bnLayers = [...p.keys()].filter((n) => n.endsWith('.running_mean')).map((n) => n.replace(/\.running_mean$/, ''));
    expect(bnLayers).toHaveLength(convs.length); // a BN after every conv
    for (const l of bnLayers) expectBn(p, l, 1);
    expect(p.get('classifier.1.weight')!.dims).toEqual([10, 1280]);
    expectNormal('classifier.1.weight', p.get('classifier.1.weight')!.data, 0.01);
    expect(allEqual(p.get('classifier.1.bias')!.data, 0)).toBe(true);
    expect(p.size).toBe(convs.length * 5 + 2);
  });

  it('seeded: the same seed draws the same weights, another seed others (the constant BN tensors excepted)', { timeout: 60_000 }, () => {
    for (const name of ['resnet9', 'mobilenetv2']) {
      const a = zoo(name, { width: 0.25, seed: 4 });
      const b = zoo(name, { width: 0.25, seed: 4 });
      const c = zoo(name, { width: 0.25, seed: 5 });
      const d = zoo(name, { width: 0.25 }); // default seed 0
      const e = zoo(name, { width: 0.25, seed: 0 });
      expect([...a.keys()]).toEqual([...c.keys()]);
      let drawn = 0;
      for (const [n, pa] of a) {
        expect(firstDifference(b.get(n)!.data, pa.data), `${name} ${n}, same seed`).toBe(-1);
        expect(firstDifference(e.get(n)!.data, d.get(n)!.data), `${name} ${n}, default seed = 0`).toBe(-1);
        const random = pa.dims.length >= 2 || n === 'fc.bias';
        if (random) {
          drawn++;
          const same = pa.data.filter((x, i) => x === c.get(n)!.data[i]).length;
          expect(same, `${name} ${n}: values equal under seeds 4 and 5`).toBeLessThanOrEqual(1);
        } else {
          expect(firstDifference(c.get(n)!.data, pa.data), `${name} ${n} is constant`).toBe(-1);
        }
      }
      expect(drawn).toBeGreaterThan(10);
    }
  });
});

describe('GraphBuilder: initWeights, conv / gemm fans, BatchNorm scale', () => {
  const fan = { in: 50, out: 200 };
  const n = 20000;

  it('he-fan-in: N(0, 2/fan_in), bias zeros of the asked size', () => {
    const { weight, bias } = new GraphBuilder({ seed: 3 }).initWeights('he-fan-in', n, fan, 7);
    expect([weight.length, bias.length]).toEqual([n, 7]);
    expectNormal('he-fan-in', weight, Math.sqrt(2 / 50));
    expectNormalShape('he-fan-in', Float64Array.from(weight, (x) => x / Math.sqrt(2 / 50)));
    expect(allEqual(bias, 0)).toBe(true);
  });

  it('kaiming-normal-fan-out: N(0, 2/fan_out), bias zeros', () => {
    const { weight, bias } = new GraphBuilder({ seed: 3 }).initWeights('kaiming-normal-fan-out', n, fan, 7);
    expect([weight.length, bias.length]).toEqual([n, 7]);
    expectNormal('kaiming-normal-fan-out', weight, Math.sqrt(2 / 200));
    expectNormalShape('kaiming-normal-fan-out', Float64Array.from(weight, (x) => x / Math.sqrt(2 / 200)));
    expect(allEqual(bias, 0)).toBe(true);
  });

  it('pytorch-default: weight and bias U(±1/√fan_in)', () => {
    const { weight, bias } = new GraphBuilder({ seed: 3 }).initWeights('pytorch-default', n, fan, 4000);
    expect([weight.length, bias.length]).toEqual([n, 4000]);
    expectUniform('pytorch-default weight', weight, 1 / Math.sqrt(50));
    expectUniform('pytorch-default bias', bias, 1 / Math.sqrt(50));
  });

  it('{ normal: std }: N(0, std²) with bias zeros; { normal: 0 } and zeros: all 0', () => {
    const { weight, bias } = new GraphBuilder({ seed: 3 }).initWeights({ normal: 0.01 }, n, fan, 5);
    expectNormal('normal 0.01', weight, 0.01);
    expect(allEqual(bias, 0)).toBe(true);
    const z0 = new GraphBuilder({ seed: 3 }).initWeights({ normal: 0 }, 100, fan, 5);
    expect(z0.weight.every((x) => x === 0) && allEqual(z0.bias, 0)).toBe(true);
    const z = new GraphBuilder({ seed: 3 }).initWeights('zeros', 100, fan, 5);
    expect([z.weight.length, z.bias.length]).toEqual([100, 5]);
    expect(allEqual(z.weight, 0) && allEqual(z.bias, 0)).toBe(true);
  });

  it('seeded: the same seed draws the same values; successive draws continue the stream', () => {
    for (const init of ['he-fan-in', 'kaiming-normal-fan-out', 'pytorch-default', { normal: 0.1 }] as const) {
      const g1 = new GraphBuilder({ seed: 9 }), g2 = new GraphBuilder({ seed: 9 }), g3 = new GraphBuilder({ seed: 10 });
      const a = g1.initWeights(init, 64, fan, 8), b = g2.initWeights(init, 64, fan, 8), c = g3.initWeights(init, 64, fan, 8);
      expect(b, JSON.stringify(init)).toEqual(a);
      expect(c.weight, JSON.stringify(init)).not.toEqual(a.weight);
      expect(g1.initWeights(init, 64, fan, 8).weight, JSON.stringify(init)).not.toEqual(a.weight);
    }
  });

  it('an unknown kind is a KqkdError naming init', () => {
    for (const bad of ['xavier', 'kaiming', undefined, null, {}, { normal: -1 }, { normal: Number.NaN }, { normal: '0.1' }, 3]) {
      let err: unknown;
      try {
        new GraphBuilder().initWeights(bad as never, 4, fan, 1);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad) ?? String(bad)).toBeInstanceOf(KqkdError);
      expect((err as KqkdError).argument).toBe('init');
      expect((err as KqkdError).message).toMatch(/for init but received/);
    }
    const g = new GraphBuilder();
    expect(() => g.conv(g.input('x', [1, 3, 4, 4]), 4, { init: 'xavier' as never })).toThrow(KqkdError);
  });

  it('conv: kaiming-normal-fan-out uses out · k² (groups ignored, as PyTorch), he-fan-in (in/group) · k²', () => {
    const g = new GraphBuilder({ seed: 5 });
    const x = g.input('x', [1, 256, 6, 6]);
    g.conv(x, 64, { name: 'full', kernel: 3, init: 'kaiming-normal-fan-out' });
    g.conv(x, 256, { name: 'dw', kernel: 3, group: 256, init: 'kaiming-normal-fan-out' });
    g.conv(x, 64, { name: 'he', kernel: 3 }); // default he-fan-in
    g.conv(x, 16, { name: 'pt', kernel: 3, bias: true, init: 'pytorch-default' });
    g.conv(x, 16, { name: 'kb', kernel: 3, bias: true, init: 'kaiming-normal-fan-out' });
    const p = new Map(g.parameters().map((q) => [q.name, q]));
    expect(p.get('full.weight')!.dims).toEqual([64, 256, 3, 3]);
    expectNormal('full', p.get('full.weight')!.data, Math.sqrt(2 / (64 * 9)));
    expect(p.get('dw.weight')!.dims).toEqual([256, 1, 3, 3]);
    expectNormal('depthwise', p.get('dw.weight')!.data, Math.sqrt(2 / (256 * 9)));
    expectNormal('he', p.get('he.weight')!.data, Math.sqrt(2 / (256 * 9)));
    expect(p.has('full.bias') || p.has('dw.bias') || p.has('he.bias')).toBe(false);
    expectUniform('pt.weight', p.get('pt.weight')!.data, 1 / Math.sqrt(256 * 9));
    const ptBias = p.get('pt.bias')!.data;
    expect(ptBias.length).toBe(16);
    for (const v of ptBias) expect(Math.abs(v)).toBeLessThanOrEqual(1 / Math.sqrt(256 * 9));
    expect(new Set(ptBias).size).toBe(16);
    expect(allEqual(p.get('kb.bias')!.data, 0)).toBe(true);
  });

  it('gemm: the init applies to [out, in] with fan_in = in', () => {
    const g = new GraphBuilder({ seed: 6 });
    const x = g.input('x', [1, 300]);
    g.gemm(x, 100, 'pt', 'pytorch-default');
    g.gemm(x, 100, 'nm', { normal: 0.02 });
    g.gemm(x, 100, 'he');
    const p = new Map(g.parameters().map((q) => [q.name, q]));
    expect(p.get('pt.weight')!.dims).toEqual([100, 300]);
    expectUniform('pt.weight', p.get('pt.weight')!.data, 1 / Math.sqrt(300));
    expectNormal('nm.weight', p.get('nm.weight')!.data, 0.02);
    expect(allEqual(p.get('nm.bias')!.data, 0)).toBe(true);
    expectNormal('he.weight', p.get('he.weight')!.data, Math.sqrt(2 / 300));
  });

  it('batchNorm scale: default 1, 0 (zero-init residual) and 0.5 exactly; bias / running stats 0 / 0 / 1; not finite throws', () => {
    const g = new GraphBuilder({ seed: 1 });
    const x = g.input('x', [1, 6, 2, 2]);
    g.batchNorm(x, { name: 'one' });
    g.batchNorm(x, { name: 'zero', scale: 0 });
    g.batchNorm(x, { name: 'half', scale: 0.5 });
    const p = new Map(g.parameters().map((q) => [q.name, { name: q.name, dims: q.dims, data: q.data, info: q }]));
    expectBn(p, 'one', 1);
    expectBn(p, 'zero', 0);
    expectBn(p, 'half', 0.5);
    expect(p.get('zero.weight')!.dims).toEqual([6]);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '1']) {
      let err: unknown;
      try {
        g.batchNorm(x, { name: `bad${String(bad)}`, scale: bad as never });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KqkdError);
      expect((err as KqkdError).argument).toBe('batchNorm scale');
    }
  });
});
