/**
 * The experiment report layer against values computed by hand in the comments: statistics over seeds, the mean
 * curve, ARI and training efficiency (METHOD.md §6), the Markdown report and the pictures written to disk.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import {
  computeAri, computeEfficiency, meanCurve, renderResultsMarkdown, statistic, writeExperimentPictures,
} from '../src/report.js';
import {
  EXPERIMENT_RESULTS_FORMAT, EXPERIMENT_RESULTS_VERSION,
  type ExperimentResults, type MethodResult, type MethodRun, type Statistic,
} from '../src/types.js';

/** A run whose test top-1 per epoch (1-based) is `curve`. */
function run(seed: number, curve: number[], seconds: number): MethodRun {
  return {
    seed, runDir: `runs/${seed}`, configHash: `hash${seed}`, seconds,
    top1Best: Math.max(...curve), bestEpoch: curve.indexOf(Math.max(...curve)) + 1, top1Last: curve[curve.length - 1],
    history: curve.map((testTop1, i) => ({ epoch: i + 1, testTop1, trainLoss: 1 / (i + 1) })),
  };
}

/** A single-number statistic, for tables given by their means only. */
const only = (mean: number): Statistic => ({ mean, std: null, runs: [mean] });

/** A method given by its best-epoch and last-epoch means (and optionally its mean curve). */
function method(key: string, best: number, last = best, curve: number[] = []): MethodResult {
  return {
    key, title: key.toUpperCase(), peakLr: 0.01, lrSource: 'shared', layerRule: null, teacherLayers: null, studentLayers: null,
    top1Best: only(best), top1Last: only(last), runs: [],
    curve: curve.map((mean, i) => ({ epoch: i + 1, mean, std: null })),
  };
}

describe('statistic', () => {
  it('[1, 2, 4]: mean 7/3, sample std sqrt(((1−7/3)² + (2−7/3)² + (4−7/3)²) / 2) = sqrt((16/9 + 1/9 + 25/9) / 2) = sqrt(7/3)', () => {
    const s = statistic([1, 2, 4]);
    expect(s.mean).toBeCloseTo(7 / 3, 14);
    expect(s.std).toBeCloseTo(Math.sqrt(7 / 3), 14);
    expect(s.runs).toEqual([1, 2, 4]);
  });
  it('one value: std null', () => {
    expect(statistic([71.5])).toEqual({ mean: 71.5, std: null, runs: [71.5] });
  });
  it('no value: a KqkdError naming the argument', () => {
    expect(() => statistic([])).toThrow(KqkdError);
    expect(() => statistic([])).toThrow(/for values/);
  });
});

describe('meanCurve', () => {
  it('per epoch mean and std over runs: [10, 20, 30] and [12, 22, 32] → 11, 21, 31, each ± sqrt((1 + 1) / 1) = sqrt(2)', () => {
    const curve = meanCurve([run(0, [10, 20, 30], 1), run(1, [12, 22, 32], 1)]);
    expect(curve.map((p) => p.epoch)).toEqual([1, 2, 3]);
    expect(curve.map((p) => p.mean)).toEqual([11, 21, 31]);
    for (const p of curve) expect(p.std).toBeCloseTo(Math.SQRT2, 14);
  });
  it('keeps only the epochs every run has', () => {
    const curve = meanCurve([run(0, [10, 20, 30], 1), run(1, [12, 22], 1)]);
    expect(curve.map((p) => [p.epoch, p.mean])).toEqual([[1, 11], [2, 21]]);
  });
  it('one run: its curve, std null; no run: empty', () => {
    expect(meanCurve([run(0, [10, 20], 1)])).toEqual([{ epoch: 1, mean: 10, std: null }, { epoch: 2, mean: 20, std: null }]);
    expect(meanCurve([])).toEqual([]);
  });
});

