/**
 * The native backend's host optimizer: bit-identical to the web-training backend's ORT optimizer (the AdamW kernel
 * in the training wasm, fed by the optimizer graph's in-graph schedule) over many steps with accumulation, and equal
 * to the float64 closed forms of AdamW and SGD-momentum within float32 rounding.
 */
import { describe, expect, it, vi as spies } from 'vitest';
import { createRng, KqkdError } from '@kqkd/common';
import {
  adamwKernelUpdate, buildOptimizerModel, constantScheduleRate, gradientOutputName, kernelSettings, learningRateAt, writeCheckpoint,
  type LrSchedule, type OptimizerConfig,
} from '@kqkd/autodiff';
import { encodeModel, type NodeProto, type TensorProto, type ValueInfoProto } from '@kqkd/onnx';
import { createTrainingSession } from '@kqkd/runtime';
import { adamwScalars } from '@kqkd/autodiff';
import { tryLoadAddon } from '@kqkd/native';
import { HostOptimizer, scheduleRate } from '../src/index.js';
import { checkAdamwScalars } from '../src/optimizer/host-optimizer.js';

const N = 16, D = 48, O = 10;
const vi = (name: string, elemType: number, dims: number[]): ValueInfoProto =>
  ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
const nd = (opType: string, input: string[], output: string[], attrs: Record<string, number> = {}, domain = ''): NodeProto => ({
  opType, input, output, domain, name: `${opType}_${output[0]}`, attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: 2, i })),
});
const f32 = (name: string, values: number[]): TensorProto => ({ name, dims: [], dataType: 1, rawData: new Uint8Array(Float32Array.from(values).buffer) });
const i64 = (name: string, values: number[]): TensorProto =>
  ({ name, dims: [values.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });

/** Linear regression with hand-written gradients, InPlaceAccumulatorV2 and `<p>.gradient` outputs; seed = lossScale. */
function trainingModel(lossScale: number): Uint8Array {
  const params: [string, number[]][] = [['W', [O, D]], ['b', [O]]];
  return encodeModel({
    irVersion: 8, producerName: 'kqkd-test', opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: 'linreg',
      node: [
        nd('Gemm', ['x', 'W', 'b'], ['pred'], { transB: 1 }), nd('Sub', ['pred', 'y'], ['diff']), nd('Mul', ['diff', 'diff'], ['sq']),
        nd('ReduceMean', ['sq'], ['loss'], { keepdims: 0 }), nd('Mul', ['diff', 'two_over_n'], ['g0']), nd('Mul', ['g0', 'seed'], ['pred_grad']),
        nd('Gemm', ['pred_grad', 'x'], ['W_grad'], { transA: 1 }), nd('ReduceSum', ['pred_grad', 'axes0'], ['b_grad'], { keepdims: 0 }),
        ...params.map(([p]) => nd('Identity', [`${p}_grad`], [gradientOutputName(p)])),
        ...params.map(([p]) => nd('InPlaceAccumulatorV2', [`${p}_grad.accumulation.buffer`, `${p}_grad`, 'lazy_reset_grad'],
          [`${p}_grad.accumulation.out`], {}, 'com.microsoft')),
      ],
      input: [vi('x', 1, [N, D]), vi('y', 1, [N, O]), ...params.map(([p, d]) => vi(p, 1, d)),
        ...params.map(([p, d]) => vi(`${p}_grad.accumulation.buffer`, 1, d)), vi('lazy_reset_grad', 9, [1])],
      output: [vi('loss', 1, []), ...params.map(([p, d]) => vi(gradientOutputName(p), 1, d)),
        ...params.map(([p]) => vi(`${p}_grad.accumulation.out`, 9, [1]))],
      initializer: [f32('two_over_n', [2 / (N * O)]), f32('seed', [lossScale]), i64('axes0', [0])],
    },
  });
}

const rng = createRng(11);
const W0 = Float32Array.from({ length: O * D }, () => 0.2 * rng.nextNormal());
const B0 = Float32Array.from({ length: O }, () => 0.1 * rng.nextNormal());
const batches = Array.from({ length: 8 }, () => ({
  x: { data: Float32Array.from({ length: N * D }, () => rng.nextNormal()), shape: [N, D] },
  y: { data: Float32Array.from({ length: N * O }, () => rng.nextNormal()), shape: [N, O] },
}));

