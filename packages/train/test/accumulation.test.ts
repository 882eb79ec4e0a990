/**
 * Gradient accumulation in the training loop (`accumulationSteps`), on the real ONNX Runtime training build and a few
 * hundred Fashion-MNIST images: A micro-batches of B equal one batch of A·B (no BatchNorm), the micro-batch/step
 * bookkeeping, and exact resume with accumulation.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRunState, train, type RunState, type TrainBackend, type TrainOptions, type TrainProgress } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-accumulation-'));
let dirs = 0;
const fresh = () => join(root, `run${dirs++}`);

const flat = (s: RunState, which: 'trainable' | 'moments') => (which === 'trainable'
  ? s.trainable.map((t) => [t.name, t.data] as const)
  : s.moments.flatMap((m) => m.momentums.map((t) => [`${m.paramName}/${t.name}`, t.data] as const)));
const maxAbsDiff = (a: RunState, b: RunState, which: 'trainable' | 'moments') => {
  const fb = new Map(flat(b, which));
  let max = 0;
  for (const [name, d] of flat(a, which)) {
    const e = fb.get(name)!;
    expect(e.length, name).toBe(d.length);
    for (let i = 0; i < d.length; i++) max = Math.max(max, Math.abs(d[i] - e[i]));
  }
  return max;
};

describe('accumulationSteps = 2 with batch B equals batch 2B (no BatchNorm)', () => {
  // BatchNorm is switched off on purpose: training-mode BN normalises with the statistics of the batch it sees, so
  // two micro-batches of B are normalised with two different means/variances, while a batch of 2B uses one — the
  // forward pass itself differs, by construction, not by rounding. Without BN every sample's loss depends only on
  // that sample, and the mean gradient over 2B = the mean of the two micro-batch mean gradients.
  const base = (runDir: string, batchSize: number, accumulationSteps: number, optimizer: TrainOptions['optimizer']): TrainOptions => ({
    modelSpec: { name: 'small-cnn', widths: [4, 8], batchNorm: false },
    dataset: { name: 'fashion-mnist', trainLimit: 300, testLimit: 100 },
    epochs: 1, batchSize, accumulationSteps, evalBatchSize: 100, optimizer, schedule: 'one-cycle', seed: 11, runDir,
  });

  for (const optimizer of [{ type: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 0.01 }, { type: 'adamw', lr: 0.01 }] as const) {
    it(`${optimizer.type}: same parameters, moments, step, lr and train loss within float32 tolerance`, async () => {
      const starts: TrainProgress[] = [];
      const dA = fresh(), dB = fresh(), dC = fresh();
      const rA = await train({ ...base(dA, 16, 2, optimizer), onProgress: (e) => { if (e.kind === 'start') starts.push(e); } });
      await train(base(dB, 32, 1, optimizer));
      const a = loadRunState(dA)!, b = loadRunState(dB)!;
      // 300 images: ⌊300 / 32⌋ = 9 optimizer steps of 2 micro-batches of 16 in both runs, the same 12 images dropped.
      expect(starts[0]).toMatchObject({ stepsPerEpoch: 9, batchesPerEpoch: 18, batchSize: 16, accumulationSteps: 2, droppedPerEpoch: 12 });
      expect(rA).toMatchObject({ batchSize: 16, accumulationSteps: 2, droppedPerEpoch: 12 });
      expect(a.step).toBe(9);
      expect(b.step).toBe(9);
      // The schedule counts optimizer steps: the last update's learning rate is the same in both runs.
      expect(a.history[0].lr).toBe(b.history[0].lr);
      // Float32 tolerance. The micro-batch gradient is exactly half of a 16-sample mean gradient (seed 1/2, a power
      // of two) and the 32-sample mean is the same per-sample terms /32, so the only difference is the summation
      // order of the per-sample terms inside the weight-gradient reductions (one 32-term sum vs two 16-term sums + the
      // InPlaceAccumulatorV2 add): a few ulp of the gradient per step (|g| ≤ ~1, ulp ≈ 6e-8 relative), carried through
      // 9 steps of lr ≤ 0.05 — measured: 6e-8 on the weights, 3e-8 on the moments (≈ 1 ulp). 1e-6 absolute on
      // O(0.1–1) weights leaves room for other thread counts/kernels, and is far below what the run changes: without
      // the 1/A loss scale the weights differ by 0.42 (SGD) / 1.3e-4 (AdamW), and the batch-16 control below by ≥ 0.06.
      const tol = 1e-6;
      expect(maxAbsDiff(a, b, 'trainable')).toBeLessThanOrEqual(tol);
      expect(maxAbsDiff(a, b, 'moments')).toBeLessThanOrEqual(tol);
      // Reported loss: the mean of the 18 micro-batch means = the mean of the 9 batch means (equal sizes).
      expect(Math.abs(a.history[0].trainLoss - b.history[0].trainLoss)).toBeLessThan(1e-6);

      // Control: batch 16 without accumulation (18 steps of 16) is far from both.
      await train(base(dC, 16, 1, optimizer));
      const c = loadRunState(dC)!;
      expect(c.step).toBe(18);
      expect(maxAbsDiff(a, c, 'trainable')).toBeGreaterThan(100 * tol);
    }, 120_000);
  }
});

describe('accumulationSteps: exact resume and bookkeeping', () => {
  const base = (runDir: string): TrainOptions => ({
    modelSpec: { name: 'small-cnn', widths: [4, 8] }, // with BatchNorm: statistics are updated every micro-batch
    dataset: { name: 'fashion-mnist', trainLimit: 200, testLimit: 100 },
    epochs: 3, batchSize: 16, accumulationSteps: 2, evalBatchSize: 100,
    optimizer: { type: 'adamw', lr: 0.01 }, schedule: 'one-cycle', seed: 5, runDir,
  });
  const bytes = (s: RunState) => [...s.trainable, ...s.frozen, ...s.moments.flatMap((m) => m.momentums.map((t) => ({ ...t, name: `${m.paramName}/${t.name}` })))]
    .map((t) => [t.name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')]);
  const stable = (s: RunState) => s.history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);

  it('stopped after epoch 1 and resumed = uninterrupted, bit for bit (parameters, BN statistics, moments, metrics)', async () => {
    const full = fresh(), part = fresh();
    const r = await train(base(full));
    expect(r).toMatchObject({ completedEpochs: 3, droppedPerEpoch: 200 - 6 * 32, accumulationSteps: 2 });
    const a = loadRunState(full)!;
    expect(a.step).toBe(18); // 6 optimizer steps (12 micro-batches) per epoch
    expect((await train({ ...base(part), stopAfterEpochs: 1 })).partial).toBe(true);
    expect(loadRunState(part)!.step).toBe(6);
    await train(base(part));
    const b = loadRunState(part)!;
    expect(b.step).toBe(a.step);
    expect(b.rngState).toEqual(a.rngState);
    expect(bytes(b)).toEqual(bytes(a));
    expect(stable(b)).toEqual(stable(a));
    // and the accumulated run is not the same as the plain one with batch 16
    await expect(train({ ...base(full), accumulationSteps: 1 })).rejects.toThrow(/which holds train outputs of config/);
  }, 120_000);

  it('calls the backend with micro-batch indices, counts optimizer steps, drops what does not fill a step', async () => {
    const calls: { index: number; of: number }[] = [];
    let steps = 0;
    const fake = async (): Promise<TrainBackend> => ({
      batchSize: 32,
      accumulationSteps: 4,
      step: async (_x, _y, micro = { index: 0, of: 1 }) => { calls.push(micro); if (micro.index === micro.of - 1) steps++; return 1; },
      evalLogits: async (_x: Float32Array, n: number) => new Float32Array(n * 10),
      state: async () => ({ trainable: [{ name: 'w', dims: [1], data: new Float32Array([steps]) }], frozen: [], moments: [], step: steps }),
      // a real classifier for Fashion-MNIST's [N, 1, 28, 28] → [N, 10] (the run adds its image metadata to the export)
      exportInference: async () => new Uint8Array(readFileSync(join(__dirname, '..', '..', '..', 'models', 'tiny-cnn.onnx'))),
      release: async () => {},
    });
    const events: TrainProgress[] = [];
    const r = await train({
      ...base(fresh()), batchSize: 32, accumulationSteps: 4, epochs: 2, dataset: { name: 'fashion-mnist', trainLimit: 300, testLimit: 10 },
      createBackend: fake, onProgress: (e) => events.push(e),
    });
    // ⌊300 / 128⌋ = 2 optimizer steps = 8 micro-batches of 32 per epoch; 300 − 256 = 44 images dropped.
    expect(r).toMatchObject({ droppedPerEpoch: 44, accumulationSteps: 4, completedEpochs: 2 });
    expect(calls.map((c) => `${c.index}/${c.of}`)).toEqual(Array.from({ length: 16 }, (_, i) => `${i % 4}/4`));
    const batches = events.filter((e) => e.kind === 'batch');
    expect(batches.map((e) => e.step)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]);
    expect(batches[0]).toMatchObject({ batch: 1, batches: 8 });
    expect(events.filter((e) => e.kind === 'epoch').map((e) => e.metrics.step)).toEqual([2, 4]);
  }, 60_000);

  it('a NaN micro-batch loss names the optimizer step and the micro-batch', async () => {
    let calls = 0;
    const fake = async (): Promise<TrainBackend> => ({
      batchSize: 16,
      step: async () => (++calls === 5 ? Number.NaN : 1),
      evalLogits: async (_x: Float32Array, n: number) => new Float32Array(n * 10),
      state: async () => ({ trainable: [], frozen: [], moments: [], step: 0 }),
      exportInference: async () => new Uint8Array([1]),
      release: async () => {},
    });
    await expect(train({ ...base(fresh()), createBackend: fake })).rejects.toThrow(
      /training loss at step 3 \(epoch 1, micro-batch 5 of 12, 1 of 2 in the step\) but received NaN/);
  }, 60_000);
});
