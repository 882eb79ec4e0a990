/**
 * The training configuration: one zod schema with a description and a default for every field, validated at the
 * API boundary so that a bad value fails before any graph is built, with a message naming the field, the rule and
 * the value received.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { KqkdError } from '@kqkd/common';
import { DATASET_NAMES as DATA_NAMES, DATASETS } from '@kqkd/data';
import { ZOO_NAMES } from '@kqkd/models';
import { BACKENDS } from './backends/names.js';
import { describeReceived, parseWithSchema } from './schema.js';

/** The zoo of @kqkd/models (resnet9, resnet34, vgg11, vgg19, mobilenetv2, vit_b, vit_et, vit_ett, small-cnn). */
export const MODEL_NAMES = ZOO_NAMES;
/** The datasets of @kqkd/data: fashion-mnist, cifar10, cifar100, tiny-imagenet, image-folder. */
export const DATASET_NAMES = DATA_NAMES;
/** Datasets that need `dataset.dir` (Fashion-MNIST has a default folder: the Debian package's). */
export const DATASETS_NEEDING_DIR: readonly string[] = DATA_NAMES.filter((n) => n !== 'fashion-mnist');
export const OPTIMIZER_TYPES = ['adamw', 'sgd'] as const;
export const SCHEDULES = ['one-cycle', 'multistep', 'constant'] as const;

/** An integer ≥ 1 (the messages are expectations: the error names the field). */
/**
 * An integer ≥ 1. The type's own message covers only a value that is not a number: bounds added with `.max(n)` keep
 * zod's issue, which `expectationOf` words as "at most n" (a schema-wide message would say "≥ 1" for 100000 too).
 */
export const positiveInt = (_what?: string) => z.number({ error: (issue) => (issue.code === 'invalid_type' ? 'an integer ≥ 1' : undefined) })
  .int('an integer ≥ 1').positive('an integer ≥ 1');

/** `modelSpec.name` of a student read from an ONNX file (`modelSpec.file`) instead of built from the zoo. */
export const ONNX_MODEL = 'onnx';

export const modelSpecSchema = z.object({
  name: z.enum([...MODEL_NAMES, ONNX_MODEL], { error: `a model of the zoo (${MODEL_NAMES.join(', ')}) or "${ONNX_MODEL}" with a file` })
    .describe('model of the zoo to build (@kqkd/models), or "onnx": the classifier in `file` (docs/onnx-students.md)'),
  /** name "onnx": the .onnx file (a relative path is resolved against the working directory and recorded absolute). */
  file: z.string().min(1, 'a non-empty path').optional()
    .describe('name "onnx": the student .onnx file (torch.onnx.export; relative to the working directory, recorded absolute)'),
  /** name "onnx": sha256 of the file; filled in by parseTrainConfig, checked when given (the config hash uses it, not the path). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hex digest').optional()
    .describe('name "onnx": sha256 of the file (filled in when absent; a different file never resumes a run)'),
  /** Width multiplier of the zoo model (default 1 = the paper's widths); see @kqkd/models. */
  width: z.number({ error: 'a number' }).positive('a number > 0').max(16, 'a number ≤ 16').optional()
    .describe('width multiplier (default 1): CNN channel counts × width, ViT head dimension and MLP width × width'),
  /** ViT only: patch size (default 4 up to 32×32, 8 at 64×64). */
  patch: positiveInt('patch').max(64).optional().describe('ViT patch size (default 4 up to 32×32 inputs, 8 at 64×64)'),
  /** Channel widths of the conv-BN-ReLU blocks (small-cnn). */
  widths: z.array(positiveInt('a width')).min(1).max(8).optional().describe('small-cnn conv block widths (default [16, 32] × width)'),
  /** small-cnn: false = conv (with bias) + ReLU blocks without BatchNorm (default true: conv-BN-ReLU). */
  batchNorm: z.boolean({ error: 'true or false' }).optional()
    .describe('small-cnn: BatchNorm after each conv (default true); false = conv with bias, no BN (no batch statistics)'),
}).strict();

