/**
 * The training loop: epochs of seeded shuffled batches of a FIXED size (the last partial batch of every epoch is
 * dropped: MaxPoolGrad/AveragePoolGrad need static shapes), optional gradient accumulation (`accumulationSteps`
 * micro-batches per optimizer step; the micro-batches that do not fill a last optimizer step are dropped too, so
 * every epoch — and every checkpoint — ends on an optimizer-step boundary), evaluation of test top-1 after every epoch, an atomic
 * checkpoint after every epoch, metrics as JSON lines, and exact resume: calling `train` again on the same runDir
 * continues from the last checkpoint (also after `kill -9`) and returns a finished run without recomputing it.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRng, KqkdError, ownFolder, RunFailedError, writeFileAtomic } from '@kqkd/common';
import { batches, datasetFromImages, datasetNormalization, loadDataset, sliceDataset, type Dataset, type ImageDataset, type Normalization } from '@kqkd/data';
import { learningRateAt, type LrSchedule } from '@kqkd/autodiff';
import { backendFactory, DEFAULT_BACKEND } from './backends/registry.js';
import type { BackendFactory, TrainBackend } from './backends/types.js';
import { configHash, parseTrainConfig, type TrainConfig, type TrainConfigInput } from './config.js';
import type { TrainingObjective } from './objective.js';
import { onnxStudent } from './student-graph.js';
import { exportModel, missedEpochModels, saveEpochModel } from './model-files.js';
import { checkpointPath, loadRunState, saveRunState, type EpochMetrics, type RecordedConfig, type RunState } from './run-state.js';

export const METRICS_JSONL = 'metrics.jsonl';
export const METRICS_JSON = 'metrics.json';
export const RESULTS_JSON = 'results.json';
export const MODEL_ONNX = 'model.onnx';
/**
 * A run evaluated on a validation split keeps the model of its best validation epoch here (the earliest on ties), so
 * a checkpoint can be chosen on validation data; a run evaluated on the test split never writes it (choosing an epoch
 * on the test set is what it must not invite).
 */
export const BEST_MODEL_ONNX = 'model-best.onnx';

export type TrainProgress =
  /** `stepsPerEpoch` counts optimizer steps, `batchesPerEpoch` micro-batches (= stepsPerEpoch × accumulationSteps). */
  | { kind: 'start'; fromEpoch: number; epochs: number; stepsPerEpoch: number; batchesPerEpoch: number; batchSize: number; accumulationSteps: number;
    droppedPerEpoch: number; trainCount: number; testCount: number; resumed: boolean }
  /** One micro-batch (`batch` of `batches`); `loss` is its mean loss; `step` the optimizer step it belongs to. */
  | { kind: 'batch'; epoch: number; epochs: number; batch: number; batches: number; step: number; loss: number; imagesPerSecond: number; etaSeconds: number }
  | { kind: 'eval'; epoch: number; done: number; total: number }
  /** Stopped by the AbortSignal after `batch` of `batches` micro-batches of `epoch`, checkpoint written. */
  | { kind: 'stopped'; epoch: number; batch: number; batches: number }
  /** Something the user should know that is not an error (a stale lock taken over). */
  | { kind: 'notice'; message: string }
  /** An image folder's images decoded into its cache (`done` of `total`; only when the cache is built). */
  | { kind: 'data'; done: number; total: number; label: string }
  | { kind: 'epoch'; metrics: EpochMetrics; best: { epoch: number; testTop1: number } }
  | { kind: 'done'; results: TrainResults; recomputed: boolean };

export interface TrainOptions extends TrainConfigInput {
  onProgress?: (event: TrainProgress) => void;
  /** Stop cleanly after this many completed epochs of this call (the run stays resumable). Tests and time slicing. */
  stopAfterEpochs?: number;
  /** Intra-op threads of the ONNX Runtime sessions (default: ONNX Runtime's choice, one per physical core). */
  threads?: number;
  /** Execution provider of the native backend's sessions: 'cpu' (default) or 'cuda'. */
  executionProvider?: 'cpu' | 'cuda';
  /**
   * Stops the run at the next optimizer step with a checkpoint to continue exactly there (the call then rejects with
   * the signal's reason); calling `train` again resumes.
   */
  signal?: AbortSignal;
  /**
   * Take a run folder that holds files kqkd did not write, or another config's run (they are written over); and
   * resume a checkpoint that has lost every record to verify it by (written before checkpoints carried a digest,
   * its manifest deleted).
   */
  force?: boolean;
  /** Who owns the run besides this process (a queue job): its lock, left on another host, is taken over (@kqkd/common acquireRunLock). */
  lockOwner?: string;
  /** Replace the ONNX Runtime backend (tests, other runtimes). */
  createBackend?: BackendFactory;
  /**
   * Datasets instead of loading `dataset.name` (tests): streaming `Dataset`s (@kqkd/data) or in-memory
   * `ImageDataset`s (wrapped with `datasetFromImages`); limits still apply, normalisation is `dataset.name`'s.
   */
  data?: { train: Dataset | ImageDataset; test: Dataset | ImageDataset };
  /**
   * What the student is trained for instead of plain cross-entropy (a distillation method of @kqkd/distill, with the
   * teacher's rows for each batch). Its `key: spec` joins the run's recorded config and hash.
   */
  objective?: TrainingObjective;
}

