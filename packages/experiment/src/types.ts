/**
 * The shapes of an experiment's outputs (`DIR/results.json`): the interface other work relies on (issue 5). Accuracy
 * is test top-1 in percent; `top1Best` is the best epoch of a run, `top1Last` its last epoch; mean ± std are over the
 * seeds (std is the sample std, n − 1; null for a single run).
 */

import type { LrSource } from './lr-policy.js';

export const EXPERIMENT_RESULTS_FORMAT = 'kqkd-experiment-results';
export const EXPERIMENT_RESULTS_VERSION = 1;

export interface Statistic {
  mean: number;
  /** Sample standard deviation (n − 1); null with one run. */
  std: number | null;
  /** One value per seed, in seed order. */
  runs: number[];
}

export interface EpochPoint {
  epoch: number;
  testTop1: number;
  trainLoss: number;
}

export interface MethodRun {
  seed: number;
  /** A tuning run's grid learning rate (its accuracies are validation top-1). */
  lr?: number;
  /** Run folder, relative to the experiment folder (named by the run's config hash). */
  runDir: string;
  configHash: string;
  /** Absent for a run that failed. */
  top1Best?: number;
  bestEpoch?: number;
  top1Last?: number;
  /** Wall seconds of training + evaluation of this run. */
  seconds?: number;
  history: EpochPoint[];
  /** Why the run failed (it diverged): it is left out of the statistics. */
  failed?: string;
}

export interface MethodResult {
  key: string;
  title: string;
  /** Peak learning rate the method's final runs used. */
  peakLr: number;
  /**
   * Where it came from: `tuning` (chosen by this experiment's tuning on the validation split, see `tuning`), `tuned`
   * (the table of lrPolicy "tuned", chosen by an earlier tuning: ExperimentResults.lrSource says which), `methodLr`,
   * `paper-code` or `shared`.
   */
  lrSource: LrSource;
  /** This experiment's tuning of the method's peak LR (experiments with a tuning block). */
  tuning?: MethodTuning;
  /** Key of the layer-selection rule of its feature term (@kqkd/distill), null without one. */
  layerRule: string | null;
  /** Teacher layer indices distilled (null: no feature loss). */
  teacherLayers: number[] | null;
  /** Student layer indices paired with them (same order). */
  studentLayers: number[] | null;
  /** Over the runs that finished (failed runs are listed in `runs` with their reason); mean NaN when none did. */
  top1Best: Statistic;
  top1Last: Statistic;
  runs: MethodRun[];
  /** Test top-1 per epoch, mean (and std) over seeds. */
  curve: { epoch: number; mean: number; std: number | null }[];
}

/** One grid point of a method's tuning. */
export interface TuningPoint {
  lr: number;
  /** Validation top-1 at the last epoch over the tuning seeds: what the choice is made on. */
  validation: Statistic;
  /** Validation top-1 at the best epoch (for reference; not used for the choice). */
  validationBest: Statistic;
  /** Tuning runs that failed (diverged): a grid point with one is never chosen. */
  failed: number;
  /** The tuning runs' folders, relative to the experiment folder, in seed order. */
  runDirs: string[];
}

export interface MethodTuning {
  /** The chosen peak learning rate. */
  lr: number;
  grid: TuningPoint[];
  /** Tuning runs of this method, and the seconds they trained (summed over runs). */
  runs: number;
  seconds: number;
}

/** The experiment's tuning: how the rates were chosen and what it cost. */
export interface TuningSummary {
  rule: string;
  grid: number[];
  seeds: number[];
  /** Held-out training images the tuning runs are scored on. */
  validationImages: number;
  runs: number;
  /** Training seconds of every tuning run, summed (compute spent), and the wall seconds of the tuning stage. */
  runSeconds: number;
  wallSeconds: number;
}

export interface KqLayerResult {
  index: number;
  name: string;
  shape: number[];
  S: number | null;
  I: number | null;
  E: number | null;
  Q: number | null;
  /** Selected by KQ (top-k by Q). */
  selected: boolean;
}

export interface AriResult {
  /** ARI of `ours` over the qualifying baselines (METHOD.md §6), null when no baseline qualifies. */
  value: number | null;
  ours: string;
  reference: string;
  /** Baselines with g ≥ 0.5 points (used), and those left out. */
  baselines: string[];
  excluded: string[];
  /** Which accuracy it uses. */
  accuracy: 'top1Best';
}

export interface EfficiencyResult {
  /** Fraction of epochs `ours` (mean curve) needs to reach the best baseline's final (last-epoch mean) top-1; null if never. */
  value: number | null;
  ours: string;
  bestBaseline: string | null;
  target: number | null;
  epochsToReach: number | null;
  epochs: number;
}

export interface ExperimentResults {
  format: typeof EXPERIMENT_RESULTS_FORMAT;
  version: number;
  preset: string | null;
  configHash: string;
  /** `evaluatedOn`: every accuracy here is on the test split, or on held-out training images (`dataset.validation`). */
  dataset: { name: string; trainCount: number; testCount: number; classes: number; evaluatedOn: 'test' | 'validation' };
  teacher: {
    model: string;
    source: 'trained' | 'imported';
    /** Test top-1 of the teacher used (its last epoch when trained here). */
    top1: number;
    top1Best: number | null;
    parameters: number | null;
  };
  student: { model: string; parameters: number | null };
  /** The teacher layers of Ours (fkd-kq), by `selectionRule`. */
  selectedTeacherLayers: number[];
  selectionRule: string;
  /** Teacher layers by every rule of @kqkd/distill (kq = top-k by Q, s, ie = sqrt(I·E), i, e, baseline, paper when configured). */
  layerSelections: Record<string, number[]>;
  studentLayers: number[];
  kq: { topK: number; samples: number; layers: KqLayerResult[] };
  /** How the methods' peak learning rates were set (`shared`, `paper-code`, `tuned`, or `tuning`; see MethodResult.peakLr, lrSource). */
  lrPolicy: string;
  /** lrPolicy "tuned": where the table came from (the experiment file's training.lrSource). */
  lrSource?: string;
  /** Experiments with a tuning block: the choice of every method's peak LR on the validation split. */
  tuning?: TuningSummary;
  methods: Record<string, MethodResult>;
  ari: AriResult;
  efficiency: EfficiencyResult;
  /** Picture files relative to the experiment folder (each as .svg and .png). */
  pictures: Record<string, { svg: string; png: string }>;
  accuracy: string;
  seconds: number;
  /** The layers the paper's KQ selected for this teacher (paper presets), for comparison. */
  paperTeacherLayers?: number[];
}