export const datasetSpecSchema = z.object({
  name: z.enum(DATASET_NAMES, { error: `a dataset (${DATASET_NAMES.join(', ')})` }).describe('dataset (@kqkd/data); input shape, classes and normalisation follow from it'),
  dir: z.string().min(1).optional()
    .describe('dataset folder; required except for fashion-mnist (default: the Debian package folder /usr/share/datasets/fashion-mnist)'),
  /** tiny-imagenet: folder for the decoded caches `tiny-imagenet-train.npy` / `tiny-imagenet-test.npy`; image-folder: its cache folder. */
  cacheDir: z.string().min(1).optional()
    .describe('tiny-imagenet: folder for decoded .npy caches of the splits (decoded once, then read; default: decode JPEGs per batch); image-folder: folder of its decoded cache (default DIR/.kqkd-cache)'),
  imageSize: positiveInt('imageSize').max(1024, 'an integer ≤ 1024').optional()
    .describe('image-folder: side of the square images (shorter side resized to it, centre-cropped; default 32)'),
  channels: z.union([z.literal(1), z.literal(3)], { error: '1 (greyscale) or 3 (RGB)' }).optional()
    .describe('image-folder: 3 = RGB (default), 1 = greyscale'),
  testFraction: z.number({ error: 'a number' }).gt(0, 'a number > 0').lt(1, 'a number < 1').optional()
    .describe('image-folder with one folder per class (no train/ and val/ or test/): fraction of each class held out as the test split (default 0.2)'),
  splitSeed: z.number().int('an integer').min(0).max(0xffffffff).optional()
    .describe('image-folder: seed of the stratified held-out split and of the training order (default 0)'),
  skipBad: z.boolean({ error: 'true or false' }).optional()
    .describe('image-folder: skip unreadable, corrupt and non-image files (listed in the cache folder) instead of refusing the folder'),
  trainLimit: positiveInt('trainLimit').optional().describe('use only the first N training images (of those not held out for validation)'),
  testLimit: positiveInt('testLimit').optional().describe('use only the first N test images'),
  validation: positiveInt('validation').optional()
    .describe('hold out the LAST N training images as a validation split: training uses the images before them and every evaluation runs on them instead of the test split (choose hyperparameters here, never on the test set)'),
}).strict();

/** The one-cycle schedule's settings: PyTorch OneCycleLR's defaults, which the paper's code uses. */
export const oneCycleSchema = z.object({
  pctStart: z.number().gt(0, 'a number > 0').lt(1, 'a number < 1').default(0.3).describe('fraction of the updates spent warming up'),
  divFactor: z.number().positive().default(25).describe('initial rate = peak / divFactor'),
  finalDivFactor: z.number().positive().default(1e4).describe('final rate = initial / finalDivFactor'),
  cycleMomentum: z.boolean({ error: 'true or false' }).optional()
    .describe('cycle AdamW beta1 from maxMomentum down to baseMomentum at the peak and back, opposite to the rate (default: true for AdamW, as PyTorch; false for SGD). Native backend only'),
  baseMomentum: z.number().min(0).lt(1).default(0.85).describe('beta1 at the peak rate'),
  maxMomentum: z.number().min(0).lt(1).default(0.95).describe('beta1 at the start and the end'),
}).strict();

/**
 * Seeded training-time augmentation (torchvision RandomCrop(size, padding) then RandomHorizontalFlip): for training a
 * teacher; the paper's student runs use none.
 */
export const augmentSchema = z.object({
  crop: z.object({ padding: positiveInt('crop.padding').max(64, 'a number ≤ 64') }).strict().optional()
    .describe('random crop of the original size from the image zero-padded by `padding` pixels on each side'),
  flip: z.boolean({ error: 'true or false' }).default(false).describe('random horizontal flip with probability 0.5'),
}).strict();

export const optimizerSchema = z.object({
  type: z.enum(OPTIMIZER_TYPES).describe('AdamW (β = 0.9, 0.999, ε = 1e-8) or SGD with momentum'),
  lr: z.number().positive('a number > 0').max(10, 'a number ≤ 10').describe('peak learning rate'),
  weightDecay: z.number().min(0, 'a number ≥ 0').max(1).default(0.01).describe('decoupled weight decay (AdamW) / L2 (SGD)'),
  momentum: z.number().min(0).max(0.999).optional().describe('SGD momentum (default 0.9); not used by AdamW'),
}).strict();

const SAVE_EPOCHS_EXPECTED = 'a list of epochs, each an integer ≥ 1';