export interface TrainResults {
  /** Best test top-1 over the epochs (percent), and the epoch it was reached. */
  top1Best: number;
  bestEpoch: number;
  /** Test top-1 after the last epoch (percent). */
  top1Last: number;
  epochs: number;
  /** Wall seconds of the whole run (all sessions, training + evaluation). */
  seconds: number;
  /** Training images per second, averaged over the run. */
  imagesPerSecond: number;
  configHash: string;
  /** True when the run stopped early (stopAfterEpochs) and can be resumed. */
  partial?: boolean;
  completedEpochs: number;
  /** Micro-batch size; the effective batch per optimizer step is batchSize × accumulationSteps. */
  batchSize: number;
  accumulationSteps: number;
  droppedPerEpoch: number;
  model?: string;
  /** Runs evaluated on a validation split: the file holding the best validation epoch's model (`bestEpoch`). */
  bestModel?: string;
}

/** The first `n` images of `d` (labels cut; images are read on demand, so nothing else changes). */
function limit(d: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= d.count) return d;
  return { ...d, count: n, labels: d.labels.subarray(0, n) };
}

function asDataset(d: Dataset | ImageDataset, name: TrainConfig['dataset']['name'], split: 'train' | 'test'): Dataset {
  return typeof (d as Dataset).readImages === 'function' ? d as Dataset : datasetFromImages(d as ImageDataset, { name, split });
}

/**
 * Opens both splits of the configured dataset for streaming (@kqkd/data `loadDataset`): labels in memory, pixels
 * read (CIFAR records) or decoded (Tiny ImageNet JPEGs, or its optional decoded cache) one batch at a time;
 * Fashion-MNIST is small and read whole.
 */
export async function openSplits(
  c: Pick<TrainConfig, 'dataset'>, given?: TrainOptions['data'],
  hooks?: { onProgress?: (done: number, total: number, label: string) => void; log?: (line: string) => void },
): Promise<{ train: Dataset; test: Dataset }> {
  const name = c.dataset.name;
  let raw: { train: Dataset; test: Dataset };
  if (given) {
    raw = { train: asDataset(given.train, name, 'train'), test: asDataset(given.test, name, 'test') };
  } else {
    const cacheDir = c.dataset.cacheDir;
    const d = c.dataset;
    const folder = name === 'image-folder';
    if (cacheDir !== undefined && !folder) mkdirSync(cacheDir, { recursive: true });
    const open = (split: 'train' | 'test') => loadDataset(name, {
      split, ...(c.dataset.dir !== undefined ? { dir: c.dataset.dir } : {}),
      ...(cacheDir !== undefined && !folder ? { cache: join(cacheDir, `${name}-${split}.npy`) } : {}),
      ...(folder ? {
        ...(d.imageSize !== undefined ? { imageSize: d.imageSize } : {}), ...(d.channels !== undefined ? { channels: d.channels } : {}),
        ...(d.testFraction !== undefined ? { testFraction: d.testFraction } : {}), ...(d.splitSeed !== undefined ? { splitSeed: d.splitSeed } : {}),
        ...(cacheDir !== undefined ? { cacheDir } : {}), ...(d.skipBad !== undefined ? { skipBad: d.skipBad } : {}),
        ...(hooks?.onProgress ? { onProgress: hooks.onProgress } : {}), ...(hooks?.log ? { log: hooks.log } : {}),
      } : {}),
    });
    raw = { train: await open('train'), test: await open('test') };
  }
  const { train: tr, test: te } = raw;
  if (tr.classes !== te.classes || tr.channels !== te.channels || tr.height !== te.height || tr.width !== te.width) {
    throw new KqkdError(`dataset ${name} test split`, `the training split's geometry (${tr.classes} classes, ${tr.channels}×${tr.height}×${tr.width})`,
      `${te.classes} classes, ${te.channels}×${te.height}×${te.width}`);
  }
  const v = c.dataset.validation;
  if (v === undefined) return { train: limit(tr, c.dataset.trainLimit), test: limit(te, c.dataset.testLimit) };
  if (v >= tr.count) {
    throw new KqkdError('config.dataset.validation', `fewer than the ${tr.count} training images (the rest is trained on)`, String(v));
  }
  // The held-out images are the LAST v of the training split: the training part stays a prefix (trainLimit applies
  // to it), and the evaluation set never overlaps what is trained on.
  return { train: limit(sliceDataset(tr, 0, tr.count - v), c.dataset.trainLimit), test: { ...sliceDataset(tr, tr.count - v, tr.count), split: 'train' } };
}

