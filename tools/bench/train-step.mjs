// train-step: images/s of full training steps (forward, backward, optimizer update, BN write-back) on random inputs
// for both kqkd training backends — `native` (lowered gradient graph in onnxruntime-node + host optimizer) and
// `web-training` (onnxruntime-web training wasm) — vs PyTorch CPU eager on the identical architecture
// (tools/zoo/zoo_torch.py), thread count and batch: small-cnn, resnet9 and mobilenetv2 at 3×32×32, batch 128.
// ratio = ours / PyTorch (> 1: we are faster). Env: BENCH_STEPS (timed steps, default 5), BENCH_THREADS (default: all
// cores; the wasm build runs on 1 thread, it is slower with more here), BENCH_MODELS (comma list), BENCH_BATCH,
// BENCH_WEB=0 (skip the web-training backend: ~6× slower than native, minutes per step on ResNet34),
// KQKD_NCHWC=0 (native convolutions without the NCHWc kernels, for A/B).
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchTrainStep } from '@kqkd/train';
import { record } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.KQKD_PYTHON ?? '/usr/bin/python3';
const steps = Number(process.env.BENCH_STEPS ?? 5);
const batch = Number(process.env.BENCH_BATCH ?? 128);
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const models = (process.env.BENCH_MODELS ?? 'small-cnn,resnet9,mobilenetv2').split(',');
const withWeb = process.env.BENCH_WEB !== '0';
const input = [3, 32, 32];
const classes = 10;

let torchOk = true;
try {
  execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
} catch {
  torchOk = false;
}

const rows = [];
for (const model of models) {
  const result = { model, input, classes, batch, steps, threads, versions: { node: process.version } };
  const native = await benchTrainStep({ model, input, classes, batch, steps, backend: 'native', threads });
  const web = withWeb ? await benchTrainStep({ model, input, classes, batch, steps, backend: 'web-training', threads: 1 }) : undefined;
  result.imagesPerSecond = { native: native.imagesPerSecond, ...(web ? { webTraining: web.imagesPerSecond } : {}) };
  result.secondsPerStep = { native: native.secondsPerStep, ...(web ? { webTraining: web.secondsPerStep } : {}) };
  if (web) result.webTrainingThreads = 1;
  result.nchwc = process.env.KQKD_NCHWC !== '0';
  if (!torchOk) {
    result.skipped = `PyTorch reference not available (${python} cannot import torch); run: npm run setup-torch -w @kqkd/bench`;
  } else {
    const out = execFileSync(python, [join(here, 'train_step_torch.py'), model, ...input.map(String), String(classes), String(batch),
      String(steps), '1', String(threads)], { encoding: 'utf8' });
    const torch = JSON.parse(out.trim().split('\n').pop());
    const tsec = Math.min(...torch.trainStepSeconds);
    result.versions.torch = torch.torch;
    result.torchParams = torch.params;
    result.imagesPerSecond.torch = batch / tsec;
    result.ratio = { native: native.imagesPerSecond / result.imagesPerSecond.torch, ...(web ? { webTraining: web.imagesPerSecond / result.imagesPerSecond.torch } : {}) };
  }
  rows.push(result);
  console.log(JSON.stringify(record('train-step', result)));
}
console.log('\n| model | native img/s | web-training img/s | PyTorch img/s | native / PyTorch | web-training / PyTorch |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const f = (v) => (v === undefined ? '–' : v.toFixed(v < 10 ? 2 : 0));
  console.log(`| ${r.model} | ${f(r.imagesPerSecond.native)} | ${f(r.imagesPerSecond.webTraining)} | ${f(r.imagesPerSecond.torch)} | ` +
    `${r.ratio ? r.ratio.native.toFixed(2) : '–'} | ${r.ratio?.webTraining !== undefined ? r.ratio.webTraining.toFixed(2) : '–'} |`);
}