export const trainConfigSchema = z.object({
  modelSpec: modelSpecSchema,
  dataset: datasetSpecSchema,
  epochs: positiveInt('epochs').max(10_000).describe('number of epochs'),
  batchSize: positiveInt('batchSize').max(4096).default(128)
    .describe('FIXED training (micro-)batch size; the last partial optimizer step of every epoch is dropped (MaxPoolGrad needs static shapes)'),
  accumulationSteps: positiveInt('accumulationSteps').max(1024, 'a number ≤ 1024').default(1)
    .describe('micro-batches of batchSize per optimizer step (gradient accumulation); the gradient is the MEAN over them, so the effective batch is accumulationSteps × batchSize'),
  evalBatchSize: positiveInt('evalBatchSize').max(65536).default(1000).describe('evaluation batch size (the last batch may be smaller)'),
  optimizer: optimizerSchema,
  schedule: z.enum(SCHEDULES).default('one-cycle').describe('one-cycle (30% warm-up, cosine), multistep, constant'),
  oneCycle: oneCycleSchema.default({ pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4, baseMomentum: 0.85, maxMomentum: 0.95 })
    .describe('one-cycle settings (PyTorch OneCycleLR defaults)'),
  augment: augmentSchema.optional().describe('seeded data augmentation of the training images (default none)'),
  /** multistep only: epochs at which the learning rate is multiplied by `gamma`. */
  milestones: z.array(z.number().int().nonnegative()).optional().describe('multistep: epochs where lr is multiplied by gamma'),
  gamma: z.number().positive().max(1).default(0.1).describe('multistep: factor at each milestone'),
  seed: z.number().int('an integer').min(0).max(0xffffffff).default(0).describe('seed for initialisation and shuffling'),
  runDir: z.string().min(1, 'a non-empty path').describe('folder for checkpoint, metrics and exports'),
  saveEpochs: z.array(positiveInt('saveEpochs'), { error: SAVE_EPOCHS_EXPECTED }).optional()
    .describe('epochs after which the model is also kept as model-epoch-<N>.onnx (each an integer from 1 to epochs, no duplicates); not part of the config hash, so a run resumes with another list'),
  backend: z.enum(BACKENDS, { error: `a training backend (${BACKENDS.join(', ')})` }).optional()
    .describe('training backend (default native when available): native = onnxruntime-node + host optimizer, web-training = ORT training wasm; not part of the config hash, so a run resumes on either'),
}).strict();

export type TrainConfigInput = z.input<typeof trainConfigSchema>;
export type TrainConfig = z.output<typeof trainConfigSchema>;
export type ModelSpec = z.output<typeof modelSpecSchema>;
export type DatasetSpec = z.output<typeof datasetSpecSchema>;
export type OptimizerSpec = z.output<typeof optimizerSchema>;
export type ScheduleName = (typeof SCHEDULES)[number];
export type AugmentConfig = z.output<typeof augmentSchema>;
export type OneCycleConfig = z.output<typeof oneCycleSchema>;

/**
 * Version of the zoo's weight initialisation, part of the config hash: 2 = the paper code's (torchvision) scheme
 * (@kqkd/models), so a checkpoint made under the earlier He-normal initialisation is not resumed as if it were one.
 */
export const INIT_VERSION = 2;
/** The zoo models whose initialisation changed with INIT_VERSION 2 (small-cnn and the ViTs kept theirs). */
const PAPER_INIT_MODELS: readonly string[] = ['resnet9', 'resnet34', 'vgg11', 'vgg19', 'mobilenetv2'];

/** One-cycle as kqkd ran it before these settings existed (PyTorch's phases, beta1 not cycled): such runs keep their hash. */
function legacyOneCycle(o: OneCycleConfig): boolean {
  return !o.cycleMomentum && o.pctStart === 0.3 && o.divFactor === 25 && o.finalDivFactor === 1e4;
}

