/**
 * TrainingSession on a hand-built linear regression (Gemm + MSE, standard-op gradients, InPlaceAccumulatorV2):
 * one AdamW / SGD step against closed forms in float64, the in-graph LR schedule, exact resume from a checkpoint
 * written with the host optimizer-state mirror, and readable errors.
 */
import { describe, expect, it } from 'vitest';
import {
  OptimizerStateMirror, adamwKernelUpdate, buildOptimizerModel, checkpointWithState, constantScheduleRate, gradientOutputName,
  kernelSettings, learningRateAt, parameterLayout, readCheckpoint, writeCheckpoint,
  type LrSchedule, type OptimizerConfig,
} from '../src/index.js';
import { RuntimeError, type TrainingSession } from '@kqkd/runtime';
import {
  B0, D, N, O, W0, batch, closedFormGradient, evalModel, expectClose, initialCheckpoint, open, trainingModel,
} from './linreg.js';

describe('TrainingSession on a hand-built linear regression', () => {
  it('exposes names, parameter count and parameters in training-model input order', async () => {
    const s = await open({ kind: 'adamw' }, { kind: 'constant', lr: 0.01 });
    try {
      expect(s.trainingInputNames).toEqual(['x', 'y']);
      expect(s.trainingOutputNames).toEqual(['loss', 'W.gradient', 'b.gradient']);
      expect(s.evalOutputNames).toEqual(['loss', 'pred']);
      expect(s.parameterCount).toBe(O * D + O);
      expect(Array.from(await s.getParameters())).toEqual([...W0, ...B0]);
      const b = batch(1);
      const out = await s.trainStep(b);
      const g = closedFormGradient(await s.getParameters(), b);
      expectClose(Float32Array.from([...out['W.gradient'].data, ...out['b.gradient'].data]), g, 1e-5);
      const ev = await s.evalStep(b);
      expect(ev.loss.data[0]).toBeCloseTo(out.loss.data[0], 6);
      expect(ev.pred.shape).toEqual([N, O]);
    } finally {
      await s.release();
    }
  });

  it('one AdamW step matches the closed-form update (float64) within float32 tolerance', async () => {
    const lr = 0.01, wd = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const s = await open({ kind: 'adamw', beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd }, { kind: 'constant', lr });
    try {
      const b = batch(2);
      const p0 = await s.getParameters();
      await s.lazyResetGrad();
      await s.trainStep(b);
      await s.optimizerStep();
      const p1 = await s.getParameters();
      const g = closedFormGradient(p0, b);
      const expected = new Float64Array(p0.length);
      for (let i = 0; i < p0.length; i++) {
        const m = (1 - b1) * g[i], v = (1 - b2) * g[i] * g[i];
        const lrc = (lr * Math.sqrt(1 - b2)) / (1 - b1); // step 1, Hugging Face bias correction (adam_mode 1)
        const w = p0[i] - (lrc * m) / (Math.sqrt(v) + eps);
        expected[i] = w - lr * wd * w;
      }
      expectClose(p1, expected);
      expect(Math.max(...p1.map((v, i) => Math.abs(v - p0[i])))).toBeGreaterThan(0.009); // it moved ~lr
    } finally {
      await s.release();
    }
  });

  it('one SGD step (momentum 0.9, weight decay 0.1) matches (p − lr·g)·(1 − lr·wd)', async () => {
    const lr = 0.05, wd = 0.1;
    const s = await open({ kind: 'sgd', momentum: 0.9, weightDecay: wd }, { kind: 'constant', lr });
    try {
      const b = batch(3);
      const p0 = await s.getParameters();
      await s.trainStep(b);
      await s.optimizerStep();
      const p1 = await s.getParameters();
      const g = closedFormGradient(p0, b);
      expectClose(p1, Float64Array.from(p0, (p, i) => (p - lr * g[i]) * (1 - lr * wd)));
    } finally {
      await s.release();
    }
  });

  it('SGD momentum accumulates across steps like torch.optim.SGD (buffer b = μ·b + g)', async () => {
    const lr = 0.05, mu = 0.9;
    const s = await open({ kind: 'sgd', momentum: mu }, { kind: 'constant', lr });
    try {
      const p = Float64Array.from(await s.getParameters());
      const buf = new Float64Array(p.length);
      for (let k = 0; k < 3; k++) {
        const b = batch(10 + k);
        const g = closedFormGradient(await s.getParameters(), b);
        await s.lazyResetGrad();
        await s.trainStep(b);
        await s.optimizerStep();
        for (let i = 0; i < p.length; i++) { buf[i] = mu * buf[i] + g[i]; p[i] -= lr * buf[i]; }
      }
      expectClose(await s.getParameters(), p, 1e-5);
    } finally {
      await s.release();
    }
  });

  it('applies the one-cycle schedule in the optimizer graph: lr(t) recovered from plain SGD updates', async () => {
    const schedule: LrSchedule = { kind: 'one-cycle', maxLr: 0.1, totalSteps: 10 };
    const s = await open({ kind: 'sgd', momentum: 0 }, schedule);
    try {
      for (let t = 0; t < 10; t++) {
        const b = batch(20 + t);
        const before = await s.getParameters();
        await s.lazyResetGrad();
        const out = await s.trainStep(b);
        await s.optimizerStep();
        const after = await s.getParameters();
        const g = out['W.gradient'].data;
        const i = g.reduce((best, v, j) => (Math.abs(v) > Math.abs(g[best]) ? j : best), 0);
        const lr = (before[i] - after[i]) / g[i];
        // recovering lr from a float32 parameter difference costs about 2 ulp of the parameter
        const measurement = (2 * Math.abs(before[i]) * 2 ** -23) / Math.abs(g[i]);
        expect(Math.abs(lr - learningRateAt(schedule, t))).toBeLessThan(1e-5 * learningRateAt(schedule, t) + measurement);
      }
    } finally {
      await s.release();
    }
  });

  for (const [label, optimizer] of [
    ['AdamW', { kind: 'adamw', weightDecay: 0.01 }],
    ['SGD', { kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }],
  ] as [string, OptimizerConfig][]) {
    it(`${label}: N steps uninterrupted = K steps, checkpoint with mirrored moments, new session, N − K steps (bit-identical)`, async () => {
      const schedule: LrSchedule = { kind: 'one-cycle', maxLr: 0.05, totalSteps: 12 };
      const Nsteps = 12, K = 5;
      const layout = parameterLayout(trainingModel(), readCheckpoint(initialCheckpoint()));
      const run = async (s: TrainingSession, mirror: OptimizerStateMirror, from: number, to: number) => {
        for (let t = from; t < to; t++) {
          await s.lazyResetGrad();
          mirror.resetGradients();
          mirror.recordTrainStep(await s.trainStep(batch(100 + t)));
          await s.optimizerStep();
          mirror.recordOptimizerStep();
        }
      };
      const a = await open(optimizer, schedule);
      const mirrorA = new OptimizerStateMirror(optimizer, layout);
      await run(a, mirrorA, 0, Nsteps);
      const uninterrupted = await a.getParameters();
      await a.release();

      const b = await open(optimizer, schedule);
      const mirrorB = new OptimizerStateMirror(optimizer, layout);
      await run(b, mirrorB, 0, K);
      const saved = checkpointWithState(readCheckpoint(initialCheckpoint()), layout, await b.getParameters(), mirrorB);
      await b.release();

      const restored = readCheckpoint(saved);
      expect(restored.optimizer?.step).toBe(K);
      expect(restored.properties?.strings).toEqual([{ name: 'model', value: 'linreg' }]);
      const c = await open(optimizer, schedule, saved);
      const mirrorC = new OptimizerStateMirror(optimizer, layout, restored.optimizer);
      await run(c, mirrorC, K, Nsteps);
      const resumed = await c.getParameters();
      await c.release();
      expect(Buffer.from(resumed.buffer).equals(Buffer.from(uninterrupted.buffer))).toBe(true);

      // Without the mirrored moments (fresh optimizer state) the run diverges: the test can fail.
      const d = await open(optimizer, schedule, writeCheckpoint({ trainable: restored.trainable }));
      await run(d, new OptimizerStateMirror(optimizer, layout), K, Nsteps);
      const naive = await d.getParameters();
      await d.release();
      expect(Buffer.from(naive.buffer).equals(Buffer.from(uninterrupted.buffer))).toBe(false);
    });
  }

  it('measures the host-side optimizer against ORT\'s own update (constant rate, 20 AdamW steps)', async () => {
    const optimizer: OptimizerConfig = { kind: 'adamw', weightDecay: 0.01 };
    const s = await open(optimizer, { kind: 'constant', lr: 0.01 });
    try {
      const k = kernelSettings(optimizer);
      const lr = constantScheduleRate(optimizer, 0.01);
      const layout = parameterLayout(trainingModel(), readCheckpoint(initialCheckpoint()));
      const host = await s.getParameters();
      const m = new Float32Array(host.length), v = new Float32Array(host.length);
      for (let t = 0; t < 20; t++) {
        await s.lazyResetGrad();
        const out = await s.trainStep(batch(200 + t));
        await s.optimizerStep();
        for (const slot of layout) {
          const r = [slot.offset, slot.offset + slot.size] as const;
          adamwKernelUpdate(k, t + 1, lr, host.subarray(...r), out[gradientOutputName(slot.name)].data, m.subarray(...r), v.subarray(...r));
        }
        // gradients of the next step come from ORT's parameters; keep the host copy honest only through the update
      }
      const ort = await s.getParameters();
      const maxUlp = Math.max(...Array.from(ort, (x, i) => Math.abs(new Int32Array(Float32Array.of(x).buffer)[0]
        - new Int32Array(Float32Array.of(host[i]).buffer)[0])));
      expect(maxUlp).toBe(0);
    } finally {
      await s.release();
    }
  });
});