describe('ARI', () => {
  // g(m) = best − 70: ours 4, vkd 2, fitnet 1, sp 0.3 (< 0.5, left out); simkd is listed but was not run.
  const methods = {
    ce: method('ce', 70), ours: method('ours', 74), vkd: method('vkd', 72), fitnet: method('fitnet', 71), sp: method('sp', 70.3),
  };
  const options = { ours: 'ours', reference: 'ce', baselines: ['vkd', 'fitnet', 'sp', 'simkd'] };
  it('mean of g(ours)/g(b) over baselines with g ≥ 0.5: (4/2 + 4/1) / 2 = 3', () => {
    const ari = computeAri(methods, options);
    expect(ari.value).toBeCloseTo(3, 12);
    expect(ari).toMatchObject({ ours: 'ours', reference: 'ce', baselines: ['vkd', 'fitnet'], excluded: ['sp'], accuracy: 'top1Best' });
  });
  it('a gain of exactly 0.5 points counts, even where floating point makes it 0.4999…', () => {
    // 64.1 − 63.6 is 0.49999999999999289 in doubles; g(ours) = 1.4 → ARI = 1.4 / 0.5 = 2.8.
    const ari = computeAri({ ce: method('ce', 63.6), ours: method('ours', 65), b: method('b', 64.1) }, { ours: 'ours', reference: 'ce', baselines: ['b'] });
    expect(ari.baselines).toEqual(['b']);
    expect(ari.value).toBeCloseTo(2.8, 10);
  });
  it('null when no baseline qualifies, when ours is missing, when the reference is missing', () => {
    expect(computeAri(methods, { ...options, baselines: ['sp'] })).toMatchObject({ value: null, baselines: [], excluded: ['sp'] });
    expect(computeAri(methods, { ...options, baselines: ['simkd'] })).toMatchObject({ value: null, baselines: [], excluded: [] });
    expect(computeAri(methods, { ...options, ours: 'nope' })).toMatchObject({ value: null, baselines: ['vkd', 'fitnet'] });
    expect(computeAri(methods, { ...options, reference: 'nope' })).toMatchObject({
      value: null, baselines: [], excluded: ['vkd', 'fitnet', 'sp'],
    });
  });
});

describe('training efficiency', () => {
  // Best baseline by last-epoch mean: vkd (70.5) over fitnet (69); ours' mean curve first reaches 70.5 at epoch 3 of 5.
  const methods = {
    ours: method('ours', 73, 73, [60, 65, 71, 70, 73]),
    vkd: method('vkd', 71, 70.5),
    fitnet: method('fitnet', 72, 69),
    strong: method('strong', 80, 80),
  };
  it('reached at epoch 3 of 5 → 0.6', () => {
    expect(computeEfficiency(methods, { ours: 'ours', baselines: ['fitnet', 'vkd', 'absent'] })).toEqual({
      value: 0.6, ours: 'ours', bestBaseline: 'vkd', target: 70.5, epochsToReach: 3, epochs: 5,
    });
  });
  it('never reached → null', () => {
    expect(computeEfficiency(methods, { ours: 'ours', baselines: ['vkd', 'strong'] })).toEqual({
      value: null, ours: 'ours', bestBaseline: 'strong', target: 80, epochsToReach: null, epochs: 5,
    });
  });
  it('no baseline present, or ours missing → null', () => {
    expect(computeEfficiency(methods, { ours: 'ours', baselines: ['absent'] })).toEqual({
      value: null, ours: 'ours', bestBaseline: null, target: null, epochsToReach: null, epochs: 5,
    });
    expect(computeEfficiency(methods, { ours: 'absent', baselines: ['vkd'] })).toMatchObject({ value: null, epochs: 0, bestBaseline: 'vkd' });
  });
});

