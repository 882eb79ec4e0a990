/**
 * `kqkd experiment`, run here: teacher (imported ONNX or trained here) → Knowledge Quality of every teacher layer →
 * layer selections (rules of @kqkd/distill) → a disk-backed cache of the teacher's features and logits on the
 * training set (prepare.ts) → every method × seed as an ordinary resumable training run in `runs/<config hash>/`
 * (student-run.ts) → `results.json`, `results.md` and pictures (results.ts). @kqkd/queue runs the same stages with
 * the student runs spread over workers.
 *
 * Every stage is resumable and skipped when done: the teacher run resumes/returns like any run, `kq.json` is reused
 * when it was computed for the same teacher and sample, the cache is reused when its manifest matches, and finished
 * student runs are read back, partial ones resumed. This module opens no ONNX Runtime session itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { expectInteger, KqkdError, makeDirs, ownFolder, RunFailedError, type OwnedFolder } from '@kqkd/common';
import type { Dataset } from '@kqkd/data';
import { experimentHash, type ExperimentConfig } from './config.js';
import {
  prepareExperiment, readTeacher, EXPERIMENT_JSON, IMPORTED_TEACHER, KQ_FILE, TEACHER_CACHE_DIR, type ExperimentProgress, type PreparedExperiment,
} from './prepare.js';
import { experimentResults, writeExperimentResults, RESULTS_FILE, RESULTS_MD } from './results.js';
import { EXPERIMENT_PICTURES } from './report.js';
import { runStudentsInParallel } from './parallel.js';
import { jobTitle, runStudent, studentJobs, RUNS_DIR, type StudentJob } from './student-run.js';
import { chosenRates, tuningJobs, tuningOutcome } from './tuning.js';
import type { ExperimentResults, MethodRun } from './types.js';

export interface RunExperimentOptions {
  config: ExperimentConfig;
  /** The experiment folder. */
  out: string;
  preset?: string;
  onProgress?: (e: ExperimentProgress) => void;
  /** Datasets instead of loading `config.dataset` (tests); limits still apply. */
  data?: { train: Dataset; test: Dataset };
  /**
   * Intra-op threads of every ONNX Runtime session (teacher cache, KQ, each student run). Default: ONNX Runtime's
   * choice for the shared parts; for the student runs, the cores divided among the parallel runs.
   */
  threads?: number;
  /**
   * Student runs trained at once, each on its own worker thread (default 1; 'auto': one per core, at most 8 and at most
   * the number of runs). Results are identical to running them one after the other with the same thread count. Not
   * with `data` (the threads read the dataset from its files).
   */
  parallel?: number | 'auto';
  /** Stops between runs and between batches; the runs stay resumable. */
  signal?: AbortSignal;
  /** Use `out` even if it holds files kqkd did not write, or another experiment. */
  force?: boolean;
}

/** Files and folders an experiment writes in its folder. */
export const EXPERIMENT_FILES = [EXPERIMENT_JSON, KQ_FILE, 'kq-work', 'teacher', IMPORTED_TEACHER, TEACHER_CACHE_DIR, RUNS_DIR, RESULTS_FILE, RESULTS_MD,
  ...EXPERIMENT_PICTURES.flatMap((n) => [`${n}.svg`, `${n}.png`])];

function experimentJsonHash(out: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(out, EXPERIMENT_JSON), 'utf8')) as { hash?: string }).hash;
  } catch {
    return undefined;
  }
}

/**
 * Owns the experiment folder (locked, marked as this experiment's) and prepares the shared parts in it; `body` gets
 * them. A refusal before experiment.json is written leaves the folder as it was.
 */