/** What the per-epoch evaluation measures: the test split, or the held-out validation images. */
export function evaluationSplit(c: Pick<TrainConfig, 'dataset'>): 'test' | 'validation' {
  return c.dataset.validation === undefined ? 'test' : 'validation';
}

/** The learning-rate schedule of a config over `totalSteps` updates (optimizer steps; milestones given in epochs). */
export function scheduleFor(c: TrainConfig, stepsPerEpoch: number): LrSchedule {
  const lr = c.optimizer.lr;
  const totalSteps = c.epochs * stepsPerEpoch;
  switch (c.schedule) {
    case 'constant': return { kind: 'constant', lr };
    case 'multistep': return { kind: 'multistep', lr, gamma: c.gamma, milestones: [...new Set((c.milestones ?? []).map((e) => e * stepsPerEpoch))] };
    case 'one-cycle': {
      if (totalSteps < 4) throw new KqkdError('config.epochs × steps per epoch', 'at least 4 updates for the one-cycle schedule', String(totalSteps));
      const o = c.oneCycle;
      return {
        kind: 'one-cycle', maxLr: lr, totalSteps, pctStart: o.pctStart, divFactor: o.divFactor, finalDivFactor: o.finalDivFactor,
        cycleMomentum: o.cycleMomentum ?? c.optimizer.type === 'adamw', baseMomentum: o.baseMomentum, maxMomentum: o.maxMomentum,
      };
    }
  }
}

const SHUFFLE_STREAM = 0x5eed;
/** A batch loss this many times the run's starting loss is divergence (the run stops, marked failed). */
export const DIVERGENCE_FACTOR = 100;
/** The starting loss divergence is judged against: the mean of the run's first batches. */
const REFERENCE_BATCHES = 5;

/** results.json of a run that failed: the epochs it completed and why it stopped (`failed`); the checkpoint stays. */
function writeFailure(runDir: string, state: RunState, config: RecordedConfig, failed: { reason: string; epoch: number; step: number; loss: number | string }): void {
  if (state.history.length > 0) writeMetrics(runDir, state);
  writeFileAtomic(join(runDir, RESULTS_JSON), `${JSON.stringify({
    failed, completedEpochs: state.epoch, epochs: config.epochs, configHash: state.configHash,
    ...(state.history.length ? { top1Last: state.history[state.history.length - 1].testTop1 } : {}),
    note: 'the run failed (failed.reason); metrics.jsonl holds the epochs it completed', config,
  }, null, 2)}\n`);
}

/** What an aborted call rejects with: the signal's reason, or an AbortError. */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('The training run was stopped; run it again to resume'), { name: 'AbortError' });
}

/** The config a run records (checkpoint, results.json): the training config with the objective's settings under its key. */
export function recordedConfig(cfg: TrainConfig, objective?: Pick<TrainingObjective, 'key' | 'spec'>): RecordedConfig {
  return objective ? { ...cfg, [objective.key]: objective.spec } : cfg;
}
/** Stream of the augmentation draws: batch k of epoch e uses augmentSeed(seed ^ AUGMENT_STREAM, e, k) (@kqkd/data). */
const AUGMENT_STREAM = 0xa46e;

function readResults(runDir: string): TrainResults | undefined {
  const p = join(runDir, RESULTS_JSON);
  if (!existsSync(p) || !existsSync(join(runDir, MODEL_ONNX))) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as TrainResults;
  } catch {
    return undefined;
  }
}

function summarize(state: RunState, batchSize: number, accumulationSteps: number, droppedPerEpoch: number, partial: boolean): TrainResults {
  const h = state.history;
  const best = h.reduce((b, m) => (m.testTop1 > b.testTop1 ? m : b), h[0]);
  const last = h[h.length - 1];
  const trainImages = state.step * batchSize * accumulationSteps;
  return {
    top1Best: best?.testTop1 ?? NaN, bestEpoch: best?.epoch ?? 0, top1Last: last?.testTop1 ?? NaN,
    epochs: state.config.epochs, seconds: state.seconds, imagesPerSecond: state.seconds > 0 ? trainImages / state.seconds : 0,
    configHash: state.configHash, completedEpochs: state.epoch, batchSize, accumulationSteps, droppedPerEpoch, ...(partial ? { partial: true } : {}),
  };
}

