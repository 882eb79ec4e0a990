import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { invalidArgumentText } from '@kqkd/common';
import { BACKENDS, DATASET_NAMES, DATASETS_NEEDING_DIR, DEFAULT_BACKEND, epochModelFile, isOnnxModelPath, MODEL_NAMES, OPTIMIZER_TYPES, SCHEDULES, train, type TrainConfigInput, type TrainProgress } from '@kqkd/kqkd';
import { createProgress } from '../progress.js';
import { commandSignal } from '../interrupt.js';
import { intFlag, numFlag, withFlagNames } from '../flags.js';
import { imageFolderOptions, withImageFolderFlags, type ImageFolderFlags } from '../image-folder-flags.js';

interface TrainFlags extends ImageFolderFlags {
  model: string;
  data: string;
  dataDir?: string;
  cacheDir?: string;
  width?: string;
  patch?: string;
  evalBatchSize?: string;
  epochs: string;
  batchSize?: string;
  batch?: string;
  accumulate: string;
  optimizer: 'adamw' | 'sgd';
  lr: string;
  weightDecay?: string;
  momentum?: string;
  schedule: 'one-cycle' | 'multistep' | 'constant';
  widths?: string;
  trainLimit?: string;
  testLimit?: string;
  seed: string;
  out: string;
  quiet?: boolean;
  backend?: 'native' | 'web-training';
  validation?: string;
  augment?: string;
  cycleMomentum?: string;
  threads?: string;
  device?: 'cpu' | 'cuda';
  force?: boolean;
  saveEpochs?: string;
}

/** `--augment crop=P,flip` → the config's augment block (crop padding P pixels, horizontal flip). */
export function parseAugmentFlag(value: string): NonNullable<TrainConfigInput['augment']> {
  const out: NonNullable<TrainConfigInput['augment']> = {};
  const parts = value.split(',').map((p) => p.trim());
  for (const raw of parts) {
    const name = raw.split('=')[0];
    if (parts.filter((p) => p.split('=')[0] === name).length > 1) {
      invalidArgumentText('--augment', `each of crop, flip at most once`, `"${value}" (${name} twice)`);
    }
    const crop = /^crop(?:=(\d+))?$/.exec(raw);
    if (crop) out.crop = { padding: crop[1] === undefined ? 4 : Number(crop[1]) };
    else if (raw === 'flip') out.flip = true;
    else invalidArgumentText('--augment', 'a comma-separated list of crop[=PADDING] and flip (e.g. crop=2,flip)', `"${value}"`);
  }
  if (!out.crop && !out.flip) invalidArgumentText('--augment', 'at least one of crop[=PADDING], flip', `"${value}"`);
  return out;
}

/**
 * `--save-epochs 2,4,8` → the config's saveEpochs. Only the list's grammar is checked here; the epochs' range and
 * duplicates are the API's (its refusals, named config.saveEpochs, come back named --save-epochs).
 */
export function parseSaveEpochsFlag(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) {
    invalidArgumentText('--save-epochs', 'a comma-separated list of epochs, each an integer ≥ 1 (e.g. 2,4,8)', `"${value}"`);
  }
  return parts.map(Number);
}

/** Option and config names → the flags that set them, so a refusal of a config bound names the flag typed. */
const TRAIN_FLAGS = {
  runDir: '--out', threads: '--threads', executionProvider: '--device', backend: '--backend',
  'config.epochs': '--epochs', 'config.batchSize': '--batch-size', 'config.accumulationSteps': '--accumulate', 'config.evalBatchSize': '--eval-batch-size',
  'config.seed': '--seed', 'config.optimizer.lr': '--lr', 'config.optimizer.type': '--optimizer', 'config.schedule': '--schedule',
  'config.dataset.trainLimit': '--train-limit', 'config.dataset.testLimit': '--test-limit', 'config.dataset.validation': '--validation',
  'config.dataset.dir': '--data-dir', 'config.modelSpec.width': '--width', 'config.modelSpec.name': '--model', 'config.modelSpec.file': '--model',
  'config.dataset.imageSize': '--image-size', 'config.dataset.channels': '--channels', 'config.dataset.testFraction': '--test-fraction',
  'config.dataset.splitSeed': '--split-seed', 'config.dataset.skipBad': '--skip-bad', 'config.dataset.cacheDir': '--cache-dir',
  'config.saveEpochs': '--save-epochs',
};

