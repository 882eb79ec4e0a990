/**
 * `runExperiment` end to end on a tiny in-memory dataset (10 classes of 1×16×16 images with class-dependent stripes,
 * 200 train / 100 test, Fashion-MNIST normalisation): a ResNet34/16 teacher trained here, KQ scoring, the layer
 * selections, the teacher cache, every method family × 2 seeds on a ResNet9/16 student, results.json / results.md /
 * pictures. Then: a second call on the same folder recomputes nothing and writes the same results; an imported
 * teacher (the first experiment's exported model.onnx) gets the same KQ scores and selection; the exported student
 * of an fkd-kq run, in onnxruntime-node, reproduces the run's last-epoch test top-1 exactly.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, datasetFromImages, toFloatBatch } from '@kqkd/data';
import { stripes } from '../../../test/support/stripes.js';
import { createInferenceSession } from '@kqkd/runtime';
import { selectTopK } from '@kqkd/kq';
import { parseExperimentConfig, type ExperimentConfigInput } from '../src/config.js';
import { runExperiment, type ExperimentProgress } from '../src/run.js';
import { EXPERIMENT_RESULTS_FORMAT, EXPERIMENT_RESULTS_VERSION, type ExperimentResults } from '../src/types.js';
import type { TrainProgress } from '@kqkd/train';

const root = mkdtempSync(join(tmpdir(), 'kqkd-experiment-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CLASSES = 10;

const trainImages = stripes(200, 1);
const testImages = stripes(100, 2);
const data = {
  train: datasetFromImages(trainImages, { name: 'fashion-mnist', split: 'train' }),
  test: datasetFromImages(testImages, { name: 'fashion-mnist', split: 'test' }),
};

const METHODS = ['ce', 'vkd', '1lc-vkd', 'sp-vkd', 'fkd-kq', 'fkd-kq-ce', 'simkd', 'semckd'];
const SEEDS = 2;
const K = 4;
const training = { epochs: 2, batchSize: 32, evalBatchSize: 50, optimizer: { type: 'adamw' as const, lr: 0.01, weightDecay: 0.01 }, schedule: 'one-cycle' as const };

const input = (teacher: ExperimentConfigInput['teacher'], methods = METHODS, seeds = SEEDS): ExperimentConfigInput => ({
  version: 1,
  dataset: { name: 'fashion-mnist' },
  teacher,
  student: { model: { name: 'resnet9', width: 0.0625 } },
  methods,
  seeds,
  seed0: 3,
  training,
  distill: { k: K },
  kq: { samples: 40, seed: 0 },
});
const trainedTeacher = { model: { name: 'resnet34' as const, width: 0.0625 }, training: { ...training, epochs: 2 } };

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const sampleStd = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1));
const withoutSeconds = (text: string) => { const { seconds: _s, ...rest } = JSON.parse(text) as ExperimentResults; return rest; };

describe('runExperiment: a tiny experiment end to end', () => {
  const out = join(root, 'trained');
  let results: ExperimentResults;
  let resultsText: string;
  let headStartsAfter: number;

  it('trains the teacher, scores it, runs every method × seed and writes results.json, results.md and pictures', async () => {
    const events: ExperimentProgress[] = [];
    results = await runExperiment({ config: parseExperimentConfig(input(trainedTeacher)), out, data, threads: 1, onProgress: (e) => events.push(e) });
    resultsText = readFileSync(join(out, 'results.json'), 'utf8');
    const r = JSON.parse(resultsText) as ExperimentResults;
    expect(r).toEqual(JSON.parse(JSON.stringify(results)));

    // exactly the fields of the ExperimentResults interface (paperTeacherLayers only with a paper preset)
    expect(Object.keys(r).sort()).toEqual(['accuracy', 'ari', 'configHash', 'dataset', 'efficiency', 'format', 'kq', 'layerSelections', 'lrPolicy', 'methods',
      'pictures', 'preset', 'seconds', 'selectedTeacherLayers', 'selectionRule', 'student', 'studentLayers', 'teacher', 'version']);
    expect([r.lrPolicy, r.selectionRule, r.dataset.evaluatedOn]).toEqual(['shared', 'kq-last', 'test']); // the default rule
    expect(Object.keys(r.teacher).sort()).toEqual(['model', 'parameters', 'source', 'top1', 'top1Best']);
    expect(Object.keys(r.methods.ce).sort()).toEqual(['curve', 'key', 'layerRule', 'lrSource', 'peakLr', 'runs', 'studentLayers', 'teacherLayers', 'title', 'top1Best', 'top1Last']);
    for (const m of Object.values(r.methods)) expect(m.peakLr, m.key).toBe(parseExperimentConfig(input(trainedTeacher)).training.optimizer.lr); // policy shared
    expect(Object.keys(r.methods.ce.runs[0]).sort()).toEqual(['bestEpoch', 'configHash', 'history', 'runDir', 'seconds', 'seed', 'top1Best', 'top1Last']);
    expect(Object.keys(r.kq.layers[0]).sort()).toEqual(['E', 'I', 'Q', 'S', 'index', 'name', 'selected', 'shape']);
    expect(Object.keys(r.ari).sort()).toEqual(['accuracy', 'baselines', 'excluded', 'ours', 'reference', 'value']);
    expect(Object.keys(r.efficiency).sort()).toEqual(['bestBaseline', 'epochs', 'epochsToReach', 'ours', 'target', 'value']);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.format).toBe(EXPERIMENT_RESULTS_FORMAT);
    expect(r.version).toBe(EXPERIMENT_RESULTS_VERSION);
    expect(r.preset).toBeNull();
    expect(r.configHash).toMatch(/^[0-9a-f]{16}$/);
    expect(r.dataset).toEqual({ name: 'fashion-mnist', trainCount: 200, testCount: 100, classes: CLASSES, evaluatedOn: 'test' });
    expect(r.teacher.source).toBe('trained');
    expect(r.teacher.model).toMatch(/^resnet34/);
    expect(r.teacher.top1Best).toBeGreaterThanOrEqual(r.teacher.top1);
    expect(r.teacher.parameters).toBeGreaterThan(0);
    expect(r.student.model).toMatch(/^resnet9/);
    expect(r.student.parameters).toBeGreaterThan(0);
    expect(r.student.parameters).toBeLessThan(r.teacher.parameters!);

    // KQ: rule kq is the top-k by Q over the backbone's layers (index ≤ headStartsAfter); the default kq-last, Ours'
    // rule here, is the last block before the Flatten plus the top-(k−1) by Q before it.
    const kq = JSON.parse(readFileSync(join(out, 'kq.json'), 'utf8'));
    headStartsAfter = kq.model.headStartsAfter;
    expect(r.kq.topK).toBe(K);
    expect(r.kq.samples).toBe(40);
    expect(r.kq.layers.length).toBe(kq.layers.length);
    expect(r.selectedTeacherLayers).toHaveLength(K);
    const candidates = r.kq.layers.filter((l) => l.index <= headStartsAfter).map((l) => ({ index: l.index, Q: l.Q ?? NaN }));
    const byQ = candidates.filter((l) => Number.isFinite(l.Q)).sort((a, b) => b.Q - a.Q || b.index - a.index).slice(0, K).map((l) => l.index).sort((a, b) => a - b);
    expect(r.layerSelections.kq).toEqual(byQ);
    expect(r.layerSelections.kq).toEqual(selectTopK(candidates, K));
    const lastBlock = Math.max(...candidates.filter((l) => l.index < headStartsAfter).map((l) => l.index));
    const beforeLast = candidates.filter((l) => l.index < lastBlock && Number.isFinite(l.Q)).sort((a, b) => b.Q - a.Q || b.index - a.index)
      .slice(0, K - 1).map((l) => l.index).sort((a, b) => a - b);
    expect(r.selectedTeacherLayers).toEqual([...beforeLast, lastBlock]);
    expect(r.layerSelections['kq-last']).toEqual(r.selectedTeacherLayers);
    for (const rule of ['kq', 's', 'ie', 'i', 'e', 'baseline'] as const) {
      expect(r.layerSelections[rule], rule).toHaveLength(K);
      for (const i of r.layerSelections[rule]) expect(i).toBeLessThanOrEqual(headStartsAfter);
    }
    expect(r.kq.layers.filter((l) => l.selected).map((l) => l.index)).toEqual(r.selectedTeacherLayers);
    expect(r.studentLayers).toEqual([1, 2, 3, 4]); // the paper's ResNet9 layers

    // Methods: each key, runs.length = seeds, statistics over the runs.
    expect(Object.keys(r.methods).sort()).toEqual([...METHODS].sort());
    // Learning happened, not just numbers: chance is 10 % on these 100 test images (P(≥ 20 % by chance) ≈ 0.002).
    // The teacher (2 epochs on 200 images) and every method with a head of its own beat twice that, averaged over
    // seeds; SimKD reads the teacher's own head on its projected features and stays near chance with this teacher.
    expect(r.teacher.top1).toBeGreaterThanOrEqual(20);
    for (const key of METHODS.filter((k) => k !== 'simkd')) expect(r.methods[key].top1Best.mean, key).toBeGreaterThanOrEqual(20);
    for (const key of METHODS) {
      const m = r.methods[key];
      expect(m.key).toBe(key);
      expect(m.runs.map((x) => x.seed)).toEqual([3, 4]);
      for (const [stat, field] of [[m.top1Best, 'top1Best'], [m.top1Last, 'top1Last']] as const) {
        const runs = m.runs.map((x) => x[field]);
        expect(stat.runs).toEqual(runs);
        expect(stat.mean).toBeCloseTo(mean(runs), 10);
        expect(stat.std!).toBeCloseTo(sampleStd(runs), 10);
      }
      for (const run of m.runs) {
        expect(run.history.map((h) => h.epoch)).toEqual([1, 2]);
        expect(run.top1Last).toBe(run.history[1].testTop1);
        expect(run.top1Best).toBe(Math.max(...run.history.map((h) => h.testTop1)));
        expect(run.runDir).toBe(join('runs', run.configHash));
      }
      expect(m.curve.map((p) => p.epoch)).toEqual([1, 2]);
      expect(m.curve[1].mean).toBeCloseTo(m.top1Last.mean, 10);
    }
    // distinct runs, distinct folders
    const dirs = METHODS.flatMap((k) => r.methods[k].runs.map((x) => x.runDir));
    expect(new Set(dirs).size).toBe(METHODS.length * SEEDS);
    expect(readdirSync(join(out, 'runs')).sort()).toEqual(dirs.map((d) => d.slice('runs/'.length)).sort());
    // layers per method family
    expect(r.methods.ce.teacherLayers).toBeNull();
    expect(r.methods.vkd.teacherLayers).toBeNull();
    expect(r.methods['fkd-kq'].teacherLayers).toEqual(r.layerSelections['kq-last']); // Ours' rule (the default)
    expect(r.methods['fkd-kq-ce'].teacherLayers).toEqual(r.methods['fkd-kq'].teacherLayers); // its ablation: the same layers
    expect([r.methods['fkd-kq'].layerRule, r.methods['fkd-kq-ce'].layerRule]).toEqual(['kq-last', 'kq-last']);
    expect(r.methods['1lc-vkd'].teacherLayers).toEqual(r.layerSelections.baseline);
    expect(r.methods['sp-vkd'].teacherLayers).toEqual(r.layerSelections.baseline.slice(-1)); // SP: the deepest pair only
    expect(r.methods['fkd-kq'].studentLayers).toEqual(r.studentLayers);
    expect(r.methods.simkd.teacherLayers).toEqual([headStartsAfter - 1]);
    expect(r.methods.semckd.studentLayers).toEqual(r.studentLayers);

    // ARI and efficiency recomputed here from the methods' numbers (METHOD.md §6)
    expect(r.ari.ours).toBe('fkd-kq');
    expect(r.ari.reference).toBe('ce');
    expect(r.ari.accuracy).toBe('top1Best');
    const baselines = ['1lc-vkd', 'semckd', 'simkd', 'sp-vkd', 'vkd'];
    expect([...r.ari.baselines, ...r.ari.excluded].sort()).toEqual(baselines);
    const g = (k: string) => r.methods[k].top1Best.mean - r.methods.ce.top1Best.mean;
    const qualifying = baselines.filter((b) => g(b) >= 0.5 - 1e-9);
    expect([...r.ari.baselines].sort()).toEqual(qualifying);
    if (qualifying.length === 0) expect(r.ari.value).toBeNull();
    else expect(r.ari.value!).toBeCloseTo(qualifying.reduce((a, b) => a + g('fkd-kq') / g(b), 0) / qualifying.length, 10);
    expect(r.efficiency.ours).toBe('fkd-kq');
    expect(r.efficiency.epochs).toBe(2);
    const best = baselines.reduce((a, b) => (r.methods[b].top1Last.mean > r.methods[a].top1Last.mean ? b : a));
    const target = r.methods[best].top1Last.mean;
    const reached = r.methods['fkd-kq'].curve.find((p) => p.mean >= target - 1e-9);
    expect(r.efficiency.bestBaseline).toBe(best);
    expect(r.efficiency.target).toBeCloseTo(target, 10);
    expect(r.efficiency.value).toEqual(reached ? reached.epoch / 2 : null);

    // results.md names every method
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    for (const key of METHODS) expect(md, key).toContain(key);

    // pictures
    expect(Object.keys(r.pictures).sort()).toEqual(['kq-curves', 'methods', 'training-curves']);
    for (const [name, p] of Object.entries(r.pictures)) {
      expect(p).toEqual({ svg: `${name}.svg`, png: `${name}.png` });
      expect(readFileSync(join(out, p.svg), 'utf8')).toMatch(/<svg[\s>]/);
      expect(readFileSync(join(out, p.png)).subarray(0, 8).equals(PNG), name).toBe(true);
    }

    // every run folder
    for (const key of METHODS) {
      for (const run of r.methods[key].runs) {
        const dir = join(out, run.runDir);
        for (const f of ['run.json', 'log.txt', 'metrics.jsonl', 'results.json', 'model.onnx', join('checkpoint', 'checkpoint.ortckpt')]) {
          expect(existsSync(join(dir, f)), `${key} seed ${run.seed}: ${f}`).toBe(true);
        }
        const runJson = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
        expect(runJson).toMatchObject({ method: key, seed: run.seed, configHash: run.configHash });
        expect(runJson.config.distill?.method).toBe(key === 'ce' ? undefined : key);
        const runResults = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
        expect(runResults).toMatchObject({ configHash: run.configHash, top1Best: run.top1Best, top1Last: run.top1Last, completedEpochs: 2 });
        expect(runResults.partial).toBeUndefined();
        expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
        expect(readFileSync(join(dir, 'log.txt'), 'utf8')).toMatch(/started[\s\S]*epoch 2: train loss/);
      }
    }
    // the teacher cache was built once, every train event went through onProgress
    expect(existsSync(join(out, 'teacher-cache', 'manifest.json'))).toBe(true);
    const done = events.filter((e) => e.kind === 'train' && e.event.kind === 'done');
    expect(done).toHaveLength(1 + METHODS.length * SEEDS);
  }, 300_000);

  it('a second call on the same folder recomputes nothing and writes the same results.json (but seconds)', async () => {
    const events: ExperimentProgress[] = [];
    await runExperiment({ config: parseExperimentConfig(input(trainedTeacher)), out, data, threads: 1, onProgress: (e) => events.push(e) });
    const train = events.filter((e): e is Extract<ExperimentProgress, { kind: 'train' }> => e.kind === 'train').map((e) => e.event);
    const done = train.filter((e): e is Extract<TrainProgress, { kind: 'done' }> => e.kind === 'done');
    expect(done).toHaveLength(1 + METHODS.length * SEEDS);
    expect(done.every((e) => !e.recomputed)).toBe(true);
    expect(train.filter((e) => e.kind === 'batch' || e.kind === 'start' || e.kind === 'epoch')).toEqual([]);
    // neither KQ nor the teacher cache ran again
    expect(events.filter((e) => e.kind === 'stage').map((e) => e.stage)).not.toContain('kq');
    expect(events.filter((e) => e.kind === 'progress')).toEqual([]);
    expect(withoutSeconds(readFileSync(join(out, 'results.json'), 'utf8'))).toEqual(withoutSeconds(resultsText));
  }, 60_000);

  it('an imported teacher (the first experiment\'s model.onnx) gets the same KQ scores and selection', async () => {
    const imported = join(root, 'imported');
    const r = await runExperiment({
      config: parseExperimentConfig(input({ onnx: join(out, 'teacher', 'model.onnx') }, ['ce'], 1)), out: imported, data, threads: 1,
    });
    expect(r.teacher.source).toBe('imported');
    expect(r.teacher.top1).toBe(results.teacher.top1); // the exported teacher in onnxruntime-node = the training run's last eval
    expect(r.selectedTeacherLayers).toEqual(results.selectedTeacherLayers);
    expect(r.layerSelections).toEqual(results.layerSelections);
    expect(r.kq.layers).toEqual(results.kq.layers);
    // the ce run is the first experiment's seed-3 ce run (same config hash, same numbers)
    expect(r.methods.ce.runs[0].configHash).toBe(results.methods.ce.runs[0].configHash);
    expect(r.methods.ce.runs[0].history).toEqual(results.methods.ce.runs[0].history);
  }, 120_000);

  it('the exported student of an fkd-kq run reproduces its last-epoch top-1 in onnxruntime-node', async () => {
    const run = results.methods['fkd-kq'].runs[1];
    const session = await createInferenceSession(join(out, run.runDir, 'model.onnx'));
    try {
      const idx = Array.from({ length: testImages.count }, (_, i) => i);
      const x = toFloatBatch(testImages, idx, { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD });
      const logits = (await session.run({ input: { data: x.data, shape: x.shape } }, ['logits'])).logits;
      expect(logits.shape).toEqual([testImages.count, CLASSES]);
      let correct = 0;
      for (let i = 0; i < testImages.count; i++) {
        const row = Array.from(logits.data.subarray(i * CLASSES, (i + 1) * CLASSES));
        if (row.indexOf(Math.max(...row)) === testImages.labels[i]) correct++;
      }
      expect((100 * correct) / testImages.count).toBe(run.top1Last);
    } finally {
      await session.release();
    }
  }, 30_000);
});
