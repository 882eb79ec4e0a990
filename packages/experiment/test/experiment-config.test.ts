/**
 * The experiment's configuration surface, without running anything: validation errors of the experiment file
 * (`parseExperimentConfig`), each a KqkdError naming the field path, the rule and the value received; the LR policy;
 * every preset parses, and the paper presets carry the paper's layers, protocol and learning rates (METHOD.md §2, §5).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { expectError } from '../../../test/support/kqkd-error.js';
import { METHOD_KEYS } from '@kqkd/distill';
import { EXPERIMENT_CONFIG_VERSION, parseExperimentConfig, type ExperimentConfigInput } from '../src/config.js';
import { COMMITTED_TEACHER, PAPER_BASELINE_LAYERS, PAPER_STUDENT_LAYERS, paperLearningRate, PRESET_NAMES, PRESETS, presetConfig, QUICK_TUNED_LR } from '../src/presets.js';
import { methodLearningRate, paperCodeLearningRate } from '../src/lr-policy.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));


// ------------------------------------------------------------------ experiment file validation

const base: ExperimentConfigInput = {
  version: 1,
  dataset: { name: 'fashion-mnist', trainLimit: 100, testLimit: 50 },
  teacher: { model: { name: 'resnet34', width: 0.125 } },
  student: { model: { name: 'resnet9', width: 0.125 }, layers: [1, 2, 3, 4] },
  methods: ['ce', 'fkd-kq'],
  training: { epochs: 2, optimizer: { type: 'adamw', lr: 0.0075 } },
};
/** `base` with one field replaced (path: keys; value undefined deletes it). */
function variant(path: (string | number)[], value: unknown): unknown {
  const c = structuredClone(base) as Record<string | number, unknown>;
  let o = c;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  if (value === undefined) delete o[path[path.length - 1]]; else o[path[path.length - 1]] = value;
  return c;
}

