/**
 * Gradient accumulation across steps, through the real onnxruntime-web training build: two `trainStep`s on the two
 * halves of a batch without `lazyResetGrad` in between, then one `optimizerStep`, is one update with the SUMMED
 * gradient (InPlaceAccumulatorV2 adds into `<p>_grad.accumulation.buffer`); and the OptimizerStateMirror follows it,
 * which is checked where it matters: a checkpoint written with the mirror after accumulated steps resumes bit-exactly.
 */
import { describe, expect, it } from 'vitest';
import {
  OptimizerStateMirror, buildTrainingGraphs, checkpointWithState, parameterLayout, readCheckpoint, writeCheckpoint,
  type LrSchedule, type OptimizerConfig,
} from '../src/index.js';
import { GraphBuilder } from '@kqkd/onnx';
import type { TrainingSession } from '@kqkd/runtime';
import { N, batch, closedFormGradient, expectClose, initialCheckpoint, open, part, trainingModel, type Batch } from './linreg.js';

const HALF = N / 2;
/** Model for a half batch (loss = mean over its 4 rows) and for the full batch with loss = SUM of the halves' losses. */
const halfModel = () => trainingModel(HALF, 1);
const summedModel = () => trainingModel(N, 2);

/** One optimizer update from the two halves of `b`, accumulated (no reset between them) unless `resetBetween`. */
async function accumulatedUpdate(s: TrainingSession, b: Batch, resetBetween = false): Promise<void> {
  await s.lazyResetGrad();
  await s.trainStep(part(b, 0, 2));
  if (resetBetween) await s.lazyResetGrad();
  await s.trainStep(part(b, 1, 2));
  await s.optimizerStep();
}

