/**
 * The experiment configuration file (`kqkd experiment --config experiment.json`): versioned, validated by one zod
 * schema with a default and a description for every field, so a bad file fails before anything runs with a message
 * naming the field (`experiment.training.epochs`), the rule and the value received.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { KqkdError } from '@kqkd/common';
import { DEFAULT_SELECTION_RULE, METHOD_KEYS, PROJECTORS, SELECTION_RULE_KEYS } from '@kqkd/distill';
import {
  augmentSchema, BACKENDS, canonicalJson, checkOnnxModelSpec, datasetSpecSchema, modelSpecSchema, oneCycleSchema, optimizerSchema, parseWithSchema, positiveInt, SCHEDULES,
} from '@kqkd/train';
import { LR_POLICIES } from './lr-policy.js';

export const EXPERIMENT_CONFIG_VERSION = 1;

const layerList = () => z.array(z.number().int('integer layer indices').min(0, 'layer indices ≥ 0')).min(1, 'at least one layer');
const methodKey = z.enum(METHOD_KEYS as [string, ...string[]], { error: `a method (${METHOD_KEYS.join(', ')})` });

export const trainingSchema = z.object({
  epochs: positiveInt('epochs').max(10_000).describe('epochs per run'),
  batchSize: positiveInt('batchSize').max(4096).default(128).describe('training batch (fixed; the last partial batch of an epoch is dropped)'),
  evalBatchSize: positiveInt('evalBatchSize').max(65536).default(1000),
  optimizer: optimizerSchema.describe('AdamW (the paper: one-cycle) or SGD (the long schedule: multistep)'),
  schedule: z.enum(SCHEDULES).default('one-cycle'),
  oneCycle: oneCycleSchema.optional().describe('one-cycle settings (default: PyTorch OneCycleLR, beta1 cycled for AdamW)'),
  milestones: z.array(z.number().int().nonnegative()).optional().describe('multistep: epochs where lr is multiplied by gamma'),
  gamma: z.number().positive().max(1).default(0.1),
  augment: augmentSchema.optional().describe('seeded augmentation of the training images (teacher training only: students read cached teacher features)'),
  lrPolicy: z.enum(LR_POLICIES).default('shared')
    .describe('peak learning rate per method: "shared" = optimizer.lr for every method; "paper-code" = what the paper\'s code runs (CE 0.01; distillation 0.05 with ResNet/MobileNet students, 0.01 with VGG/ViT students); "tuned" = methodLr, a table chosen by an earlier tuning on the validation split (every method needs an entry; say where it came from in lrSource)'),
  methodLr: z.partialRecord(methodKey, z.number().positive().max(10)).optional()
    .describe('explicit peak learning rate of some methods (over the policy; with lrPolicy "tuned", of every method)'),
  lrSource: z.string().min(1).max(500).optional()
    .describe('where the methodLr table came from (lrPolicy "tuned"), shown in the reports, e.g. "quick-tune: best mean validation top-1 at the last epoch"'),
}).strict();

/** Learning rates a tuning grid may hold. */
const gridLr = z.number({ error: 'a number' }).positive('a learning rate > 0').max(10, 'a learning rate ≤ 10');

/**
 * Per-method tuning of the peak learning rate on the validation split (tuning.ts): every method is trained at every
 * grid point with `seeds` seeds on the training part, scored on the validation images, and its final runs use the LR
 * with the best mean validation top-1 at the last epoch (ties: the smaller LR); they are evaluated on the test split.
 */
export const tuningSchema = z.object({
  lr: z.array(gridLr).min(2, 'at least two learning rates').max(32, 'at most 32 learning rates')
    .describe('the grid of peak learning rates every method is trained at'),
  seeds: positiveInt('tuning.seeds').max(20).default(2).describe('tuning runs per method and grid point (seeds seed0 … seed0 + seeds − 1)'),
}).strict();

