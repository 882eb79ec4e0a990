/**
 * `benchTrainStep`: images/s of full training steps (forward + backward + optimizer update, BN write-back) of a zoo
 * model on random inputs, on either backend, after warm-up steps. Used by `kqkd bench train-step` and
 * tools/bench/train-step.mjs. With an `objective` (e.g. @kqkd/distill's `benchDistillObjective`: a distillation
 * method with its teacher features cached, tools/bench/train-step-fkd.mjs) the step is that objective's, and its
 * inputs are fed random normal values, generated once. With `profile` (native backend) ONNX Runtime's profiler records
 * the session and the timed steps' kernel time is summed per op type and per node (profile.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRng, expectInteger, KqkdError } from '@kqkd/common';
import { backendFactory } from './backends/registry.js';
import { nchwcBlockSize } from './backends/nchwc.js';
import type { BackendName } from './backends/names.js';
import { MODEL_NAMES, type ModelSpec } from './config.js';
import type { TrainingObjective } from './objective.js';
import { summarizeOrtProfile, type OrtProfileSummary } from './profile.js';
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
  /** Native CPU backend: stride-1 convolution weight gradients on the host (`BackendOptions.hostWeightGradients`). */
  hostWeightGradients?: boolean;
  /** Time this objective's step (its inputs fed random normal values) instead of plain cross-entropy. */
  objective?: TrainingObjective;
  /**
   * Profile the steps with ONNX Runtime's profiler (native backend only) and sum the timed steps' kernel time per op
   * type and node: `true` writes the trace to a temporary folder removed afterwards, a folder path keeps it there.
   * The timings of such a run include the profiler's own cost.
   */
  profile?: boolean | string;
}

/** The profile of the timed steps (warm-up steps excluded); shares are of the summed node time. */
export interface BenchTrainStepProfile extends OrtProfileSummary {
  /** The Chrome-trace JSON (chrome://tracing, Perfetto); null when it was written to a temporary folder, now removed. */
  file: string | null;
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
  /** The CPU model (results from different CPU kinds differ: compare ratios taken on one machine). */
  cpu: string;
  /** NCHWc block size of the native CPU backend's convolutions (@kqkd/autodiff nchwcBlockSize); 0 = standard Conv. */
  nchwcBlock: number;
  setupSeconds: number;
  lastLoss: number;
  /** The objective timed (its settings and the inputs fed per step); null for plain cross-entropy. */
  objective: { key: string; spec: unknown; inputs: { name: string; shape: number[] }[] } | null;
  /** With `profile`: where the timed steps' kernel time went; else null. */
  profile: BenchTrainStepProfile | null;
}

/** Nodes kept in `profile.topNodes`. */
const PROFILE_TOP_NODES = 20;

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
  const profile = o.profile ?? false;
  if (profile !== false) {
    if (profile !== true && (typeof profile !== 'string' || profile.length === 0)) {
      throw new KqkdError('profile', 'true, false or a folder to keep the trace in', JSON.stringify(profile));
    }
    if (o.backend !== 'native') throw new KqkdError('profile', 'backend "native" (ONNX Runtime profiles its training session)', `backend "${o.backend}"`);
  }
  if (o.executionProvider === 'cuda' && o.backend !== 'native') throw new KqkdError('executionProvider', '"cpu" for the web-training backend', '"cuda"');
  const profileDir = profile === true ? mkdtempSync(join(tmpdir(), 'kqkd-profile-')) : profile === false ? undefined : resolve(profile);
  try {
    if (typeof profile === 'string') mkdirSync(profileDir!, { recursive: true });
    return await run(o, { classes, batch, steps, warmup, optimizer }, profileDir, profile === true);
  } finally {
    if (profile === true) rmSync(profileDir!, { recursive: true, force: true });
  }
}

async function run(o: BenchTrainStepOptions, c: { classes: number; batch: number; steps: number; warmup: number; optimizer: 'adamw' | 'sgd' },
  profileDir: string | undefined, temporary: boolean): Promise<BenchTrainStepResult> {
  const { classes, batch, steps, warmup, optimizer } = c;
  const t0 = performance.now();
  const modelSpec = { name: o.model, ...(o.width !== undefined ? { width: o.width } : {}) } as ModelSpec;
  const opts: BackendOptions = {
    modelSpec, classes, inputShape: [...o.input], batchSize: batch, evalBatchSize: batch,
    optimizer: optimizer === 'adamw' ? { type: 'adamw', lr: 1e-3, weightDecay: 0.01 } : { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 },
    schedule: { kind: 'constant', lr: 1e-3 }, seed: 0,
    ...(o.threads !== undefined ? { threads: expectInteger('threads', o.threads, 1, 1024) } : {}),
    ...(o.executionProvider ? { executionProvider: o.executionProvider } : {}),
    ...(o.hostWeightGradients !== undefined ? { hostWeightGradients: o.hostWeightGradients } : {}),
    ...(o.objective ? { objective: o.objective } : {}),
    ...(profileDir !== undefined ? { profilePrefix: join(profileDir, `${o.model}-train-step`) } : {}),
  };
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
  let trace: string | undefined;
  try {
    for (let i = 0; i < warmup; i++) lastLoss = await backend.step(x, y, undefined, extra);
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      lastLoss = await backend.step(x, y, undefined, extra);
      times.push((performance.now() - t) / 1000);
    }
    if (profileDir !== undefined) trace = backend.endProfiling!();
  } finally {
    await backend.release();
  }
  // ORT cannot start profiling after the warm-up: the trace has every run, and the summary keeps the last `steps`.
  const profile = trace !== undefined
    ? { file: temporary ? null : trace, ...summarizeOrtProfile(readFileSync(trace, 'utf8'), { lastRuns: steps, topNodes: PROFILE_TOP_NODES }) }
    : null;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return {
    model: o.model, backend: o.backend, batch, steps, imagesPerSecond: batch / median,
    secondsPerStep: { median, min: sorted[0], mean }, warmupSteps: warmup, input: [...o.input], classes,
    threads: o.threads ?? null, width: o.width ?? null, optimizer, executionProvider: o.backend === 'native' ? (o.executionProvider ?? 'cpu') : 'wasm',
    cpu: cpus()[0]?.model?.trim() || 'unknown',
    nchwcBlock: o.backend === 'native' && (o.executionProvider ?? 'cpu') === 'cpu' ? await nchwcBlockSize() : 0,
    setupSeconds, lastLoss,
    objective: o.objective ? { key: o.objective.key, spec: o.objective.spec, inputs } : null,
    profile,
  };
}
