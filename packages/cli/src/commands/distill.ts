import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DATASET_NAMES, DISTILL_COMPARE, distill, SELECTION_RULE_KEYS, type DatasetName, type DistillProgress, type RankBy } from '@kqkd/kqkd';
import { createProgress } from '../progress.js';
import { experimentProgressPrinter } from '../experiment-progress.js';
import { imageFolderOptions, IMAGE_FOLDER_FLAGS, withImageFolderFlags, type ImageFolderFlags } from '../image-folder-flags.js';
import { intFlag, numFlag, withFlagNames } from '../flags.js';
import { commandSignal } from '../interrupt.js';

interface DistillFlags extends ImageFolderFlags {
  teacher: string;
  data: DatasetName;
  dataDir?: string;
  student: string;
  width?: string;
  epochs?: string;
  lr?: string;
  batchSize?: string;
  validation?: string;
  trainLimit?: string;
  selection?: string;
  rankBy?: string;
  compare?: string;
  seed: string;
  out: string;
  threads?: string;
  force?: boolean;
  quiet?: boolean;
}

const FLAGS = {
  teacher: '--teacher', data: '--data', dataDir: '--data-dir', student: '--student', width: '--width', epochs: '--epochs', lr: '--lr',
  batchSize: '--batch-size', validation: '--validation', trainLimit: '--train-limit', selection: '--selection', compare: '--compare',
  seed: '--seed', out: '--out', threads: '--threads', kqSamples: '--kq-samples', rankBy: '--rank-by', ...IMAGE_FOLDER_FLAGS,
};

/** `--teacher A.onnx` is one teacher; `--teacher A.onnx,B.onnx` a list to choose from. */
const teacherList = (value: string): string | string[] => {
  const list = value.split(',').map((t) => t.trim()).filter(Boolean);
  return list.length === 1 ? list[0] : list;
};