export const experimentConfigSchema = z.object({
  version: z.literal(EXPERIMENT_CONFIG_VERSION, { error: `version ${EXPERIMENT_CONFIG_VERSION} (this kqkd reads experiment files of version ${EXPERIMENT_CONFIG_VERSION})` }),
  name: z.string().min(1).max(200).optional().describe('a name for reports'),
  dataset: datasetSpecSchema,
  teacher: z.object({
    onnx: z.string().min(1).optional().describe('an ONNX teacher to import (path); otherwise one is trained here from `model`'),
    model: modelSpecSchema.optional().describe('zoo teacher to train when no `onnx` is given'),
    training: trainingSchema.omit({ lrPolicy: true, methodLr: true }).optional().describe('how to train the teacher (default: the students\' training settings)'),
    baselineLayers: layerList().optional()
      .describe('the baselines\' evenly spread teacher layers (default: k layers evenly spread over the backbone)'),
    paperLayers: layerList().optional().describe('the layers the paper\'s KQ selected for this teacher (shown next to ours)'),
    layerNames: z.array(z.string().min(1)).optional().describe('explicit tensor names of an imported teacher\'s layers (instead of detection)'),
  }).strict().refine((t) => t.onnx !== undefined || t.model !== undefined, { message: 'teacher needs `onnx` (import) or `model` (train here)' }),
  student: z.object({
    model: modelSpecSchema,
    layers: layerList().optional().describe('student generalized layers paired with the teacher layers (default per zoo model, METHOD.md §2)'),
  }).strict(),
  methods: z.array(methodKey).min(1, 'at least one method')
    .describe('methods to run, by key'),
  seeds: positiveInt('seeds').max(100).default(3).describe('runs per method (seeds seed0 … seed0 + seeds − 1)'),
  seed0: z.number().int().min(0).max(0xffffff).default(0),
  training: trainingSchema,
  distill: z.object({
    k: positiveInt().max(32).default(4).describe('teacher layers distilled (= student layers)'),
    selection: z.enum(SELECTION_RULE_KEYS as [string, ...string[]], { error: `a layer-selection rule (${SELECTION_RULE_KEYS.join(', ')})` })
      .default(DEFAULT_SELECTION_RULE)
      .describe(`the rule choosing the teacher layers of Ours (fkd-kq); default "${DEFAULT_SELECTION_RULE}" (chosen on a validation split, docs/RESULTS.md); "kq" is the paper's top-k by Q`),
    projector: z.enum(PROJECTORS).default('single-layer-conv'),
    temperature: z.number().positive().max(100).default(4),
    weights: z.object({
      feature: z.number().min(0).default(1), kd: z.number().min(0).default(1), sp: z.number().min(0).default(3000),
      semckd: z.number().min(0).default(400), simkd: z.number().min(0).default(1),
    }).strict().default({ feature: 1, kd: 1, sp: 3000, semckd: 400, simkd: 1 }),
  }).strict().default({ k: 4, selection: DEFAULT_SELECTION_RULE, projector: 'single-layer-conv', temperature: 4, weights: { feature: 1, kd: 1, sp: 3000, semckd: 400, simkd: 1 } }),
  kq: z.object({
    samples: positiveInt().min(20).default(6000).describe('class-balanced training samples the teacher is scored on'),
    seed: z.number().int().min(0).default(0),
  }).strict().default({ samples: 6000, seed: 0 }),
  tuning: tuningSchema.optional()
    .describe('choose each method\'s peak learning rate on the validation split (needs dataset.validation) before its final runs, which are reported on the test split'),
  backend: z.enum(BACKENDS).optional().describe('training backend (default native)'),
}).strict();

export type ExperimentConfigInput = z.input<typeof experimentConfigSchema>;
export type ExperimentConfig = z.output<typeof experimentConfigSchema>;

