/**
 * `runExperiment`: the paper's protocol end to end (@kqkd/experiment) from a preset or an experiment file (a path or
 * an object), with the overrides the command line offers.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { expectInteger, KqkdError } from '@kqkd/common';
import { METHOD_KEYS } from '@kqkd/distill';
import {
  LR_POLICIES, parseExperimentConfig, presetConfig, runExperiment as run,
  type ExperimentConfig, type ExperimentConfigInput, type ExperimentProgress, type ExperimentResults, type LrPolicy,
} from '@kqkd/experiment';

export interface ExperimentOverrides {
  methods?: readonly string[];
  seeds?: number;
  /** Student epochs. */
  epochs?: number;
  /** Import this ONNX teacher instead of training one. */
  teacher?: string;
  dataDir?: string;
  lrPolicy?: LrPolicy;
  /** Tune every method's peak learning rate over this grid on the validation split (the config's `tuning.lr`). */
  tuneLr?: readonly number[];
  /** Tuning seeds per grid point (the config's `tuning.seeds`; default 2). */
  tuneSeeds?: number;
  /** Hold out the last N training images as the validation split (the config's `dataset.validation`). */
  validation?: number;
  /** image-folder options merged into the config's dataset (imageSize, channels, testFraction, splitSeed, cacheDir, skipBad). */
  dataOptions?: { imageSize?: number; channels?: 1 | 3; testFraction?: number; splitSeed?: number; cacheDir?: string; skipBad?: boolean };
}

export interface ResolveExperimentOptions {
  /** A preset name (`quick`, `paper-…`), or */
  preset?: string;
  /** an experiment file: its path or its parsed content. */
  config?: string | ExperimentConfigInput;
  overrides?: ExperimentOverrides;
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KqkdError('config', 'a readable experiment JSON file', `"${path}"`, (err as Error).message);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new KqkdError('config', 'JSON', `unparsable text in "${path}"`, (err as Error).message);
  }
}

/**
 * Paths in an experiment file (the imported teacher, the dataset folders) are relative to the file's folder, so an
 * example under examples/ names models/… as ../models/… wherever the command runs.
 */
function relativeToFile(input: ExperimentConfigInput, dir: string): void {
  const fix = (p: unknown) => (typeof p === 'string' && p.length > 0 && !isAbsolute(p) && !p.startsWith('(') ? resolve(dir, p) : p);
  const t = input.teacher as { onnx?: unknown } | undefined;
  if (t && typeof t === 'object' && t.onnx !== undefined) t.onnx = fix(t.onnx);
  const d = input.dataset as { dir?: unknown; cacheDir?: unknown } | undefined;
  if (d && typeof d === 'object') {
    if (d.dir !== undefined) d.dir = fix(d.dir);
    if (d.cacheDir !== undefined) d.cacheDir = fix(d.cacheDir);
  }
}

/** The validated experiment config of a preset or a file, with the overrides applied. */
export function resolveExperimentConfig(o: ResolveExperimentOptions): { config: ExperimentConfig; preset?: string } {
  if ((o.preset === undefined) === (o.config === undefined)) {
    throw new KqkdError('preset/config', 'exactly one of a preset name or an experiment file', o.preset !== undefined ? 'both' : 'neither');
  }
  const source = o.preset !== undefined ? `preset ${o.preset}` : typeof o.config === 'string' ? o.config : 'experiment';
  const input = (o.preset !== undefined ? presetConfig(o.preset) : typeof o.config === 'string' ? readConfigFile(o.config) : structuredClone(o.config)) as ExperimentConfigInput;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new KqkdError('config', 'a JSON object', typeof input);
  if (typeof o.config === 'string') relativeToFile(input, dirname(resolve(o.config)));
  const v = o.overrides ?? {};
  if (v.methods !== undefined) {
    if (v.methods.length === 0) throw new KqkdError('methods', `at least one method key among ${METHOD_KEYS.join(', ')}`, 'none (an empty list)');
    for (const m of v.methods) if (!METHOD_KEYS.includes(m)) throw new KqkdError('methods', `method keys among ${METHOD_KEYS.join(', ')}`, `"${m}"`);
    input.methods = [...v.methods] as ExperimentConfigInput['methods'];
  }
  if (v.seeds !== undefined) input.seeds = expectInteger('seeds', v.seeds, 1);
  if (v.epochs !== undefined) input.training = { ...input.training, epochs: expectInteger('epochs', v.epochs, 1) };
  if (v.lrPolicy !== undefined) {
    if (!LR_POLICIES.includes(v.lrPolicy)) throw new KqkdError('lrPolicy', `one of ${LR_POLICIES.join(', ')}`, `"${v.lrPolicy}"`);
    // Another policy than a preset's "tuned" replaces its table: `--lr-policy shared` on quick means one shared rate.
    if (input.training?.lrPolicy === 'tuned' && v.lrPolicy !== 'tuned') {
      const { methodLr: _m, lrSource: _s, ...training } = input.training;
      input.training = training;
    }
    input.training = { ...input.training, lrPolicy: v.lrPolicy };
  }
  if (v.teacher !== undefined) {
    // An imported teacher replaces the one the preset would train (and its training block).
    const { training: _t, model: _m, ...teacher } = input.teacher ?? {};
    input.teacher = { ...teacher, onnx: v.teacher };
  }
  if (v.validation !== undefined) input.dataset = { ...input.dataset, validation: expectInteger('validation', v.validation, 1) };
  if (v.tuneLr !== undefined) {
    if (!Array.isArray(v.tuneLr) || v.tuneLr.length < 2 || v.tuneLr.some((lr) => typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0 || lr > 10)) {
      throw new KqkdError('tuneLr', 'at least two learning rates, each > 0 and ≤ 10', JSON.stringify(v.tuneLr));
    }
    // A preset's methodLr table (lrPolicy "tuned") is what tuning replaces.
    if (input.training?.lrPolicy === 'tuned') {
      const { methodLr: _m, lrSource: _s, ...training } = input.training;
      input.training = { ...training, lrPolicy: 'shared' };
    }
    input.tuning = { ...input.tuning, lr: [...v.tuneLr] };
  }
  if (v.tuneSeeds !== undefined) {
    if (input.tuning === undefined) throw new KqkdError('tuneSeeds', 'a tuning grid too (tuneLr, or a tuning block in the experiment file)', String(v.tuneSeeds));
    input.tuning = { ...input.tuning, seeds: expectInteger('tuneSeeds', v.tuneSeeds, 1, 20) };
  }
  if (v.dataOptions !== undefined) input.dataset = { ...input.dataset, ...v.dataOptions };
  if (v.dataDir !== undefined) input.dataset = { ...input.dataset, dir: v.dataDir };
  else if (input.dataset?.dir === '(set with --data-dir)') {
    throw new KqkdError('dataDir', `the ${input.dataset.name} folder for preset ${o.preset}`, 'nothing');
  }
  let config: ExperimentConfig;
  try {
    config = parseExperimentConfig(input, 'experiment');
  } catch (err) {
    // Fields are named as in the file (experiment.training.epochs); say which file or preset they came from.
    if (err instanceof KqkdError) throw new KqkdError(err.argument, err.expected, err.received, [`in ${source}`, err.detail].filter(Boolean).join('; '));
    throw err;
  }
  return { config, ...(o.preset !== undefined ? { preset: o.preset } : {}) };
}

