/**
 * Per-method learning-rate tuning (tuning.ts):
 * - the selection rule: best mean validation top-1 at the last epoch, ties (also ties that floating point blurs) to
 *   the smaller rate, grid points with a failed run never chosen, a method with no eligible point refused by name;
 * - the experiment file's rules: a tuning block needs a validation split (refused before any work, nothing written),
 *   lrPolicy "tuned" needs a rate for every method;
 * - a tiny experiment end to end: every method × rate × tuning seed trained on the training part and scored on the
 *   validation images, the choice recomputed here from the runs' own results.json files, the final runs at the chosen
 *   rates on the test split, results.json / results.md / the lr-tuning picture; stopped in the middle of the sweep
 *   and started again, it finishes with the results of an uninterrupted (parallel) sweep, and the runs finished
 *   before the stop are not trained again.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunFailedError } from '@kqkd/common';
import { writeFashionMnist } from '@kqkd/data';
import { parseExperimentConfig, type ExperimentConfigInput } from '../src/config.js';
import { runExperiment, type RunExperimentOptions } from '../src/run.js';
import type { ExperimentProgress } from '../src/prepare.js';
import { chooseLearningRate, TUNING_RULE } from '../src/tuning.js';
import { statistic } from '../src/report.js';
import type { ExperimentResults, Statistic } from '../src/types.js';
import { stripes } from '../../../test/support/stripes.js';
import { expectError } from '../../../test/support/kqkd-error.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-tuning-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const point = (lr: number, runs: number[], failed = 0) => ({ lr, validation: runs.length ? statistic(runs) : { mean: NaN, std: null, runs: [] }, failed });

describe('the tuning rule', () => {
  it('takes the rate with the best mean validation top-1, whatever the grid order', () => {
    expect(chooseLearningRate([point(0.1, [80, 82]), point(0.01, [85, 86]), point(0.001, [84, 90])])).toBe(0.001); // 87 > 85.5 > 81
    expect(chooseLearningRate([point(0.02, [70]), point(0.05, [71]), point(0.005, [69])])).toBe(0.05);
  });

  it('breaks a tie toward the smaller rate, also a tie that floating point blurs', () => {
    expect(chooseLearningRate([point(0.05, [88, 89]), point(0.01, [89, 88]), point(0.02, [87, 90])])).toBe(0.01);
    // (64.1 + 63.6) / 2 and (63.6 + 64.1) / 2 are 63.85 both; 63.85 itself differs from them in the last bits
    const blurred = [point(0.02, [0.1 + 0.2, 0.3]), point(0.01, [0.3, 0.3])];
    expect(blurred[0].validation.mean).not.toBe(blurred[1].validation.mean);
    expect(chooseLearningRate(blurred)).toBe(0.01);
    expect(chooseLearningRate([point(0.02, [0.3, 0.3]), point(0.01, [0.1 + 0.2, 0.3])])).toBe(0.01);
  });

  it('never chooses a rate at which a run failed, and refuses a method with no rate left', () => {
    expect(chooseLearningRate([point(0.01, [80, 81]), point(0.1, [95], 1)])).toBe(0.01);
    const err = expectError(() => chooseLearningRate([point(0.01, [], 2), point(0.1, [50], 1)], 'vkd'), 'tuning of vkd', 'every tuning run finished', 'failed runs at every rate (0.01, 0.1)');
    expect(err).toBeInstanceOf(RunFailedError);
  });

  it('is stated in the reports as the code applies it', () => {
    expect(TUNING_RULE).toMatch(/best mean validation top-1 at the last epoch/);
    expect(TUNING_RULE).toMatch(/on a tie, the smaller learning rate/);
  });
});

const SIDE_TRAIN = 256;
const VALIDATION = 64;
const dataDir = join(root, 'data');
writeFashionMnist(dataDir, 'train', stripes(SIDE_TRAIN, 1));
writeFashionMnist(dataDir, 'test', stripes(100, 2));
const training = { epochs: 3, batchSize: 32, evalBatchSize: 50, optimizer: { type: 'adamw' as const, lr: 0.01 }, schedule: 'one-cycle' as const };
const GRID = [0.03, 0.001];
const input: ExperimentConfigInput = {
  version: 1, dataset: { name: 'fashion-mnist', dir: dataDir, validation: VALIDATION },
  teacher: { model: { name: 'resnet34', width: 0.0625 }, training: { ...training, epochs: 2 } },
  student: { model: { name: 'resnet9', width: 0.0625 } }, methods: ['ce', 'fkd-kq'], seeds: 2, seed0: 1, training, kq: { samples: 40, seed: 0 },
  tuning: { lr: GRID, seeds: 2 },
};

describe('the tuning block of an experiment file', () => {
  it('needs a validation split: refused when the file is read, before any work', () => {
    const { validation: _v, ...dataset } = input.dataset as { validation: number };
    const err = expectError(() => parseExperimentConfig({ ...input, dataset }), 'experiment.tuning', 'dataset.validation > 0', 'no validation split');
    expect(err.detail).toMatch(/"validation": N/);
  });

  it('sorts its grid, refuses a rate given twice and a methodLr table beside it', () => {
    expect(parseExperimentConfig(input).tuning!.lr).toEqual([0.001, 0.03]);
    expectError(() => parseExperimentConfig({ ...input, tuning: { lr: [0.01, 0.01] } }), 'experiment.tuning.lr', 'each learning rate once', '0.01, 0.01');
    expectError(() => parseExperimentConfig({ ...input, tuning: { lr: [0.01] } }), 'experiment.tuning.lr', 'at least two learning rates', /0\.01/);
    expectError(() => parseExperimentConfig({ ...input, training: { ...training, methodLr: { ce: 0.01 } } }), 'experiment.training.methodLr', 'nothing with a tuning block', 'ce');
  });

  it('lrPolicy "tuned" needs a rate for every method, and lrSource only goes with it', () => {
    const { tuning: _t, ...plain } = input;
    expectError(() => parseExperimentConfig({ ...plain, training: { ...training, lrPolicy: 'tuned', methodLr: { ce: 0.01 } } }), 'experiment.training.methodLr',
      'a learning rate for every method', 'none for fkd-kq');
    const c = parseExperimentConfig({ ...plain, training: { ...training, lrPolicy: 'tuned', methodLr: { ce: 0.01, 'fkd-kq': 0.05 }, lrSource: 'an earlier sweep' } });
    expect(c.training.methodLr).toEqual({ ce: 0.01, 'fkd-kq': 0.05 });
    expectError(() => parseExperimentConfig({ ...plain, training: { ...training, lrSource: 'x' } }), 'experiment.training.lrSource', 'nothing unless lrPolicy is "tuned"', '"x"');
  });
});

const stable = (r: ExperimentResults) => {
  const { seconds: _s, ...rest } = JSON.parse(JSON.stringify(r)) as ExperimentResults;
  for (const m of Object.values(rest.methods)) {
    for (const run of m.runs) delete run.seconds;
    if (m.tuning) m.tuning.seconds = 0;
  }
  if (rest.tuning) { rest.tuning.runSeconds = 0; rest.tuning.wallSeconds = 0; }
  return rest;
};

interface RunJson { method: string; seed: number; config: { optimizer: { lr: number }; dataset: Record<string, unknown> } }
const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunJson;
const runResults = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { top1Last: number; top1Best: number; note: string };

describe('an experiment with a tuning block', () => {
  const config = parseExperimentConfig(input);
  const run = (out: string, o: Partial<RunExperimentOptions> = {}) => runExperiment({ config, out: join(root, out), threads: 1, ...o });
  let reference: ExperimentResults;

  it('tunes every method on the validation split, then runs the final seeds at the chosen rates on the test split', async () => {
    const events: ExperimentProgress[] = [];
    reference = await run('reference', { parallel: 2, onProgress: (e) => events.push(e) });
    const out = join(root, 'reference');
    expect(events).toContainEqual({ kind: 'stage', stage: 'tuning', detail: '8 runs: 2 methods × 2 learning rates × 2 seeds, scored on 64 validation images' });
    expect(reference.lrPolicy).toBe('tuning');
    expect(reference.dataset).toEqual({ name: 'fashion-mnist', trainCount: SIDE_TRAIN - VALIDATION, testCount: 100, classes: 10, evaluatedOn: 'test' });
    expect(reference.tuning).toMatchObject({ rule: TUNING_RULE, grid: [0.001, 0.03], seeds: [1, 2], validationImages: VALIDATION, runs: 8 });
    expect(reference.tuning!.runSeconds).toBeGreaterThan(0);

    for (const [key, m] of Object.entries(reference.methods)) {
      const t = m.tuning!;
      expect(t.grid.map((p) => p.lr)).toEqual([0.001, 0.03]);
      // Each grid point from its runs' own files: trained at that rate, held out the validation images, scored there.
      const means: number[] = [];
      for (const p of t.grid) {
        expect(p.runDirs).toHaveLength(2);
        const last: number[] = [];
        for (const [i, dir] of p.runDirs.entries()) {
          const j = runJson(join(out, dir));
          expect([j.method, j.seed, j.config.optimizer.lr, j.config.dataset.validation]).toEqual([key, i + 1, p.lr, VALIDATION]);
          const r = runResults(join(out, dir));
          expect(r.note).toMatch(/validation split/);
          last.push(r.top1Last);
        }
        expect(p.validation.runs).toEqual(last);
        expect(p.validation.mean).toBeCloseTo((last[0] + last[1]) / 2, 12);
        expect(p.failed).toBe(0);
        means.push((last[0] + last[1]) / 2);
      }
      // the rule, recomputed: best mean, the smaller rate on a tie
      const chosen = means[1] > means[0] + 1e-9 ? 0.03 : 0.001;
      expect(t.lr, key).toBe(chosen);
      expect([m.peakLr, m.lrSource]).toEqual([chosen, 'tuning']);
      // the final runs: 2 seeds at the chosen rate, the same training images, evaluated on the test split
      expect(m.runs.map((r) => r.seed)).toEqual([1, 2]);
      for (const r of m.runs) {
        const j = runJson(join(out, r.runDir));
        expect(j.config.optimizer.lr).toBe(chosen);
        expect(j.config.dataset.validation).toBeUndefined();
        expect(j.config.dataset.trainLimit).toBe(SIDE_TRAIN - VALIDATION);
        const rr = runResults(join(out, r.runDir));
        expect(rr.note).toMatch(/test split/);
        expect(r.top1Last).toBe(rr.top1Last);
      }
    }
    // 8 tuning runs + 4 final runs, each in its own folder
    expect(readdirSync(join(out, 'runs'))).toHaveLength(12);

    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('## Learning-rate tuning');
    expect(md).toContain(`Rule, fixed before any result: for each method, ${TUNING_RULE}.`);
    expect(md.match(/✓/g)!.length).toBeGreaterThanOrEqual(2);
    const f = (s: Statistic) => `${s.mean.toFixed(2)} ± ${s.std!.toFixed(2)}`;
    const ce = reference.methods.ce.tuning!;
    expect(md).toContain(`| ${ce.lr} |`);
    expect(md).toContain(`**${f(ce.grid.find((p) => p.lr === ce.lr)!.validation)}** ✓`);
    expect(md).toContain('Compute spent on tuning: 8 runs');
    expect(reference.pictures['lr-tuning']).toEqual({ svg: 'lr-tuning.svg', png: 'lr-tuning.png' });
    const svg = readFileSync(join(out, 'lr-tuning.svg'), 'utf8');
    expect(svg).toContain('peak learning rate (log scale)');
    expect(readFileSync(join(out, 'lr-tuning.png')).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  }, 600_000);

  it('stopped in the middle of the sweep, the same call resumes it and gives the uninterrupted results', async () => {
    const controller = new AbortController();
    let finished = 0;
    await expect(run('resumed', {
      signal: controller.signal,
      onProgress: (e) => { if (e.kind === 'train' && e.event.kind === 'done' && ++finished === 3) controller.abort(new Error('stop')); },
    })).rejects.toThrow();
    expect(existsSync(join(root, 'resumed', 'results.json'))).toBe(false);
    const events: ExperimentProgress[] = [];
    const resumed = await run('resumed', { onProgress: (e) => events.push(e) });
    const notRecomputed = events.filter((e) => e.kind === 'train' && e.event.kind === 'done' && !e.event.recomputed);
    expect(notRecomputed.length).toBe(3);
    expect(stable(resumed)).toEqual(stable(reference));
  }, 600_000);
});
