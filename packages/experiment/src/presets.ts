/**
 * Experiment presets: `quick` (Fashion-MNIST, reduced widths, data and epochs: the README's main job, minutes on two
 * cores) and the paper's configurations (METHOD.md §2, §5): its teacher/student pairs, student layers, the baselines'
 * evenly spread teacher layers, the layers its KQ selected (shown next to ours), AdamW one-cycle, batch 128, 50
 * epochs, three seeds, max LR per student family. The paper fine-tunes ImageNet-pretrained teachers; here a paper
 * preset imports the teacher given with `--teacher T.onnx`, or trains one from scratch under the same protocol.
 */
import { fileURLToPath } from 'node:url';
import { invalidArgument } from '@kqkd/common';
import type { DatasetName } from '@kqkd/data';
import { PAPER_METHOD_KEYS } from '@kqkd/distill';
import type { ExperimentConfigInput } from './config.js';

/** Student layers of the paper (METHOD.md §2), the same for every method. */
export const PAPER_STUDENT_LAYERS: Readonly<Record<string, readonly number[]>> = {
  resnet9: [1, 2, 3, 4], vgg11: [1, 3, 5, 7], mobilenetv2: [3, 6, 13, 17], vit_ett: [1, 3, 5, 7],
};
/** The baselines' evenly spread teacher layers of the paper. */
export const PAPER_BASELINE_LAYERS: Readonly<Record<string, readonly number[]>> = {
  resnet34: [3, 7, 13, 16], vgg19: [3, 7, 11, 15], vit_b: [2, 4, 8, 10],
};
/** The `MaxLR` the paper's text gives per model family (METHOD.md §5): the shared peak LR of the `shared` policy. */
export function paperLearningRate(model: string): number {
  if (model === 'vit_b') return 0.0001;
  if (model.startsWith('vit')) return 0.001;
  if (model.startsWith('vgg')) return 0.005;
  return 0.0075;
}

type PaperDataset = Extract<DatasetName, 'cifar10' | 'cifar100' | 'tiny-imagenet'>;
const PAPER_KQ_LAYERS: Record<string, Record<PaperDataset, number[]>> = {
  resnet34: { cifar10: [12, 13, 14, 15], cifar100: [12, 13, 14, 15], 'tiny-imagenet': [12, 13, 14, 15] },
  vgg19: { cifar10: [11, 12, 13, 15], cifar100: [11, 12, 13, 15], 'tiny-imagenet': [11, 12, 13, 16] },
  vit_b: { cifar10: [9, 10, 11, 12], cifar100: [7, 10, 11, 12], 'tiny-imagenet': [7, 8, 11, 12] },
};
const PAPER_PAIRS: readonly [string, string][] = [['resnet34', 'resnet9'], ['vgg19', 'vgg11'], ['vit_b', 'vit_ett']];
const PAPER_DATASETS: readonly PaperDataset[] = ['cifar10', 'cifar100', 'tiny-imagenet'];

function paperPreset(dataset: PaperDataset, teacher: string, student: string): ExperimentConfigInput {
  const training = (lr: number) => ({
    epochs: 50, batchSize: 128, optimizer: { type: 'adamw' as const, lr, weightDecay: 0.01 }, schedule: 'one-cycle' as const,
  });
  return {
    version: 1,
    name: `paper: ${teacher} → ${student} on ${dataset}`,
    dataset: { name: dataset, dir: '(set with --data-dir)' },
    teacher: {
      // The paper's teachers are fine-tuned at 0.01 (its head's rate); one trained here from scratch uses that peak.
      model: { name: teacher as never }, training: training(0.01),
      baselineLayers: [...PAPER_BASELINE_LAYERS[teacher]], paperLayers: PAPER_KQ_LAYERS[teacher][dataset],
    },
    student: { model: { name: student as never }, layers: [...PAPER_STUDENT_LAYERS[student]] },
    methods: [...PAPER_METHOD_KEYS],
    seeds: 3,
    // Peak LR per method as the paper's code runs it (lr-policy.ts); `optimizer.lr` is its text's MaxLR, used by
    // `--lr-policy shared`.
    training: { ...training(paperLearningRate(student)), lrPolicy: 'paper-code' },
    // Ours as the paper defines it: top-k by Q (kqkd's default rule, kq-last, was chosen on Fashion-MNIST).
    distill: { selection: 'kq' },
    kq: { samples: 6000, seed: 0 },
  };
}