/** A small but complete experiment: 4 epochs; ours and ce with two seeds, vkd with one. */
function experiment(): ExperimentResults {
  const measured = (key: string, title: string, teacherLayers: number[] | null, runs: MethodRun[], peakLr = 0.01): MethodResult => ({
    key, title, peakLr, lrSource: 'paper-code', layerRule: teacherLayers && 'kq', teacherLayers, studentLayers: teacherLayers && [1, 2, 3, 4], runs,
    top1Best: statistic(runs.map((r) => r.top1Best)), top1Last: statistic(runs.map((r) => r.top1Last)), curve: meanCurve(runs),
  });
  const methods = {
    ce: measured('ce', 'CE (student alone)', null, [run(0, [50, 60, 65, 66], 50), run(1, [52, 62, 67, 64], 70)]),
    vkd: measured('vkd', 'VKD', null, [run(0, [55, 66, 69, 68], 80)]),
    ours: measured('ours', 'Ours (FKD-KQ)', [12, 13, 14, 15], [run(0, [60, 70, 73, 72], 100), run(1, [61, 71, 74, 73], 120)], 0.05),
  };
  return {
    format: EXPERIMENT_RESULTS_FORMAT, version: EXPERIMENT_RESULTS_VERSION, preset: 'smoke', configHash: 'abc123',
    dataset: { name: 'fashion-mnist', trainCount: 60000, testCount: 10000, classes: 10, evaluatedOn: 'test' },
    teacher: { model: 'resnet34', source: 'trained', top1: 91.234, top1Best: 91.5, parameters: 21_000_000 },
    student: { model: 'resnet9', parameters: 5_000_000 },
    selectedTeacherLayers: [12, 13, 14, 15], selectionRule: 'kq', lrPolicy: 'paper-code',
    layerSelections: { kq: [12, 13, 14, 15], s: [14, 15, 16, 17], ie: [10, 12, 13, 14], i: [1, 2, 3, 4], e: [5, 6, 7, 8], baseline: [3, 7, 13, 16] },
    studentLayers: [1, 2, 3, 4],
    kq: {
      topK: 1, samples: 600,
      layers: [
        { index: 0, name: 'stem_relu', shape: [64, 28, 28], S: 0.01234, I: 0.5, E: 0.25, Q: 0.36589, selected: false },
        { index: 1, name: 'block1', shape: [128, 14, 14], S: 0.2, I: 0.6, E: 0.15, Q: 0.5, selected: true },
        { index: 2, name: 'flatten', shape: [512], S: null, I: null, E: null, Q: null, selected: false },
      ],
    },
    methods,
    ari: computeAri(methods, { ours: 'ours', reference: 'ce', baselines: ['vkd'] }),
    efficiency: computeEfficiency(methods, { ours: 'ours', baselines: ['ce', 'vkd'] }),
    pictures: {},
    accuracy: 'test top-1 (%): best epoch and last epoch, mean ± std over seeds',
    seconds: 1234.5,
  };
}