/** Validates and fills defaults; the first problem becomes a KqkdError naming `config.<path>`. */
export function parseTrainConfig(input: unknown): TrainConfig {
  const c = parseWithSaveEpochs(input);
  const m = c.modelSpec;
  checkOnnxModelSpec(m, 'config.modelSpec');
  if (m.name !== 'small-cnn') {
    for (const k of ['widths', 'batchNorm'] as const) {
      if (m[k] !== undefined) throw new KqkdError(`config.modelSpec.${k}`, `nothing for ${m.name} (a small-cnn option)`, describeReceived(m[k]));
    }
  } else if (m.widths !== undefined && m.width !== undefined) {
    throw new KqkdError('config.modelSpec.width', 'either widths or width for small-cnn, not both', `width ${m.width} and widths ${describeReceived(m.widths)}`);
  }
  if (m.patch !== undefined && !m.name.startsWith('vit')) {
    throw new KqkdError('config.modelSpec.patch', `nothing for ${m.name} (a ViT option)`, String(m.patch));
  }
  const d = c.dataset;
  if (d.dir === undefined && DATASETS_NEEDING_DIR.includes(d.name)) {
    throw new KqkdError('config.dataset.dir', d.name === 'image-folder'
      ? 'the image folder (DIR/<class>/* or DIR/train/<class>/* beside DIR/val/<class>/*; CLI --data-dir DIR)'
      : `the ${DATASETS[d.name].title} folder (${d.name} is not installed by default; pass its folder, CLI --data-dir DIR)`, 'nothing');
  }
  if (d.cacheDir !== undefined && d.name !== 'tiny-imagenet' && d.name !== 'image-folder') {
    throw new KqkdError('config.dataset.cacheDir', `nothing for ${d.name} (only tiny-imagenet and image-folder have a decoded cache)`, `"${d.cacheDir}"`);
  }
  if (d.name !== 'image-folder') {
    for (const k of ['imageSize', 'channels', 'testFraction', 'splitSeed', 'skipBad'] as const) {
      if (d[k] !== undefined) throw new KqkdError(`config.dataset.${k}`, `nothing for ${d.name} (an image-folder option)`, describeReceived(d[k]));
    }
  }
  if (c.schedule === 'multistep') {
    const ms = c.milestones ?? defaultMilestones(c.epochs);
    const bad = ms.find((m) => m > c.epochs);
    if (bad !== undefined) throw new KqkdError('config.milestones', `epochs ≤ epochs (${c.epochs})`, String(bad));
    c.milestones = [...ms].sort((a, b) => a - b);
  }
  if (c.optimizer.type === 'sgd' && c.optimizer.momentum === undefined) c.optimizer.momentum = 0.9;
  // A fresh object: zod hands out the same default object to every parse.
  c.oneCycle = { ...c.oneCycle, cycleMomentum: c.oneCycle.cycleMomentum ?? c.optimizer.type === 'adamw' };
  if (c.oneCycle.cycleMomentum && c.optimizer.type !== 'adamw') {
    throw new KqkdError('config.oneCycle.cycleMomentum', 'false with SGD (beta1 cycling is for AdamW)', 'true');
  }
  if (c.oneCycle.maxMomentum < c.oneCycle.baseMomentum) {
    throw new KqkdError('config.oneCycle.maxMomentum', `≥ baseMomentum ${c.oneCycle.baseMomentum}`, String(c.oneCycle.maxMomentum));
  }
  if (d.validation !== undefined && d.testLimit !== undefined) {
    throw new KqkdError('config.dataset.testLimit', 'nothing when dataset.validation is set (evaluation then runs on the held-out training images)', String(d.testLimit));
  }
  checkSaveEpochs(c);
  return c;
}

/** The schema's parse, with a bad item of `saveEpochs` named as the list (`config.saveEpochs`, the CLI's --save-epochs) like its other refusals. */
function parseWithSaveEpochs(input: unknown): TrainConfig {
  try {
    return parseWithSchema(trainConfigSchema, input, 'config');
  } catch (e) {
    const item = e instanceof KqkdError ? /^config\.saveEpochs\.(\d+)$/.exec(e.argument) : null;
    if (!item) throw e;
    const list = (input as { saveEpochs: unknown[] }).saveEpochs;
    throw new KqkdError('config.saveEpochs', SAVE_EPOCHS_EXPECTED, `${describeReceived(list)} (item ${Number(item[1]) + 1}: ${describeReceived(list[Number(item[1])])})`);
  }
}

/** `saveEpochs`: each epoch at most `epochs`, none twice; sorted. */
function checkSaveEpochs(c: TrainConfig): void {
  const list = c.saveEpochs;
  if (list === undefined) return;
  const expected = `a list of distinct epochs, each an integer from 1 to epochs (${c.epochs})`;
  const over = list.find((e) => e > c.epochs);
  if (over !== undefined) throw new KqkdError('config.saveEpochs', expected, `${describeReceived(list)} (${over} > ${c.epochs})`);
  const twice = list.find((e, i) => list.indexOf(e) !== i);
  if (twice !== undefined) throw new KqkdError('config.saveEpochs', expected, `${describeReceived(list)} (${twice} twice)`);
  c.saveEpochs = [...list].sort((a, b) => a - b);
}