export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .description('Train a model of the zoo with cross-entropy (ONNX Runtime: native or training build); resumes a partial run in --out.');
  addModelAndDataFlags(command);
  addTrainingFlags(command);
  addRunFlags(command);
  withImageFolderFlags(command).action(runTrain);
}

/** --model, --width, --data, --data-dir, --cache-dir. */
function addModelAndDataFlags(command: Command): void {
  command
    .addOption(new Option('--model <name>', `model of the zoo (${MODEL_NAMES.join(', ')}; kqkd models lists them), or a path to a student .onnx file `
      + 'exported by torch.onnx.export (docs/onnx-students.md)').default('small-cnn'))
    .addOption(new Option('--width <x>', 'width multiplier of the model (default 1 = the paper\'s widths)'))
    .addOption(new Option('--data <name>', 'dataset; input shape, classes and normalisation follow from it')
      .choices(DATASET_NAMES as unknown as string[]).default('fashion-mnist'))
    .option('--data-dir <dir>', `dataset folder; required for ${DATASETS_NEEDING_DIR.join(', ')} (the extracted official folder or the ` +
      'folder holding it); fashion-mnist defaults to /usr/share/datasets/fashion-mnist')
    .option('--cache-dir <dir>', 'tiny-imagenet: decode each split once into a .npy cache in this folder (default: decode JPEGs per batch); image-folder: its cache folder (default DIR/.kqkd-cache)');
}

/** --epochs to --cycle-momentum: batches, optimizer, schedule, limits, validation, augmentation. */
function addTrainingFlags(command: Command): void {
  command
    .option('--epochs <n>', 'epochs', '6')
    .option('--batch-size <n>', 'fixed training batch size; the last partial batch of each epoch is dropped (default 128)')
    .option('--batch <n>', 'alias of --batch-size')
    .option('--accumulate <n>', 'gradient accumulation: micro-batches of --batch-size per optimizer step (gradient = their mean, ' +
      'effective batch N × batch size; schedules count optimizer steps; images that do not fill a last step are dropped)', '1')
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZER_TYPES as unknown as string[]).default('adamw'))
    .option('--lr <x>', 'peak learning rate', '0.0075')
    .option('--weight-decay <x>', 'weight decay (default 0.01 for AdamW, 0 for SGD)')
    .option('--momentum <x>', 'SGD momentum (default 0.9)')
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(SCHEDULES as unknown as string[]).default('one-cycle'))
    .option('--widths <list>', 'small-cnn conv block widths, comma-separated (default 16,32; instead of --width)')
    .option('--patch <n>', 'ViT patch size (default 4 up to 32×32 inputs, 8 at 64×64)')
    .option('--eval-batch-size <n>', 'evaluation batch size (default 1000)')
    .option('--train-limit <n>', 'use only the first N training images (smoke runs)')
    .option('--test-limit <n>', 'use only the first N test images')
    .option('--validation <n>', 'hold out the last N training images and evaluate on them instead of the test split ' +
      '(for choosing epochs, width, augmentation, learning rate; never choose on the test set)')
    .option('--augment <list>', 'seeded augmentation of the training images: crop[=PADDING] (random crop from the zero-padded ' +
      'image, default padding 4) and/or flip (random horizontal flip), e.g. crop=2,flip')
    .addOption(new Option('--cycle-momentum <on|off>', 'one-cycle with AdamW: cycle beta1 0.95 → 0.85 → 0.95 opposite to the rate, ' +
      'as PyTorch OneCycleLR (default on; native backend only)').choices(['on', 'off']));
}

/** --seed, --out, --save-epochs, --backend, --threads, --device, --force, --quiet. */
function addRunFlags(command: Command): void {
  command
    .option('--seed <n>', 'seed for initialisation and shuffling', '0')
    .requiredOption('--out <dir>', 'run folder: checkpoint/, metrics.jsonl, metrics.json, model.onnx, results.json')
    .option('--save-epochs <list>', 'also keep the model after these epochs as model-epoch-<N>.onnx in --out (comma-separated, each 1 to --epochs, ' +
      'e.g. 2,4,8; written before that epoch\'s checkpoint; does not change the run, which resumes with or without it)')
    .addOption(new Option('--backend <name>', `training backend (default ${DEFAULT_BACKEND}): native = gradient graph in onnxruntime-node + host ` +
      'optimizer, web-training = ONNX Runtime training build (wasm); same checkpoint, a run resumes on either').choices(BACKENDS as unknown as string[]))
    .option('--threads <n>', 'intra-op threads of the ONNX Runtime sessions (default: one per physical core)')
    .addOption(new Option('--device <name>', 'execution provider of the native backend (cuda needs onnxruntime-node\'s CUDA provider binaries)')
      .choices(['cpu', 'cuda']))
    .option('--force', 'use --out even if it holds files kqkd did not write, or another run (they are written over)')
    .option('--quiet', 'no progress bar and no per-epoch lines');
}