/** Validates an experiment file's content; the first problem becomes a KqkdError naming `experiment.<path>`. */
export function parseExperimentConfig(input: unknown, source = 'experiment'): ExperimentConfig {
  const c = parseWithSchema(experimentConfigSchema, input, source);
  // an ONNX student (model { name: "onnx", file }): file resolved and its sha256 filled in, as for `kqkd train`
  checkOnnxModelSpec(c.student.model, `${source}.student.model`);
  if (c.teacher.model?.name === 'onnx') {
    throw new KqkdError(`${source}.teacher.model.name`, 'a zoo teacher to train (an ONNX teacher is given as teacher.onnx)', '"onnx"');
  }
  if (c.student.layers && c.student.layers.length !== c.distill.k) {
    throw new KqkdError(`${source}.student.layers`, `${c.distill.k} layers (distill.k)`, `${c.student.layers.length}: ${c.student.layers.join(', ')}`);
  }
  if (c.teacher.baselineLayers && c.teacher.baselineLayers.length !== c.distill.k) {
    throw new KqkdError(`${source}.teacher.baselineLayers`, `${c.distill.k} layers (distill.k)`, c.teacher.baselineLayers.join(', '));
  }
  if (new Set(c.methods).size !== c.methods.length) throw new KqkdError(`${source}.methods`, 'each method once', c.methods.join(', '));
  if (c.training.augment) {
    throw new KqkdError(`${source}.training.augment`, 'nothing for the students (their teacher features come from a cache of the unaugmented images; augment the teacher with teacher.training.augment)', JSON.stringify(c.training.augment));
  }
  checkLearningRates(c, source);
  if (c.teacher.onnx && c.teacher.training) {
    throw new KqkdError(`${source}.teacher.training`, 'nothing for an imported teacher (teacher.onnx)', 'a training block');
  }
  return c;
}

/** The LR policy's, the methodLr table's and the tuning block's rules, before any work. */
function checkLearningRates(c: ExperimentConfig, source: string): void {
  const t = c.training;
  if (c.tuning) {
    if (c.dataset.validation === undefined) {
      throw new KqkdError(`${source}.tuning`, 'dataset.validation > 0: the learning rates are chosen on held-out training images, never on the test set',
        'no validation split', 'add "validation": N to the dataset block (or --validation N), e.g. 5000');
    }
    const grid = c.tuning.lr;
    if (new Set(grid).size !== grid.length) throw new KqkdError(`${source}.tuning.lr`, 'each learning rate once', grid.join(', '));
    c.tuning.lr = [...grid].sort((a, b) => a - b);
    if (t.methodLr) {
      throw new KqkdError(`${source}.training.methodLr`, 'nothing with a tuning block (tuning chooses every method\'s learning rate)', Object.keys(t.methodLr).join(', '));
    }
    if (t.lrPolicy === 'tuned') throw new KqkdError(`${source}.training.lrPolicy`, '"shared" or "paper-code" with a tuning block (tuning replaces the policy)', '"tuned"');
  }
  if (t.lrPolicy === 'tuned') {
    const missing = c.methods.filter((m) => t.methodLr?.[m] === undefined);
    if (missing.length > 0) {
      throw new KqkdError(`${source}.training.methodLr`, 'a learning rate for every method with lrPolicy "tuned"', `none for ${missing.join(', ')}`,
        'run the tuning first (a "tuning" block or --tune-lr) and copy its choice, or choose another policy');
    }
  }
  if (t.lrSource !== undefined && t.lrPolicy !== 'tuned') {
    throw new KqkdError(`${source}.training.lrSource`, 'nothing unless lrPolicy is "tuned" (it says where the tuned table came from)', JSON.stringify(t.lrSource));
  }
}

/** Hash of what the experiment's numbers depend on (folders and backend left out). */
export function experimentHash(c: ExperimentConfig): string {
  const { backend: _b, name: _n, dataset, teacher, ...rest } = c;
  const { dir: _d, cacheDir: _c, ...data } = dataset;
  // an ONNX student enters by its content (sha256), not its path (absent for zoo students: their hash is unchanged)
  const student = { ...rest.student, model: { ...rest.student.model, file: undefined } };
  return createHash('sha256').update(canonicalJson({ ...rest, student, dataset: data, teacher: { ...teacher, onnx: teacher.onnx ? 'imported' : undefined } })).digest('hex').slice(0, 16);
}
