import type { TopLevelSpec } from 'vega-lite';

/** One point of a method's mean test top-1 curve (mean and sample std over seeds; std null for one run). */
export interface TrainingCurvePoint {
  method: string;
  epoch: number;
  mean: number;
  std: number | null;
}

/** One method's test top-1 at its best epoch and at its last epoch (mean ± std over seeds). */
export interface MethodBarRow {
  method: string;
  best: number;
  bestStd: number | null;
  last: number;
  lastStd: number | null;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** The frame of the line charts: schema, title, data, fonts, size. */
function lineChart(title: string, values: object[]) {
  return { $schema: SCHEMA, title: { text: title, fontSize: 14 }, data: { values }, config: CONFIG, width: 520, height: 300 };
}

/**
 * One colour per method, in the order given. Line swatches in the legend, at full opacity: a band's or an error bar's
 * pale fill would make methods without one look faint.
 */
function methodColor(methods: readonly string[]) {
  return {
    field: 'method', type: 'nominal' as const, title: 'method', sort: [...new Set(methods)],
    legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 },
  };
}
const CONFIG = { font: 'DejaVu Sans', view: { stroke: '#ddd' } };

/**
 * Test top-1 against epoch, one line per method, with a translucent ±std band where the method has more than one
 * run (points without a std get no band rather than a zero-width one).
 */
export function trainingCurvesSpec(series: TrainingCurvePoint[], title = 'Test top-1 per epoch (mean over runs)'): TopLevelSpec {
  const values = series.map((p) => ({
    method: p.method,
    epoch: p.epoch,
    mean: p.mean,
    lo: p.std === null ? null : p.mean - p.std,
    hi: p.std === null ? null : p.mean + p.std,
  }));
  const color = methodColor(series.map((p) => p.method));
  return {
    ...lineChart(title, values),
    encoding: {
      x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1 } },
    },
    layer: [
      {
        transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
        mark: { type: 'area' as const, opacity: 0.18 },
        encoding: {
          y: { field: 'lo', type: 'quantitative' as const, scale: { zero: false } },
          y2: { field: 'hi' },
          color,
        },
      },
      {
        mark: { type: 'line' as const, point: { size: 20 } },
        encoding: {
          y: { field: 'mean', type: 'quantitative' as const, title: 'test top-1 (%)', scale: { zero: false } },
          color,
          tooltip: [{ field: 'method' }, { field: 'epoch' }, { field: 'mean', format: '.2f' }],
        },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Grouped bars per method: best-epoch and last-epoch mean top-1 side by side, with ±std error bars. Methods differ by
 * a few points at most, so the y axis spans the data (error bars included, plus a margin) instead of starting at 0;
 * bars are clipped to the plot so they start at its bottom edge.
 */
export function methodBarSpec(rows: MethodBarRow[], title = 'Test top-1 per method (mean ± std over runs)'): TopLevelSpec {
  const values = rows.flatMap((r) => [
    bar(r.method, 'best epoch', r.best, r.bestStd),
    bar(r.method, 'last epoch', r.last, r.lastStd),
  ]);
  const color = {
    field: 'accuracy', type: 'nominal' as const, title: null,
    scale: { domain: ['best epoch', 'last epoch'], range: ['#4c78a8', '#f58518'] },
  };
  const x = { field: 'method', type: 'nominal' as const, title: 'method', sort: rows.map((r) => r.method), axis: { labelAngle: -30 } };
  const xOffset = { field: 'accuracy', type: 'nominal' as const, sort: ['best epoch', 'last epoch'] };
  const y = { type: 'quantitative' as const, title: 'test top-1 (%)', scale: { domain: yDomain(values), zero: false } };
  return {
    $schema: SCHEMA,
    title: { text: title, fontSize: 14 },
    data: { values },
    config: CONFIG,
    width: { step: 56 },
    height: 300,
    layer: [
      {
        mark: { type: 'bar' as const, clip: true },
        encoding: {
          x, xOffset, color, y: { ...y, field: 'mean' },
          tooltip: [{ field: 'method' }, { field: 'accuracy' }, { field: 'mean', format: '.2f' }, { field: 'std', format: '.2f' }],
        },
      },
      {
        transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
        mark: { type: 'rule' as const, color: 'black', clip: true },
        encoding: { x, xOffset, y: { ...y, field: 'lo' }, y2: { field: 'hi' } },
      },
    ],
  } as TopLevelSpec;
}

function bar(method: string, accuracy: string, mean: number, std: number | null) {
  return { method, accuracy, mean, std, lo: std === null ? null : mean - std, hi: std === null ? null : mean + std };
}

/** The y range covering every mean and error-bar end, widened by 10% of the span (at least half a point) each way. */
function yDomain(values: { mean: number; lo: number | null; hi: number | null }[]): [number, number] {
  const ends = values.flatMap((v) => [v.mean, v.lo, v.hi]).filter((n): n is number => n !== null && Number.isFinite(n));
  if (ends.length === 0) return [0, 100];
  const min = Math.min(...ends);
  const max = Math.max(...ends);
  const pad = Math.max((max - min) * 0.1, 0.5);
  return [Math.max(0, min - pad), Math.min(100, max + pad)];
}

/** One grid point of a method's learning-rate tuning: mean ± std validation top-1 (last epoch) over the tuning seeds. */
export interface LrTuningPoint {
  method: string;
  lr: number;
  /** NaN where a run failed (drawn as a gap). */
  mean: number;
  std: number | null;
  /** The rate the method's final runs use. */
  chosen: boolean;
}

/**
 * Validation top-1 against the peak learning rate (log axis), one line per method, ±std as error bars and the chosen
 * rate of each method ringed.
 */
export function lrTuningSpec(points: LrTuningPoint[], title = 'Validation top-1 (last epoch) against the peak learning rate'): TopLevelSpec {
  const values = points.map((p) => ({
    method: p.method, lr: p.lr, mean: Number.isFinite(p.mean) ? p.mean : null, chosen: p.chosen,
    lo: p.std === null || !Number.isFinite(p.mean) ? null : p.mean - p.std,
    hi: p.std === null || !Number.isFinite(p.mean) ? null : p.mean + p.std,
  }));
  const color = methodColor(points.map((p) => p.method));
  const lrs = [...new Set(points.map((p) => p.lr))].sort((a, b) => a - b);
  const x = {
    field: 'lr', type: 'quantitative' as const, title: 'peak learning rate (log scale)',
    scale: { type: 'log' as const, nice: false, padding: 12 }, axis: { values: lrs, format: '~g' },
  };
  return {
    ...lineChart(title, values),
    encoding: { x },
    layer: [
      {
        transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
        mark: { type: 'rule' as const, opacity: 0.6 },
        encoding: { y: { field: 'lo', type: 'quantitative' as const, scale: { zero: false } }, y2: { field: 'hi' }, color },
      },
      {
        transform: [{ filter: 'isValid(datum.mean)' }],
        mark: { type: 'line' as const, point: { size: 20 } },
        encoding: {
          y: { field: 'mean', type: 'quantitative' as const, title: 'validation top-1, last epoch (%)', scale: { zero: false } },
          color,
          tooltip: [{ field: 'method' }, { field: 'lr' }, { field: 'mean', format: '.2f' }],
        },
      },
      {
        transform: [{ filter: 'datum.chosen && isValid(datum.mean)' }],
        mark: { type: 'point' as const, size: 160, strokeWidth: 2, filled: false },
        encoding: { y: { field: 'mean', type: 'quantitative' as const }, color },
      },
    ],
  } as TopLevelSpec;
}
