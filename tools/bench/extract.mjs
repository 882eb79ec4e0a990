// extract: features of every generalized layer of a zoo teacher (ResNet34, full width, 3×32×32, 10 classes) for
// 5000 samples through onnxruntime-node (the exported inference model with the 18 layer tensors exposed as outputs),
// vs PyTorch CPU eager with forward hooks on the identical architecture (tools/zoo/zoo_torch.py), same thread count,
// in one run. ratio = PyTorch seconds / ours (> 1: we are faster). Goal (BENCHMARKS.md): ≥ 1.5×.
// Env: EXTRACT_SAMPLES (5000), EXTRACT_BATCH (100), EXTRACT_THREADS (2), BENCH_REPS (2), EXTRACT_MODEL (resnet34).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildZooModel } from '@kqkd/models';
import { encodeModel, exposeOutputs } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { record, repoRoot, stats } from './lib.mjs';

const python = process.env.KQKD_PYTHON ?? '/usr/bin/python3';
const modelName = process.env.EXTRACT_MODEL ?? 'resnet34';
const samples = Number(process.env.EXTRACT_SAMPLES ?? 5000);
const batch = Number(process.env.EXTRACT_BATCH ?? 100);
const threads = Number(process.env.EXTRACT_THREADS ?? 2);
const reps = Number(process.env.BENCH_REPS ?? 2);
const input = [3, 32, 32];
const classes = 10;

const built = buildZooModel(modelName, { input, classes, seed: 0 });
const layerNames = built.layers.map((l) => l.tensor);
const session = await createInferenceSession(encodeModel(exposeOutputs(built.model, layerNames)), { threads });
const x = new Float32Array(batch * input[0] * input[1] * input[2]);
let s = 1;
for (let i = 0; i < x.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; x[i] = s / 4294967296; }

let floatsPerSample = 0;
const pass = async () => {
  let checksum = 0;
  for (let start = 0; start < samples; start += batch) {
    const n = Math.min(batch, samples - start);
    const out = await session.run({ input: { data: n === batch ? x : x.subarray(0, n * 3072), shape: [n, ...input] } }, layerNames);
    checksum += out[layerNames[layerNames.length - 1]].data[0];
    if (start === 0) floatsPerSample = layerNames.reduce((a, t) => a + out[t].data.length, 0) / n;
  }
  return checksum;
};
await session.run({ input: { data: x, shape: [batch, ...input] } }, layerNames); // warm-up
const ours = [];
for (let r = 0; r < reps; r++) {
  const t = performance.now();
  await pass();
  ours.push((performance.now() - t) / 1000);
}
await session.release();

const result = {
  sizes: { model: modelName, width: 1, input, classes, samples, batch, layers: layerNames.length, params: built.params,
    featureFloatsPerSample: floatsPerSample },
  threads, backend: 'onnxruntime-node (CPU EP), all generalized layers exposed as outputs',
  versions: { node: process.version },
  timings: { oursSeconds: stats(ours) },
  samplesPerSecond: { ours: samples / stats(ours).median },
};
let torch = null;
try {
  const out = execFileSync(python, [join(repoRoot, 'tools', 'zoo', 'extract_torch.py'), modelName, String(input[0]), String(input[1]),
    String(classes), String(samples), String(batch), String(threads), String(reps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  torch = JSON.parse(out.trim().split('\n').pop());
} catch (err) {
  result.skipped = `PyTorch reference not available (${python}: ${String(err.message ?? err).split('\n')[0]}); run: npm run setup-torch -w @kqkd/bench`;
}
if (torch) {
  if (torch.params !== built.params || torch.layers !== layerNames.length) {
    throw new Error(`architecture mismatch: PyTorch ${torch.params} params / ${torch.layers} layers, ours ${built.params} / ${layerNames.length}`);
  }
  const t = stats(torch.seconds);
  result.versions.torch = torch.torch;
  result.timings.torchSeconds = t;
  result.samplesPerSecond.torch = samples / t.median;
  result.ratio = t.median / stats(ours).median;
  result.ratioMin = t.min / stats(ours).min;
}
console.log(JSON.stringify(record('extract', result)));
