import { Command, Option } from 'commander';
import { expectInteger, invalidArgumentText } from '@kqkd/common';
import {
  GEOMETRY_BACKENDS as BACKENDS, MODEL_DATASETS, readIndicesNpy, readLabelsNpy, reportToTable, score, type BackendChoice, type ModelDataset, type ScoreResult,
} from '@kqkd/kqkd';
import { createProgress } from '../progress.js';
import { withFlagNames } from '../flags.js';
import { commandSignal } from '../interrupt.js';

interface ScoreFlags {
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

function intFlag(name: string, value: string | undefined, min: number): number {
  const n = value === undefined ? NaN : Number(value);
  return expectInteger(name, Number.isInteger(n) ? n : value, min);
}

function print(r: ScoreResult, quiet: boolean): void {
  if (quiet) return;
  process.stdout.write(reportToTable(r.report));
  if (r.files) process.stdout.write(`wrote ${r.files.json}, ${r.files.svg}, ${r.files.png}\n`);
}

export function registerScore(program: Command): void {
  program
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
    .option('--quiet', 'no progress and no table')
    .action(async (flags: ScoreFlags) => {
      const progress = createProgress(flags.quiet);
      let open = '';
      const onProgress = (e: { stage: string; done: number; total: number; detail?: string }) => {
        if (open !== e.stage) { if (open) progress.stop(); progress.start(e.total, e.stage); open = e.stage; }
        progress.update(e.done, e.detail);
        if (e.done >= e.total) { progress.stop(); open = ''; }
      };
      if ((flags.idxMain === undefined) !== (flags.idxClass === undefined)) {
        invalidArgumentText('--idx-main/--idx-class', 'both index files or neither', 'only one of them');
      }
      const common = {
        seed: intFlag('--seed', flags.seed, 0), topK: intFlag('--top-k', flags.topK, 1), backend: flags.backend,
        threads: intFlag('--threads', flags.threads, 0), dropZeroNormRows: !!flags.dropZeroNormRows, out: flags.out, onProgress,
        ...(commandSignal() ? { signal: commandSignal() } : {}), ...(flags.force ? { force: true } : {}),
        // Files are read here so that errors name the flags.
        ...(flags.idxMain && flags.idxClass ? { idxMain: readIndicesNpy(flags.idxMain, '--idx-main'), idxClass: readIndicesNpy(flags.idxClass, '--idx-class') } : {}),
      };
      if (flags.features && flags.model) invalidArgumentText('--features/--model', 'one source of features', 'both');
      const { features, labels, model } = flags;
      if (features) {
        if (!labels) invalidArgumentText('--labels', 'a labels .npy file with --features', 'nothing');
        const r = await withFlagNames({ out: '--out', datasetSize: '--dataset-size', topK: '--top-k' }, () => score({ ...common, features, labels: readLabelsNpy(labels, '--labels'), datasetSize: intFlag('--dataset-size', flags.datasetSize, 1) }));
        if (open) progress.stop();
        print(r, !!flags.quiet);
        return;
      }
      if (model) {
        if (!flags.data) invalidArgumentText('--data', `a dataset name with --model (${MODEL_DATASETS.join(', ')})`, 'nothing');
        const r = await withFlagNames({ out: '--out', datasetSize: '--dataset-size', topK: '--top-k' }, () => score({
          ...common, model, data: flags.data as ModelDataset, ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
          ...(flags.layers ? { layers: flags.layers.split(',').map((x) => x.trim()).filter(Boolean) } : {}),
          samples: intFlag('--samples', flags.samples, 2), batchSize: intFlag('--batch-size', flags.batchSize, 1),
        }));
        if (open) progress.stop();
        print(r, !!flags.quiet);
        return;
      }
      invalidArgumentText('--features or --model', 'a source of features', 'neither');
    });
}