/** `kqkd train`'s action: the flags read and checked, the run trained with its progress shown, its results said. */
async function runTrain(flags: TrainFlags): Promise<void> {
  const out = resolve(flags.out);
  const folderOptions = await withFlagNames(TRAIN_FLAGS, () => imageFolderOptions(flags, { cacheDirIsShared: true }));
  const steps = batchAndOptimizerOf(flags);
  const widths = flags.widths?.split(',').map((w, i) => intFlag(`--widths[${i}]`, w.trim(), 1));
  const evalName = flags.validation ? 'val' : 'test';
  const shown = progressShown(flags, out, evalName);
  const isFile = modelIsFile(flags.model);
  const results = await withFlagNames(TRAIN_FLAGS, () => train(trainInput(flags, { out, folderOptions, ...steps, widths, isFile, onProgress: shown.onProgress })));
  shown.close();
  shown.say(`${evalName} top-1: best ${results.top1Best.toFixed(2)}% (epoch ${results.bestEpoch}), last ${results.top1Last.toFixed(2)}% ` +
    `(epoch ${results.completedEpochs}); ${results.seconds.toFixed(1)} s, ${results.imagesPerSecond.toFixed(0)} img/s`);
  const kept = (flags.saveEpochs !== undefined ? parseSaveEpochsFlag(flags.saveEpochs) : []).sort((a, b) => a - b).map((e) => join(out, epochModelFile(e)))
    .filter((f) => existsSync(f)).map((f) => `, ${f}`).join('');
  shown.say(`wrote ${join(out, 'metrics.jsonl')}, ${join(out, 'model.onnx')}${kept}, ${join(out, 'results.json')}`);
}

/** --batch-size (or its alias --batch, the two agreeing), --accumulate and the optimizer flags. */
function batchAndOptimizerOf(flags: TrainFlags) {
  if (flags.batch !== undefined && flags.batchSize !== undefined && flags.batch !== flags.batchSize) {
    invalidArgumentText('--batch/--batch-size', 'one batch size', `${flags.batch} and ${flags.batchSize}`);
  }
  const batchSize = intFlag('--batch-size', flags.batchSize ?? flags.batch ?? '128', 1);
  const accumulationSteps = intFlag('--accumulate', flags.accumulate, 1);
  const optimizer = {
    type: flags.optimizer,
    lr: numFlag('--lr', flags.lr),
    weightDecay: flags.weightDecay !== undefined ? numFlag('--weight-decay', flags.weightDecay) : flags.optimizer === 'sgd' ? 0 : 0.01,
    ...(flags.momentum !== undefined ? { momentum: numFlag('--momentum', flags.momentum) } : {}),
  };
  return { batchSize, accumulationSteps, optimizer };
}

/** The progress of a run as the terminal shows it: a bar per epoch (and per data preparation), a line per event. */
function progressShown(flags: TrainFlags, out: string, evalName: string) {
  const progress = createProgress(flags.quiet);
  const say = (line: string) => { if (!flags.quiet) process.stdout.write(`${line}\n`); };
  let barOpen = false;
  let barEpoch = -1;
  const onProgress = (e: TrainProgress) => {
    switch (e.kind) {
      case 'start':
        say(`${e.resumed ? `resuming after epoch ${e.fromEpoch}` : 'training'}: ${e.trainCount} training images, batch ${e.batchSize} ` +
          (e.accumulationSteps > 1 ? `× ${e.accumulationSteps} accumulated micro-batches (effective batch ${e.batchSize * e.accumulationSteps}) ` : '') +
          `(${e.stepsPerEpoch} steps/epoch, last ${e.droppedPerEpoch} image(s) of each shuffled epoch dropped), ` +
          `${e.testCount} ${flags.validation ? 'held-out validation' : 'test'} images`);
        break;
      case 'batch':
        // A new bar at each epoch's first batch seen: batch 1, or the batch a resumed run continues from.
        if (e.epoch !== barEpoch) { progress.start(e.batches, `epoch ${e.epoch}/${e.epochs}`, e.batch - 1); barOpen = true; barEpoch = e.epoch; }
        progress.update(e.batch, `loss ${e.loss.toFixed(4)} | ${e.imagesPerSecond.toFixed(0)} img/s | ETA ${e.etaSeconds.toFixed(0)} s`);
        break;
      case 'epoch':
        if (barOpen) { progress.stop(); barOpen = false; }
        say(`epoch ${e.metrics.epoch}: train loss ${e.metrics.trainLoss.toFixed(4)}, ${evalName} loss ${e.metrics.testLoss.toFixed(4)}, ` +
          `${evalName} top-1 ${e.metrics.testTop1.toFixed(2)}% (best ${e.best.testTop1.toFixed(2)}% at epoch ${e.best.epoch}), ` +
          `${e.metrics.imagesPerSecond.toFixed(0)} img/s, ${e.metrics.seconds.toFixed(1)} s`);
        break;
      case 'notice':
        say(`note: ${e.message}`);
        break;
      case 'data':
        if (e.done === 0) { progress.start(e.total, e.label); barOpen = true; barEpoch = -1; }
        progress.update(e.done);
        if (e.done === e.total && barOpen) { progress.stop(); barOpen = false; }
        break;
      case 'done':
        if (!e.recomputed) say(`run already finished in ${out} (nothing recomputed)`);
        break;
      default:
    }
  };
  return { onProgress, say, close: () => { if (barOpen) progress.stop(); } };
}

