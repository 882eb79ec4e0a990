/**
 * The experiment's configuration surface, without running anything:
 * - teacher layer selection (`selectLayers`: top-k by Q, S, sqrt(I·E), I, E, ties → deeper, NaN never selected) and the
 *   baselines' evenly spread layers (`evenlySpread`) on hand-made tables;
 * - validation errors of the experiment file (`parseExperimentConfig`) and of a run's distillation block
 *   (`parseTrainConfig` → checkDistillSpec): each a KqkdError naming the field path, the rule and the value received;
 * - every preset parses, and the paper presets carry the paper's layers, protocol and learning rates (METHOD.md §2, §5).
 */
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { parseTrainConfig } from '../src/config.js';
import { EXPERIMENT_CONFIG_VERSION, parseExperimentConfig, type ExperimentConfigInput } from '../src/experiment/config.js';
import { PAPER_BASELINE_LAYERS, PAPER_STUDENT_LAYERS, paperLearningRate, PRESET_NAMES, PRESETS, presetConfig } from '../src/experiment/presets.js';
import { evenlySpread, selectLayers } from '../src/experiment/run.js';
import { METHOD_KEYS } from '../src/methods.js';

/** The KqkdError `fn` throws: its field path, rule and received value (and the message that says all three). */
function kqkdError(fn: () => unknown): KqkdError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KqkdError);
    const k = e as KqkdError;
    expect(k.message).toContain(`Expected ${k.expected} for ${k.argument} but received ${k.received}`);
    return k;
  }
  throw new Error('expected a KqkdError, nothing was thrown');
}
const expectError = (fn: () => unknown, field: string, rule: string | RegExp, received: string | RegExp) => {
  const e = kqkdError(fn);
  expect(e.argument).toBe(field);
  if (typeof rule === 'string') expect(e.expected).toContain(rule); else expect(e.expected).toMatch(rule);
  if (typeof received === 'string') expect(e.received).toBe(received); else expect(e.received).toMatch(received);
  return e;
};

// ------------------------------------------------------------------ layer selection

/**
 * Eight teacher layers. I and E are dyadic fractions, so the products I·E (and their square roots) tie exactly where
 * the table says so. Layer 4 has no I (NaN: its score failed) and so no Q.
 *        S     I      E      sqrt(I·E)  Q
 *   0   0.1   0.25   1      0.5        0.5
 *   1   0.3   0.5    0.75   0.612      0.8
 *   2   0.3   1      0.125  0.354      0.6
 *   3   0.5   0.5    0.5    0.5        0.9
 *   4   0.2   NaN    1      NaN        NaN
 *   5   0.5   0.75   0.75   0.75       1.1
 *   6   0.4   0.125  1      0.354      0.7
 *   7   0.1   1      0.25   0.5        0.9
 */
const TABLE = [
  [0.1, 0.25, 1, 0.5], [0.3, 0.5, 0.75, 0.8], [0.3, 1, 0.125, 0.6], [0.5, 0.5, 0.5, 0.9],
  [0.2, NaN, 1, NaN], [0.5, 0.75, 0.75, 1.1], [0.4, 0.125, 1, 0.7], [0.1, 1, 0.25, 0.9],
].map(([S, I, E, Q], index) => ({ index, S, I, E, Q }));