const maxAbsDiff = (a: Float32Array, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

describe('gradient accumulation across train steps (ORT web training build)', () => {
  it('SGD: two accumulated half-batch steps + one update = p − lr·(g₁ + g₂) (float64 closed form)', async () => {
    const lr = 0.05;
    const s = await open({ kind: 'sgd', momentum: 0 }, { kind: 'constant', lr }, initialCheckpoint(), halfModel());
    try {
      const b = batch(31);
      const p0 = await s.getParameters();
      await accumulatedUpdate(s, b);
      const g1 = closedFormGradient(p0, part(b, 0, 2)), g2 = closedFormGradient(p0, part(b, 1, 2));
      // the summed gradient of the halves is the gradient of the summed loss on the whole batch
      expectClose(Float32Array.from(closedFormGradient(p0, b, 2)), Float64Array.from(g1, (v, i) => v + g2[i]), 1e-12);
      // Tolerance 2e-6 relative (+1e-7 absolute): the parameters are O(1) and the float32 result carries rounding of
      // the forward/backward (a few ulp of 2^-24 ≈ 6e-8 each, ~10 operations deep) plus the final subtraction.
      expectClose(await s.getParameters(), Float64Array.from(p0, (p, i) => p - lr * (g1[i] + g2[i])));
      // lr·|g| is ≫ the tolerance, so an update with one half only would fail the check above
      expect(Math.max(...Array.from(g1, (v) => lr * Math.abs(v)))).toBeGreaterThan(1e-3);
    } finally {
      await s.release();
    }
  });

  it('AdamW: 3 accumulated updates equal 3 updates of the summed-loss model; resetting between halves does not', async () => {
    const optimizer: OptimizerConfig = { kind: 'adamw', weightDecay: 0.01 };
    const schedule: LrSchedule = { kind: 'constant', lr: 0.01 };
    const batches = [0, 1, 2].map((t) => batch(40 + t));
    const run = async (training: Uint8Array, step: (s: TrainingSession, b: Batch) => Promise<void>) => {
      const s = await open(optimizer, schedule, initialCheckpoint(), training);
      try {
        for (const b of batches) await step(s, b);
        return await s.getParameters();
      } finally {
        await s.release();
      }
    };
    const p0 = readCheckpoint(initialCheckpoint()).trainable.flatMap((t) => Array.from(t.data));
    const accumulated = await run(halfModel(), (s, b) => accumulatedUpdate(s, b));
    const summed = await run(summedModel(), async (s, b) => { await s.lazyResetGrad(); await s.trainStep(b); await s.optimizerStep(); });
    const lastHalfOnly = await run(halfModel(), (s, b) => accumulatedUpdate(s, b, true));
    // Float32 tolerance 1e-6 absolute on O(1) parameters (≈ 16 ulp at 0.5): the two graphs compute the same gradient
    // with a different summation order (one 8-row Gemm/ReduceSum vs two 4-row ones + InPlaceAccumulatorV2), i.e. a
    // few ulp of the gradient; AdamW divides m by √v, so a relative gradient error δ moves each update (≈ lr) by
    // about lr·δ ≪ 1 ulp, and 3 updates stay well inside 1e-6 (measured: 1.9e-9, 1 ulp of the smallest weight).
    const tol = 1e-6;
    expect(maxAbsDiff(accumulated, summed)).toBeLessThanOrEqual(tol);
    expect(maxAbsDiff(accumulated, p0)).toBeGreaterThan(0.02); // the parameters moved (3 updates of ≈ lr)
    expect(maxAbsDiff(lastHalfOnly, summed)).toBeGreaterThan(100 * tol); // without accumulation: a different result
  });

  for (const [label, optimizer] of [
    ['AdamW', { kind: 'adamw', weightDecay: 0.01 }],
    ['SGD', { kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }],
  ] as [string, OptimizerConfig][]) {
    it(`${label}: the mirror follows accumulation — 8 accumulated updates = 3, checkpoint with the mirror, resume, 5 (bit-identical)`, async () => {
      const schedule: LrSchedule = { kind: 'one-cycle', maxLr: 0.05, totalSteps: 8 };
      const Nsteps = 8, K = 3;
      const layout = parameterLayout(halfModel(), readCheckpoint(initialCheckpoint()));
      /** `mirrorResetsEachTrainStep` = a mirror that does NOT follow accumulation (it keeps only the last half). */
      const run = async (s: TrainingSession, mirror: OptimizerStateMirror, from: number, to: number, mirrorResetsEachTrainStep = false) => {
        for (let t = from; t < to; t++) {
          const b = batch(300 + t);
          await s.lazyResetGrad();
          for (let k = 0; k < 2; k++) {
            if (k === 0 || mirrorResetsEachTrainStep) mirror.resetGradients();
            mirror.recordTrainStep(await s.trainStep(part(b, k, 2)));
          }
          await s.optimizerStep();
          mirror.recordOptimizerStep();
        }
      };
      const session = (checkpoint = initialCheckpoint()) => open(optimizer, schedule, checkpoint, halfModel());
      const base = readCheckpoint(initialCheckpoint());

      const a = await session();
      await run(a, new OptimizerStateMirror(optimizer, layout), 0, Nsteps);
      const uninterrupted = await a.getParameters();
      await a.release();

      const resumeAfter = async (mirrorResetsEachTrainStep: boolean) => {
        const b = await session();
        const mirrorB = new OptimizerStateMirror(optimizer, layout);
        await run(b, mirrorB, 0, K, mirrorResetsEachTrainStep);
        const saved = checkpointWithState(base, layout, await b.getParameters(), mirrorB);
        await b.release();
        const restored = readCheckpoint(saved);
        expect(restored.optimizer?.step).toBe(K);
        const c = await session(saved);
        await run(c, new OptimizerStateMirror(optimizer, layout, restored.optimizer), K, Nsteps);
        const resumed = await c.getParameters();
        await c.release();
        return resumed;
      };
      const resumed = await resumeAfter(false);
      expect(Buffer.from(resumed.buffer).equals(Buffer.from(uninterrupted.buffer))).toBe(true);

      // Controls, so the test can fail: moments from a mirror that ignores accumulation, or fresh moments, diverge.
      const wrongMirror = await resumeAfter(true);
      expect(Buffer.from(wrongMirror.buffer).equals(Buffer.from(uninterrupted.buffer))).toBe(false);
      const bFresh = await session();
      const mFresh = new OptimizerStateMirror(optimizer, layout);
      await run(bFresh, mFresh, 0, K);
      const fresh = await session(writeCheckpoint({ trainable: readCheckpoint(checkpointWithState(base, layout, await bFresh.getParameters(), mFresh)).trainable }));
      await bFresh.release();
      await run(fresh, new OptimizerStateMirror(optimizer, layout), K, Nsteps);
      const naive = await fresh.getParameters();
      await fresh.release();
      expect(Buffer.from(naive.buffer).equals(Buffer.from(uninterrupted.buffer))).toBe(false);
    });
  }
});

describe('buildTrainingGraphs lossScale (the seed for mean-of-micro-batches accumulation)', () => {
  const forward = () => {
    const g = new GraphBuilder({ seed: 5 });
    const x = g.input('x', [4, 3]);
    const logits = g.gemm(x, 2, 'fc');
    const loss = g.softmaxCrossEntropy(logits, g.int64Constant('labels', [0, 1, 1, 0]), { name: 'loss' });
    return { g, loss };
  };
  const seedOf = (graphs: ReturnType<typeof buildTrainingGraphs>) => {
    const t = graphs.trainingModel.graph!.initializer!.find((i) => i.name === 'loss_grad')!;
    return Array.from(new Float32Array(new Uint8Array(t.rawData!).slice().buffer));
  };

  it('sets the loss-gradient seed; default 1', () => {
    const { g, loss } = forward();
    expect(seedOf(buildTrainingGraphs({ model: g, loss }))).toEqual([1]);
    const f = forward();
    expect(seedOf(buildTrainingGraphs({ model: f.g, loss: f.loss, lossScale: 0.25 }))).toEqual([0.25]);
  });

  it('rejects a non-positive or non-finite scale', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const { g, loss } = forward();
      expect(() => buildTrainingGraphs({ model: g, loss, lossScale: bad })).toThrow(/lossScale/);
    }
  });
});
