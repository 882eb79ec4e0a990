/**
 * One student run of an experiment (a method × a seed): an ordinary resumable training run in
 * `runs/<config hash>/` of the experiment folder, trained with the method's objective against the prepared teacher
 * cache. The same function runs it in a local experiment and in a queue worker on another machine, so both write
 * the very same folder; `readStudentRun` reads a run back without touching it (the queue's coordinator).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { claimFolder, KqkdError, makeDirs, RunFailedError, writeFileAtomic } from '@kqkd/common';
import { distillationInputs, distillObjective, getMethod } from '@kqkd/distill';
import {
  configHash, parseTrainConfig, train, METRICS_JSONL, MODEL_ONNX, RESULTS_JSON, RUN_FILES,
  type TrainConfigInput, type TrainingObjective, type TrainProgress, type TrainResults,
} from '@kqkd/train';
import type { Dataset } from '@kqkd/data';
import { methodLearningRateWithSource, type LrSource } from './lr-policy.js';
import { runConfig, tuningDataset, type PreparedExperiment } from './prepare.js';
import type { EpochPoint, MethodRun } from './types.js';

export const RUNS_DIR = 'runs';

/** A student run to do: the unit of work of an experiment (and a queue job). */
export interface StudentJob {
  method: string;
  seed: number;
  /** A tuning run (tuning.ts): trained on the training part at the grid point `lr`, evaluated on the validation split. */
  tuning?: boolean;
  /** The peak learning rate: a tuning run's grid point, or the rate the tuning chose (absent: the LR policy's). */
  lr?: number;
}

/** How a job is named in logs and progress. */
export function jobTitle(job: StudentJob): string {
  return `${job.method} seed ${job.seed}${job.tuning ? ` at lr ${job.lr} (tuning)` : ''}`;
}

/**
 * Every final student run of the experiment, methods in order, seeds within. An experiment with a tuning block needs
 * the rate its tuning chose for every method (`chosenLr`, tuning.ts).
 */
export function studentJobs(prep: Pick<PreparedExperiment, 'config'>, chosenLr?: Readonly<Record<string, number>>): StudentJob[] {
  const c = prep.config;
  if (c.tuning) {
    const missing = c.methods.filter((m) => chosenLr?.[m] === undefined);
    if (missing.length > 0) throw new KqkdError('chosenLr', 'the learning rate the tuning chose for every method', `none for ${missing.join(', ')}`);
  }
  return c.methods.flatMap((method) => Array.from({ length: c.seeds }, (_, s) => ({
    method, seed: c.seed0 + s, ...(c.tuning ? { lr: chosenLr![method] } : {}),
  })));
}

export interface StudentRunPlan extends StudentJob {
  peakLr: number;
  /** Where the peak LR came from. */
  lrSource: LrSource;
  /** The run's config hash (its folder name under runs/). */
  configHash: string;
  runDir: string;
  config: TrainConfigInput;
  objective?: TrainingObjective;
}

/** The method's peak learning rate under the experiment's policy. */
export function peakLearningRate(prep: Pick<PreparedExperiment, 'config'>, method: string): number {
  return peakLearningRateWithSource(prep, method).lr;
}

/** The method's peak learning rate under the experiment's policy, and where it came from. */
export function peakLearningRateWithSource(prep: Pick<PreparedExperiment, 'config'>, method: string): { lr: number; source: LrSource } {
  const c = prep.config;
  return methodLearningRateWithSource({
    method, student: c.student.model.name, sharedLr: c.training.optimizer.lr, policy: c.training.lrPolicy,
    ...(c.training.methodLr ? { methodLr: c.training.methodLr } : {}),
  });
}

/** What the run of `job` is: its training config, objective and folder (nothing is written). */
export function planStudentRun(prep: PreparedExperiment, job: StudentJob): StudentRunPlan {
  const c = prep.config;
  getMethod(job.method); // an unknown method is an error naming it
  const spec = prep.specs.get(job.method);
  if (!prep.specs.has(job.method)) throw new KqkdError('method', `one of the experiment's methods (${c.methods.join(', ')})`, job.method);
  if (job.lr !== undefined && !(Number.isFinite(job.lr) && job.lr > 0)) throw new KqkdError('job.lr', 'a learning rate > 0', String(job.lr));
  if (job.tuning && (!c.tuning || job.lr === undefined)) {
    throw new KqkdError('job.tuning', 'a tuning run of an experiment with a tuning block, at a grid learning rate', c.tuning ? 'no lr' : 'an experiment without tuning');
  }
  const { lr: peakLr, source: lrSource } = job.lr !== undefined ? { lr: job.lr, source: 'tuning' as const } : peakLearningRateWithSource(prep, job.method);
  const objective = spec ? distillObjective(spec, { feeds: prep.feeds(distillationInputs(spec).map((i) => i.name)), model: prep.teacher.model }) : undefined;
  // Tuning runs evaluate on the validation split; final runs on the split the experiment reports (prepare.ts).
  const dataset = job.tuning ? tuningDataset(c) : prep.finalDataset;
  const config: TrainConfigInput = { ...runConfig(c, c.training, peakLr), dataset, modelSpec: c.student.model, seed: job.seed, runDir: '.' };
  const hash = configHash(parseTrainConfig(config), objective);
  return { ...job, peakLr, lrSource, configHash: hash, runDir: join(prep.out, RUNS_DIR, hash), config, ...(objective ? { objective } : {}) };
}