describe('selectLayers: top-k teacher layers by a metric of the KQ table (ties → deeper, NaN never selected), in depth order', () => {
  it('by Q (kq, the paper\'s rule)', () => {
    expect(selectLayers(TABLE, 'kq', 1)).toEqual([5]);
    expect(selectLayers(TABLE, 'kq', 2)).toEqual([5, 7]); // 3 and 7 tie at 0.9: the deeper one
    expect(selectLayers(TABLE, 'kq', 3)).toEqual([3, 5, 7]);
    expect(selectLayers(TABLE, 'kq', 4)).toEqual([1, 3, 5, 7]);
    expect(selectLayers(TABLE, 'kq', 8)).toEqual([0, 1, 2, 3, 5, 6, 7]); // layer 4 (Q NaN) never
    expect(selectLayers(TABLE, 'kq', 0)).toEqual([]);
  });

  it('by S (fkd-s)', () => {
    expect(selectLayers(TABLE, 's', 1)).toEqual([5]); // 3 and 5 tie at 0.5
    expect(selectLayers(TABLE, 's', 3)).toEqual([3, 5, 6]);
    expect(selectLayers(TABLE, 's', 4)).toEqual([2, 3, 5, 6]); // 1 and 2 tie at 0.3
    expect(selectLayers(TABLE, 's', 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // S of layer 4 is a number
  });

  it('by sqrt(I·E) (fkd-ie)', () => {
    expect(selectLayers(TABLE, 'ie', 2)).toEqual([1, 5]);
    expect(selectLayers(TABLE, 'ie', 3)).toEqual([1, 5, 7]); // 0, 3, 7 tie at 0.5
    expect(selectLayers(TABLE, 'ie', 4)).toEqual([1, 3, 5, 7]);
    expect(selectLayers(TABLE, 'ie', 6)).toEqual([0, 1, 3, 5, 6, 7]); // 2 and 6 tie at sqrt(1/8)
    expect(selectLayers(TABLE, 'ie', 8)).toEqual([0, 1, 2, 3, 5, 6, 7]); // I of layer 4 is NaN
  });

  it('by I (fkd-i) and by E (fkd-e)', () => {
    expect(selectLayers(TABLE, 'i', 1)).toEqual([7]); // 2 and 7 tie at 1
    expect(selectLayers(TABLE, 'i', 3)).toEqual([2, 5, 7]);
    expect(selectLayers(TABLE, 'i', 4)).toEqual([2, 3, 5, 7]); // 1 and 3 tie at 0.5
    expect(selectLayers(TABLE, 'i', 8)).not.toContain(4);
    expect(selectLayers(TABLE, 'e', 1)).toEqual([6]); // 0, 4, 6 tie at 1
    expect(selectLayers(TABLE, 'e', 3)).toEqual([0, 4, 6]); // E of layer 4 is a number: selectable by E
    expect(selectLayers(TABLE, 'e', 4)).toEqual([0, 4, 5, 6]); // 1 and 5 tie at 0.75
  });

  it('reads only index and the metric: the order of the table does not matter', () => {
    const shuffled = [TABLE[6], TABLE[1], TABLE[7], TABLE[4], TABLE[0], TABLE[3], TABLE[5], TABLE[2]];
    for (const rule of ['kq', 's', 'ie', 'i', 'e'] as const) {
      for (const k of [1, 2, 3, 4, 5]) expect(selectLayers(shuffled, rule, k), `${rule} top-${k}`).toEqual(selectLayers(TABLE, rule, k));
    }
  });
});

describe('evenlySpread: k of the candidate layers, evenly over depth, the deepest included', () => {
  it('on contiguous and gapped candidate lists', () => {
    const resnet34Backbone = Array.from({ length: 17 }, (_, i) => i); // stem + 16 BasicBlocks
    expect(evenlySpread(resnet34Backbone, 4)).toEqual([3, 8, 12, 16]); // the paper's: 3, 7, 13, 16
    expect(evenlySpread(resnet34Backbone, 1)).toEqual([16]);
    expect(evenlySpread([0, 1, 2, 3, 4, 5, 6, 7], 4)).toEqual([1, 3, 5, 7]);
    expect(evenlySpread([2, 5, 9, 11, 20], 2)).toEqual([9, 20]);
    expect(evenlySpread([0, 1, 2, 3, 4], 4)).toEqual([0, 2, 3, 4]);
  });

  it('k distinct, increasing candidates, the deepest included, for every k below the number of candidates (up to 20)', () => {
    for (let n = 2; n <= 20; n++) {
      const candidates = Array.from({ length: n }, (_, i) => 10 + 2 * i);
      for (let k = 1; k < n; k++) {
        const got = evenlySpread(candidates, k);
        expect(got, `n = ${n}, k = ${k}`).toHaveLength(k);
        for (let j = 1; j < k; j++) expect(got[j], `n = ${n}, k = ${k}`).toBeGreaterThan(got[j - 1]);
        expect(got.every((v) => candidates.includes(v))).toBe(true);
        expect(got[k - 1]).toBe(candidates[n - 1]);
      }
    }
  });

  it('k = the number of candidates: every candidate', () => {
    for (let n = 2; n <= 20; n++) {
      const candidates = Array.from({ length: n }, (_, i) => i);
      expect(evenlySpread(candidates, n), `n = ${n}`).toEqual(candidates);
    }
  });

  it('more layers than candidates: a KqkdError naming distill.k', () => {
    expectError(() => evenlySpread([3, 4, 5], 4), 'distill.k', 'at most the 3 candidate layers', '4');
  });
});

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
    expect(c.distill).toEqual({ k: 4, projector: 'single-layer-conv', temperature: 4, weights: { feature: 1, kd: 1, sp: 3000, semckd: 400, simkd: 1 } });
    expect(c.training).toMatchObject({ batchSize: 128, schedule: 'one-cycle', optimizer: { type: 'adamw', lr: 0.0075, weightDecay: 0.01 } });
    expect(c.kq).toEqual({ samples: 6000, seed: 0 });
  });

  it('names the field (experiment.…), the rule and the value received', () => {
    expectError(() => parseExperimentConfig(variant(['version'], 2)), 'experiment.version', 'version must be 1', '2');
    expectError(() => parseExperimentConfig(variant(['version'], undefined)), 'experiment.version', 'version must be 1', 'nothing');
    expectError(() => parseExperimentConfig(variant(['sedes'], 3)), 'experiment', /.+/, 'unknown key(s) "sedes"');
    expectError(() => parseExperimentConfig(variant(['student', 'layer'], [1])), 'experiment.student', /.+/, 'unknown key(s) "layer"');
    const m = expectError(() => parseExperimentConfig(variant(['methods'], ['ce', 'fkd'])), 'experiment.methods.1', 'a method (', '"fkd"');
    expect(m.expected).toContain(METHOD_KEYS.join(', ')); // every key listed
    expectError(() => parseExperimentConfig(variant(['methods'], [])), 'experiment.methods', 'at least one method', '[]');
    expectError(() => parseExperimentConfig(variant(['methods'], ['ce', 'vkd', 'ce'])), 'experiment.methods', 'each method once', 'ce, vkd, ce');
    expectError(() => parseExperimentConfig(variant(['student', 'layers'], [1, 2, 3])), 'experiment.student.layers', '4 layers (distill.k)', '3: 1, 2, 3');
    expectError(() => parseExperimentConfig({ ...(variant(['student', 'layers'], [1, 2]) as object), distill: { k: 3 } }),
      'experiment.student.layers', '3 layers (distill.k)', '2: 1, 2');
    expectError(() => parseExperimentConfig(variant(['student', 'layers'], [1, -2, 3, 4])), 'experiment.student.layers.1', 'student.layers: layer indices are ≥ 0', '-2');
    expectError(() => parseExperimentConfig(variant(['teacher', 'baselineLayers'], [3, 7, 13])), 'experiment.teacher.baselineLayers', '4 layers (distill.k)', '3, 7, 13');
    expectError(() => parseExperimentConfig(variant(['teacher'], {})), 'experiment.teacher', 'teacher needs `onnx` (import) or `model` (train here)', '{}');
    expectError(() => parseExperimentConfig(variant(['teacher'], { baselineLayers: [3, 7, 13, 16] })), 'experiment.teacher',
      'teacher needs `onnx`', '{"baselineLayers":[3,7,13,16]}');
    expectError(() => parseExperimentConfig(variant(['training', 'optimizer', 'lr'], 0)), 'experiment.training.optimizer.lr', 'lr must be > 0', '0');
    expectError(() => parseExperimentConfig(variant(['training', 'optimizer', 'lr'], 11)), 'experiment.training.optimizer.lr', 'lr must be ≤ 10', '11');
    expectError(() => parseExperimentConfig(variant(['training', 'optimizer', 'lr'], '0.1')), 'experiment.training.optimizer.lr', /.+/, '"0.1"');
    expectError(() => parseExperimentConfig(variant(['training', 'epochs'], 0)), 'experiment.training.epochs', 'epochs must be ≥ 1', '0');
    expectError(() => parseExperimentConfig(variant(['teacher', 'training'], { epochs: 1.5, optimizer: { type: 'adamw', lr: 0.01 } })),
      'experiment.teacher.training.epochs', 'epochs must be an integer', '1.5');
    expectError(() => parseExperimentConfig(variant(['student', 'model', 'name'], 'resnet8')), 'experiment.student.model.name', 'a model of the zoo', '"resnet8"');
    expectError(() => parseExperimentConfig(variant(['kq'], { samples: 10 })), 'experiment.kq.samples', /.+/, '10');
    expectError(() => parseExperimentConfig(variant(['seeds'], 0)), 'experiment.seeds', 'seeds must be ≥ 1', '0');
    // the source name replaces "experiment" (the CLI passes the file)
    expectError(() => parseExperimentConfig(variant(['version'], 2), 'exp.json'), 'exp.json.version', 'version must be 1', '2');
  });
});