function writeMetrics(runDir: string, state: RunState): void {
  writeFileAtomic(join(runDir, METRICS_JSONL), state.history.map((m) => `${JSON.stringify(m)}\n`).join(''));
  const h = state.history;
  const best = h.reduce((b, m) => (m.testTop1 > b.testTop1 ? m : b), h[0]);
  const last = h[h.length - 1];
  writeFileAtomic(join(runDir, METRICS_JSON), `${JSON.stringify({
    epochs: h.map((m) => ({ epoch: m.epoch, trainLoss: m.trainLoss, testTop1: m.testTop1, seconds: m.seconds })),
    best: best ? { epoch: best.epoch, testTop1: best.testTop1 } : null,
    last: last ? { epoch: last.epoch, testTop1: last.testTop1 } : null,
    accuracy: 'testTop1 in percent; best = best epoch, last = last epoch',
  }, null, 2)}\n`);
}

/** Top-1 correct count and summed CE (float64) of logits [n, k] against labels. */
export function scoreLogits(logits: Float32Array, labels: ArrayLike<number>, n: number, k: number): { correct: number; lossSum: number } {
  let correct = 0;
  let lossSum = 0;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let arg = 0;
    let max = logits[o];
    for (let j = 1; j < k; j++) if (logits[o + j] > max) { max = logits[o + j]; arg = j; }
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[o + j] - max);
    lossSum += Math.log(sum) + max - logits[o + labels[i]];
    if (arg === labels[i]) correct++;
  }
  return { correct, lossSum };
}

/** Files kqkd writes in a run folder (besides its marker and lock): a folder holding only these is a kqkd run's. */
export const RUN_FILES: readonly string[] = ['checkpoint', METRICS_JSONL, METRICS_JSON, RESULTS_JSON, MODEL_ONNX, BEST_MODEL_ONNX, 'run.json', 'log.txt'];

/**
 * Runs (or resumes, or just reports) a training run. See the module comment for the guarantees. The run folder is
 * checked, locked and claimed before anything is computed: a second process on it, another config's outputs or
 * files kqkd did not write are refused (the latter two unless `force`).
 */
export async function train(options: TrainOptions): Promise<TrainResults> {
  const { onProgress, stopAfterEpochs, createBackend, data: given, objective, threads, executionProvider, signal, force, lockOwner, ...configInput } = options ?? ({} as TrainOptions);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw new KqkdError('threads', 'an integer between 1 and 1024', String(threads));
  }
  const cfg = parseTrainConfig(configInput);
  if (objective?.refusesAugmentation && cfg.augment) {
    throw new KqkdError('config.augment', `nothing for this run: ${objective.refusesAugmentation}`, JSON.stringify(cfg.augment));
  }
  const runDir = resolve(cfg.runDir);
  const hash = configHash(cfg, objective);
  const emit = onProgress ?? (() => {});
  const folder = ownFolder(runDir, 'runDir', {
    kind: 'train', configHash: hash, ownFiles: RUN_FILES, ...(force ? { force } : {}),
    // run folders of kqkd versions before the marker: theirs when the checkpoint is this config's
    adopt: () => existsSync(checkpointPath(runDir)) && loadRunState(runDir, { trust: force })?.configHash === hash,
  }, lockOwner ? { lockOwner } : {});
  try {
    if (folder.lock.tookOver) emit({ kind: 'notice', message: `took over the lock of pid ${folder.lock.tookOver.pid} (no longer running) on ${runDir}` });
    const result = await runInFolder({ cfg, runDir, hash, objective, emit, stopAfterEpochs, createBackend, given, threads, executionProvider, signal, trust: force === true });
    folder.release();
    return result;
  } catch (err) {
    // A refusal before the first checkpoint (a missing dataset, a graph that cannot be built) leaves nothing behind.
    if (err instanceof KqkdError && !(err instanceof RunFailedError) && !existsSync(checkpointPath(runDir))) folder.rollback();
    else folder.release();
    throw err;
  }
}

/** Micro-batches and optimizer steps per epoch; the images after the last full optimizer step (A × B) are dropped. */
function epochBatching(cfg: TrainConfig, trainCount: number) {
  const B = cfg.batchSize;
  const A = cfg.accumulationSteps;
  const stepsPerEpoch = Math.floor(trainCount / (A * B));
  if (stepsPerEpoch === 0) {
    throw new KqkdError(A === 1 ? 'config.batchSize' : 'config.batchSize × config.accumulationSteps', `at most the training set size ${trainCount}`,
      A === 1 ? String(B) : `${B} × ${A} = ${A * B}`);
  }
  const batchesPerEpoch = stepsPerEpoch * A;
  return { B, A, stepsPerEpoch, batchesPerEpoch, dropped: trainCount - batchesPerEpoch * B };
}