describe('parseExperimentConfig', () => {
  it('fills the defaults of the paper\'s protocol', () => {
    const c = parseExperimentConfig(base);
    expect(EXPERIMENT_CONFIG_VERSION).toBe(1);
    expect(c.seeds).toBe(3);
    expect(c.distill).toEqual({ k: 4, selection: 'kq-last', projector: 'single-layer-conv', temperature: 4, weights: { feature: 1, kd: 1, sp: 3000, semckd: 400, simkd: 1 } });
    expect(c.training).toMatchObject({ batchSize: 128, schedule: 'one-cycle', optimizer: { type: 'adamw', lr: 0.0075, weightDecay: 0.01 } });
    expect(c.kq).toEqual({ samples: 6000, seed: 0 });
  });

  it('names the field (experiment.…), the rule and the value received', () => {
    expectError(() => parseExperimentConfig(variant(['version'], 2)), 'experiment.version', 'version 1', '2');
    expectError(() => parseExperimentConfig(variant(['version'], undefined)), 'experiment.version', 'version 1', 'nothing');
    expectError(() => parseExperimentConfig(variant(['sedes'], 3)), 'experiment', /.+/, 'unknown key(s) "sedes"');
    expectError(() => parseExperimentConfig(variant(['student', 'layer'], [1])), 'experiment.student', /.+/, 'unknown key(s) "layer"');
    const m = expectError(() => parseExperimentConfig(variant(['methods'], ['ce', 'fkd'])), 'experiment.methods.1', 'a method (', '"fkd"');
    expect(m.expected).toContain(METHOD_KEYS.join(', ')); // every key listed
    expectError(() => parseExperimentConfig(variant(['methods'], [])), 'experiment.methods', 'at least one method', '[]');
    expectError(() => parseExperimentConfig(variant(['methods'], ['ce', 'vkd', 'ce'])), 'experiment.methods', 'each method once', 'ce, vkd, ce');
    expectError(() => parseExperimentConfig(variant(['student', 'layers'], [1, 2, 3])), 'experiment.student.layers', '4 layers (distill.k)', '3: 1, 2, 3');
    expectError(() => parseExperimentConfig({ ...(variant(['student', 'layers'], [1, 2]) as object), distill: { k: 3 } }),
      'experiment.student.layers', '3 layers (distill.k)', '2: 1, 2');
    expectError(() => parseExperimentConfig(variant(['student', 'layers'], [1, -2, 3, 4])), 'experiment.student.layers.1', 'layer indices ≥ 0', '-2');
    expectError(() => parseExperimentConfig(variant(['teacher', 'baselineLayers'], [3, 7, 13])), 'experiment.teacher.baselineLayers', '4 layers (distill.k)', '3, 7, 13');
    expectError(() => parseExperimentConfig(variant(['teacher'], {})), 'experiment.teacher', 'teacher needs `onnx` (import) or `model` (train here)', '{}');
    expectError(() => parseExperimentConfig(variant(['teacher'], { baselineLayers: [3, 7, 13, 16] })), 'experiment.teacher',
      'teacher needs `onnx`', '{"baselineLayers":[3,7,13,16]}');
    expectError(() => parseExperimentConfig(variant(['training', 'optimizer', 'lr'], 0)), 'experiment.training.optimizer.lr', 'a number > 0', '0');
    expectError(() => parseExperimentConfig(variant(['training', 'optimizer', 'lr'], 11)), 'experiment.training.optimizer.lr', 'a number ≤ 10', '11');
    expectError(() => parseExperimentConfig(variant(['training', 'optimizer', 'lr'], '0.1')), 'experiment.training.optimizer.lr', /.+/, '"0.1"');
    expectError(() => parseExperimentConfig(variant(['training', 'epochs'], 0)), 'experiment.training.epochs', 'an integer ≥ 1', '0');
    expectError(() => parseExperimentConfig(variant(['teacher', 'training'], { epochs: 1.5, optimizer: { type: 'adamw', lr: 0.01 } })),
      'experiment.teacher.training.epochs', 'an integer ≥ 1', '1.5');
    expectError(() => parseExperimentConfig(variant(['student', 'model', 'name'], 'resnet8')), 'experiment.student.model.name', 'a model of the zoo', '"resnet8"');
    expectError(() => parseExperimentConfig(variant(['kq'], { samples: 10 })), 'experiment.kq.samples', /.+/, '10');
    expectError(() => parseExperimentConfig(variant(['seeds'], 0)), 'experiment.seeds', 'an integer ≥ 1', '0');
    // the source name replaces "experiment" (the CLI passes the file)
    expectError(() => parseExperimentConfig(variant(['version'], 2), 'exp.json'), 'exp.json.version', 'version 1', '2');
  });
});

// ------------------------------------------------------------------ presets

/** The paper's layers (METHOD.md §2). */
const PAPER_KQ: Record<string, Record<string, number[]>> = {
  resnet34: { cifar10: [12, 13, 14, 15], cifar100: [12, 13, 14, 15], 'tiny-imagenet': [12, 13, 14, 15] },
  vgg19: { cifar10: [11, 12, 13, 15], cifar100: [11, 12, 13, 15], 'tiny-imagenet': [11, 12, 13, 16] },
  vit_b: { cifar10: [9, 10, 11, 12], cifar100: [7, 10, 11, 12], 'tiny-imagenet': [7, 8, 11, 12] },
};
const PAPER_BASELINE: Record<string, number[]> = { resnet34: [3, 7, 13, 16], vgg19: [3, 7, 11, 15], vit_b: [2, 4, 8, 10] };
const PAPER_STUDENT: Record<string, number[]> = { resnet9: [1, 2, 3, 4], vgg11: [1, 3, 5, 7], mobilenetv2: [3, 6, 13, 17], vit_ett: [1, 3, 5, 7] };
const PAIRS_OF_PAPER: Record<string, string> = { resnet34: 'resnet9', vgg19: 'vgg11', vit_b: 'vit_ett' };
const LR: Record<string, number> = { resnet9: 0.0075, resnet34: 0.0075, mobilenetv2: 0.0075, vgg11: 0.005, vgg19: 0.005, vit_ett: 0.001, vit_et: 0.001, vit_b: 0.0001 };

