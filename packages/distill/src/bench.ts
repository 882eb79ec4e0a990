/**
 * `benchTrainStep`: images/s of full training steps (forward + backward + optimizer update, BN write-back) of a zoo
 * model on random inputs, on either backend, after warm-up steps. Used by `kqkd bench train-step` and
 * tools/bench/train-step.mjs. With `distill`, the step is the distillation step of that method with the teacher's
 * features cached (tools/bench/train-step-fkd.mjs): the student's graph gets the method's loss terms and its teacher
 * inputs are fed random normal values, generated once.
 */
import { createRng, expectInteger, KqkdError } from '@kqkd/common';
import { MODEL_NAMES, parseTrainConfig, type BackendName, type DistillSpec, type DistillSpecInput, type ModelSpec } from './config.js';
import { distillationInputs } from './distill-graph.js';
import { backendFactory } from './train.js';
import type { NativeBackendOptions } from './native-backend.js';

/** A distillation step to time: a DistillSpec without the teacher hash (a dummy of 64 zeros is filled in). */
export type BenchDistillOption = Omit<DistillSpecInput, 'teacherSha256'> & { teacherSha256?: string };

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
  /**
   * Time the distillation step of this method instead of plain CE: `pairs` (student layer → teacher layer with the
   * teacher's per-sample feature shape) and `teacherClasses` as in a training config's `distill` (config.ts); the
   * teacher inputs (`distillationInputs`) are random normal. SimKD (it needs the teacher's ONNX classifier) is not offered.
   */
  distill?: BenchDistillOption;
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
  /** The distillation step timed (method, pairs, teacher inputs fed per step); null for plain CE. */
  distill: { method: string; pairs: DistillSpec['pairs']; projector: string; inputs: { name: string; shape: number[] }[] } | null;
}

/**
 * Validates the bench's `distill` option through the training config's own rules (parseTrainConfig: schema and the
 * method's needs), reporting a problem as `distill.<field>`.
 */
export function benchDistillSpec(d: BenchDistillOption): DistillSpec {
  if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new KqkdError('distill', 'an object { method, pairs, teacherClasses }', JSON.stringify(d));
  let spec: DistillSpec;
  try {
    spec = parseTrainConfig({
      modelSpec: { name: 'small-cnn' }, dataset: { name: 'fashion-mnist' }, epochs: 1, optimizer: { type: 'adamw', lr: 1e-3 },
      runDir: '(bench)', distill: { teacherSha256: '0'.repeat(64), ...d },
    }).distill!;
  } catch (err) {
    if (err instanceof KqkdError && err.argument.startsWith('config.distill')) {
      throw new KqkdError(err.argument.slice('config.'.length), err.expected, err.received);
    }
    throw err;
  }
  if (spec.method === 'simkd') throw new KqkdError('distill.method', 'a method without SimKD\'s reused teacher classifier (the bench has no teacher model)', '"simkd"');
  return spec;
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
  const distill = o.distill !== undefined ? benchDistillSpec(o.distill) : undefined;
  const t0 = performance.now();
  const modelSpec = { name: o.model, ...(o.width !== undefined ? { width: o.width } : {}) } as ModelSpec;
  const opts: NativeBackendOptions = {
    modelSpec, classes, inputShape: [...o.input], batchSize: batch, evalBatchSize: batch,
    optimizer: optimizer === 'adamw' ? { type: 'adamw', lr: 1e-3, weightDecay: 0.01 } : { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 },
    schedule: { kind: 'constant', lr: 1e-3 }, seed: 0,
    ...(o.threads !== undefined ? { threads: expectInteger('threads', o.threads, 1, 1024) } : {}),
    ...(o.executionProvider ? { executionProvider: o.executionProvider } : {}),
    ...(distill ? { distill: { spec: distill } } : {}),
  };
  if (o.executionProvider === 'cuda' && o.backend !== 'native') throw new KqkdError('executionProvider', '"cpu" for the web-training backend', '"cuda"');
  const backend = await backendFactory(o.backend)(opts);
  const setupSeconds = (performance.now() - t0) / 1000;
  const rng = createRng(1);
  const x = Float32Array.from({ length: batch * o.input[0] * o.input[1] * o.input[2] }, () => rng.nextNormal());
  const y = BigInt64Array.from({ length: batch }, () => BigInt(rng.nextInt(classes)));
  const inputs = distill ? distillationInputs(distill).map(({ name, shape }) => ({ name, shape })) : [];
  const extra = inputs.length === 0 ? undefined : Object.fromEntries(inputs.map(({ name, shape }) =>
    [name, Float32Array.from({ length: batch * shape.reduce((a, b) => a * b, 1) }, () => rng.nextNormal())]));
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
    distill: distill ? { method: distill.method, pairs: distill.pairs, projector: distill.projector, inputs } : null,
  };
}
