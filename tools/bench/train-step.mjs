// train-step: images/s of one training step (trainStep + optimizerStep, with the host moment mirror and BN
// write-back) of @kqkd/distill's small CNN in onnxruntime-web's training build (wasm, 1 thread) vs PyTorch CPU eager
// on the identical architecture and thread count, in one run; ratio = ours / PyTorch (> 1: we are faster).
// Also forward only: onnxruntime-node on the exported inference model vs the training build's eval step.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOrtBackend, SMALL_CNN_DEFAULT_WIDTHS } from '@kqkd/distill';
import { createInferenceSession } from '@kqkd/runtime';
import { record, stats } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.KQKD_PYTHON ?? '/usr/bin/python3';
const reps = Number(process.env.BENCH_REPS ?? 5);
const steps = 20;
const threads = 1; // the wasm training build runs best on one thread here (2 threads were slower on 2 vCPUs)
const widths = [...SMALL_CNN_DEFAULT_WIDTHS];

let torchOk = true;
try {
  execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
} catch {
  torchOk = false;
}

const timeIt = async (fn) => {
  for (let i = 0; i < 3; i++) await fn();
  const runs = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    for (let i = 0; i < steps; i++) await fn();
    runs.push((performance.now() - t) / 1000 / steps);
  }
  return stats(runs);
};

for (const batch of [128, 64]) {
  const be = await createOrtBackend({
    modelSpec: { name: 'small-cnn', widths }, classes: 10, inputShape: [1, 28, 28], batchSize: batch, evalBatchSize: batch,
    optimizer: { type: 'adamw', lr: 1e-3, weightDecay: 0.01 }, schedule: { kind: 'constant', lr: 1e-3 }, seed: 0, threads,
  });
  const x = Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i));
  const y = BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 10));
  const trainStep = await timeIt(() => be.step(x, y));
  const evalStep = await timeIt(() => be.evalLogits(x, batch));
  const session = await createInferenceSession(await be.exportInference(), { threads });
  const nodeFwd = await timeIt(() => session.run({ input: { data: x, shape: [batch, 1, 28, 28] } }, ['logits']));
  await session.release();
  await be.release();
  const ips = (s) => batch / s.median;
  const result = {
    sizes: { batch, widths, input: [1, 28, 28], classes: 10 }, threads, backend: 'onnxruntime-web@1.19.2 training wasm',
    versions: { node: process.version },
    timings: { trainStepSeconds: trainStep, evalStepSeconds: evalStep, ortNodeForwardSeconds: nodeFwd },
    imagesPerSecond: { trainStep: ips(trainStep), evalStep: ips(evalStep), ortNodeForward: ips(nodeFwd) },
    forwardRatioOrtNodeOverEvalStep: ips(nodeFwd) / ips(evalStep),
  };
  if (!torchOk) {
    result.skipped = `PyTorch reference not available (${python} cannot import torch); run: npm run setup-torch -w @kqkd/bench`;
  } else {
    const out = execFileSync(python, [join(here, 'train_step_torch.py'), widths.join(','), String(batch), String(reps), String(threads)], { encoding: 'utf8' });
    const torch = JSON.parse(out.trim().split('\n').pop());
    const tt = stats(torch.trainStepSeconds);
    const tf = stats(torch.forwardSeconds);
    result.versions.torch = torch.torch;
    result.timings.torchTrainStepSeconds = tt;
    result.timings.torchForwardSeconds = tf;
    result.imagesPerSecond.torchTrainStep = batch / tt.median;
    result.imagesPerSecond.torchForward = batch / tf.median;
    result.ratio = ips(trainStep) / (batch / tt.median);
    result.ratioMin = (batch / trainStep.min) / (batch / tt.min);
  }
  console.log(JSON.stringify(record('train-step', result)));
}