/** What training an imported file means (BN kept or folded away, Dropout as identity), in the run's log. */
function onnxStudentNotices(spec: TrainConfig['modelSpec'], emit: (e: TrainProgress) => void): void {
  const s = onnxStudent(spec as Parameters<typeof onnxStudent>[0]);
  emit({ kind: 'notice', message: `ONNX student ${s.info.file} (sha256 ${s.info.sha256.slice(0, 16)}…, opset ${s.info.opset}, ${s.info.params} parameters, ${s.info.nodes} nodes replayed, ${s.info.folded} folded)` });
  for (const note of s.info.notes) emit({ kind: 'notice', message: `ONNX student: ${note}` });
}

/**
 * Divergence: a non-finite loss, or one far above what the run started with (the mean loss of its first
 * REFERENCE_BATCHES batches, kept in the checkpoint so a resumed run judges by the same number). Records the failure
 * in results.json and throws a RunFailedError.
 */
function failIfDiverged(loss: number, state: RunState, c: {
  runDir: string; recorded: RunState['config']; schedule: LrSchedule; epoch: number; stepOfBatch: number; b: number; micro: number; A: number; batchesPerEpoch: number;
}): void {
  const reference = state.lossReference;
  if (Number.isFinite(loss) && (reference === undefined || loss <= DIVERGENCE_FACTOR * reference)) return;
  const { runDir, recorded, schedule, epoch, stepOfBatch, b, micro, A, batchesPerEpoch } = c;
  const where = A === 1 ? `batch ${b + 1} of ${batchesPerEpoch}` : `micro-batch ${b + 1} of ${batchesPerEpoch}, ${micro + 1} of ${A} in the step`;
  const error = new RunFailedError(`training loss at step ${stepOfBatch} (epoch ${epoch}, ${where})`,
    !Number.isFinite(loss) ? 'a finite number'
      : `a loss below ${DIVERGENCE_FACTOR} × the mean of the run's first ${REFERENCE_BATCHES} batches, ${reference!.toPrecision(4)}`,
    String(loss), `the run diverged at learning rate ${learningRateAt(schedule, stepOfBatch - 1).toPrecision(4)}: lower it or check the data; ` +
    `${state.epoch > 0 ? `the checkpoint of epoch ${state.epoch} is unchanged` : 'no checkpoint was written'}, and ${RESULTS_JSON} records the failure`);
  writeFailure(runDir, state, recorded, { reason: error.message, epoch, step: stepOfBatch, loss: Number.isFinite(loss) ? loss : String(loss) });
  throw error;
}

/** Top-1 hits and the summed loss of the backend's eval model over the evaluation split. */
async function evaluateEpoch(backend: TrainBackend, testSet: Dataset, evalBatch: number, norm: Normalization, progress: (done: number) => void) {
  let correct = 0;
  let testLossSum = 0;
  let evaluated = 0;
  for await (const batch of batches(testSet, { batchSize: evalBatch, normalization: norm })) {
    const n = batch.labels.length;
    const logits = await backend.evalLogits(batch.data, n);
    const s = scoreLogits(logits, batch.labels, n, testSet.classes);
    correct += s.correct;
    testLossSum += s.lossSum;
    evaluated += n;
    progress(evaluated);
  }
  return { correct, testLossSum };
}

/** results.json: the summary, the data and input it was trained on, what the figures mean, the recorded config. */
function writeResultsJson(runDir: string, results: TrainResults, c: {
  cfg: TrainConfig; recorded: RunState['config']; trainSet: Dataset; testSet: Dataset;
  inputShape: readonly number[]; norm: Normalization; dropped: number;
}): void {
  const { cfg, recorded, trainSet, testSet, inputShape, norm, dropped } = c;
  const B = cfg.batchSize;
  const A = cfg.accumulationSteps;
  writeFileAtomic(join(runDir, RESULTS_JSON), `${JSON.stringify({
    ...results, dataset: cfg.dataset.name, modelName: cfg.modelSpec.name,
    trainCount: trainSet.count, testCount: testSet.count, evaluatedOn: evaluationSplit(cfg),
    input: { name: 'input', shape: ['N', ...inputShape], classes: trainSet.classes, normalization: { mean: [...norm.mean], std: [...norm.std] } },
    note: `top-1 in percent on the ${evaluationSplit(cfg) === 'test' ? 'test split' : `validation split (the last ${cfg.dataset.validation} training images, held out; testTop1 fields hold validation accuracy)`}; top1Best = best epoch, top1Last = last epoch; fixed training batch ${B}` +
      (A > 1 ? ` × ${A} accumulated micro-batches per optimizer step (gradient = mean over them; effective batch ${A * B})` : '') +
      `, the last ${dropped} image(s) of every shuffled epoch dropped`,
    config: recorded,
  }, null, 2)}\n`);
}

/** The mutable part of an epoch: the run state, the summed loss, the optimizer step and the next micro-batch. */
interface EpochProgress { state: RunState; lossSum: number; step: number; b: number }