/**
 * An ONNX student spec (`name: "onnx"`): the file is resolved against the working directory (recorded absolute), read,
 * and its sha256 filled in (or checked against the one given: a changed file is an error, not a silent new model). A
 * zoo spec must not name a file. Zoo options (width, patch, widths, batchNorm) do not apply to a file. Mutates `m`.
 */
export function checkOnnxModelSpec(m: ModelSpec, where: string): void {
  if (m.name !== ONNX_MODEL) {
    for (const k of ['file', 'sha256'] as const) {
      if (m[k] !== undefined) throw new KqkdError(`${where}.${k}`, `nothing for the zoo model ${m.name} (name "${ONNX_MODEL}" reads a file)`, describeReceived(m[k]));
    }
    return;
  }
  if (m.file === undefined) throw new KqkdError(`${where}.file`, 'the student .onnx file (name "onnx")', 'nothing');
  for (const k of ['width', 'patch', 'widths', 'batchNorm'] as const) {
    if (m[k] !== undefined) throw new KqkdError(`${where}.${k}`, 'nothing for an ONNX student (the file fixes the model)', describeReceived(m[k]));
  }
  m.file = resolve(m.file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(m.file);
  } catch (e) {
    throw new KqkdError(`${where}.file`, 'a readable .onnx file', `${m.file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (m.sha256 !== undefined && m.sha256 !== sha) {
    throw new KqkdError(`${where}.sha256`, `the sha256 of ${m.file} (${sha})`, `${m.sha256}: the file changed since the run was configured`);
  }
  m.sha256 = sha;
}

/** The paper's long schedule steps at 150/180/210 of 240 epochs: 62.5%, 75%, 87.5%. */
export function defaultMilestones(epochs: number): number[] {
  return [0.625, 0.75, 0.875].map((f) => Math.round(f * epochs));
}

/** Stable JSON: object keys sorted, so the hash does not depend on property order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Hash of everything that changes the numbers a run produces. `runDir`, `dataset.dir` and `dataset.cacheDir` are left
 * out: moving a run folder, the dataset or its cache does not change the run; so is `backend` (both backends compute the
 * same run within float tolerance and share the checkpoint format, so a run resumes on the other). `epochs` is in: the one-cycle and
 * multistep schedules depend on it. Options added later are in only when they differ from their default, so runs
 * made before them keep their hash: `accumulationSteps` when not 1, `modelSpec.width` when not 1 (absent = 1),
 * `modelSpec.patch` when given; `oneCycle` when it is not the earlier behaviour (beta1 cycling, the AdamW default now,
 * changes the numbers); `init` for the models whose initialisation changed (INIT_VERSION). An ONNX student enters as
 * `{ name: "onnx", sha256 }`: its file's content, not its path (moving the file keeps the hash, another file changes it).
 * `saveEpochs` is out: it only chooses which epochs' models are also kept as files (written from the same state the
 * checkpoint holds, the training untouched), so a run stopped without the list resumes with it, and a run's hash and
 * folder are those of the same training without it (an experiment's run folder does not split on it).
 */
export function configHash(c: TrainConfig, objective?: { key: string; spec: unknown }): string {
  const { runDir: _r, backend: _b, saveEpochs: _s, dataset, accumulationSteps, modelSpec, oneCycle, ...rest } = c;
  const { dir: _d, cacheDir: _c, ...data } = dataset;
  const { width, file: _f, ...model } = modelSpec;
  const body = {
    ...rest, modelSpec: { ...model, ...(width !== undefined && width !== 1 ? { width } : {}) }, dataset: data,
    ...(accumulationSteps !== 1 ? { accumulationSteps } : {}),
    ...(c.schedule === 'one-cycle' && !legacyOneCycle(oneCycle) ? { oneCycle } : {}),
    ...(PAPER_INIT_MODELS.includes(modelSpec.name) ? { init: INIT_VERSION } : {}),
    // a training objective (e.g. `distill`: the method and its teacher) joins under its key
    ...(objective ? { [objective.key]: objective.spec } : {}),
  };
  return createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 16);
}
