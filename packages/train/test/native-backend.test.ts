/**
 * The `native` backend against the `web-training` one: gradients of one step of a small CNN (conv-BN-ReLU, max-pool,
 * CE), ten training steps of a zoo model (ResNet9 at width 0.125) with the same losses, and a run of K epochs on one
 * backend resumed on the other. Bit-exactness across backends is not expected (different kernels: MLAS conv/GEMM in
 * onnxruntime-node, Eigen in the wasm build), only float tolerance.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createRng } from '@kqkd/common';
import { buildTrainingGraphs, gradientOutputName, writeCheckpoint } from '@kqkd/autodiff';
import { encodeModel } from '@kqkd/onnx';
import { createNativeTrainingSession, createTrainingSession } from '@kqkd/runtime';
import {
  buildForward, createNativeBackend, createWebTrainingBackend, hostWeightGradientsAsked, loadRunState, train,
  type BackendOptions, type RunState, type TrainOptions,
} from '../src/index.js';
import { hostConvWeightGradients, lowerTrainingGraph } from '@kqkd/autodiff';
import { loadAddon } from '@kqkd/native';

describe('native gradients = web-training gradients', () => {
  // in-graph: every gradient in the session; host: conv2's weight gradient (X from the max-pool) by the addon's
  // convWeightGradient from the X and dY the session returns, the stem's (X is the input) still in the graph
  for (const mode of ['in-graph', 'host'] as const) {
    it(`small CNN (conv-BN-ReLU ×2, max-pool, CE), batch 8, conv weight gradients ${mode}: every parameter gradient and the BN statistics`, async () => {
      const B = 8;
      const { g, loss } = buildForward({ name: 'small-cnn', widths: [4, 8] }, [1, 28, 28], 10, 3, undefined, { batchSize: 8 });
      const graphs = buildTrainingGraphs({ model: g, loss: loss!, exposeGradients: true, staticDims: { N: B } });
      const rng = createRng(4);
      const x = Float32Array.from({ length: B * 784 }, () => rng.nextNormal());
      const y = BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 10));
      const feeds = { input: { data: x, shape: [B, 1, 28, 28] }, labels: { data: y, shape: [B] } };
      const wasm = await createTrainingSession({
        checkpoint: writeCheckpoint({
          trainable: graphs.parameters.filter((p) => p.trainable), frozen: graphs.parameters.filter((p) => !p.trainable),
        }),
        trainingModel: encodeModel(graphs.trainingModel),
      });
      const ref = await wasm.trainStep(feeds);
      await wasm.release();
      const lowered = lowerTrainingGraph(graphs.trainingModel, { hostConvWeightGradient: mode === 'host' });
      const host = hostConvWeightGradients(lowered);
      expect(host.map((h) => [h.parameter, h.x, h.xShape, h.dyShape])).toEqual(mode === 'host' ? [['block1.conv.weight', 'block0.pool', [8, 4, 14, 14], [8, 8, 14, 14]]] : []);
      const native = await createNativeTrainingSession({
        trainingModel: encodeModel(lowered), threads: 1,
        parameters: graphs.parameters.map((p) => ({ name: p.name, dims: p.dims, data: p.data, trainable: p.trainable })),
        preallocatedOutputs: host.flatMap((h) => [{ name: h.x, dims: h.xShape }, { name: h.dy, dims: h.dyShape }]),
      });
      const got = await native.step(feeds);
      await native.release();
      for (const h of host) {
        expect(Math.max(...got.gradients[h.parameter].map(Math.abs))).toBe(0); // the graph leaves it to the host
        loadAddon().convWeightGradient(got.outputs[h.x].data, got.outputs[h.dy].data, got.gradients[h.parameter], {
          batch: h.xShape[0], inChannels: h.xShape[1], inHeight: h.xShape[2], inWidth: h.xShape[3], outChannels: h.dyShape[1],
          outHeight: h.dyShape[2], outWidth: h.dyShape[3], kernelHeight: h.weightShape[2], kernelWidth: h.weightShape[3],
          strideHeight: h.strides[0], strideWidth: h.strides[1], padTop: h.padsBegin[0], padLeft: h.padsBegin[1],
          dilationHeight: h.dilations[0], dilationWidth: h.dilations[1],
        }, 2);
      }
      expect(got.loss).toBeCloseTo(ref[graphs.trainingOutputs[0]].data[0], 5);
      let worst = 0;
      for (const p of graphs.parameters.filter((q) => q.trainable)) {
        const a = ref[gradientOutputName(p.name)].data, b = got.gradients[p.name];
        const scale = Math.max(...a.map(Math.abs), 1e-3);
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
      }
      expect(worst).toBeLessThan(1e-4); // relative to the tensor's largest gradient
      for (const s of graphs.batchNormStatistics) {
        const a = ref[s.output].data, b = got.outputs[s.output].data;
        for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 5);
      }
    });
  }
});

describe('ten training steps of resnet9 (width 0.125) on both backends', () => {
  it('give the same losses within 1e-3 relative, and parameters within 1e-3 (one-cycle without the beta1 cycle: the web build cannot cycle it)', async () => {
    const B = 16;
    const o: BackendOptions = {
      modelSpec: { name: 'resnet9', width: 0.125 }, classes: 10, inputShape: [3, 32, 32], batchSize: B, evalBatchSize: B,
      optimizer: { type: 'adamw', lr: 2e-3, weightDecay: 0.01 }, schedule: { kind: 'one-cycle', maxLr: 2e-3, totalSteps: 10 }, seed: 7,
    };
    const rng = createRng(9);
    const data = Array.from({ length: 10 }, () => ({
      x: Float32Array.from({ length: B * 3 * 32 * 32 }, () => rng.nextNormal()),
      y: BigInt64Array.from({ length: B }, () => BigInt(rng.nextInt(10))),
    }));
    const run = async (be: Awaited<ReturnType<typeof createWebTrainingBackend>>) => {
      const losses: number[] = [];
      for (const d of data) losses.push(await be.step(d.x, d.y));
      const s = await be.state();
      const logits = await be.evalLogits(data[0].x, B);
      await be.release();
      return { losses, s, logits };
    };
    const web = await run(await createWebTrainingBackend(o));
    // the native backend as it is by default, and with its stride-1 conv weight gradients on the host
    // (`hostWeightGradients`; the addon's convWeightGradient is seen to be called exactly then)
    const addon = loadAddon();
    for (const hostDw of [false, true]) {
      const spy = vi.spyOn(addon, 'convWeightGradient');
      const backend = await createNativeBackend({ ...o, threads: 1, hostWeightGradients: hostDw });
      const nat = await run(backend);
      expect(spy.mock.calls.length > 0, `host dW ${hostDw}: addon convWeightGradient called`).toBe(hostDw);
      spy.mockRestore();
      for (let i = 0; i < 10; i++) expect(Math.abs(nat.losses[i] - web.losses[i]) / web.losses[i], `host dW ${hostDw}, step ${i + 1}`).toBeLessThan(1e-3);
      expect(nat.s.step).toBe(10);
      let worst = 0;
      for (const [k, t] of web.s.trainable.entries()) {
        const u = nat.s.trainable[k];
        expect(u.name).toBe(t.name);
        for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u.data[i]));
      }
      expect(worst, `host dW ${hostDw}`).toBeLessThan(1e-3);
      for (let i = 0; i < web.logits.length; i++) expect(Math.abs(nat.logits[i] - web.logits[i])).toBeLessThan(1e-2);
    }
  }, 180_000);
});

describe('hostWeightGradients: the option, KQKD_HOST_DW=1 only as the fallback', () => {
  it('the option wins over the environment either way; unset, KQKD_HOST_DW=1 (and only "1") turns it on', () => {
    expect(hostWeightGradientsAsked({ hostWeightGradients: true }, {})).toBe(true);
    expect(hostWeightGradientsAsked({ hostWeightGradients: false }, { KQKD_HOST_DW: '1' })).toBe(false);
    expect(hostWeightGradientsAsked({ hostWeightGradients: true }, { KQKD_HOST_DW: '0' })).toBe(true);
    expect(hostWeightGradientsAsked({}, { KQKD_HOST_DW: '1' })).toBe(true);
    expect(hostWeightGradientsAsked({}, { KQKD_HOST_DW: 'yes' })).toBe(false);
    expect(hostWeightGradientsAsked({}, {})).toBe(false);
  });
});

describe('a run resumes on the other backend', () => {
  const root = mkdtempSync(join(tmpdir(), 'kqkd-native-'));
  const base = (runDir: string, backend: 'native' | 'web-training'): TrainOptions => ({
    modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', trainLimit: 256, testLimit: 100 },
    epochs: 3, batchSize: 32, evalBatchSize: 100, optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
    schedule: 'one-cycle', seed: 5, runDir, backend,
  });
  const maxDiff = (a: RunState, b: RunState) => {
    let m = 0;
    for (const [k, t] of a.trainable.entries()) for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i] - b.trainable[k].data[i]));
    for (const [k, t] of a.frozen.entries()) for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i] - b.frozen[k].data[i]));
    for (const [k, s] of a.moments.entries()) {
      for (const [j, t] of s.momentums.entries()) for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i] - b.moments[k].momentums[j].data[i]));
    }
    return m;
  };

  for (const [first, second] of [['web-training', 'native'], ['native', 'web-training']] as const) {
    it(`1 epoch on ${first}, 2 more on ${second} = 3 epochs on ${first} (within 1e-4)`, async () => {
      const split = join(root, `${first}-then-${second}`), whole = join(root, `${first}-whole`);
      await train({ ...base(split, first), stopAfterEpochs: 1 });
      expect(loadRunState(split)!.epoch).toBe(1);
      const r = await train(base(split, second)); // same config hash: `backend` is not part of it
      expect(r.completedEpochs).toBe(3);
      await train(base(whole, first));
      const a = loadRunState(split)!, b = loadRunState(whole)!;
      expect(a.configHash).toBe(b.configHash);
      expect(a.step).toBe(b.step);
      expect(maxDiff(a, b)).toBeLessThan(1e-4);
      for (let e = 0; e < 3; e++) expect(Math.abs(a.history[e].trainLoss - b.history[e].trainLoss)).toBeLessThan(1e-4);
    }, 120_000);
  }
});

describe('the beta1 cycle', () => {
  it('the web-training backend refuses a one-cycle schedule with cycleMomentum, naming the backend and the way out', async () => {
    const o: BackendOptions = {
      modelSpec: { name: 'small-cnn', widths: [4, 8] }, classes: 10, inputShape: [1, 28, 28], batchSize: 8, evalBatchSize: 8,
      optimizer: { type: 'adamw', lr: 2e-3, weightDecay: 0.01 }, schedule: { kind: 'one-cycle', maxLr: 2e-3, totalSteps: 10, cycleMomentum: true }, seed: 7,
    };
    await expect(createWebTrainingBackend(o)).rejects.toThrow(/for backend "web-training" but received a one-cycle schedule with cycleMomentum/);
    await expect(createWebTrainingBackend(o)).rejects.toThrow(/oneCycle\.cycleMomentum to false\), or backend "native"/);
  });
});