/**
 * Phase of an epoch: its micro-batches through the backend (streamed, augmented), the divergence check, progress
 * events, and a stop between optimizer steps that saves everything needed to continue exactly there.
 */
async function trainEpochBatches(run: EpochProgress, c: {
  cfg: TrainConfig; runDir: string; recorded: RunState['config']; schedule: LrSchedule; backend: TrainBackend; objective?: TrainingObjective;
  trainSet: Dataset; norm: Normalization; order: number[]; yBuf: BigInt64Array; firstLosses: number[]; epoch: number; t0: number;
  resumeAt: { batches: number; lossSum: number; seconds: number }; rngBeforeShuffle: ReturnType<ReturnType<typeof createRng>['state']>;
  batchesPerEpoch: number; emit: (e: TrainProgress) => void; signal?: AbortSignal;
}): Promise<void> {
  const { cfg, runDir, recorded, schedule, backend, objective, trainSet, norm, order, yBuf, firstLosses, epoch, t0, resumeAt, rngBeforeShuffle, batchesPerEpoch, emit, signal } = c;
  const B = cfg.batchSize;
  const A = cfg.accumulationSteps;
  // Streamed: only this micro-batch (and the next, read/decoded while this one trains) is in memory.
  const stream = batches(trainSet, {
    indices: order.slice(resumeAt.batches * B, batchesPerEpoch * B), batchSize: B, normalization: norm, dropLast: true,
    ...(cfg.augment ? { augment: { spec: cfg.augment, seed: (cfg.seed ^ AUGMENT_STREAM) >>> 0, coordinates: [epoch], firstBatch: resumeAt.batches } } : {}),
  });
  // Micro-batch run.b belongs to optimizer run.step ⌊run.b / A⌋ of the epoch; the update runs after its last micro-batch.
  for await (const batch of stream) {
    for (let i = 0; i < B; i++) yBuf[i] = BigInt(batch.labels[i]);
    const micro = run.b % A;
    const extra = objective ? objective.feeds(order.slice(run.b * B, (run.b + 1) * B)) : undefined;
    const loss = await backend.step(batch.data, yBuf, { index: micro, of: A }, extra);
    const stepOfBatch = run.step + 1;
    if (micro === A - 1) run.step++;
    // Divergence: a non-finite loss, or one far above what the run started with (the mean loss of its first
    // REFERENCE_BATCHES batches, kept in the checkpoint so a resumed run judges by the same number).
    if (run.state.lossReference === undefined && epoch === 1) {
      firstLosses.push(loss);
      if (firstLosses.length === Math.min(REFERENCE_BATCHES, batchesPerEpoch) && firstLosses.every(Number.isFinite)) {
        run.state = { ...run.state, lossReference: firstLosses.reduce((a, v) => a + v, 0) / firstLosses.length };
      }
    }
    failIfDiverged(loss, run.state, { runDir, recorded, schedule, epoch, stepOfBatch, b: run.b, micro, A, batchesPerEpoch });
    run.lossSum += loss;
    const secs = (performance.now() - t0) / 1000;
    const ips = ((run.b + 1 - resumeAt.batches) * B) / secs;
    emit({ kind: 'batch', epoch, epochs: cfg.epochs, batch: run.b + 1, batches: batchesPerEpoch, step: stepOfBatch, loss, imagesPerSecond: ips,
      etaSeconds: (batchesPerEpoch - run.b - 1) * B / ips });
    run.b++;
    if (signal?.aborted && micro === A - 1 && run.b < batchesPerEpoch) {
      // Stop between optimizer steps with everything needed to continue exactly here.
      const s = await backend.state();
      const spent = (performance.now() - t0) / 1000;
      run.state = {
        ...run.state, ...s, step: run.step, rngState: rngBeforeShuffle, seconds: run.state.seconds + spent,
        partialEpoch: { batches: run.b, lossSum: run.lossSum, seconds: resumeAt.seconds + spent },
      };
      saveRunState(runDir, run.state);
      emit({ kind: 'stopped', epoch, batch: run.b, batches: batchesPerEpoch });
      throw abortReason(signal);
    }
  }
}

/**
 * End of an epoch: the backend's state (its step count checked), the best model so far (validation runs) and the
 * epoch's model when `saveEpochs` lists it (both written before the checkpoint, so a kill between the two redoes this
 * epoch exactly), the checkpoint and metrics, the event.
 */