export interface RunExperimentApiOptions extends ResolveExperimentOptions {
  /** The experiment folder (created; re-running resumes). */
  out: string;
  /**
   * Intra-op threads of every ONNX Runtime session. Default: ONNX Runtime's choice for the teacher, KQ and the cache;
   * for the student runs, the cores divided among the runs trained at once.
   */
  threads?: number;
  /**
   * Student runs trained at once on worker threads of this process (default 'auto': one per core, at most 8 and at
   * most the number of runs). Small students barely use a second core, so side-by-side runs finish sooner; given the
   * same `threads`, the results equal one-at-a-time results. Not with `queue` (each worker runs one job at a time).
   */
  parallel?: number | 'auto';
  onProgress?: (e: ExperimentProgress) => void;
  signal?: AbortSignal;
  /** Use `out` even if it holds files kqkd did not write, or another experiment (they are written over). */
  force?: boolean;
  /**
   * Spread the student runs over `kqkd worker`s: the Redis they share, redis://[user:password@]host[:port][/db] (or
   * rediss:// for TLS). The teacher, its KQ report and its feature cache are prepared here first; the experiment
   * folder must be on a file system every worker mounts at the same path (docs/distributed.md).
   */
  queue?: string;
  /** With `queue`: tries of a run before it is marked failed (default 3), and the first retry's wait in seconds (default 30, doubled each time). */
  attempts?: number;
  backoffSeconds?: number;
  /** With `queue`: how long to wait for Redis when it goes away before stopping, in seconds (default 300). */
  redisWaitSeconds?: number;
}

/** Resolves the config and runs (or resumes, or just reports) the experiment: here, or queued for workers (`queue`). */
export async function runExperiment(o: RunExperimentApiOptions): Promise<ExperimentResults> {
  const { config, preset } = resolveExperimentConfig(o);
  const common = {
    config, out: o.out, ...(preset ? { preset } : {}), ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(o.force ? { force: true } : {}),
  };
  if (o.queue === undefined) {
    for (const k of ['attempts', 'backoffSeconds', 'redisWaitSeconds'] as const) {
      if (o[k] !== undefined) throw new KqkdError(k, 'nothing without queue (it sets how queued runs are retried)', String(o[k]));
    }
    return run({ ...common, parallel: o.parallel ?? 'auto' });
  }
  if (o.parallel !== undefined) throw new KqkdError('parallel', 'nothing with queue (start more workers instead)', String(o.parallel));
  // BullMQ and ioredis load only for queued experiments (about 0.3 s of start-up otherwise).
  const { runQueuedExperiment } = await import('@kqkd/queue');
  return runQueuedExperiment({
    ...common, queue: o.queue, ...(o.attempts !== undefined ? { attempts: o.attempts } : {}),
    ...(o.backoffSeconds !== undefined ? { backoffSeconds: o.backoffSeconds } : {}), ...(o.redisWaitSeconds !== undefined ? { redisWaitSeconds: o.redisWaitSeconds } : {}),
  });
}