async function compareWithOrt(optimizer: OptimizerConfig, schedule: LrSchedule, updates: number, A: number) {
  const session = await createTrainingSession({
    checkpoint: writeCheckpoint({ trainable: [{ name: 'W', dims: [O, D], data: W0 }, { name: 'b', dims: [O], data: B0 }] }),
    trainingModel: trainingModel(1 / A), optimizerModel: buildOptimizerModel(optimizer, schedule),
  });
  const W = W0.slice(), b = B0.slice();
  const host = new HostOptimizer(optimizer, schedule, [{ name: 'W', dims: [O, D], param: W }, { name: 'b', dims: [O], param: b }]);
  let maxUlp = 0;
  try {
    let k = 0;
    for (let u = 0; u < updates; u++) {
      await session.lazyResetGrad();
      for (let a = 0; a < A; a++) {
        const out = await session.trainStep(batches[k++ % batches.length]);
        host.accumulate({ W: out['W.gradient'].data, b: out['b.gradient'].data }, a === 0, A === 1);
      }
      await session.optimizerStep();
      host.update();
      const ort = await session.getParameters();
      const mine = Float32Array.from([...W, ...b]);
      const oi = new Int32Array(ort.buffer), mi = new Int32Array(mine.buffer);
      for (let i = 0; i < ort.length; i++) maxUlp = Math.max(maxUlp, Math.abs(oi[i] - mi[i]));
      // keep both on ORT's values so a rate ulp (one-cycle Cos) does not compound
      W.set(ort.subarray(0, W.length));
      b.set(ort.subarray(W.length));
    }
  } finally {
    await session.release();
  }
  expect(host.step).toBe(updates);
  return maxUlp;
}