export interface StudentRunOptions {
  /** Datasets instead of loading the experiment's dataset (tests). */
  data?: { train: Dataset; test: Dataset };
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (event: TrainProgress) => void;
  /** Who runs it, in runs/<hash>/log.txt (a worker names itself and its host). */
  who?: string;
  /** The queue job the run belongs to (@kqkd/train TrainOptions.lockOwner). */
  lockOwner?: string;
}

/**
 * Trains (resumes, or reads back) one student run. A run that fails (diverges) comes back as a failed MethodRun —
 * the experiment records it and goes on; anything else (an abort, a full disk) is thrown.
 */
export async function runStudent(prep: PreparedExperiment, job: StudentJob, o: StudentRunOptions = {}): Promise<MethodRun> {
  const plan = planStudentRun(prep, job);
  const { runDir, configHash: hash } = plan;
  // The run folder is the training run's (kind train, this hash), claimed before run.json goes in.
  makeDirs(runDir, 'out');
  claimFolder(runDir, 'out', { kind: 'train', configHash: hash, ownFiles: RUN_FILES, adopt: () => existsSync(join(runDir, 'run.json')) });
  const spec = prep.specs.get(job.method);
  const parsed = parseTrainConfig(plan.config);
  writeFileAtomic(join(runDir, 'run.json'), `${JSON.stringify({
    method: job.method, seed: job.seed, configHash: hash, config: { ...parsed, runDir, ...(spec ? { distill: spec } : {}) },
  }, null, 2)}\n`);
  const who = o.who ?? jobTitle(job);
  const log = join(runDir, 'log.txt');
  let r: TrainResults;
  try {
    r = await train({
      ...plan.config, runDir, ...(o.data ? { data: o.data } : {}), ...(plan.objective ? { objective: plan.objective } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(o.lockOwner ? { lockOwner: o.lockOwner } : {}),
      onProgress: (event) => {
        if (event.kind === 'epoch') {
          appendFileSync(log, `${new Date().toISOString()} epoch ${event.metrics.epoch}: train loss ${event.metrics.trainLoss.toFixed(4)}, ${plan.tuning ? 'validation' : prep.evaluatedOn} top-1 ${event.metrics.testTop1.toFixed(2)}%\n`);
        } else if (event.kind === 'start') {
          appendFileSync(log, `${new Date().toISOString()} ${event.resumed ? `resumed at epoch ${event.fromEpoch}` : 'started'} (${who})\n`);
        }
        o.onProgress?.(event);
      },
    });
  } catch (err) {
    if (!(err instanceof RunFailedError)) throw err;
    appendFileSync(log, `${new Date().toISOString()} failed: ${err.message}\n`);
    return failedRun(prep, plan, err.message);
  }
  return finishedRun(prep, plan, r);
}

/**
 * The run of `job` as its folder records it: finished, failed, or undefined (not started, or not finished). Reads
 * only; a run being trained elsewhere is not disturbed.
 */
export function readStudentRun(prep: PreparedExperiment, job: StudentJob): MethodRun | undefined {
  const plan = planStudentRun(prep, job);
  const p = join(plan.runDir, RESULTS_JSON);
  if (!existsSync(p)) return undefined;
  let r: TrainResults & { failed?: { reason: string } };
  try {
    r = JSON.parse(readFileSync(p, 'utf8')) as typeof r;
  } catch {
    return undefined;
  }
  if (r.configHash !== plan.configHash) return undefined;
  if (r.failed) return failedRun(prep, plan, r.failed.reason);
  if (r.partial || !existsSync(join(plan.runDir, MODEL_ONNX))) return undefined;
  return finishedRun(prep, plan, r);
}

function finishedRun(prep: PreparedExperiment, plan: StudentRunPlan, r: TrainResults): MethodRun {
  return {
    seed: plan.seed, ...(plan.tuning ? { lr: plan.peakLr } : {}), runDir: relative(prep.out, plan.runDir), configHash: plan.configHash, top1Best: r.top1Best, bestEpoch: r.bestEpoch,
    top1Last: r.top1Last, seconds: r.seconds, history: readHistory(plan.runDir),
  };
}

function failedRun(prep: PreparedExperiment, plan: StudentRunPlan, reason: string): MethodRun {
  return { seed: plan.seed, ...(plan.tuning ? { lr: plan.peakLr } : {}), runDir: relative(prep.out, plan.runDir), configHash: plan.configHash, failed: reason, history: readHistory(plan.runDir) };
}

function readHistory(runDir: string): EpochPoint[] {
  const p = join(runDir, METRICS_JSONL);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => {
    const m = JSON.parse(l) as { epoch: number; testTop1: number; trainLoss: number };
    return { epoch: m.epoch, testTop1: m.testTop1, trainLoss: m.trainLoss };
  });
}
