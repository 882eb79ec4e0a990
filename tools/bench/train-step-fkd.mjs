// train-step-fkd: images/s of the student step of the paper's method (FKD, method fkd-kq) with the teacher's features
// cached — ResNet9 student, 3×32×32, 10 classes, batch 128; L_F = mean over 4 pairs of MSE(1×1-conv projector(student
// block output), teacher feature) with the projection average-pooled to the teacher's size, + CE on the detached head;
// AdamW — on the kqkd `native` backend (benchTrainStep with `distill`) vs PyTorch CPU eager on the identical student,
// projectors, loss, optimizer and thread count (train_step_fkd_torch.py). Student layers 1–4 (the four BasicBlock
// outputs) pair with ResNet34 layers 12–15 (the paper's KQ selection), whose per-sample shapes are read from
// @kqkd/models; teacher features are random normal, generated once. ratio = ours / PyTorch (> 1: we are faster).
// Env: BENCH_STEPS (timed steps, default 5), BENCH_THREADS (default: all cores), BENCH_BATCH (default 128).
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDistillObjective } from '@kqkd/distill';
import { benchTrainStep } from '@kqkd/train';
import { buildZooModel } from '@kqkd/models';
import { record } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.KQKD_PYTHON ?? '/usr/bin/python3';
const steps = Number(process.env.BENCH_STEPS ?? 5);
const batch = Number(process.env.BENCH_BATCH ?? 128);
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const model = 'resnet9';
const teacherModel = 'resnet34';
const input = [3, 32, 32];
const classes = 10;
const studentLayers = [1, 2, 3, 4];
const teacherLayers = [12, 13, 14, 15];
const method = 'fkd-kq';

const teacher = buildZooModel(teacherModel, { classes, input, initialize: false });
const pairs = studentLayers.map((student, i) => {
  const layer = teacher.layers.find((l) => l.index === teacherLayers[i]);
  return { student, teacher: teacherLayers[i], teacherShape: [...layer.shape] };
});

let torchOk = true;
try {
  execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
} catch {
  torchOk = false;
}

const loadBefore = loadavg();
const result = {
  model, teacherModel, method, pairs, input, classes, batch, steps, threads, backend: 'native', optimizer: 'adamw',
  versions: { node: process.version },
};
const ours = await benchTrainStep({
  model, input, classes, batch, steps, backend: 'native', threads, objective: benchDistillObjective({ method, pairs, teacherClasses: classes }),
});
result.imagesPerSecond = { native: ours.imagesPerSecond };
result.secondsPerStep = { native: ours.secondsPerStep };
result.lastLoss = { native: ours.lastLoss };
result.setupSeconds = ours.setupSeconds;
if (!torchOk) {
  result.skipped = `PyTorch reference not available (${python} cannot import torch); run: npm run setup-torch -w @kqkd/bench`;
} else {
  const out = execFileSync(python, [join(here, 'train_step_fkd_torch.py'), model, ...input.map(String), String(classes), String(batch),
    String(steps), '1', String(threads), '1', JSON.stringify(pairs.map((p) => ({ student: p.student, teacherShape: p.teacherShape })))],
  { encoding: 'utf8' });
  const torch = JSON.parse(out.trim().split('\n').pop());
  const tsec = Math.min(...torch.trainStepSeconds);
  result.versions.torch = torch.torch;
  result.torchParams = { student: torch.params, projectors: torch.projectorParams };
  result.torchTrainStepSeconds = torch.trainStepSeconds;
  result.lastLoss.torch = torch.lastLoss;
  result.imagesPerSecond.torch = batch / tsec;
  result.ratio = { native: ours.imagesPerSecond / result.imagesPerSecond.torch };
  // PyTorch times the mean step of a repetition; the same statistic of ours, for reference (the ratio above uses our median)
  result.ratioOfMeanSteps = { native: tsec / ours.secondsPerStep.mean };
}
result.loadAverage = { before: loadBefore, after: loadavg() };
console.log(JSON.stringify(record('train-step-fkd', result)));

const f = (v) => (v === undefined ? '–' : v.toFixed(v < 10 ? 2 : 0));
console.log(`\n| student step | pairs (student → teacher) | native img/s | PyTorch img/s | native / PyTorch |`);
console.log('|---|---|---|---|---|');
console.log(`| ${model} ${method}, batch ${batch}, ${threads} threads | ${pairs.map((p) => `${p.student}→${p.teacher} [${p.teacherShape.join('×')}]`).join(', ')} | ` +
  `${f(result.imagesPerSecond.native)} | ${f(result.imagesPerSecond.torch)} | ${result.ratio ? result.ratio.native.toFixed(2) : '–'} |`);