describe('HostOptimizer = the web-training backend\'s ORT optimizer', () => {
  it('AdamW, constant rate, 12 updates: bit-identical', async () => {
    expect(await compareWithOrt({ kind: 'adamw', weightDecay: 0.05 }, { kind: 'constant', lr: 0.01 }, 12, 1)).toBe(0);
  });
  it('SGD-momentum + weight decay, multistep, 2 accumulated micro-batches, 10 updates: bit-identical', async () => {
    expect(await compareWithOrt({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
      { kind: 'multistep', lr: 0.05, milestones: [3, 6], gamma: 0.1 }, 10, 2)).toBe(0);
  });
  it('AdamW, one-cycle (in-graph float32 Cos), 4 accumulated micro-batches: at most 1 ulp per step', async () => {
    const ulp = await compareWithOrt({ kind: 'adamw', weightDecay: 0.01 }, { kind: 'one-cycle', maxLr: 0.02, totalSteps: 12 }, 12, 4);
    expect(ulp).toBeLessThanOrEqual(1);
  });
});

describe('HostOptimizer arithmetic', () => {
  it('one-cycle with cycleMomentum: beta1 follows the cycle in the moments and the bias correction (float64 reference of the ORT kernel formula)', () => {
    const T = 9, n = 257;
    const cfg: OptimizerConfig = { kind: 'adamw', weightDecay: 0.05 };
    const run = (cycleMomentum: boolean, backend: 'ts' | 'native') => {
      const r = createRng(11);
      const p = Float32Array.from({ length: n }, () => r.nextNormal());
      const opt = new HostOptimizer(cfg, { kind: 'one-cycle', maxLr: 0.02, totalSteps: T, cycleMomentum }, [{ name: 'w', dims: [n], param: p }], undefined, { backend });
      const grads: Float32Array[] = [];
      for (let t = 0; t < T; t++) {
        const g = Float32Array.from({ length: n }, () => r.nextNormal());
        grads.push(g);
        opt.accumulate({ w: g }, true);
        opt.update();
      }
      return { p, grads };
    };
    // float64 reference: PyTorch OneCycleLR's rate and beta1 for update t; the kernel's update (adam_mode 1): moments
    // with this step's beta1, lr_c = lr·sqrt(1 − β2ᵗ)/(1 − β1ₜᵗ) (PyTorch's AdamW also raises the CURRENT beta1 to t),
    // decoupled decay after the step
    const reference = (grads: Float32Array[]) => {
      const r = createRng(11);
      const P = Float64Array.from({ length: n }, () => r.nextNormal());
      const M = new Float64Array(n), V = new Float64Array(n);
      const cos = (x: number, a: number, b: number) => b + ((a - b) / 2) * (Math.cos(Math.PI * x) + 1);
      const e1 = 0.3 * T - 1, e2 = T - 1;
      grads.forEach((g, t) => {
        const warm = t <= e1;
        const x = warm ? t / e1 : (t - e1) / (e2 - e1);
        const beta1 = warm ? cos(x, 0.95, 0.85) : cos(x, 0.85, 0.95);
        const lr = warm ? cos(x, 0.02 / 25, 0.02) : cos(x, 0.02, 0.02 / 25 / 1e4);
        const lrc = (lr * Math.sqrt(1 - 0.999 ** (t + 1))) / (1 - beta1 ** (t + 1));
        for (let i = 0; i < n; i++) {
          M[i] = beta1 * M[i] + (1 - beta1) * g[i];
          V[i] = 0.999 * V[i] + 0.001 * g[i] * g[i];
          P[i] -= (lrc * M[i]) / (Math.sqrt(V[i]) + 1e-8);
          P[i] -= lr * 0.05 * P[i];
        }
      });
      return P;
    };
    const worst = (a: Float32Array, b: Float64Array) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]) / Math.max(1e-3, Math.abs(b[i]))));
    for (const backend of ['ts', ...(tryLoadAddon().addon ? ['native' as const] : [])] as const) {
      const cycled = run(true, backend);
      expect(worst(cycled.p, reference(cycled.grads)), backend).toBeLessThan(2e-5);
      // a fixed beta1 (0.9) gives a different trajectory, far beyond rounding: the test sees the cycle
      const fixed = run(false, backend);
      expect(worst(fixed.p, reference(fixed.grads)), backend).toBeGreaterThan(1e-3);
    }
  });

  it('scheduleRate is the optimizer graph\'s float32 rate (constant: constantScheduleRate; others ≈ learningRateAt)', () => {
    const cfg: OptimizerConfig = { kind: 'sgd', momentum: 0.9 };
    expect(scheduleRate(cfg, { kind: 'constant', lr: 0.03 })(7)).toBe(constantScheduleRate(cfg, 0.03));
    const oc: LrSchedule = { kind: 'one-cycle', maxLr: 0.1, totalSteps: 50 };
    const rate = scheduleRate({ kind: 'adamw' }, oc);
    for (let t = 0; t < 55; t++) expect(rate(t + 1)).toBeCloseTo(learningRateAt(oc, t), 6);
  });

  it('two AdamW updates match the float64 closed form', () => {
    const lr = 0.01, wd = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const p = Float32Array.from([0.5, -1, 2]);
    const g1 = Float32Array.from([0.1, -0.3, 0.02]), g2 = Float32Array.from([-0.2, 0.1, 0.05]);
    const h = new HostOptimizer({ kind: 'adamw', weightDecay: wd }, { kind: 'constant', lr }, [{ name: 'p', dims: [3], param: p }]);
    const ref = Float64Array.from(p);
    const m = [0, 0, 0], v = [0, 0, 0];
    for (const [t, g] of [[1, g1], [2, g2]] as const) {
      h.accumulate({ p: g }, true);
      h.update();
      for (let i = 0; i < 3; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const lrc = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
        const w = ref[i] - (lrc * m[i]) / (Math.sqrt(v[i]) + eps);
        ref[i] = w - lr * wd * w;
      }
    }
    for (let i = 0; i < 3; i++) expect(p[i]).toBeCloseTo(ref[i], 6);
  });

  it('SGD-momentum with decoupled weight decay and mean accumulation matches torch-style buffers in float64', () => {
    const lr = 0.05, mu = 0.9, wd = 0.1;
    const p = Float32Array.from([0.5, -1]);
    const h = new HostOptimizer({ kind: 'sgd', momentum: mu, weightDecay: wd }, { kind: 'constant', lr }, [{ name: 'p', dims: [2], param: p }]);
    const ref = Float64Array.from(p);
    const buf = [0, 0];
    const micro = [[Float32Array.from([0.25, -0.5]), Float32Array.from([0.75, 0.5])], [Float32Array.from([-0.5, 1]), Float32Array.from([0.5, 0])]];
    for (const [g1, g2] of micro) {
      // the graph's lossScale 1/2 makes each micro-batch gradient half of its own; the buffer holds the mean
      h.accumulate({ p: g1.map((x) => x / 2) }, true);
      h.accumulate({ p: g2.map((x) => x / 2) }, false);
      h.update();
      for (let i = 0; i < 2; i++) {
        buf[i] = mu * buf[i] + (g1[i] + g2[i]) / 2;
        ref[i] = (ref[i] - lr * buf[i]) * (1 - lr * wd);
      }
    }
    for (let i = 0; i < 2; i++) expect(p[i]).toBeCloseTo(ref[i], 6);
    expect(h.toOptimizerGroup().step).toBe(2);
  });
});