describe('Markdown report', () => {
  const results = experiment();
  results.pictures = {
    'kq-curves': { svg: 'kq-curves.svg', png: 'kq-curves.png' },
    'training-curves': { svg: 'training-curves.svg', png: 'training-curves.png' },
    methods: { svg: 'methods.svg', png: 'methods.png' },
  };
  const md = renderResultsMarkdown(results);

  it('the fixture\'s metrics by hand: ARI = g(ours)/g(vkd) = (73.5 − 66.5)/(69 − 66.5) = 2.8; efficiency 2/4 (curve 60.5, 70.5 ≥ vkd\'s last 68)', () => {
    expect(results.ari.value).toBeCloseTo(2.8, 12);
    expect(results.efficiency).toMatchObject({ value: 0.5, bestBaseline: 'vkd', target: 68, epochsToReach: 2, epochs: 4 });
  });
  it('compute: the runs\' own seconds summed by hand (50 + 70 + 80 + 100 + 120 = 420 over 5 runs), the wall time named apart', () => {
    expect(md).toContain('420.00 s of training summed over the 5 runs (each run\'s own seconds) · 1234.50 s wall time of the process that wrote this report');
  });
  it('setup: dataset, teacher with its top-1, student, parameter counts and ratio', () => {
    expect(md).toContain('fashion-mnist — 60,000 training / 10,000 test images, 10 classes');
    expect(md).toContain('Teacher: resnet34 (trained), test top-1 91.23 % (best epoch 91.50 %), 21,000,000 parameters');
    expect(md).toContain('Student: resnet9, 5,000,000 parameters — the teacher has 4.20× the student\'s parameters');
  });
  it('the KQ table with the selected layer marked, and the selections per rule', () => {
    expect(md).toContain('| 0 | stem_relu | 64×28×28 | 0.0123 | 0.5000 | 0.2500 | 0.3659 |  |');
    expect(md).toContain('| 1 | block1 | 128×14×14 | 0.2000 | 0.6000 | 0.1500 | 0.5000 | ✓ |');
    expect(md).toContain('| 2 | flatten | 512 | — | — | — | — |  |');
    expect(md).toContain('| `kq` (Ours) | top-k by Q = S + sqrt(I·E) (the paper\'s rule) | 12, 13, 14, 15 |');
    expect(md).toContain('| `baseline` | evenly spread over the backbone (the paper\'s baselines) | 3, 7, 13, 16 |');
    expect(md).toContain('| `s` | top-k by S (separation) only | 14, 15, 16, 17 |');
    expect(md).toContain('✓ marks the 1 layers Ours distils (rule `kq`)');
  });
  it('a methods row each: best 73, 74 → 73.50 ± sqrt(0.5) = 0.71; ce last 66, 64 → 65.00 ± sqrt(2) = 1.41; one run → "—"', () => {
    expect(md).toContain('| method | title | teacher layers | peak LR | top-1 best epoch (%) | top-1 last epoch (%) | runs | seconds / run |');
    expect(md).toContain('| `ours` | Ours (FKD-KQ) | 12, 13, 14, 15 | 0.05 (paper-code) | 73.50 ± 0.71 | 72.50 ± 0.71 | 2 | 110.00 |');
    expect(md).toContain('| `ce` | CE (student alone) | — | 0.01 (paper-code) | 66.50 ± 0.71 | 65.00 ± 1.41 | 2 | 60.00 |');
    expect(md).toContain('| `vkd` | VKD | — | 0.01 (paper-code) | 69.00 ± — | 68.00 ± — | 1 | 80.00 |');
    expect(md).toContain('Peak learning rates: policy `paper-code`');
    // the teacher's row first, beside the students'
    const rows = md.split('\n').filter((l) => /^\| (teacher|`)/.test(l) && l.includes('seconds') === false && /\d+\.\d\d \|/.test(l));
    expect(rows[0]).toBe('| teacher | resnet34 | — | — | 91.50 | 91.23 | — | — |');
  });
  it('ARI and efficiency with their definitions, which accuracy is which, and the pictures', () => {
    expect(md).toContain('ARI of `ours` = **2.80**');
    expect(md).toContain('g ≥ 0.5 points');
    expect(md).toContain('Training efficiency of `ours` = **0.50** (reached at epoch 2 of 4)');
    expect(md).toContain('`vkd` at 68.00 % (last-epoch mean)');
    expect(md).toContain('**Best epoch** = a run\'s highest test top-1 over its epochs; **last epoch** = its test top-1 after the final epoch');
    for (const name of ['kq-curves', 'training-curves', 'methods']) expect(md).toMatch(new RegExp(`!\\[[^\\]]+\\]\\(${name}\\.png\\)`));
  });
  it('says so when a metric has no value', () => {
    const r = experiment();
    r.ari = computeAri(r.methods, { ours: 'ours', reference: 'ce', baselines: [] });
    r.efficiency = computeEfficiency(r.methods, { ours: 'ours', baselines: ['missing'] });
    const text = renderResultsMarkdown(r);
    expect(text).toContain('ARI of `ours` = **—**');
    expect(text).toContain('Training efficiency of `ours` = **—** (no baseline to compare with)');
    expect(text).not.toContain('![');
  });
});

describe('writeExperimentPictures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kqkd-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('writes kq-curves, training-curves and methods as non-empty SVG and PNG files, paths relative to the folder', async () => {
    const pictures = await writeExperimentPictures(experiment(), dir);
    expect(pictures).toEqual({
      'kq-curves': { svg: 'kq-curves.svg', png: 'kq-curves.png' },
      'training-curves': { svg: 'training-curves.svg', png: 'training-curves.png' },
      methods: { svg: 'methods.svg', png: 'methods.png' },
    });
    expect(readdirSync(dir).sort()).toHaveLength(6);
    for (const { svg, png } of Object.values(pictures)) {
      expect(statSync(join(dir, svg)).size).toBeGreaterThan(0);
      expect(readFileSync(join(dir, svg), 'utf8').startsWith('<svg')).toBe(true);
      const bytes = readFileSync(join(dir, png));
      expect(bytes.byteLength).toBeGreaterThan(1000);
      expect(Array.from(bytes.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    }
    // The plots label methods by key (titles are sentences an axis would cut).
    expect(readFileSync(join(dir, 'methods.svg'), 'utf8')).toMatch(/>vkd<\/text>/);
  });

  it('draws the fixture\'s numbers: every bar, curve point and Q value is a mark carrying its value', () => {
    // vega writes each mark's data into its aria-label: the pictures show these values, not just any picture
    const labels = (name: string) => [...readFileSync(join(dir, `${name}.svg`), 'utf8').matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]);
    const bars = labels('methods');
    for (const [method, best, last] of [['ce', '66.5', '65'], ['vkd', '69', '68'], ['ours', '73.5', '72.5']]) {
      expect(bars.some((l) => new RegExp(`^method: ${method}; test top-1 \\(%\\): ${best}; accuracy: best epoch`).test(l)), `${method} best`).toBe(true);
      expect(bars.some((l) => new RegExp(`^method: ${method}; test top-1 \\(%\\): ${last}; accuracy: last epoch`).test(l)), `${method} last`).toBe(true);
    }
    // ours' mean curve: (60 + 61)/2, (70 + 71)/2, (73 + 74)/2, (72 + 73)/2
    const curve = labels('training-curves');
    [60.5, 70.5, 73.5, 72.5].forEach((v, i) => {
      expect(curve.some((l) => l.startsWith(`epoch: ${i + 1}; test top-1 (%): ${v}; method: ours;`)), `ours epoch ${i + 1}`).toBe(true);
    });
    const kq = labels('kq-curves');
    expect(kq.some((l) => /^generalized layer: 1; Q: 0\.5;/.test(l))).toBe(true);
    expect(kq.some((l) => /^generalized layer: 0; Q: 0\.36589/.test(l))).toBe(true);
  });
});

describe('Markdown report of a tuned experiment', () => {
  // ce: 0.01 → 80, 82 (81.00 ± 1.41); 0.05 → 84, 84 (84.00 ± 0.00, chosen); ours: 0.01 chosen (90, 91), 0.05 one run failed
  const results = experiment();
  const grid = (points: { lr: number; runs: number[]; failed?: number }[], lr: number) => ({
    lr, runs: 4, seconds: 40,
    grid: points.map((p) => ({
      lr: p.lr, validation: statistic(p.runs), validationBest: statistic(p.runs), failed: p.failed ?? 0, runDirs: ['runs/a', 'runs/b'],
    })),
  });
  results.methods.ce = { ...results.methods.ce, peakLr: 0.05, lrSource: 'tuning', tuning: grid([{ lr: 0.01, runs: [80, 82] }, { lr: 0.05, runs: [84, 84] }], 0.05) };
  results.methods.ours = { ...results.methods.ours, peakLr: 0.01, lrSource: 'tuning', tuning: grid([{ lr: 0.01, runs: [90, 91] }, { lr: 0.05, runs: [95], failed: 1 }], 0.01) };
  delete (results.methods as Record<string, unknown>).vkd;
  results.lrPolicy = 'tuning';
  results.tuning = { rule: 'RULE', grid: [0.01, 0.05], seeds: [0, 1], validationImages: 5000, runs: 8, runSeconds: 80, wallSeconds: 45 };
  results.pictures['lr-tuning'] = { svg: 'lr-tuning.svg', png: 'lr-tuning.png' };
  const md = renderResultsMarkdown(results);

  it('states the rule before the numbers, marks each method\'s choice and counts the failed runs', () => {
    expect(md).toContain('- Peak learning rates: chosen per method by this experiment\'s tuning on the validation split');
    const section = md.slice(md.indexOf('## Learning-rate tuning'));
    expect(section.indexOf('Rule, fixed before any result: for each method, RULE.')).toBeLessThan(section.indexOf('| peak LR |'));
    expect(section).toContain('with seeds 0, 1 on the training part and scored on 5,000 held-out training images');
    expect(section).toContain('| peak LR | `ce` | `ours` |');
    expect(section).toContain('| 0.01 | 81.00 ± 1.41 | **90.50 ± 0.71** ✓ |');
    expect(section).toContain('| 0.05 | **84.00 ± 0.00** ✓ | 95.00 ± — (1 failed) |');
    expect(section).toContain('Compute spent on tuning: 8 runs, 80 s of training summed over runs (45 s wall');
    expect(section).toContain('![Validation top-1 against the peak learning rate per method](lr-tuning.png)');
    expect(md).toContain('| `ce` | CE (student alone) | — | 0.05 (tuning) |');
  });
});