export function registerDistill(program: Command): void {
  const command = program
    .command('distill')
    .description('One distilled student, end to end: teacher Knowledge Quality → teacher layers → feature-only distillation (Ours) → ' +
      'the checkpoint of the best validation epoch → OUT/student.onnx (class names and normalisation in its metadata) and ' +
      'OUT/report.md (teacher and student top-1, size, latency, pictures). Re-running the same command resumes.')
    .requiredOption('--teacher <file.onnx[,file.onnx...]>', 'the teacher: an ONNX classifier taking the dataset\'s normalised [N, C, H, W] images; ' +
      'several, comma-separated: ranked by Knowledge Quality into OUT/teachers/ and the top-ranked one is the teacher')
    .option('--rank-by <kq|validation-top1>', 'several teachers: what ranks them, the KQ summary (default) or each teacher\'s own top-1 on ' +
      'the validation images (docs/RESULTS.md §7: the better predictor across architectures)')
    .addOption(new Option('--data <name>', 'dataset').choices([...DATASET_NAMES]).default('fashion-mnist'))
    .option('--data-dir <dir>', 'dataset folder; required except for fashion-mnist (Debian\'s /usr/share/datasets/fashion-mnist)')
    .requiredOption('--student <name|file.onnx>', 'a zoo model (kqkd models) or an ONNX student, e.g. exported by torch.onnx.export (docs/onnx-students.md)')
    .option('--width <x>', 'width multiplier of a zoo student (default 0.125 for resnet9, else 1)')
    .option('--epochs <n>', 'epochs (default: about 50 000 training images shown, 5 to 100 epochs)')
    .option('--lr <x>', 'peak learning rate of the distilled student (default 0.1: quick-tune\'s choice for Ours)')
    .option('--batch-size <n>', 'training batch (default 128, at most a quarter of the training images)')
    .option('--validation <n>', 'the last N training images, held out to choose the checkpoint on (default 10 %, at most 5000)')
    .option('--train-limit <n>', 'train on only the first N training images (never the validation images)')
    .addOption(new Option('--selection <rule>', 'teacher-layer rule (default kq-last)').choices([...SELECTION_RULE_KEYS]))
    .option('--kq-samples <n>', 'class-balanced training images the teacher is scored on (default 2000)')
    .option('--compare <list>', `also train, for the report: ${DISTILL_COMPARE.join(', ')} (ce = the student alone, same budget)`)
    .option('--seed <n>', 'seed of initialisation and shuffling', '0')
    .requiredOption('--out <dir>', 'output folder: student.onnx, report.md, report.json, pictures, experiment/')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: onnxruntime\'s choice)')
    .option('--force', 'use --out even if it holds files kqkd did not write, or another distillation')
    .option('--quiet', 'no progress output');
  withImageFolderFlags(command).action(async (flags: DistillFlags & { kqSamples?: string }) => {
    const progress = createProgress(flags.quiet);
    const say = (line: string) => { if (!flags.quiet) process.stdout.write(`${line}\n`); };
    const { onProgress: onExperiment, stopBar } = experimentProgressPrinter(progress, say, { evaluatedOn: 'validation' });
    const onProgress = (e: DistillProgress) => {
      if (e.kind === 'distill') { stopBar(); say(`[${e.stage}] ${e.detail}`); } else onExperiment(e);
    };
    const signal = commandSignal();
    const r = await withFlagNames(FLAGS, () => {
      const dataOptions = imageFolderOptions(flags);
      return distill({
        teacher: teacherList(flags.teacher), data: flags.data, student: flags.student, out: flags.out, seed: intFlag('--seed', flags.seed, 0), onProgress,
        ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}), ...(Object.keys(dataOptions).length ? { dataOptions } : {}),
        ...(flags.width !== undefined ? { width: numFlag('--width', flags.width) } : {}),
        ...(flags.epochs !== undefined ? { epochs: intFlag('--epochs', flags.epochs, 1) } : {}),
        ...(flags.lr !== undefined ? { lr: numFlag('--lr', flags.lr) } : {}),
        ...(flags.batchSize !== undefined ? { batchSize: intFlag('--batch-size', flags.batchSize, 1) } : {}),
        ...(flags.validation !== undefined ? { validation: intFlag('--validation', flags.validation, 1) } : {}),
        ...(flags.trainLimit !== undefined ? { trainLimit: intFlag('--train-limit', flags.trainLimit, 1) } : {}),
        ...(flags.selection !== undefined ? { selection: flags.selection } : {}),
        ...(flags.rankBy !== undefined ? { rankBy: flags.rankBy as RankBy } : {}),
        ...(flags.kqSamples !== undefined ? { kqSamples: intFlag('--kq-samples', flags.kqSamples, 20) } : {}),
        ...(flags.compare !== undefined ? { compare: flags.compare.split(',').map((m) => m.trim()).filter(Boolean) as never } : {}),
        ...(flags.threads !== undefined ? { threads: intFlag('--threads', flags.threads, 1) } : {}),
        ...(flags.force ? { force: true } : {}), ...(signal ? { signal } : {}),
      });
    });
    stopBar();
    const out = resolve(flags.out);
    say('');
    if (r.teacherChoice) say(`teacher: ${r.teacherChoice.file}, chosen: ${r.teacherChoice.reason} (ranking in ${join(out, 'teachers', 'ranking.md')})`);
    say(`teacher layers (${r.teacherLayers.rule}): ${r.teacherLayers.indices.join(', ')}; checkpoint: epoch ${r.student.epoch} of ${r.student.epochs} (best validation top-1)`);
    say(`teacher             test top-1 ${r.teacher.testTop1.toFixed(2)} %  ${r.teacher.parameters ?? '?'} parameters  ${r.teacher.latencyMs.batch1.toPrecision(3)} ms/image at batch 1`);
    say(`student, distilled  test top-1 ${r.student.testTop1.toFixed(2)} %  ${r.student.parameters ?? '?'} parameters  ${r.student.latencyMs.batch1.toPrecision(3)} ms/image at batch 1`);
    if (r.alone) say(`student alone (CE)  test top-1 ${r.alone.testTop1.toFixed(2)} %`);
    say(`wrote ${join(out, 'student.onnx')} and ${join(out, 'report.md')}`);
  });
}
