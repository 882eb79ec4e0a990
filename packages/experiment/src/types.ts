/**
 * The shapes of an experiment's outputs (`DIR/results.json`): the interface other work relies on (issue 5). Accuracy
 * is test top-1 in percent; `top1Best` is the best epoch of a run, `top1Last` its last epoch; mean ± std are over the
 * seeds (std is the sample std, n − 1; null for a single run).
 */

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
  /** Peak learning rate the method's runs used (the experiment's LR policy). */
  peakLr: number;
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
  /** How the methods' peak learning rates were set (`shared` or `paper-code`; see MethodResult.peakLr). */
  lrPolicy: string;
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