/** The committed Fashion-MNIST teacher (models/README.md): ResNet34 at 1/4 width, trained by kqkd on all 60 000 images. */
export const COMMITTED_TEACHER = fileURLToPath(new URL('../../../models/fashion-mnist-resnet34-w025.onnx', import.meta.url));

/**
 * The peak LR of each of `quick`'s methods, chosen by `quick-tune` on the validation split (docs/RESULTS.md §6): best
 * mean validation top-1 at the last epoch over 2 seeds, grid 0.0025 … 0.1. Ours' 0.1 (like SP + VKD's) is the top of
 * the grid.
 */
export const QUICK_TUNED_LR: Readonly<Record<string, number>> = { ce: 0.01, vkd: 0.05, 'vkd-ls': 0.02, '1lc-vkd': 0.05, 'sp-vkd': 0.1, 'fkd-kq': 0.1 };

/**
 * `quick`: the README's main job. Imports the committed ResNet34/4 teacher (no teacher training here), scores its
 * layers by KQ, and trains ResNet9/8 students (the paper's pair, student at 1/8 width) on the first 10 000
 * Fashion-MNIST training images for 5 epochs, evaluated on the full 10 000-image test set: CE, VKD, 1LC + VKD and Ours,
 * 3 seeds, each method at its own peak LR as `quick-tune` chose it on the validation split. Sized to finish, setup
 * included, in under 15 minutes on two cores.
 */
export const QUICK_PRESET: ExperimentConfigInput = {
  version: 1,
  name: 'quick: committed ResNet34/4 teacher → ResNet9/8 on Fashion-MNIST (10k train / 10k test)',
  dataset: { name: 'fashion-mnist', trainLimit: 10000 },
  teacher: {
    onnx: COMMITTED_TEACHER,
    baselineLayers: [...PAPER_BASELINE_LAYERS.resnet34],
    paperLayers: [...PAPER_KQ_LAYERS.resnet34.cifar10],
  },
  student: { model: { name: 'resnet9', width: 0.125 }, layers: [...PAPER_STUDENT_LAYERS.resnet9] },
  methods: ['ce', 'vkd', '1lc-vkd', 'fkd-kq'],
  seeds: 3,
  training: {
    epochs: 5, batchSize: 128, optimizer: { type: 'adamw', lr: 0.0075, weightDecay: 0.01 }, schedule: 'one-cycle', lrPolicy: 'tuned',
    // all six tuned methods, so `--methods` may add VKD + LS or SP + VKD at their tuned rates
    methodLr: { ...QUICK_TUNED_LR },
    lrSource: 'quick-tune: best mean validation top-1 at the last epoch, 2 seeds, grid 0.0025–0.1, the last 5 000 training images held out (docs/RESULTS.md §6)',
  },
  kq: { samples: 2000, seed: 0 },
};

/** The learning-rate grid of the fair comparison (issue 20): every method is tuned over it. */
export const LR_GRID: readonly number[] = [0.0025, 0.005, 0.01, 0.02, 0.05, 0.1];

/**
 * `quick-tune`: how `quick`'s per-method learning rates were chosen, in one command. The same teacher, student, epochs
 * and training images as `quick` (the first 10 000), with the last 5 000 Fashion-MNIST training images held out as the
 * validation split: CE, VKD, VKD + LS, 1LC + VKD, SP + VKD and Ours, each trained at every rate of `LR_GRID` with
 * 2 seeds and scored there; then 3 seeds of each at its chosen rate, reported on the test set.
 */