/** Random float32 values with the edge cases the kernel must round identically: ±0, tiny, subnormal, large. */
function edgeVector(r: ReturnType<typeof createRng>, n: number, scale: number): Float32Array {
  const x = Float32Array.from({ length: n }, () => scale * r.nextNormal());
  const edges = [0, -0, 1e-30, -1e-38, 1.4e-45, -1e-40, 1e-20, 3e4, -2.5e3];
  for (let i = 0; i < edges.length && i < n; i++) x[(i * 7919) % n] = edges[i];
  return x;
}
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
/** The first index whose float32 bits differ (-1: identical); toEqual on 100k-element arrays is far too slow. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -2;
  const x = bits(a), y = bits(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

const native = tryLoadAddon();
describe.skipIf(!native.addon)('the native optimizer step (@kqkd/native adamwUpdate) = the TypeScript reference (@kqkd/autodiff adamwKernelUpdate), bit for bit', () => {
  const addon = native.addon!;
  const configs: [string, OptimizerConfig, number][] = [
    ['AdamW, weight decay, bias correction', { kind: 'adamw', weightDecay: 0.05 }, 0.003],
    ['AdamW, betas 0.8/0.95, eps 1e-6', { kind: 'adamw', beta1: 0.8, beta2: 0.95, epsilon: 1e-6, weightDecay: 0.2 }, 0.01],
    ['SGD-momentum + weight decay', { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 }, constantScheduleRate({ kind: 'sgd', momentum: 0.9 }, 0.1)],
    ['SGD-momentum 0 (plain SGD)', { kind: 'sgd', momentum: 0, weightDecay: 0.01 }, 0.05],
  ];
  for (const [label, cfg, lr] of configs) {
    it(`${label}: 7 steps, tensors of 1, 33 and 100003 values, 0/1/2/3 threads`, { timeout: 60_000 }, () => {
      const k = kernelSettings(cfg);
      const r = createRng(21);
      for (const n of [1, 33, 100_003]) {
        const p0 = edgeVector(r, n, 0.3);
        const ts = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
        const nat = [0, 1, 2, 3].map((threads) => ({ threads, p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) }));
        for (let t = 1; t <= 7; t++) {
          const g = edgeVector(r, n, t === 4 ? 1e-22 : 0.05); // step 4: tiny gradients (subnormal v)
          adamwKernelUpdate(k, t, lr, ts.p, g, ts.m, ts.v);
          const s = adamwScalars(k, t, lr);
          for (const x of nat) {
            addon.adamwUpdate(x.p, g, x.m, x.v, s, x.threads);
            expect(firstDiff(x.p, ts.p)).toBe(-1);
            expect(firstDiff(x.m, ts.m)).toBe(-1);
            expect(firstDiff(x.v, ts.v)).toBe(-1);
          }
        }
      }
    });
  }

  it('HostOptimizer picks the addon by default and matches the TypeScript path with accumulation and resume', () => {
    const r = createRng(3);
    const sizes = [4096, 70_000, 9];
    const init = sizes.map((n) => edgeVector(r, n, 0.2));
    const make = (backend: 'auto' | 'ts', threads = 0) => {
      const params = init.map((p) => p.slice());
      const h = new HostOptimizer({ kind: 'adamw', weightDecay: 0.01 }, { kind: 'multistep', lr: 0.01, milestones: [2], gamma: 0.5 },
        params.map((param, i) => ({ name: `p${i}`, dims: [param.length], param })), undefined, { backend, threads });
      return { h, params };
    };
    const a = make('auto', 2), b = make('ts');
    expect(a.h.backend).toBe('native');
    expect(a.h.backendReason).toMatch(/2 thread/);
    expect(b.h.backend).toBe('ts');
    for (let u = 0; u < 4; u++) {
      for (let micro = 0; micro < 2; micro++) {
        const grads = Object.fromEntries(sizes.map((n, i) => [`p${i}`, edgeVector(r, n, 0.1)]));
        a.h.accumulate(grads, micro === 0);
        b.h.accumulate(grads, micro === 0);
      }
      a.h.update();
      b.h.update();
    }
    for (let i = 0; i < sizes.length; i++) expect(firstDiff(a.params[i], b.params[i])).toBe(-1);
    const ga = a.h.toOptimizerGroup(), gb = b.h.toOptimizerGroup();
    expect(ga.step).toBe(gb.step);
    ga.states.forEach((st, i) => st.momentums.forEach((mo, j) => expect(firstDiff(mo.data, gb.states[i].momentums[j].data)).toBe(-1)));
  });

  it('rejects bad arguments with its one error (a TypeError, code KQKD_INVALID_ARGUMENT, naming the argument), buffers untouched', () => {
    const k = kernelSettings({ kind: 'adamw' });
    const s = adamwScalars(k, 1, 0.001);
    const p = new Float32Array(8).fill(1), g = new Float32Array(8).fill(0.5), m = new Float32Array(8), v = new Float32Array(8);
    /** The error the addon throws for these arguments: its class, code, argument and message. */
    const thrown = (...args: unknown[]) => {
      try {
        (addon.adamwUpdate as (...a: unknown[]) => void)(...args);
      } catch (e) {
        const err = e as TypeError & { code?: string; argument?: string };
        return { type: err.constructor.name, code: err.code, argument: err.argument, message: err.message };
      }
      return undefined;
    };
    const refused = (argument: string, message: string) => ({ type: 'TypeError', code: 'KQKD_INVALID_ARGUMENT', argument, message });
    expect(thrown(p, g, m, v, s)).toEqual(refused('threads', 'Expected an integer in [0, 1024] for threads but received undefined')); // missing threads
    expect(thrown(p, new Float64Array(8), m, v, s, 0)).toEqual(refused('grad', 'Expected a Float32Array for grad but received Float64Array(8)'));
    expect(thrown(p, g, m, [0, 0, 0, 0, 0, 0, 0, 0], s, 0)).toEqual(refused('v', 'Expected a Float32Array for v but received Array(8)'));
    expect(thrown(p, g, m, v, null, 0)).toEqual(refused('scalars', 'Expected an object for scalars but received null'));
    expect(thrown(p, g, m, v, { ...s, lrCorrected: '0.1' }, 0))
      .toEqual(refused('scalars.lrCorrected', 'Expected a finite float32 number for scalars.lrCorrected but received "0.1" of type string'));
    expect(thrown(p, g, m, v, { ...s, epsilon: undefined }, 0))
      .toEqual(refused('scalars.epsilon', 'Expected a finite float32 number for scalars.epsilon but received undefined'));
    expect(thrown(p, g, m, v, s, 1.5)).toEqual(refused('threads', 'Expected an integer in [0, 1024] for threads but received 1.5 of type number'));
    expect(thrown(p, new Float32Array(7), m, v, s, 0)).toEqual(refused('grad', 'Expected a Float32Array of 8 values for grad but received Float32Array(7)'));
    expect(thrown(p, g, m, new Float32Array(9), s, 0)).toEqual(refused('v', 'Expected a Float32Array of 8 values for v but received Float32Array(9)'));
    expect(thrown(p, g, m, v, { ...s, lrCorrected: NaN }, 0))
      .toEqual(refused('scalars.lrCorrected', 'Expected a finite float32 number for scalars.lrCorrected but received NaN of type number'));
    expect(thrown(p, g, m, v, { ...s, lrWeightDecay: Infinity }, 0))
      .toEqual(refused('scalars.lrWeightDecay', 'Expected a finite float32 number for scalars.lrWeightDecay but received Infinity of type number'));
    expect(thrown(p, g, m, v, { ...s, alpha: 1e300 }, 0)) // finite double, not a float32
      .toEqual(refused('scalars.alpha', 'Expected a finite float32 number for scalars.alpha but received 1e+300 of type number'));
    expect(thrown(p, g, m, v, { ...s, adamMode: 2 }, 0))
      .toEqual(refused('scalars.adamMode', 'Expected an integer in [0, 1] for scalars.adamMode but received 2 of type number'));
    expect(thrown(p, g, m, v, s, -1)).toEqual(refused('threads', 'Expected an integer in [0, 1024] for threads but received -1 of type number'));
    const shared = new Float32Array(16);
    expect(thrown(shared.subarray(0, 8), shared.subarray(4, 12), m, v, s, 0)) // overlapping views
      .toEqual(refused('grad', 'Expected an array that does not overlap param for grad but received a view sharing memory with param'));
    expect(thrown(p, g, m, m, s, 0)).toEqual(refused('v', 'Expected an array that does not overlap m for v but received a view sharing memory with m'));
    expect(Array.from(p)).toEqual(new Array(8).fill(1));
    expect(Array.from(m)).toEqual(new Array(8).fill(0));
    expect(thrown(new Float32Array(0), new Float32Array(0), new Float32Array(0), new Float32Array(0), s, 0)).toBeUndefined();
  });
});

