import { Command, Option } from 'commander';
// The score module alone, not the whole API: `kqkd score` loads no training code (docs/benchmarks.md, score-process).
import { GEOMETRY_BACKENDS as BACKENDS, MODEL_DATASETS, reportToTable, score, type ScoreProgress, type ScoreResult } from '@kqkd/kqkd/score';
import type { BackendChoice, ModelDataset } from '@kqkd/kqkd';
import { createProgress } from '../progress.js';
import { intFlag, withFlagNames } from '../flags.js';
import { imageFolderOptions, IMAGE_FOLDER_FLAGS, withImageFolderFlags, type ImageFolderFlags } from '../image-folder-flags.js';
import { commandSignal } from '../interrupt.js';

interface ScoreFlags extends ImageFolderFlags {
  features?: string[];
  labels?: string;
  datasetSize?: string;
  idxMain?: string;
  idxClass?: string;
  model?: string;
  data?: string;
  dataDir?: string;
  layers?: string;
  samples: string;
  batchSize: string;
  seed: string;
  topK: string;
  backend: BackendChoice;
  threads: string;
  dropZeroNormRows?: boolean;
  out: string;
  quiet?: boolean;
  force?: boolean;
}

const collect = (value: string, previous: string[] = []) => previous.concat(value);

/** API option names → the flags that set them. */
const FLAGS = {
  'features/model': '--features or --model', features: '--features', labels: '--labels', datasetSize: '--dataset-size',
  'idxMain/idxClass': '--idx-main/--idx-class', idxMain: '--idx-main', idxClass: '--idx-class', model: '--model', data: '--data',
  ...IMAGE_FOLDER_FLAGS, dataDir: '--data-dir', layers: '--layers', samples: '--samples', batchSize: '--batch-size', seed: '--seed', topK: '--top-k',
  backend: '--backend', threads: '--threads', out: '--out',
};

export function registerScore(program: Command): void {
  const command = program
    .command('score')
    .description('Score every generalized layer of a teacher by Knowledge Quality (Q = S + sqrt(I·E)) and select the top-k.')
    .option('--features <file.npy>', 'features of one layer, float32 [N, ...]; repeat for several layers', collect)
    .option('--labels <file.npy>', 'labels int64/int32 [N] (with --features)')
    .option('--dataset-size <n>', 'size of the training set the features come from (with --features)')
    .option('--idx-main <file.npy>', 'explicit subset M, int64 row indices')
    .option('--idx-class <file.npy>', 'explicit subset P, int64 row indices')
    .option('--model <teacher.onnx>', 'an ONNX classifier to score instead of --features')
    .addOption(new Option('--data <name>', 'dataset for --model (its training split is sampled)').choices([...MODEL_DATASETS]))
    .option('--data-dir <dir>', 'dataset folder; required for every --data but fashion-mnist (the extracted official folder or the ' +
      'folder holding it); fashion-mnist defaults to /usr/share/datasets/fashion-mnist')
    .option('--layers <names>', 'comma-separated tensor names to score instead of the detected generalized layers')
    .option('--samples <n>', 'class-balanced training samples to run through the model', '6000')
    .option('--batch-size <n>', 'inference batch size', '250')
    .option('--seed <n>', 'seed for the subsets M and P (and the sample with --model)', '0')
    .option('--top-k <k>', 'number of teacher layers to select', '4')
    .addOption(new Option('--backend <name>', 'geometry backend').choices(BACKENDS as string[]).default('cpu'))
    .option('--threads <n>', 'threads for the geometry engine (0 = all cores)', '0')
    .option('--drop-zero-norm-rows', 'drop all-zero feature rows from M instead of failing (KQ-SPEC §5)')
    .requiredOption('--out <dir>', 'output folder for kq.json and the pictures')
    .option('--force', 'use --out even if it holds files kqkd did not write (they are written over)')
    .option('--quiet', 'no progress and no table');
  withImageFolderFlags(command)
    .action(async (flags: ScoreFlags) => {
      const progress = createProgress(flags.quiet);
      let open = '';
      const onProgress = (e: ScoreProgress) => {
        if (open !== e.stage) { if (open) progress.stop(); progress.start(e.total, e.stage); open = e.stage; }
        progress.update(e.done, e.detail);
        if (e.done >= e.total) { progress.stop(); open = ''; }
      };
      // The API reads the files, checks the combination and names the options; errors come back named by the flags.
      const r: ScoreResult = await withFlagNames(FLAGS, () => score({
        ...(flags.features ? { features: flags.features } : {}), ...(flags.labels !== undefined ? { labels: flags.labels } : {}),
        ...(flags.datasetSize !== undefined ? { datasetSize: intFlag('--dataset-size', flags.datasetSize, 1) } : {}),
        ...(flags.model !== undefined ? {
          model: flags.model, data: flags.data as ModelDataset, ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
          ...(() => { const d = imageFolderOptions(flags); return Object.keys(d).length ? { dataOptions: d } : {}; })(),
          ...(flags.layers ? { layers: flags.layers.split(',').map((x) => x.trim()).filter(Boolean) } : {}),
          samples: intFlag('--samples', flags.samples, 2), batchSize: intFlag('--batch-size', flags.batchSize, 1),
        } : {}),
        ...(flags.idxMain !== undefined ? { idxMain: flags.idxMain } : {}), ...(flags.idxClass !== undefined ? { idxClass: flags.idxClass } : {}),
        seed: intFlag('--seed', flags.seed, 0), topK: intFlag('--top-k', flags.topK, 1), backend: flags.backend,
        threads: intFlag('--threads', flags.threads, 0), dropZeroNormRows: !!flags.dropZeroNormRows, out: flags.out, onProgress,
        ...(commandSignal() ? { signal: commandSignal() } : {}), ...(flags.force ? { force: true } : {}),
      } as Parameters<typeof score>[0]));
      if (open) progress.stop();
      if (flags.quiet) return;
      process.stdout.write(reportToTable(r.report));
      if (r.files) process.stdout.write(`wrote ${r.files.json}, ${r.files.svg}, ${r.files.png}\n`);
    });
}
