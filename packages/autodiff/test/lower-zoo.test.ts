/**
 * A zoo-sized composite through both backends: ResNet9 (width 0.125, 3×32×32, 10 classes, softmax cross-entropy),
 * one training step in the onnxruntime-web training build and the lowered model in onnxruntime-node — same loss,
 * gradients and BN running statistics. Also prints one step's time on each path (not asserted).
 */
import { describe, expect, it } from 'vitest';
import { createInferenceSession } from '@kqkd/runtime';
import { encodeModel } from '@kqkd/onnx';
// Source import: @kqkd/models devDepends on this package, so it cannot be a declared dependency here.
import { buildZooModel } from '../../models/src/index.js';
import { buildTrainingGraphs, lowerTrainingGraph } from '../src/index.js';
import { writeCheckpoint } from '../src/artifacts/checkpoint.js';
import { buildOptimizerModel } from '../src/artifacts/optimizer.js';
import { randn, trainingLoader } from './gradcheck.js';

/** Builds ResNet9 + CE for a static batch; the training graphs with gradients exposed. */
function resnet9(batch: number) {
  const zoo = buildZooModel('resnet9', { classes: 10, input: [3, 32, 32], width: 0.125, batch, seed: 1 });
  const b = zoo.builder;
  const labels = b.int64Constant('labels', Array.from({ length: batch }, (_, i) => (i * 7) % 10));
  const loss = b.softmaxCrossEntropy(zoo.logits, labels, { name: 'ce' });
  const g = buildTrainingGraphs({ model: b, loss, exposeGradients: true });
  return { g, input: zoo.input.name, feeds: { [zoo.input.name]: { data: randn(batch * 3 * 32 * 32, 12), dims: [batch, 3, 32, 32] } } };
}

async function webSession(g: ReturnType<typeof resnet9>['g']) {
  const L = await trainingLoader();
  const { ort } = L.loadTrainingRuntime();
  const session = await L.withMemoryCapture(() => ort.TrainingSession.create({
    checkpointState: writeCheckpoint({ trainable: g.parameters.filter((p) => p.trainable), frozen: g.parameters.filter((p) => !p.trainable) }),
    trainModel: encodeModel(g.trainingModel), evalModel: encodeModel(g.evalModel),
    optimizerModel: buildOptimizerModel({ kind: 'adamw' }, { kind: 'constant', lr: 1e-3 }),
  }));
  return { ort, session };
}

describe('lowering: ResNet9 (width 0.125) native vs web training build', () => {
  it('same loss, gradients and BN statistics; step timings', async () => {
    for (const batch of [8, 32]) {
      const { g, feeds } = resnet9(batch);
      const { ort, session } = await webSession(g);
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
      const t0 = performance.now();
      const webOut = await session.runTrainStep(ortFeeds);
      const tWebFirst = performance.now() - t0;
      const web = Object.fromEntries(Object.entries(webOut).map(([k, v]) => [k, Float32Array.from((v as { data: Float32Array }).data)]));
      const native = await createInferenceSession(encodeModel(lowerTrainingGraph(g.trainingModel)));
      const nf: Record<string, { data: Float32Array; shape: number[] }> = {};
      for (const [k, v] of Object.entries(feeds)) nf[k] = { data: v.data, shape: v.dims };
      for (const p of g.parameters) if (native.inputNames.includes(p.name)) nf[p.name] = { data: p.data, shape: p.dims };
      const out = await native.run(nf);
      const steps = 5;
      let t = performance.now();
      for (let k = 0; k < steps; k++) await native.run(nf);
      const tNative = (performance.now() - t) / steps;
      t = performance.now();
      for (let k = 0; k < steps; k++) await session.runTrainStep(ortFeeds);
      const tWeb = (performance.now() - t) / steps;
      console.log(`resnet9 w0.125 batch ${batch}: native ${tNative.toFixed(1)} ms/step, web ${tWeb.toFixed(1)} ms/step (first web ${tWebFirst.toFixed(0)} ms), ratio ${(tWeb / tNative).toFixed(2)}×`);

      const loss = g.trainingOutputs[0];
      expect(Math.abs(out[loss].data[0] - web[loss][0])).toBeLessThanOrEqual(1e-5 * Math.abs(web[loss][0]));
      // Deeper graph: rounding differences compound through 8 conv+BN layers; the bound is relative to the largest
      // gradient of the model (errors ~1e-7·terms per layer), 1e-4, still orders below a wrong lowering's O(1).
      let globalMax = 0;
      for (const name of Object.values(g.gradientOutputs)) for (const v of web[name]) globalMax = Math.max(globalMax, Math.abs(v));
      let worst = 0;
      for (const [p, name] of Object.entries(g.gradientOutputs)) {
        const a = out[name].data;
        const w = web[name];
        expect(a.length, p).toBe(w.length);
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - w[i]));
      }
      console.log(`  max |native − web| gradient = ${worst.toExponential(2)} (max |g| ${globalMax.toExponential(2)})`);
      expect(worst).toBeLessThanOrEqual(1e-4 * globalMax);
      expect(g.batchNormStatistics.length).toBeGreaterThan(0);
      for (const s of g.batchNormStatistics) {
        const a = out[s.output].data;
        const w = web[s.output];
        let scale = 0;
        let err = 0;
        for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(w[i])); err = Math.max(err, Math.abs(a[i] - w[i])); }
        expect(err, s.output).toBeLessThanOrEqual(1e-5 * scale + 1e-6);
      }
      await session.release();
      await native.release();
    }
  }, 300_000);
});
