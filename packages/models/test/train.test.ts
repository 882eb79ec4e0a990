/**
 * Every zoo model at reduced width (0.125; full-width models are checked at build time only, in zoo.test.ts):
 * a few AdamW steps through the ORT web training build lower the loss on a fixed batch; the exported inference
 * ONNX run by onnxruntime-node reproduces the training build's eval step; the zoo's generalized-layer tensors can
 * be exposed on the exported model and have the declared shapes.
 */
import { describe, expect, it } from 'vitest';
import { exposeOutputs, encodeModel } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { ZOO_NAMES } from '../src/index.js';
import { trainFewSteps } from './harness.js';

const B = 4;
const STEPS = 5;
// VGG's classifier starts at N(0, 0.01²) (torchvision), so its logits start near zero: a smaller step fits 4 images steadily.
const LR: Record<string, number> = { vit_b: 1e-3, vit_et: 2e-3, vit_ett: 2e-3, vgg11: 1e-3, vgg19: 1e-3 };

const CASES: { name: string; input: [number, number, number] }[] = [
  ...ZOO_NAMES.map((name) => ({ name, input: [3, 32, 32] as [number, number, number] })),
  // the other inputs: VGG's skipped fifth pool and ViT patch 4 at 28×28; ResNet's max-pool, MobileNetV2's stride-2
  // stem and ViT patch 8 at 64×64
  { name: 'vgg11', input: [1, 28, 28] }, { name: 'vit_ett', input: [1, 28, 28] }, { name: 'resnet9', input: [1, 28, 28] },
  { name: 'resnet9', input: [3, 64, 64] }, { name: 'mobilenetv2', input: [3, 64, 64] }, { name: 'vit_et', input: [3, 64, 64] },
];

describe('zoo models train, export and tap (width 0.125, batch 4)', () => {
  for (const { name, input } of CASES) {
    it(`${name} ${input.join('×')}`, async () => {
      const run = await trainFewSteps(name, { input, classes: 10, width: 0.125, batch: B, steps: STEPS, lr: LR[name] ?? 5e-3 });
      expect(run.losses.every(Number.isFinite)).toBe(true);
      expect(run.losses[STEPS - 1]).toBeLessThan(run.losses[0] * 0.95);

      const tapped = exposeOutputs(run.exported, run.built.layers.map((l) => l.tensor));
      const session = await createInferenceSession(encodeModel(tapped), { threads: 1 });
      try {
        const out = await session.run({ input: { data: run.x, shape: [B, ...input] } }, ['logits', ...run.built.layers.map((l) => l.tensor)]);
        const logits = out.logits.data;
        expect(logits.length).toBe(B * 10);
        const scale = Math.max(...Array.from(run.evalLogits, Math.abs));
        let maxDiff = 0;
        for (let i = 0; i < logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i] - run.evalLogits[i]));
        expect(maxDiff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
        for (const layer of run.built.layers) {
          expect(out[layer.tensor].shape, layer.tensor).toEqual([B, ...layer.shape]);
          expect(out[layer.tensor].data.every(Number.isFinite)).toBe(true);
        }
      } finally {
        await session.release();
      }
    }, 60_000);
  }
});