export const QUICK_TUNE_PRESET: ExperimentConfigInput = {
  ...structuredClone(QUICK_PRESET),
  name: 'quick-tune: per-method learning rates for quick, chosen on a validation split (the last 5k training images)',
  dataset: { name: 'fashion-mnist', trainLimit: 10000, validation: 5000 },
  methods: ['ce', 'vkd', 'vkd-ls', '1lc-vkd', 'sp-vkd', 'fkd-kq'],
  // quick's training without its tuned table: the tuning chooses every rate
  training: (({ methodLr: _m, lrSource: _s, ...t }) => ({ ...structuredClone(t), lrPolicy: 'shared' as const }))(QUICK_PRESET.training),
  tuning: { lr: [...LR_GRID], seeds: 2 },
};

/**
 * `fmnist-resnet34-mobilenetv2-tune` (issue 26): the paper's ResNet34 → MobileNetV2 pair on the embedded data, tuned as
 * `quick-tune` tunes quick: the committed teacher, a MobileNetV2 ×0.25 student (250 778 parameters; the paper's student
 * layers 3, 6, 13, 17), quick's images and budget (the first 10 000 training images, the last 5 000 held out, 5 epochs),
 * CE, VKD, 1LC + VKD and Ours each over `LR_GRID` with 2 seeds. Its choice is `MOBILENETV2_TUNED_LR`, the rates of
 * the `fmnist-resnet34-mobilenetv2` preset.
 */
export const FMNIST_RESNET34_MOBILENETV2_TUNE_PRESET: ExperimentConfigInput = {
  ...structuredClone(QUICK_TUNE_PRESET),
  name: 'fmnist-resnet34-mobilenetv2-tune: per-method learning rates for committed ResNet34/4 → MobileNetV2/4, chosen on a validation split',
  student: { model: { name: 'mobilenetv2', width: 0.25 }, layers: [...PAPER_STUDENT_LAYERS.mobilenetv2] },
  methods: ['ce', 'vkd', '1lc-vkd', 'fkd-kq'],
};

/**
 * The preset that a tune preset's choice makes: the same teacher, student, data and budget, trained on the same
 * images without the held-out split (tested on the test set), each method at the rate the tuning chose. Its
 * `lrSource` names the tune preset and how it chose, read from that preset (grid, seeds, held-out images).
 */
function tunedPreset(tuneName: string, tune: ExperimentConfigInput, name: string, methodLr: Readonly<Record<string, number>>): ExperimentConfigInput {
  const { tuning, ...rest } = structuredClone(tune);
  const { validation, ...dataset } = rest.dataset;
  const grid = tuning!.lr!;
  const heldOut = String(validation).replace(/\B(?=(\d{3})+$)/g, ' ');
  const lrSource = `${tuneName}: best mean validation top-1 at the last epoch, ${tuning!.seeds} seeds, grid ${Math.min(...grid)}–${Math.max(...grid)}, the last ${heldOut} training images held out (docs/RESULTS.md §8)`;
  return { ...rest, name, dataset, training: { ...rest.training!, lrPolicy: 'tuned', methodLr: { ...methodLr }, lrSource } };
}

/**
 * The peak LR of each method of the ResNet34 → MobileNetV2 pair, chosen by `fmnist-resnet34-mobilenetv2-tune` on the
 * validation split (docs/RESULTS.md §8): best mean validation top-1 at the last epoch over 2 seeds, grid 0.0025 … 0.1.
 * Ours' 0.1 is the top of the grid.
 */
export const MOBILENETV2_TUNED_LR: Readonly<Record<string, number>> = { ce: 0.05, vkd: 0.02, '1lc-vkd': 0.05, 'fkd-kq': 0.1 };

/**
 * `fmnist-resnet34-mobilenetv2` (issue 26): the committed ResNet34/4 teacher → MobileNetV2/4 students, quick's images
 * and budget, CE, VKD, 1LC + VKD and Ours, 3 seeds, each at the rate its tune preset chose.
 */
export const FMNIST_RESNET34_MOBILENETV2_PRESET = tunedPreset(
  'fmnist-resnet34-mobilenetv2-tune',
  FMNIST_RESNET34_MOBILENETV2_TUNE_PRESET,
  'fmnist-resnet34-mobilenetv2: committed ResNet34/4 teacher → MobileNetV2/4 on Fashion-MNIST (10k train / 10k test)',
  MOBILENETV2_TUNED_LR,
);