describe('presets', () => {
  it('every preset parses (the paper ones once dataset.dir is set); presetConfig returns a deep copy', () => {
    expect(PRESET_NAMES).toHaveLength(17);
    for (const name of PRESET_NAMES) {
      const p = presetConfig(name);
      if (name.startsWith('paper-')) p.dataset = { ...p.dataset, dir: '/data/somewhere' };
      const c = parseExperimentConfig(p, name);
      expect(c.methods.length, name).toBeGreaterThan(0);
      expect(c.student.layers, name).toHaveLength(c.distill.k);
      if (c.teacher.baselineLayers) expect(c.teacher.baselineLayers, name).toHaveLength(c.distill.k);
    }
    const copy = presetConfig('quick');
    copy.student.layers!.push(9);
    expect(PRESETS.quick.student.layers).toEqual([1, 2, 3, 4]);
    expectError(() => presetConfig('paper'), 'preset', PRESET_NAMES.join(', '), /paper/);
  });

  it('the quick preset: the committed ResNet34/4 teacher → ResNet9/8 on Fashion-MNIST, the paper\'s layers, 3 seeds, the LRs quick-tune chose', () => {
    const c = parseExperimentConfig(presetConfig('quick'));
    expect(c.dataset).toMatchObject({ name: 'fashion-mnist', trainLimit: 10000 });
    expect(c.dataset.testLimit).toBeUndefined(); // the whole test set
    expect(c.teacher.onnx).toBe(COMMITTED_TEACHER);
    expect(existsSync(COMMITTED_TEACHER), COMMITTED_TEACHER).toBe(true);
    expect(c.teacher.model).toBeUndefined(); // imported, never trained in the main job
    expect(c.student.model).toEqual({ name: 'resnet9', width: 0.125 });
    expect(c.student.layers).toEqual([1, 2, 3, 4]);
    expect(c.teacher.baselineLayers).toEqual([3, 7, 13, 16]);
    expect(c.teacher.paperLayers).toEqual([12, 13, 14, 15]);
    expect(c.methods).toEqual(['ce', 'vkd', '1lc-vkd', 'fkd-kq']);
    expect(c.seeds).toBe(3);
    expect(c.training.lrPolicy).toBe('tuned');
    expect(c.training.methodLr).toEqual({ ce: 0.01, vkd: 0.05, 'vkd-ls': 0.02, '1lc-vkd': 0.05, 'sp-vkd': 0.1, 'fkd-kq': 0.1 });
    expect(c.training.lrSource).toMatch(/^quick-tune: best mean validation top-1 at the last epoch/);
    expect(c.distill.selection).toBe('kq-last');
  });

  it('quick-tune reproduces quick\'s choice: the same teacher, student, epochs and training images, the last 5 000 held out, every method over the grid', () => {
    const t = parseExperimentConfig(presetConfig('quick-tune'));
    const q = parseExperimentConfig(presetConfig('quick'));
    expect(t.dataset).toEqual({ name: 'fashion-mnist', trainLimit: 10000, validation: 5000 });
    expect(t.tuning).toEqual({ lr: [0.0025, 0.005, 0.01, 0.02, 0.05, 0.1], seeds: 2 });
    expect(t.methods).toEqual(['ce', 'vkd', 'vkd-ls', '1lc-vkd', 'sp-vkd', 'fkd-kq']);
    for (const m of q.methods) expect(t.methods).toContain(m);
    for (const k of ['teacher', 'student', 'seeds', 'kq', 'distill'] as const) expect(t[k], k).toEqual(q[k]);
    const { lrPolicy: _a, methodLr: _b, lrSource: _c, ...qt } = q.training;
    const { lrPolicy: _d, ...tt } = t.training;
    expect(tt).toEqual(qt);
    // quick's methods at the rates quick-tune chose (QUICK_TUNED_LR, recorded from its results.json)
    for (const m of q.methods) expect(q.training.methodLr![m], m).toBe(QUICK_TUNED_LR[m]);
  });

  it('fmnist-resnet34-mobilenetv2-tune: quick-tune with a MobileNetV2/4 student (the paper\'s student layers), CE, VKD, 1LC + VKD and Ours', () => {
    const t = parseExperimentConfig(presetConfig('fmnist-resnet34-mobilenetv2-tune'));
    const q = parseExperimentConfig(presetConfig('quick-tune'));
    expect(t.student).toEqual({ model: { name: 'mobilenetv2', width: 0.25 }, layers: [3, 6, 13, 17] });
    expect(t.methods).toEqual(['ce', 'vkd', '1lc-vkd', 'fkd-kq']);
    expect(t.teacher.onnx).toBe(COMMITTED_TEACHER);
    for (const k of ['dataset', 'teacher', 'training', 'tuning', 'seeds', 'kq', 'distill'] as const) expect(t[k], k).toEqual(q[k]);
  });

  it('every teacher a preset imports is committed, with the sha256 models/README.md gives for it', () => {
    const readme = readFileSync(join(repo, 'models', 'README.md'), 'utf8');
    const teachers = new Set(Object.values(PRESETS).map((p) => p.teacher.onnx).filter((f): f is string => f !== undefined));
    expect(teachers.size).toBeGreaterThanOrEqual(2);
    for (const file of teachers) {
      const section = readme.split(/^## /m).find((s) => s.startsWith(`\`${basename(file)}\``));
      expect(section, `models/README.md section for ${basename(file)}`).toBeDefined();
      const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
      expect(section, basename(file)).toContain(`| sha256 | \`${sha}\` |`);
    }
  });

  it('fmnist-vgg19-vgg11-tune: quick-tune with the committed VGG19 ×0.22 teacher, a VGG11 ×0.2 student, the paper\'s VGG layers', () => {
    const t = parseExperimentConfig(presetConfig('fmnist-vgg19-vgg11-tune'));
    const q = parseExperimentConfig(presetConfig('quick-tune'));
    expect(t.teacher).toEqual({ onnx: join(repo, 'models', 'fashion-mnist-vgg19-w022.onnx'), baselineLayers: [3, 7, 11, 15], paperLayers: [11, 12, 13, 15] });
    expect(t.student).toEqual({ model: { name: 'vgg11', width: 0.2 }, layers: [1, 3, 5, 7] });
    expect(t.methods).toEqual(['ce', 'vkd', '1lc-vkd', 'fkd-kq']);
    for (const k of ['dataset', 'training', 'tuning', 'seeds', 'kq', 'distill'] as const) expect(t[k], k).toEqual(q[k]);
  });

  it('fmnist-vit-vit_ett-tune: quick-tune with the committed ViT_ET teacher, a ViT_ETT/4 student, the LR grid ÷ 10 and two rates above', () => {
    const t = parseExperimentConfig(presetConfig('fmnist-vit-vit_ett-tune'));
    const q = parseExperimentConfig(presetConfig('quick-tune'));
    expect(t.teacher).toEqual({ onnx: join(repo, 'models', 'fashion-mnist-vit_et-w05.onnx') });
    expect(t.student).toEqual({ model: { name: 'vit_ett', width: 0.25 }, layers: [1, 3, 5, 7] });
    expect(t.methods).toEqual(['ce', 'vkd', '1lc-vkd', 'fkd-kq']);
    // LR_GRID ÷ 10, then 0.02 and 0.05 (the extension every method got when the baselines chose the top, RESULTS.md §8.3)
    expect(t.tuning).toEqual({ lr: [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05], seeds: 2 });
    for (const [lr, cnn] of t.tuning!.lr.slice(0, 6).map((lr, i) => [lr, q.tuning!.lr[i]])) expect(lr * 10).toBeCloseTo(cnn, 12);
    for (const k of ['dataset', 'training', 'seeds', 'kq', 'distill'] as const) expect(t[k], k).toEqual(q[k]);
  });

  it.each([
    // the rates recorded from each tune preset's results.json (docs/RESULTS.md §8)
    ['fmnist-resnet34-mobilenetv2', { ce: 0.05, vkd: 0.02, '1lc-vkd': 0.05, 'fkd-kq': 0.1 }],
    ['fmnist-vgg19-vgg11', { ce: 0.005, vkd: 0.005, '1lc-vkd': 0.005, 'fkd-kq': 0.05 }],
    ['fmnist-vit-vit_ett', { ce: 0.01, vkd: 0.01, '1lc-vkd': 0.05, 'fkd-kq': 0.05 }],
  ])('%s is its tune preset without the held-out split, each method at the rate the tuning chose', (name, chosen) => {
    const f = parseExperimentConfig(presetConfig(name));
    const t = parseExperimentConfig(presetConfig(`${name}-tune`));
    expect(f.dataset).toEqual({ name: 'fashion-mnist', trainLimit: 10000 });
    expect(f.tuning).toBeUndefined();
    for (const k of ['teacher', 'student', 'methods', 'seeds', 'kq', 'distill'] as const) expect(f[k], k).toEqual(t[k]);
    const { lrPolicy: _a, methodLr: _b, lrSource: _c, ...ft } = f.training;
    const { lrPolicy: _d, ...tt } = t.training;
    expect(ft).toEqual(tt);
    expect(f.training.lrPolicy).toBe('tuned');
    expect(f.training.methodLr).toEqual(chosen);
    expect(f.training.lrSource).toMatch(new RegExp(`^${name}-tune: best mean validation top-1 at the last epoch`));
  });

  it('the paper presets: teacher/student pairs, layers of METHOD.md §2, protocol of §5 (AdamW one-cycle, batch 128, 50 epochs, 3 seeds, LR per family), every method', () => {
    const paper = PRESET_NAMES.filter((n) => n.startsWith('paper-'));
    expect(paper).toHaveLength(9);
    for (const dataset of ['cifar10', 'cifar100', 'tiny-imagenet']) {
      for (const [teacher, student] of Object.entries(PAIRS_OF_PAPER)) {
        const name = `paper-${dataset}-${teacher}-${student}`;
        expect(PRESET_NAMES, name).toContain(name);
        const c = parseExperimentConfig({ ...presetConfig(name), dataset: { name: dataset, dir: '/d' } }, name);
        expect([c.dataset.name, c.teacher.model!.name, c.student.model.name], name).toEqual([dataset, teacher, student]);
        expect(c.student.layers, name).toEqual(PAPER_STUDENT[student]);
        expect(c.teacher.baselineLayers, name).toEqual(PAPER_BASELINE[teacher]);
        expect(c.teacher.paperLayers, name).toEqual(PAPER_KQ[teacher][dataset]);
        expect(c.methods, name).toEqual([...METHOD_KEYS].filter((k) => !['fkd-paper', 'fkd-last', 'fkd-even', 'fkd-kq-last', 'fkd-kq-nostem'].includes(k)));
        expect([c.seeds, c.distill.k, c.kq.samples], name).toEqual([3, 4, 6000]);
        for (const [who, t, lr] of [[student, c.training, LR[student]], [teacher, c.teacher.training!, 0.01]] as const) {
          expect([t.epochs, t.batchSize, t.schedule, t.optimizer.type, t.optimizer.lr, t.optimizer.weightDecay], `${name} ${who}`)
            .toEqual([50, 128, 'one-cycle', 'adamw', lr, 0.01]);
        }
        expect(c.training.lrPolicy, name).toBe('paper-code');
      }
    }
    // the spot checks the paper's text names
    const layers = (n: string) => parseExperimentConfig({ ...presetConfig(n), dataset: { name: n.split('-')[1] === 'tiny' ? 'tiny-imagenet' : n.split('-')[1], dir: '/d' } } as never);
    expect(layers('paper-cifar10-resnet34-resnet9').student.layers).toEqual([1, 2, 3, 4]);
    expect(layers('paper-cifar10-resnet34-resnet9').teacher.baselineLayers).toEqual([3, 7, 13, 16]);
    expect(layers('paper-cifar100-resnet34-resnet9').teacher.paperLayers).toEqual([12, 13, 14, 15]);
    expect(layers('paper-tiny-imagenet-vgg19-vgg11').teacher.paperLayers).toEqual([11, 12, 13, 16]);
    expect(layers('paper-cifar100-vit_b-vit_ett').teacher.paperLayers).toEqual([7, 10, 11, 12]);
    // the exported tables agree with METHOD.md
    expect(PAPER_STUDENT_LAYERS).toEqual(PAPER_STUDENT);
    expect(PAPER_BASELINE_LAYERS).toEqual(PAPER_BASELINE);
    for (const [model, lr] of Object.entries(LR)) expect(paperLearningRate(model), model).toBe(lr);
  });
});

describe('the LR policy (peak learning rate per method)', () => {
  it('shared: every method runs at training.optimizer.lr; paper-code: CE 0.01, distillation 0.05 (ResNet/MobileNet students) or 0.01 (VGG/ViT); methodLr overrides', () => {
    expect(methodLearningRate({ method: 'fkd-kq', student: 'resnet9', sharedLr: 0.0075, policy: 'shared' })).toBe(0.0075);
    expect(methodLearningRate({ method: 'ce', student: 'resnet9', sharedLr: 0.0075, policy: 'shared' })).toBe(0.0075);
    for (const key of METHOD_KEYS) {
      for (const [student, kd] of [['resnet9', 0.05], ['mobilenetv2', 0.05], ['vgg11', 0.01], ['vit_ett', 0.01]] as const) {
        expect(paperCodeLearningRate(key, student), `${key} ${student}`).toBe(key === 'ce' ? 0.01 : kd);
        expect(methodLearningRate({ method: key, student, sharedLr: 0.0075, policy: 'paper-code' }), `${key} ${student}`).toBe(key === 'ce' ? 0.01 : kd);
      }
    }
    expect(methodLearningRate({ method: 'vkd', student: 'resnet9', sharedLr: 0.0075, policy: 'paper-code', methodLr: { vkd: 0.02 } })).toBe(0.02);
    expect(methodLearningRate({ method: 'ce', student: 'resnet9', sharedLr: 0.0075, policy: 'paper-code', methodLr: { vkd: 0.02 } })).toBe(0.01);
    expect(() => paperCodeLearningRate('fkd', 'resnet9')).toThrow(KqkdError);
  });

  it('the experiment file: lrPolicy defaults to shared; methodLr keys are method keys; students cannot be augmented; an imported teacher has no training block', () => {
    expect(parseExperimentConfig(base).training.lrPolicy).toBe('shared');
    expect(parseExperimentConfig(variant(['training', 'lrPolicy'], 'paper-code')).training.lrPolicy).toBe('paper-code');
    expectError(() => parseExperimentConfig(variant(['training', 'lrPolicy'], 'paper')), 'experiment.training.lrPolicy', 'one of "shared", "paper-code"', '"paper"');
    expect(parseExperimentConfig(variant(['training', 'methodLr'], { 'fkd-kq': 0.03 })).training.methodLr).toEqual({ 'fkd-kq': 0.03 });
    expectError(() => parseExperimentConfig(variant(['training', 'methodLr'], { fkd: 0.03 })), 'experiment.training.methodLr', 'only the documented keys', 'unknown key(s) "fkd"');
    expectError(() => parseExperimentConfig(variant(['training', 'methodLr'], { ce: 0 })), 'experiment.training.methodLr.ce', /.+/, '0');
    expectError(() => parseExperimentConfig(variant(['training', 'augment'], { flip: true })), 'experiment.training.augment', 'nothing for the students', '{"flip":true}');
    const teacherAug = parseExperimentConfig(variant(['teacher', 'training'], { epochs: 3, optimizer: { type: 'adamw', lr: 0.01 }, augment: { crop: { padding: 2 }, flip: true } }));
    expect(teacherAug.teacher.training!.augment).toEqual({ crop: { padding: 2 }, flip: true });
    expectError(() => parseExperimentConfig(variant(['teacher'], { onnx: 't.onnx', training: { epochs: 1, optimizer: { type: 'adamw', lr: 0.01 } } })),
      'experiment.teacher.training', 'nothing for an imported teacher', 'a training block');
  });
});