async function checkpointEpoch(state: RunState, metrics: EpochMetrics, c: {
  cfg: TrainConfig; runDir: string; backend: TrainBackend; rngState: RunState['rngState']; resumedSeconds: number; emit: (e: TrainProgress) => void;
  trainSet: Dataset; norm: Normalization; resumed: boolean;
}): Promise<RunState> {
  const { cfg, runDir, backend, rngState, resumedSeconds, emit } = c;
  const { epoch, step, seconds } = metrics;
  const s = await backend.state();
  if (s.step !== step) throw new KqkdError('backend step count', String(step), String(s.step));
  if (evaluationSplit(cfg) === 'validation' && state.history.every((m) => metrics.testTop1 > m.testTop1)) {
    writeFileAtomic(join(runDir, BEST_MODEL_ONNX), await exportModel(backend, c));
  }
  await saveEpochModel({ ...c, saveEpochs: cfg.saveEpochs, epoch });
  const { partialEpoch: _done, ...rest } = state;
  const next: RunState = { ...rest, ...s, epoch, step, rngState, seconds: state.seconds + seconds - resumedSeconds, history: [...state.history, metrics] };
  saveRunState(runDir, next);
  writeMetrics(runDir, next);
  const best = next.history.reduce((a, m) => (m.testTop1 > a.testTop1 ? m : a), next.history[0]);
  emit({ kind: 'epoch', metrics, best: { epoch: best.epoch, testTop1: best.testTop1 } });
  return next;
}

/** End of the call: metrics, the exported model when the run is finished, results.json and the done event. */
async function finishRun(state: RunState, c: {
  cfg: TrainConfig; runDir: string; backend: TrainBackend; recorded: RunState['config']; trainSet: Dataset; testSet: Dataset;
  inputShape: readonly number[]; norm: Normalization; dropped: number; emit: (e: TrainProgress) => void;
}): Promise<TrainResults> {
  const { cfg, runDir, backend, dropped, emit } = c;
  if (state.history.length > 0) writeMetrics(runDir, state);
  const finished = state.epoch >= cfg.epochs;
  const results = summarize(state, cfg.batchSize, cfg.accumulationSteps, dropped, !finished);
  if (finished) {
    writeFileAtomic(join(runDir, MODEL_ONNX), await exportModel(backend, c));
    results.model = MODEL_ONNX;
    if (evaluationSplit(cfg) === 'validation') results.bestModel = BEST_MODEL_ONNX;
  }
  writeResultsJson(runDir, results, c);
  emit({ kind: 'done', results, recomputed: true });
  return results;
}

/**
 * The epoch's order: every epoch shuffles the identity order, so the permutation depends only on the RNG state. A run
 * stopped inside this epoch continues after the micro-batches it had done (same order: the RNG state saved is the one
 * before this epoch's shuffle).
 */
function shuffleEpoch(state: RunState, order: number[], rng: ReturnType<typeof createRng>) {
  const resumeAt: { batches: number; lossSum: number; seconds: number } = state.partialEpoch ?? { batches: 0, lossSum: 0, seconds: 0 };
  for (let i = 0; i < order.length; i++) order[i] = i;
  const rngBeforeShuffle = rng.state();
  rng.shuffle(order);
  return { resumeAt, rngBeforeShuffle };
}

/**
 * Normalisation: the dataset's published per-channel constants (@kqkd/data NORMALIZATION), or an image folder's
 * training-part statistics; the same the exported model.onnx expects (results.json records them).
 */
function trainingNormalization(trainSet: Dataset): Normalization {
  const norm: Normalization = datasetNormalization(trainSet);
  if (trainSet.channels !== norm.mean.length) throw new KqkdError('dataset channels', `${norm.mean.length}`, String(trainSet.channels));
  return norm;
}

/**
 * The folder's checkpoint (undefined for a new run), refused when it is another config's; the epochs `saveEpochs`
 * lists that this run is already past, their files missing, are said in a notice.
 */
function ownRunState(cfg: TrainConfig, runDir: string, hash: string, trust: boolean, emit: (e: TrainProgress) => void): RunState | undefined {
  const state = loadRunState(runDir, { trust });
  if (state && state.configHash !== hash) {
    throw new KqkdError(`runDir "${runDir}"`, `a run with config hash ${hash} (or a new folder)`,
      `a run with config hash ${state.configHash}`, 'the folder holds a run with different settings; choose another output folder');
  }
  const missed = state && missedEpochModels(cfg.saveEpochs, state.epoch, runDir);
  if (missed) emit({ kind: 'notice', message: missed });
  return state;
}