describe('HostOptimizer backend choice', () => {
  it('backend "ts" keeps the TypeScript loop; bad options are rejected', () => {
    const param = new Float32Array(3);
    const h = new HostOptimizer({ kind: 'adamw' }, { kind: 'constant', lr: 0.01 }, [{ name: 'p', dims: [3], param }], undefined, { backend: 'ts' });
    expect(h.backend).toBe('ts');
    expect(() => new HostOptimizer({ kind: 'adamw' }, { kind: 'constant', lr: 0.01 }, [{ name: 'p', dims: [3], param }], undefined,
      { threads: -1 })).toThrow();
    expect(() => new HostOptimizer({ kind: 'adamw' }, { kind: 'constant', lr: 0.01 }, [{ name: 'p', dims: [3], param }], undefined,
      { backend: 'gpu' as 'ts' })).toThrow();
  });
});

describe.skipIf(!native.addon)('HostOptimizer checks what it hands the addon first (a KqkdError naming it; adamwUpdate never called)', () => {
  const schedule = (lr: number): LrSchedule => ({ kind: 'constant', lr });
  /** The KqkdError `run` throws (argument and message), with the number of adamwUpdate calls made meanwhile. */
  const refusal = (run: () => void) => {
    const spy = spies.spyOn(native.addon!, 'adamwUpdate');
    try {
      run();
      return undefined;
    } catch (e) {
      expect(e).toBeInstanceOf(KqkdError);
      return { argument: (e as KqkdError).argument, message: (e as KqkdError).message, addonCalls: spy.mock.calls.length };
    } finally {
      spy.mockRestore();
    }
  };

  it('a rate that overflows float32: scalars.lrCorrected, parameters untouched', () => {
    const param = new Float32Array(3).fill(1);
    const h = new HostOptimizer({ kind: 'adamw' }, schedule(1e39), [{ name: 'p', dims: [3], param }], undefined, { backend: 'native' });
    h.accumulate({ p: new Float32Array(3).fill(0.5) }, true);
    expect(refusal(() => h.update())).toEqual({
      argument: 'scalars.lrCorrected', addonCalls: 0,
      message: 'Expected a finite float32 number for scalars.lrCorrected but received Infinity of type number',
    });
    expect(Array.from(param)).toEqual([1, 1, 1]);
    const ok = adamwScalars(kernelSettings({ kind: 'adamw' }), 1, 0.01);
    expect(() => checkAdamwScalars(ok)).not.toThrow();
    expect(() => checkAdamwScalars({ ...ok, adamMode: 2 as 1 })).toThrow('Expected 0 or 1 for scalars.adamMode but received 2 of type number');
    expect(() => checkAdamwScalars({ ...ok, epsilon: NaN })).toThrow('Expected a finite float32 number for scalars.epsilon but received NaN of type number');
  });

  it('a borrowed gradient that overlaps its parameter, and a parameter that is not a Float32Array', () => {
    const shared = new Float32Array(8);
    const h = new HostOptimizer({ kind: 'adamw' }, schedule(0.01), [{ name: 'p', dims: [4], param: shared.subarray(0, 4) }], undefined, { backend: 'native' });
    expect(refusal(() => h.accumulate({ p: shared.subarray(2, 6) }, true, true))).toEqual({
      argument: 'gradients["p"]', addonCalls: 0,
      message: 'Expected an array that does not overlap its parameter for gradients["p"] but received a view sharing memory with it',
    });
    h.accumulate({ p: shared.subarray(4, 8) }, true, true); // the other half: no overlap, accepted
    expect(refusal(() => new HostOptimizer({ kind: 'adamw' }, schedule(0.01), [{ name: 'p', dims: [4], param: new Float64Array(4) as unknown as Float32Array }],
      undefined, { backend: 'native' }))).toEqual({
      argument: 'slots[0].param', addonCalls: 0, message: 'Expected a Float32Array for slots[0].param but received Float64Array(4)',
    });
  });
});