/** The VGG19-BN teacher (models/README.md): ×0.22 width (the widest under 8 MB), trained by kqkd on all 60 000 images. */
export const VGG19_TEACHER = fileURLToPath(new URL('../../../models/fashion-mnist-vgg19-w022.onnx', import.meta.url));

/**
 * `fmnist-vgg19-vgg11-tune` (issue 26): the paper's VGG19 → VGG11 pair on the embedded data, tuned as `quick-tune`
 * tunes quick: the committed VGG19-BN ×0.22 teacher, VGG11-BN ×0.2 students (1 132 012 parameters; the paper's pair
 * keeps the width and drops depth, the teacher here is a little wider for its own accuracy within 8 MB), the paper's
 * student layers 1, 3, 5, 7 and baseline layers 3, 7, 11, 15, quick's images and budget, CE, VKD, 1LC + VKD and Ours
 * each over `LR_GRID` with 2 seeds.
 */
export const FMNIST_VGG19_VGG11_TUNE_PRESET: ExperimentConfigInput = {
  ...structuredClone(QUICK_TUNE_PRESET),
  name: 'fmnist-vgg19-vgg11-tune: per-method learning rates for committed VGG19-BN ×0.22 → VGG11-BN ×0.2, chosen on a validation split',
  teacher: {
    onnx: VGG19_TEACHER,
    baselineLayers: [...PAPER_BASELINE_LAYERS.vgg19],
    paperLayers: [...PAPER_KQ_LAYERS.vgg19.cifar10],
  },
  student: { model: { name: 'vgg11', width: 0.2 }, layers: [...PAPER_STUDENT_LAYERS.vgg11] },
  methods: ['ce', 'vkd', '1lc-vkd', 'fkd-kq'],
};

/**
 * The peak LR of each method of the VGG19 → VGG11 pair, chosen by `fmnist-vgg19-vgg11-tune` on the validation split
 * (docs/RESULTS.md §8), with the ×0.22 teacher: best mean validation top-1 at the last epoch over 2 seeds, grid
 * 0.0025 … 0.1. Every choice is inside the grid; Ours is flat from 0.02 to 0.1 (90.84–91.27), the baselines lose
 * 4–26 points at 0.1.
 */
export const VGG11_TUNED_LR: Readonly<Record<string, number>> = { ce: 0.005, vkd: 0.005, '1lc-vkd': 0.005, 'fkd-kq': 0.05 };

/**
 * `fmnist-vgg19-vgg11` (issue 26): the committed VGG19-BN ×0.22 teacher → VGG11-BN ×0.2 students, quick's images and budget,
 * CE, VKD, 1LC + VKD and Ours, 3 seeds, each at the rate its tune preset chose.
 */
export const FMNIST_VGG19_VGG11_PRESET = tunedPreset(
  'fmnist-vgg19-vgg11-tune',
  FMNIST_VGG19_VGG11_TUNE_PRESET,
  'fmnist-vgg19-vgg11: committed VGG19-BN ×0.22 teacher → VGG11-BN ×0.2 on Fashion-MNIST (10k train / 10k test)',
  VGG11_TUNED_LR,
);

/** The ViT_ET teacher (models/README.md): ×0.5 width, trained by kqkd on the first 55 000 images (its validation run). */
export const VIT_TEACHER = fileURLToPath(new URL('../../../models/fashion-mnist-vit_et-w05.onnx', import.meta.url));

/**
 * The learning-rate grid of the ViT pair: `LR_GRID` ÷ 10 (0.00025 … 0.01), the same six points around the paper's
 * ViT rate (0.001) as `LR_GRID` around its CNN rates, then 0.02 and 0.05: on the six points all four methods chose
 * the top (0.01), so the grid was extended for every method (docs/RESULTS.md §8.3).
 */
export const VIT_LR_GRID: readonly number[] = [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05];