// ------------------------------------------------------------------ a run's distillation block

const train = (distill: unknown) => parseTrainConfig({
  modelSpec: { name: 'resnet9', width: 0.125 }, dataset: { name: 'fashion-mnist' }, epochs: 1,
  optimizer: { type: 'adamw', lr: 0.001 }, runDir: '/tmp/r', distill,
});
const SHA = '0123456789abcdef'.repeat(4);
const PAIRS = [{ student: 1, teacher: 12, teacherShape: [32, 8, 8] }, { student: 2, teacher: 13, teacherShape: [64, 4, 4] }];
const SIMKD = { teacherLayer: 16, teacherShape: [64, 4, 4], teacherTensor: 'layer4.2.out', teacherLogitsTensor: 'logits' };

describe('parseTrainConfig: the distill block against the method', () => {
  it('accepts each method with what it needs, and fills the loss defaults', () => {
    for (const key of METHOD_KEYS) {
      const features = ['1lc', '1lc-vkd', 'sp-vkd', 'semckd'].includes(key) || key.startsWith('fkd');
      const d = train({ method: key, teacherSha256: SHA, teacherClasses: 10, ...(features ? { pairs: PAIRS } : {}), ...(key === 'simkd' ? { simkd: SIMKD } : {}) }).distill!;
      expect(d.method).toBe(key);
      expect([d.projector, d.temperature, d.weights]).toEqual(['single-layer-conv', 4, { feature: 1, kd: 1, sp: 3000, semckd: 400, simkd: 1 }]);
      if (key === 'simkd') expect(d.simkd!.factor).toBe(2);
    }
  });

  it('names the field (config.distill.…), the rule and the value received', () => {
    const ok = { method: 'fkd-kq', teacherSha256: SHA, teacherClasses: 10, pairs: PAIRS };
    expectError(() => train({ ...ok, pairs: undefined }), 'config.distill.pairs', 'at least one (student, teacher) layer pair for method fkd-kq', 'none');
    expectError(() => train({ ...ok, pairs: [] }), 'config.distill.pairs', 'at least one (student, teacher) layer pair for method fkd-kq', 'none');
    expectError(() => train({ ...ok, method: 'semckd', pairs: [] }), 'config.distill.pairs', 'for method semckd', 'none');
    expectError(() => train({ ...ok, method: 'vkd' }), 'config.distill.pairs', 'none for method vkd (it has no layer-pair feature term)', '2 pair(s)');
    expectError(() => train({ ...ok, method: 'ce' }), 'config.distill.pairs', 'none for method ce', '2 pair(s)');
    expectError(() => train({ ...ok, method: 'simkd', pairs: undefined }), 'config.distill.simkd', 'the SimKD teacher layer block for method simkd', 'nothing');
    expectError(() => train({ ...ok, method: 'simkd', simkd: SIMKD }), 'config.distill.pairs', 'none for method simkd', '2 pair(s)');
    expectError(() => train({ ...ok, simkd: SIMKD }), 'config.distill.simkd', 'nothing for method fkd-kq', 'a simkd block');
    expectError(() => train({ ...ok, pairs: [PAIRS[0], { ...PAIRS[1], student: 1 }] }), 'config.distill.pairs',
      'distinct student layers (pairs map one-to-one)', 'student layers 1, 1');
    expectError(() => train({ ...ok, method: '1lc-vkd', pairs: [PAIRS[0], PAIRS[0]] }), 'config.distill.pairs', 'distinct student layers', 'student layers 1, 1');
    expectError(() => train({ ...ok, teacherSha256: 'abc' }), 'config.distill.teacherSha256', 'teacherSha256 must be 64 hex digits', '"abc"');
    expectError(() => train({ ...ok, teacherSha256: SHA.toUpperCase() }), 'config.distill.teacherSha256', 'teacherSha256 must be 64 hex digits', `"${SHA.toUpperCase()}"`);
    expectError(() => train({ ...ok, teacherSha256: undefined }), 'config.distill.teacherSha256', /.+/, 'nothing');
    const m = expectError(() => train({ ...ok, method: 'fkd' }), 'config.distill.method', 'a method (', '"fkd"');
    expect(m.expected).toContain(METHOD_KEYS.join(', '));
    expectError(() => train({ ...ok, teacherClasses: 0 }), 'config.distill.teacherClasses', 'teacherClasses must be ≥ 1', '0');
    expectError(() => train({ ...ok, pairs: [{ ...PAIRS[0], teacherShape: [32, 0, 8] }] }), 'config.distill.pairs.0.teacherShape.1', 'a teacher feature dimension must be ≥ 1', '0');
    expectError(() => train({ ...ok, pairs: [{ ...PAIRS[0], teacherShape: [1, 2, 3, 4] }] }), 'config.distill.pairs.0.teacherShape', /.+/, '[1,2,3,4]');
    expectError(() => train({ ...ok, pairs: [{ ...PAIRS[0], student: -1 }] }), 'config.distill.pairs.0.student', 'a layer index must be ≥ 0', '-1');
    expectError(() => train({ ...ok, projector: 'mlp' }), 'config.distill.projector', /.+/, '"mlp"');
    expectError(() => train({ ...ok, weights: { feature: -1 } }), 'config.distill.weights.feature', /.+/, '-1');
    expectError(() => train({ ...ok, weights: { ce: 1 } }), 'config.distill.weights', /.+/, 'unknown key(s) "ce"');
    expectError(() => train({ ...ok, method: 'simkd', pairs: undefined, simkd: { ...SIMKD, factor: 0 } }), 'config.distill.simkd.factor', 'factor must be ≥ 1', '0');
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
    expect(PRESET_NAMES).toHaveLength(10);
    for (const name of PRESET_NAMES) {
      const p = presetConfig(name);
      if (name !== 'quick') p.dataset = { ...p.dataset, dir: '/data/somewhere' };
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

  it('the quick preset: ResNet34/8 → ResNet9/8 on Fashion-MNIST, the paper\'s student and baseline layers', () => {
    const c = parseExperimentConfig(presetConfig('quick'));
    expect(c.dataset).toMatchObject({ name: 'fashion-mnist', trainLimit: 12000, testLimit: 2000 });
    expect([c.teacher.model, c.student.model]).toEqual([{ name: 'resnet34', width: 0.125 }, { name: 'resnet9', width: 0.125 }]);
    expect(c.student.layers).toEqual([1, 2, 3, 4]);
    expect(c.teacher.baselineLayers).toEqual([3, 7, 13, 16]);
    expect(c.methods).toEqual(['ce', 'vkd', '1lc-vkd', 'fkd-kq']);
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
        expect(c.methods, name).toEqual([...METHOD_KEYS]);
        expect([c.seeds, c.distill.k, c.kq.samples], name).toEqual([3, 4, 6000]);
        for (const [who, t] of [[student, c.training], [teacher, c.teacher.training!]] as const) {
          expect([t.epochs, t.batchSize, t.schedule, t.optimizer.type, t.optimizer.lr, t.optimizer.weightDecay], `${name} ${who}`)
            .toEqual([50, 128, 'one-cycle', 'adamw', LR[who], 0.01]);
        }
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