/** True when --model is a path (ends in .onnx, or names a folder): an ONNX student; anything else must be a zoo name. */
function modelIsFile(model: string): boolean {
  const isFile = isOnnxModelPath(model);
  if (!isFile && !(MODEL_NAMES as readonly string[]).includes(model)) {
    invalidArgumentText('--model', `a model of the zoo (${MODEL_NAMES.join(', ')}) or the path of an ONNX student (*.onnx)`, `"${model}"`);
  }
  return isFile;
}

/** The API's train input from the flags (the numbers read in the order the config lists them). */
function trainInput(flags: TrainFlags, a: {
  out: string; folderOptions: Awaited<ReturnType<typeof imageFolderOptions>>; batchSize: number; accumulationSteps: number;
  optimizer: TrainConfigInput['optimizer']; widths: number[] | undefined; isFile: boolean; onProgress: (e: TrainProgress) => void;
}): Parameters<typeof train>[0] {
  return {
    modelSpec: {
      ...(a.isFile ? { name: 'onnx' as const, file: flags.model }
        : { name: flags.model as TrainConfigInput['modelSpec']['name'] }),
      ...(a.widths ? { widths: a.widths } : {}),
      ...(flags.width !== undefined ? { width: numFlag('--width', flags.width) } : {}),
      ...(flags.patch !== undefined ? { patch: intFlag('--patch', flags.patch, 1) } : {}),
    },
    dataset: {
      name: flags.data as TrainConfigInput['dataset']['name'],
      ...(flags.dataDir ? { dir: flags.dataDir } : {}),
      ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
      ...a.folderOptions,
      ...(flags.trainLimit ? { trainLimit: intFlag('--train-limit', flags.trainLimit, 1) } : {}),
      ...(flags.testLimit ? { testLimit: intFlag('--test-limit', flags.testLimit, 1) } : {}),
      ...(flags.validation ? { validation: intFlag('--validation', flags.validation, 1) } : {}),
    },
    ...(flags.augment !== undefined ? { augment: parseAugmentFlag(flags.augment) } : {}),
    ...(flags.cycleMomentum !== undefined ? { oneCycle: { cycleMomentum: flags.cycleMomentum === 'on' } } : {}),
    ...(flags.saveEpochs !== undefined ? { saveEpochs: parseSaveEpochsFlag(flags.saveEpochs) } : {}),
    epochs: intFlag('--epochs', flags.epochs, 1),
    batchSize: a.batchSize,
    ...(flags.evalBatchSize !== undefined ? { evalBatchSize: intFlag('--eval-batch-size', flags.evalBatchSize, 1) } : {}),
    accumulationSteps: a.accumulationSteps,
    optimizer: a.optimizer,
    schedule: flags.schedule,
    seed: intFlag('--seed', flags.seed, 0),
    runDir: a.out,
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.threads !== undefined ? { threads: intFlag('--threads', flags.threads, 1) } : {}),
    ...(flags.device !== undefined ? { executionProvider: flags.device } : {}),
    onProgress: a.onProgress, ...(commandSignal() ? { signal: commandSignal() } : {}), ...(flags.force ? { force: true } : {}),
  };
}