async function runInFolder(o: {
  cfg: TrainConfig; runDir: string; hash: string; objective?: TrainingObjective; emit: (e: TrainProgress) => void;
  stopAfterEpochs?: number; createBackend?: BackendFactory; given?: TrainOptions['data']; threads?: number;
  executionProvider?: 'cpu' | 'cuda'; signal?: AbortSignal; trust: boolean;
}): Promise<TrainResults> {
  const { cfg, runDir, hash, objective, emit, stopAfterEpochs, createBackend, given, threads, executionProvider, signal } = o;
  // The config as recorded (checkpoint, results.json): the objective's settings under its key.
  const recorded = recordedConfig(cfg, objective);
  let state = ownRunState(cfg, runDir, hash, o.trust, emit);
  const resumed = state !== undefined;
  const { train: trainSet, test: testSet } = await openSplits(cfg, given, {
    onProgress: (done, total, label) => emit({ kind: 'data', done, total, label }), log: (message) => emit({ kind: 'notice', message }),
  });
  const { B, A, stepsPerEpoch, batchesPerEpoch, dropped } = epochBatching(cfg, trainSet.count);

  if (state && state.epoch >= cfg.epochs) {
    const done = readResults(runDir);
    if (done && !done.partial) {
      emit({ kind: 'done', results: done, recomputed: false });
      return done;
    }
  }

  const schedule = scheduleFor(cfg, stepsPerEpoch);
  const inputShape = [trainSet.channels, trainSet.height, trainSet.width] as const;
  const evalBatch = Math.min(cfg.evalBatchSize, testSet.count);
  if (cfg.modelSpec.name === 'onnx') onnxStudentNotices(cfg.modelSpec, emit);
  const backend = await (createBackend ?? backendFactory(cfg.backend ?? DEFAULT_BACKEND))({
    modelSpec: cfg.modelSpec, classes: trainSet.classes, inputShape: [...inputShape], batchSize: B, evalBatchSize: evalBatch,
    optimizer: cfg.optimizer, schedule, seed: cfg.seed, state, accumulationSteps: A, ...(threads !== undefined ? { threads } : {}),
    ...(objective ? { objective } : {}), ...(executionProvider ? { executionProvider } : {}),
  });
  try {
    // A new run starts from the backend's initial parameters and the shuffle stream's first state.
    state ??= { ...await backend.state(), configHash: hash, epoch: 0, rngState: createRng(cfg.seed ^ SHUFFLE_STREAM).state(), seconds: 0, history: [], config: recorded };
    const rng = createRng(cfg.seed ^ SHUFFLE_STREAM, state.rngState);
    emit({
      kind: 'start', fromEpoch: state.epoch, epochs: cfg.epochs, stepsPerEpoch, batchesPerEpoch, batchSize: B, accumulationSteps: A, droppedPerEpoch: dropped,
      trainCount: trainSet.count, testCount: testSet.count, resumed: state.epoch > 0,
    });
    const norm = trainingNormalization(trainSet);
    const yBuf = new BigInt64Array(B);
    const firstLosses: number[] = [];
    const order = Array.from({ length: trainSet.count }, (_, i) => i);
    let ranThisCall = 0;

    while (state.epoch < cfg.epochs && (stopAfterEpochs === undefined || ranThisCall < stopAfterEpochs)) {
      if (signal?.aborted) throw abortReason(signal);
      const epoch: number = state.epoch + 1;
      const t0 = performance.now();
      const { resumeAt, rngBeforeShuffle } = shuffleEpoch(state, order, rng);
      const run: EpochProgress = { state, lossSum: resumeAt.lossSum, step: state.step, b: resumeAt.batches };
      await trainEpochBatches(run, {
        cfg, runDir, recorded, schedule, backend, ...(objective ? { objective } : {}), trainSet, norm, order, yBuf, firstLosses, epoch, t0,
        resumeAt, rngBeforeShuffle, batchesPerEpoch, emit, ...(signal ? { signal } : {}),
      });
      state = run.state;
      const { lossSum, step, b } = run;
      if (b !== batchesPerEpoch) throw new KqkdError(`epoch ${epoch} batches`, String(batchesPerEpoch), String(b));
      const trainSeconds = (performance.now() - t0) / 1000;
      const { correct, testLossSum } = await evaluateEpoch(backend, testSet, evalBatch, norm, (done) => emit({ kind: 'eval', epoch, done, total: testSet.count }));
      const seconds: number = resumeAt.seconds + (performance.now() - t0) / 1000;
      const metrics: EpochMetrics = {
        epoch, trainLoss: lossSum / batchesPerEpoch, testLoss: testLossSum / testSet.count,
        testTop1: (100 * correct) / testSet.count, testCorrect: correct, testCount: testSet.count,
        lr: learningRateAt(schedule, step - 1), step, seconds, imagesPerSecond: ((batchesPerEpoch - resumeAt.batches) * B) / trainSeconds,
      };
      state = await checkpointEpoch(state, metrics, { cfg, runDir, backend, rngState: rng.state(), resumedSeconds: resumeAt.seconds, emit, trainSet, norm, resumed });
      ranThisCall++;
    }

    return await finishRun(state, { cfg, runDir, backend, recorded, trainSet, testSet, inputShape, norm, dropped, emit });
  } finally {
    await backend.release();
  }
}
