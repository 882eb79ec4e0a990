/**
 * `benchTrainStep`: images/s of full training steps (forward + backward + optimizer update, BN write-back) of a zoo
 * model on random inputs, on either backend, after warm-up steps. Used by `kqkd bench train-step` and
 * tools/bench/train-step.mjs. With an `objective` (e.g. @kqkd/distill's `benchDistillObjective`: a distillation
 * method with its teacher features cached, tools/bench/train-step-fkd.mjs) the step is that objective's, and its
 * inputs are fed random normal values, generated once.
 */
import { createRng, expectInteger, KqkdError } from '@kqkd/common';
import { backendFactory } from './backends/registry.js';
import type { BackendName } from './backends/names.js';
import { MODEL_NAMES, type ModelSpec } from './config.js';
import type { TrainingObjective } from './objective.js';
import type { BackendOptions } from './student-graph.js';

export interface BenchTrainStepOptions {
  model: string;
  /** [C, H, W] */
  input: number[];
  classes: number;
  batch: number;
  steps: number;
  backend: BackendName;
  threads?: number;
  width?: number;
  warmupSteps?: number;
  optimizer?: 'adamw' | 'sgd';
  executionProvider?: 'cpu' | 'cuda';
  /** Time this objective's step (its inputs fed random normal values) instead of plain cross-entropy. */
  objective?: TrainingObjective;
}

export interface BenchTrainStepResult {
  model: string;
  backend: BackendName;
  batch: number;
  steps: number;
  imagesPerSecond: number;
  secondsPerStep: { median: number; min: number; mean: number };
  warmupSteps: number;
  input: number[];
  classes: number;
  threads: number | null;
  width: number | null;
  optimizer: string;
  executionProvider: string;
  setupSeconds: number;
  lastLoss: number;
  /** The objective timed (its settings and the inputs fed per step); null for plain cross-entropy. */
  objective: { key: string; spec: unknown; inputs: { name: string; shape: number[] }[] } | null;
}

export async function benchTrainStep(o: BenchTrainStepOptions): Promise<BenchTrainStepResult> {
  if (!(MODEL_NAMES as readonly string[]).includes(o.model)) throw new KqkdError('model', `a model of the zoo (${MODEL_NAMES.join(', ')})`, `"${o.model}"`);
  if (!Array.isArray(o.input) || o.input.length !== 3 || o.input.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new KqkdError('input', 'C×H×W, three positive integers', JSON.stringify(o.input));
  }
  const classes = expectInteger('classes', o.classes, 2, 100_000);
  const batch = expectInteger('batch', o.batch, 1, 65_536);
  const steps = expectInteger('steps', o.steps, 1, 1_000_000);
  const warmup = expectInteger('warmupSteps', o.warmupSteps ?? 2, 0, 1000);
  const optimizer = o.optimizer ?? 'adamw';
  const t0 = performance.now();
  const modelSpec = { name: o.model, ...(o.width !== undefined ? { width: o.width } : {}) } as ModelSpec;
  const opts: BackendOptions = {
    modelSpec, classes, inputShape: [...o.input], batchSize: batch, evalBatchSize: batch,
    optimizer: optimizer === 'adamw' ? { type: 'adamw', lr: 1e-3, weightDecay: 0.01 } : { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 },
    schedule: { kind: 'constant', lr: 1e-3 }, seed: 0,
    ...(o.threads !== undefined ? { threads: expectInteger('threads', o.threads, 1, 1024) } : {}),
    ...(o.executionProvider ? { executionProvider: o.executionProvider } : {}),
    ...(o.objective ? { objective: o.objective } : {}),
  };
  if (o.executionProvider === 'cuda' && o.backend !== 'native') throw new KqkdError('executionProvider', '"cpu" for the web-training backend', '"cuda"');
  const backend = await backendFactory(o.backend)(opts);
  const setupSeconds = (performance.now() - t0) / 1000;
  const rng = createRng(1);
  const x = Float32Array.from({ length: batch * o.input[0] * o.input[1] * o.input[2] }, () => rng.nextNormal());
  const y = BigInt64Array.from({ length: batch }, () => BigInt(rng.nextInt(classes)));
  const inputs = o.objective ? o.objective.inputs.map(({ name, shape }) => ({ name, shape: [...shape] })) : [];
  // The objective's rows for one batch (e.g. random teacher features), fetched once and fed every step.
  const extra = o.objective && inputs.length > 0 ? o.objective.feeds(Array.from({ length: batch }, (_, i) => i)) : undefined;
  let lastLoss = NaN;
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup; i++) lastLoss = await backend.step(x, y, undefined, extra);
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      lastLoss = await backend.step(x, y, undefined, extra);
      times.push((performance.now() - t) / 1000);
    }
  } finally {
    await backend.release();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return {
    model: o.model, backend: o.backend, batch, steps, imagesPerSecond: batch / median,
    secondsPerStep: { median, min: sorted[0], mean }, warmupSteps: warmup, input: [...o.input], classes,
    threads: o.threads ?? null, width: o.width ?? null, optimizer, executionProvider: o.backend === 'native' ? (o.executionProvider ?? 'cpu') : 'wasm',
    setupSeconds, lastLoss,
    objective: o.objective ? { key: o.objective.key, spec: o.objective.spec, inputs } : null,
  };
}
