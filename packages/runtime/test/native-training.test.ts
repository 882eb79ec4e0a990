/**
 * Native training session plumbing on a hand-written standard-op gradient graph: a linear model y = x·W + b with MSE
 * loss and its gradient written out by hand (dL/dy = 2/N·(y − t); dW = xᵀ·dL/dy; db = Σ dL/dy).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KqkdError, createRng } from '@kqkd/common';
import { GraphBuilder, encodeModel } from '@kqkd/onnx';
import { createNativeTrainingSession, cudaProviderInstalled, nativeGradientOutputName } from '../src/index.js';

const N = 8, D = 5;

function linearMseModel(options: { residualOutput?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder({ name: 'linear_mse' });
  const x = g.input('x', [N, D]);
  const t = g.input('t', [N, 1]);
  const W = g.input('W', [D, 1]);
  const b = g.input('b', [1]);
  const y = g.add(g.matMul(x, W), b);
  const r = g.sub(y, t);
  const loss = g.reduceMean(g.mul(r, r), undefined, false, 'loss_value');
  const dy = g.mulScalar(r, 2 / N);
  const dW = g.matMul(g.transpose(x, [1, 0]), dy);
  const db = g.reduceSum(dy, [0], false);
  g.output(loss, 'loss');
  g.output(dW, nativeGradientOutputName('W'));
  g.output(db, nativeGradientOutputName('b'));
  if (options.residualOutput) g.output(r, 'residual');
  return encodeModel(g.build());
}

function reference(x: Float32Array, t: Float32Array, W: Float32Array, b: number) {
  let loss = 0;
  const dW = new Float64Array(D);
  let db = 0;
  for (let i = 0; i < N; i++) {
    let y = b;
    for (let j = 0; j < D; j++) y += x[i * D + j] * W[j];
    const r = y - t[i];
    loss += (r * r) / N;
    for (let j = 0; j < D; j++) dW[j] += (2 / N) * r * x[i * D + j];
    db += (2 / N) * r;
  }
  return { loss, dW, db };
}

describe('createNativeTrainingSession (hand-written linear MSE gradient graph)', () => {
  const rng = createRng(3);
  const x = Float32Array.from({ length: N * D }, () => rng.nextNormal());
  const t = Float32Array.from({ length: N }, () => rng.nextNormal());
  const W0 = Float32Array.from({ length: D }, () => rng.nextNormal());

  it('returns loss and gradients equal to the closed form, and reads in-place parameter updates', async () => {
    const s = await createNativeTrainingSession({
      trainingModel: linearMseModel(), threads: 1,
      parameters: [{ name: 'W', dims: [D, 1], data: W0 }, { name: 'b', dims: [1], data: new Float32Array([0.5]) }],
    });
    try {
      expect(s.feedNames).toEqual(['x', 't']);
      expect(s.trainableNames).toEqual(['W', 'b']);
      const W = s.parameters.W;
      expect(W).not.toBe(W0); // the session owns its buffers
      const lr = 0.1;
      for (let step = 0; step < 5; step++) {
        const ref = reference(x, t, W, s.parameters.b[0]);
        const r = await s.step({ x: { data: x, shape: [N, D] }, t: { data: t, shape: [N, 1] } });
        expect(r.loss).toBeCloseTo(ref.loss, 5);
        for (let j = 0; j < D; j++) expect(r.gradients.W[j]).toBeCloseTo(ref.dW[j], 5);
        expect(r.gradients.b[0]).toBeCloseTo(ref.db, 5);
        // plain SGD in place: the next step must see it
        for (let j = 0; j < D; j++) W[j] -= lr * r.gradients.W[j];
        s.parameters.b[0] -= lr * r.gradients.b[0];
      }
      expect(s.preallocatedGradients).toBe(true);
      expect(s.parameters.W).toBe(W);
    } finally {
      await s.release();
    }
  });

  it('memoryPattern (default off) changes where tensors live, not what a step computes; a non-boolean is refused', async () => {
    const losses = async (memoryPattern?: boolean) => {
      const s = await createNativeTrainingSession({
        trainingModel: linearMseModel(), threads: 1, ...(memoryPattern === undefined ? {} : { memoryPattern }),
        parameters: [{ name: 'W', dims: [D, 1], data: W0 }, { name: 'b', dims: [1], data: new Float32Array([0.5]) }],
      });
      try {
        const out: number[] = [];
        for (let step = 0; step < 4; step++) {
          const r = await s.step({ x: { data: x, shape: [N, D] }, t: { data: t, shape: [N, 1] } });
          out.push(r.loss, ...r.gradients.W);
          for (let j = 0; j < D; j++) s.parameters.W[j] -= 0.1 * r.gradients.W[j];
        }
        return out;
      } finally {
        await s.release();
      }
    };
    const planned = await losses(true);
    expect(await losses(undefined)).toEqual(planned);
    expect(await losses(false)).toEqual(planned);
    expect(planned[0]).toBeCloseTo(reference(x, t, W0, 0.5).loss, 5);
    await expect(createNativeTrainingSession({
      trainingModel: linearMseModel(), memoryPattern: 'yes' as unknown as boolean,
      parameters: [{ name: 'W', dims: [D, 1], data: W0 }, { name: 'b', dims: [1], data: new Float32Array(1) }],
    })).rejects.toThrow(/true or false for options\.memoryPattern.*"yes"/);
  });

  it('writes an ONNX Runtime profile with one kernel event per node and step when asked', async () => {
    const prefix = join(mkdtempSync(join(tmpdir(), 'kqkd-prof-')), 'linear');
    const s = await createNativeTrainingSession({
      trainingModel: linearMseModel(), threads: 1, profilePrefix: prefix,
      parameters: [{ name: 'W', dims: [D, 1], data: W0 }, { name: 'b', dims: [1], data: new Float32Array([0.5]) }],
    });
    try {
      for (let step = 0; step < 2; step++) await s.step({ x: { data: x, shape: [N, D] }, t: { data: t, shape: [N, 1] } });
      const file = s.endProfiling();
      expect(file.startsWith(prefix)).toBe(true);
      const kernels = JSON.parse(readFileSync(file, 'utf8')).filter((e: { cat: string; name: string }) =>
        e.cat === 'Node' && e.name.endsWith('_kernel_time'));
      expect(kernels.length).toBeGreaterThanOrEqual(2);
    } finally {
      await s.release();
    }
  });

  it('preallocatedOutputs: an output written into the same array every step; bad entries named', async () => {
    const params = () => [{ name: 'W', dims: [D, 1], data: W0 }, { name: 'b', dims: [1], data: new Float32Array([0.25]) }];
    const s = await createNativeTrainingSession({
      trainingModel: linearMseModel({ residualOutput: true }), threads: 1, parameters: params(),
      preallocatedOutputs: [{ name: 'residual', dims: [N, 1] }],
    });
    try {
      const feeds = { x: { data: x, shape: [N, D] }, t: { data: t, shape: [N, 1] } };
      const first = await s.step(feeds);
      for (let i = 0; i < N; i++) {
        let y = 0.25;
        for (let j = 0; j < D; j++) y += x[i * D + j] * W0[j];
        expect(first.outputs.residual.data[i]).toBeCloseTo(y - t[i], 5);
      }
      expect(first.outputs.residual.shape).toEqual([N, 1]);
      const second = await s.step(feeds);
      expect(second.outputs.residual.data).toBe(first.outputs.residual.data); // the same array, overwritten
    } finally {
      await s.release();
    }
    for (const [entry, pattern] of [
      [{ name: 'nope', dims: [N, 1] }, /preallocatedOutputs\[0\]\.name.*"nope"/],
      [{ name: nativeGradientOutputName('W'), dims: [D, 1] }, /preallocatedOutputs\[0\]\.name/],
      [{ name: 'residual', dims: [N, 0] }, /preallocatedOutputs\[0\]\.dims/],
    ] as const) {
      await expect(createNativeTrainingSession({
        trainingModel: linearMseModel({ residualOutput: true }), parameters: params(), preallocatedOutputs: [entry],
      })).rejects.toThrow(pattern);
    }
  });

  it('names the argument on bad feeds and parameters', async () => {
    await expect(createNativeTrainingSession({
      trainingModel: linearMseModel(), parameters: [{ name: 'nope', dims: [1], data: new Float32Array(1) }],
    })).rejects.toThrow(/parameter "nope"/);
    const s = await createNativeTrainingSession({
      trainingModel: linearMseModel(), parameters: [{ name: 'W', dims: [D, 1], data: W0 }, { name: 'b', dims: [1], data: new Float32Array(1) }],
    });
    await expect(s.step({ x: { data: x, shape: [N, D] } })).rejects.toThrow(KqkdError);
    await expect(s.step({ x: { data: x, shape: [N, D + 1] }, t: { data: t, shape: [N, 1] } })).rejects.toThrow(/feeds\["x"\]/);
    await s.release();
  });

  // Exactly one of the next two runs on a given machine; the other is reported as skipped, never as passed.
  it.runIf(!cudaProviderInstalled())('refuses CUDA with install instructions when the CUDA provider is not installed', async () => {
    await expect(createNativeTrainingSession({
      trainingModel: linearMseModel(), executionProvider: 'cuda',
      parameters: [{ name: 'W', dims: [D, 1], data: W0 }, { name: 'b', dims: [1], data: new Float32Array(1) }],
    })).rejects.toThrow(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it.runIf(cudaProviderInstalled())('with the CUDA provider installed, a CUDA session takes a step (same loss as the CPU one)', async () => {
    const params = () => [{ name: 'W', dims: [D, 1], data: W0.slice() }, { name: 'b', dims: [1], data: new Float32Array(1) }];
    const cpu = await createNativeTrainingSession({ trainingModel: linearMseModel(), parameters: params() });
    const gpu = await createNativeTrainingSession({ trainingModel: linearMseModel(), executionProvider: 'cuda', parameters: params() });
    const feeds = { x: { data: x, shape: [N, D] }, t: { data: t, shape: [N, 1] } };
    expect((await gpu.step(feeds)).loss).toBeCloseTo((await cpu.step(feeds)).loss, 4);
    await cpu.release();
    await gpu.release();
  });
});
