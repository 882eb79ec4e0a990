/**
 * The native backend's host optimizer: bit-identical to the web-training backend's ORT optimizer (the AdamW kernel
 * in the training wasm, fed by the optimizer graph's in-graph schedule) over many steps with accumulation, and equal
 * to the float64 closed forms of AdamW and SGD-momentum within float32 rounding.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '@kqkd/common';
import {
  adamwKernelUpdate, buildOptimizerModel, constantScheduleRate, gradientOutputName, kernelSettings, learningRateAt, writeCheckpoint,
  type LrSchedule, type OptimizerConfig,
} from '@kqkd/autodiff';
import { encodeModel, type NodeProto, type TensorProto, type ValueInfoProto } from '@kqkd/onnx';
import { createTrainingSession } from '@kqkd/runtime';
import { HostOptimizer, adamwUpdate, scheduleRate } from '../src/index.js';

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
  it('adamwUpdate is adamwKernelUpdate (autodiff\'s ORT-kernel emulation), bit for bit', () => {
    for (const cfg of [{ kind: 'adamw', weightDecay: 0.02 }, { kind: 'sgd', momentum: 0.8, weightDecay: 0.01 }] as OptimizerConfig[]) {
      const k = kernelSettings(cfg);
      const r = createRng(5);
      const p = Float32Array.from({ length: 1000 }, () => r.nextNormal());
      const m = new Float32Array(1000), v = new Float32Array(1000);
      const p2 = p.slice(), m2 = m.slice(), v2 = v.slice();
      for (let t = 1; t <= 5; t++) {
        const g = Float32Array.from({ length: 1000 }, () => r.nextNormal());
        adamwKernelUpdate(k, t, 0.01, p, g, m, v);
        adamwUpdate(k, t, 0.01, p2, g, m2, v2);
      }
      expect(p2).toEqual(p);
      expect(m2).toEqual(m);
      expect(v2).toEqual(v);
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
