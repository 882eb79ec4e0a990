import { Command, Option } from 'commander';
import { DATASET_NAMES, evaluate, type DatasetName } from '@kqkd/kqkd';
import { createProgress } from '../progress.js';
import { intFlag, withFlagNames } from '../flags.js';
import { imageFolderOptions, IMAGE_FOLDER_FLAGS, withImageFolderFlags, type ImageFolderFlags } from '../image-folder-flags.js';
import { commandSignal } from '../interrupt.js';

interface EvalFlags extends ImageFolderFlags {
  model: string;
  data: DatasetName;
  dataDir?: string;
  split: 'test' | 'train' | 'val';
  batchSize: string;
  threads?: string;
  out?: string;
  quiet?: boolean;
}

const FLAGS = { model: '--model', data: '--data', dataDir: '--data-dir', split: '--split', batchSize: '--batch-size', threads: '--threads', out: '--out', ...IMAGE_FOLDER_FLAGS };

export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('Top-1, per-class accuracy and a confusion matrix of any ONNX classifier on a dataset split.')
    .requiredOption('--model <file.onnx>', 'an ONNX classifier taking normalised [N, C, H, W] images (a kqkd teacher or student, or any model)')
    .addOption(new Option('--data <name>', 'dataset').choices([...DATASET_NAMES]).default('fashion-mnist'))
    .option('--data-dir <dir>', 'dataset folder; required except for fashion-mnist (Debian\'s /usr/share/datasets/fashion-mnist)')
    .addOption(new Option('--split <name>', 'split to evaluate on (val: image-folder\'s val/ or test/ folder, or its held-out fraction)').choices(['test', 'train', 'val']).default('test'))
    .option('--batch-size <n>', 'inference batch size', '500')
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--out <dir>', 'write eval.json and confusion.svg / confusion.png here')
    .option('--quiet', 'print only the top-1 line');
  withImageFolderFlags(command)
    .action(async (flags: EvalFlags) => {
      const progress = createProgress(flags.quiet);
      let started = false;
      let decoding = false;
      const r = await withFlagNames(FLAGS, () => evaluate({
        ...(() => { const d = imageFolderOptions(flags); return Object.keys(d).length ? { dataOptions: d } : {}; })(),
        onDecode: (done, total, label) => {
          if (!decoding) { progress.start(total, label); decoding = true; }
          progress.update(done);
          if (done === total) { progress.stop(); decoding = false; }
        },
        log: (line) => process.stderr.write(`${line}\n`),
        model: flags.model, data: flags.data, split: flags.split, batchSize: intFlag('--batch-size', flags.batchSize, 1),
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}), ...(flags.threads !== undefined ? { threads: intFlag('--threads', flags.threads, 1) } : {}),
        ...(flags.out ? { out: flags.out } : {}), ...(commandSignal() ? { signal: commandSignal() } : {}),
        onProgress: (done, total) => {
          if (!started) { progress.start(total, 'evaluating'); started = true; }
          progress.update(done);
        },
      }));
      if (started) progress.stop();
      if (r.preprocessing) {
        const p = r.preprocessing;
        process.stdout.write(`preprocessing (${p.source}): ${p.imageSize}×${p.imageSize}×${p.channels}, mean ${p.normalization.mean.map((v) => v.toFixed(4)).join(', ')}, std ${p.normalization.std.map((v) => v.toFixed(4)).join(', ')}\n`);
      }
      process.stdout.write(`${flags.model} on ${flags.data} ${r.split}: top-1 ${r.top1.toFixed(2)} % (${r.correct} / ${r.count})\n`);
      if (flags.quiet) return;
      const w = Math.max(...r.classNames.map((n) => n.length), 5);
      process.stdout.write(`${'class'.padEnd(w)}  images  top-1 %\n`);
      r.perClass.forEach((top1, c) => {
        const n = r.confusion[c].reduce((a, b) => a + b, 0);
        process.stdout.write(`${r.classNames[c].padEnd(w)}  ${String(n).padStart(6)}  ${Number.isFinite(top1) ? top1.toFixed(2).padStart(7) : '      —'}\n`);
      });
      if (r.files) process.stdout.write(`wrote ${r.files.json}, ${r.files.svg}, ${r.files.png}\n`);
    });
}
