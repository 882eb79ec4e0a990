/**
 * Per-method tuning of the peak learning rate (the experiment file's `tuning` block): every method is trained at every
 * grid point with the tuning seeds on the training part and scored on the held-out validation images; the rate with
 * the best mean validation top-1 at the LAST epoch is chosen (ties: the smaller rate), and the method's final runs
 * use it and are reported on the test split. Every method gets the same grid and seeds, so no method is compared at
 * a rate tuned for another. Tuning runs are ordinary student runs (hashed, resumable, parallel, queued).
 */
import { KqkdError, RunFailedError } from '@kqkd/common';
import type { ExperimentConfig } from './config.js';
import { statisticOrNone } from './report.js';
import type { StudentJob } from './student-run.js';
import type { MethodRun, MethodTuning, TuningPoint, TuningSummary } from './types.js';

/** The selection rule, as the reports state it. */
export const TUNING_RULE = 'the learning rate with the best mean validation top-1 at the last epoch over the tuning seeds; '
  + 'on a tie, the smaller learning rate; a grid point where a run failed (diverged) is never chosen';

/** Means closer than this are a tie (means of percentages are not exact in binary floating point). */
const TIE_EPSILON = 1e-9;

/** The tuning seeds: the experiment's first seeds. */
export function tuningSeeds(c: ExperimentConfig): number[] {
  return c.tuning ? Array.from({ length: c.tuning.seeds }, (_, s) => c.seed0 + s) : [];
}

/** Every tuning run of the experiment: methods in order, then rates ascending, seeds within. */
export function tuningJobs(c: ExperimentConfig): StudentJob[] {
  if (!c.tuning) return [];
  const seeds = tuningSeeds(c);
  return c.methods.flatMap((method) => c.tuning!.lr.flatMap((lr) => seeds.map((seed) => ({ method, seed, lr, tuning: true }))));
}

/**
 * The rate `TUNING_RULE` picks among grid points (any order). Throws a RunFailedError when no point is eligible (every
 * rate had a failed run), naming the method.
 */
export function chooseLearningRate(points: readonly Pick<TuningPoint, 'lr' | 'validation' | 'failed'>[], method = 'method'): number {
  let best: Pick<TuningPoint, 'lr' | 'validation' | 'failed'> | undefined;
  for (const p of [...points].sort((a, b) => a.lr - b.lr)) {
    if (p.failed > 0 || p.validation.runs.length === 0 || !Number.isFinite(p.validation.mean)) continue;
    if (best === undefined || p.validation.mean > best.validation.mean + TIE_EPSILON) best = p;
  }
  if (best === undefined) {
    throw new RunFailedError(`tuning of ${method}`, 'a learning rate of the grid at which every tuning run finished',
      `failed runs at every rate (${points.map((p) => p.lr).join(', ')})`, 'the runs\' log.txt says why; try smaller learning rates');
  }
  return best.lr;
}

/** A method's tuning record from its tuning runs (any order; each carries its `lr`). */
export function methodTuning(c: ExperimentConfig, method: string, runs: readonly MethodRun[]): MethodTuning {
  if (!c.tuning) throw new KqkdError('tuning', 'an experiment with a tuning block', 'none');
  const grid: TuningPoint[] = c.tuning.lr.map((lr) => {
    const at = runs.filter((r) => r.lr === lr).sort((a, b) => a.seed - b.seed);
    const finished = at.filter((r) => !r.failed);
    return {
      lr, validation: statisticOrNone(finished.map((r) => r.top1Last!)), validationBest: statisticOrNone(finished.map((r) => r.top1Best!)),
      failed: at.length - finished.length, runDirs: at.map((r) => r.runDir),
    };
  });
  return { lr: chooseLearningRate(grid, method), grid, runs: runs.length, seconds: runs.reduce((s, r) => s + (r.seconds ?? 0), 0) };
}

/** Every method's tuning from the tuning runs (in the order of `tuningJobs`), and the summary of the whole tuning. */
export function tuningOutcome(c: ExperimentConfig, jobs: readonly StudentJob[], runs: readonly MethodRun[], o: { validationImages: number; wallSeconds: number }):
  { methods: Record<string, MethodTuning>; summary: TuningSummary } {
  const methods: Record<string, MethodTuning> = {};
  for (const method of c.methods) methods[method] = methodTuning(c, method, runs.filter((_, i) => jobs[i].method === method));
  return {
    methods,
    summary: {
      rule: TUNING_RULE, grid: [...c.tuning!.lr], seeds: tuningSeeds(c), validationImages: o.validationImages, runs: runs.length,
      runSeconds: runs.reduce((s, r) => s + (r.seconds ?? 0), 0), wallSeconds: o.wallSeconds,
    },
  };
}

/** The rate each method's final runs use. */
export function chosenRates(methods: Readonly<Record<string, MethodTuning>>): Record<string, number> {
  return Object.fromEntries(Object.entries(methods).map(([k, t]) => [k, t.lr]));
}