export async function inExperimentFolder<T>(o: Omit<RunExperimentOptions, 'onProgress'> & { onProgress?: (e: ExperimentProgress) => void },
  body: (prep: PreparedExperiment, folder: OwnedFolder) => Promise<T>): Promise<T> {
  const c = o.config;
  const out = resolve(o.out);
  const hash = experimentHash(c);
  // Inputs first (an imported teacher must be a readable ONNX model), then the folder: a refusal writes nothing.
  const imported = c.teacher.onnx ? readTeacher(c.teacher.onnx) : undefined;
  const folder = ownFolder(out, 'out', {
    kind: 'experiment', configHash: hash, ownFiles: EXPERIMENT_FILES, ...(o.force ? { force: o.force } : {}),
    adopt: () => experimentJsonHash(out) === hash,
  });
  let prep: PreparedExperiment | undefined;
  try {
    prep = await prepareExperiment({
      config: c, out, ...(o.preset !== undefined ? { preset: o.preset } : {}), ...(o.data ? { data: o.data } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    }, imported);
    const value = await body(prep, folder);
    folder.release();
    return value;
  } catch (err) {
    if (err instanceof KqkdError && !(err instanceof RunFailedError) && !existsSync(join(out, EXPERIMENT_JSON))) folder.rollback();
    else folder.release();
    throw err;
  } finally {
    prep?.close();
  }
}

/** `parallel: 'auto'`: one run per core (each thread holds its own dataset and teacher cache, hence the cap of 8). */
export function autoParallel(runs: number): number {
  return Math.max(1, Math.min(availableParallelism(), 8, runs));
}

/**
 * Runs (or resumes, or just reports) a whole experiment on this machine: with a tuning block, its tuning runs first
 * (tuning.ts), then the final runs at the chosen rates.
 */
export async function runExperiment(o: RunExperimentOptions): Promise<ExperimentResults> {
  const t0 = performance.now();
  const emit = o.onProgress ?? (() => {});
  if (o.parallel !== undefined && o.parallel !== 'auto') expectInteger('parallel', o.parallel, 1, 256);
  if (o.data && o.parallel !== undefined && o.parallel !== 1) {
    throw new KqkdError('parallel', '1 when datasets are given in memory (data)', String(o.parallel));
  }
  return inExperimentFolder(o, async (prep) => {
    makeDirs(join(prep.out, RUNS_DIR), 'out');
    const { jobs, runs, tuning } = await experimentStages(prep, (stageJobs, stage) => runJobs(prep, stageJobs, o, stage), emit,
      (n) => `${n} runs: ${prep.config.methods.length} methods × ${prep.config.tuning!.lr.length} learning rates × ${prep.config.tuning!.seeds} seeds, scored on ${prep.validationCount} validation images`);
    for (const [i, run] of runs.entries()) if (run.failed) emit({ kind: 'stage', stage: 'run failed', detail: `${jobTitle(jobs[i])}: ${run.failed}` });
    const runsByMethod = groupByMethod(jobs, runs);
    emit({ kind: 'stage', stage: 'report', detail: 'results.json, results.md, pictures' });
    return writeExperimentResults(prep, experimentResults(prep, runsByMethod, {
      ...(o.preset !== undefined ? { preset: o.preset } : {}), seconds: (performance.now() - t0) / 1000, ...(tuning ? { tuning } : {}),
    }));
  });
}

/** What an experiment's stages produced: the final runs (in job order) and, with a tuning block, the tuning's outcome. */
export interface StagesOutcome {
  jobs: StudentJob[];
  runs: MethodRun[];
  tuning?: ReturnType<typeof tuningOutcome>;
}

/**
 * The stages of an experiment's student runs, however they are trained (here, or on a queue: `runJobs`): with a
 * tuning block, every tuning run, then the choice per method; then the final runs at the chosen rates.
 */
export async function experimentStages(prep: PreparedExperiment, runJobs: (jobs: StudentJob[], stage: 'tuning' | 'students') => Promise<MethodRun[]>,
  emit: (e: ExperimentProgress) => void, tuningDetail: (runs: number) => string): Promise<StagesOutcome> {
  let tuning: ReturnType<typeof tuningOutcome> | undefined;
  if (prep.config.tuning) {
    const t1 = performance.now();
    const jobs = tuningJobs(prep.config);
    emit({ kind: 'stage', stage: 'tuning', detail: tuningDetail(jobs.length) });
    const runs = await runJobs(jobs, 'tuning');
    tuning = tuningOutcome(prep.config, jobs, runs, { validationImages: prep.validationCount!, wallSeconds: (performance.now() - t1) / 1000 });
    emit({ kind: 'stage', stage: 'tuned', detail: Object.entries(tuning.methods).map(([m, t]) => `${m} ${t.lr}`).join(', ') });
  }
  const jobs = studentJobs(prep, tuning ? chosenRates(tuning.methods) : undefined);
  return { jobs, runs: await runJobs(jobs, 'students'), ...(tuning ? { tuning } : {}) };
}

/** The runs of `jobs` by method, seeds in job order. */
export function groupByMethod(jobs: readonly StudentJob[], runs: readonly MethodRun[]): Map<string, MethodRun[]> {
  const byMethod = new Map<string, MethodRun[]>();
  for (const [i, run] of runs.entries()) byMethod.set(jobs[i].method, [...(byMethod.get(jobs[i].method) ?? []), run]);
  return byMethod;
}

/** Trains `jobs` here, one after the other or side by side (`parallel`); their runs in the order of `jobs`. */
async function runJobs(prep: PreparedExperiment, jobs: StudentJob[], o: RunExperimentOptions, stage: 'tuning' | 'students'): Promise<MethodRun[]> {
  const emit = o.onProgress ?? (() => {});
  const parallel = o.parallel === 'auto' ? autoParallel(jobs.length) : o.parallel ?? 1;
  if (parallel > 1 && jobs.length > 1) {
    const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / Math.min(parallel, jobs.length)));
    emit({ kind: 'stage', stage, detail: `${jobs.length} runs, ${Math.min(parallel, jobs.length)} at once, ${threads} thread${threads > 1 ? 's' : ''} each` });
    return runStudentsInParallel(prep, jobs, {
      parallel, threads, ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (job, index, event) => emit({ kind: 'train', who: jobTitle(job), index, total: jobs.length, event }),
    });
  }
  const runs: MethodRun[] = [];
  for (const [index, job] of jobs.entries()) {
    if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
    runs.push(await runStudent(prep, job, {
      ...(o.data ? { data: o.data } : {}), ...(o.threads !== undefined ? { threads: o.threads } : {}), ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (event) => emit({ kind: 'train', who: jobTitle(job), index, total: jobs.length, event }),
    }));
  }
  return runs;
}