/**
 * `fmnist-vit-vit_ett-tune` (issue 26): the paper's ViT → ViT_ETT pair on the embedded data, tuned as `quick-tune`
 * tunes quick: the committed ViT_ET ×0.5 teacher, ViT_ETT ×0.25 students (192 682 parameters; the paper's student
 * layers 1, 3, 5, 7; 7×7 patch tokens of 4×4 pixels, no class token), quick's images and budget, CE, VKD, 1LC + VKD
 * and Ours each over `VIT_LR_GRID` (8 rates) with 2 seeds. The baselines' teacher layers are the default (evenly spread).
 */
export const FMNIST_VIT_VIT_ETT_TUNE_PRESET: ExperimentConfigInput = {
  ...structuredClone(QUICK_TUNE_PRESET),
  name: 'fmnist-vit-vit_ett-tune: per-method learning rates for committed ViT_ET/2 → ViT_ETT/4, chosen on a validation split',
  teacher: { onnx: VIT_TEACHER },
  student: { model: { name: 'vit_ett', width: 0.25 }, layers: [...PAPER_STUDENT_LAYERS.vit_ett] },
  methods: ['ce', 'vkd', '1lc-vkd', 'fkd-kq'],
  tuning: { lr: [...VIT_LR_GRID], seeds: 2 },
};

/**
 * The peak LR of each method of the ViT_ET → ViT_ETT pair, chosen by `fmnist-vit-vit_ett-tune` on the validation split
 * (docs/RESULTS.md §8.3): best mean validation top-1 at the last epoch over 2 seeds, grid 0.00025 … 0.05. CE and VKD
 * chose 0.01 inside the grid; 1LC + VKD and Ours chose its top (0.05).
 */
export const VIT_ETT_TUNED_LR: Readonly<Record<string, number>> = { ce: 0.01, vkd: 0.01, '1lc-vkd': 0.05, 'fkd-kq': 0.05 };

/**
 * `fmnist-vit-vit_ett` (issue 26): the committed ViT_ET/2 teacher → ViT_ETT/4 students, quick's images and budget,
 * CE, VKD, 1LC + VKD and Ours, 3 seeds, each at the rate its tune preset chose.
 */
export const FMNIST_VIT_VIT_ETT_PRESET = tunedPreset(
  'fmnist-vit-vit_ett-tune',
  FMNIST_VIT_VIT_ETT_TUNE_PRESET,
  'fmnist-vit-vit_ett: committed ViT_ET/2 teacher → ViT_ETT/4 on Fashion-MNIST (10k train / 10k test)',
  VIT_ETT_TUNED_LR,
);

export const PRESETS: Readonly<Record<string, ExperimentConfigInput>> = {
  quick: QUICK_PRESET,
  'quick-tune': QUICK_TUNE_PRESET,
  'fmnist-resnet34-mobilenetv2': FMNIST_RESNET34_MOBILENETV2_PRESET,
  'fmnist-resnet34-mobilenetv2-tune': FMNIST_RESNET34_MOBILENETV2_TUNE_PRESET,
  'fmnist-vgg19-vgg11': FMNIST_VGG19_VGG11_PRESET,
  'fmnist-vgg19-vgg11-tune': FMNIST_VGG19_VGG11_TUNE_PRESET,
  'fmnist-vit-vit_ett': FMNIST_VIT_VIT_ETT_PRESET,
  'fmnist-vit-vit_ett-tune': FMNIST_VIT_VIT_ETT_TUNE_PRESET,
  ...Object.fromEntries(PAPER_DATASETS.flatMap((d) => PAPER_PAIRS.map(([t, s]) => [`paper-${d}-${t}-${s}`, paperPreset(d, t, s)]))),
};
export const PRESET_NAMES = Object.keys(PRESETS);

/** A deep copy of a preset, to adjust before validation. */
export function presetConfig(name: string): ExperimentConfigInput {
  const p = PRESETS[name];
  if (!p) invalidArgument('preset', `one of ${PRESET_NAMES.join(', ')}`, name);
  return structuredClone(p);
}
