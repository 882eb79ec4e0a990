import { basename, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { expectInteger, invalidArgumentText, writeFileAtomic } from '@kqkd/common';
import { readNpy } from '@kqkd/kqkd';
import { GEOMETRY_BACKENDS as BACKENDS, type BackendChoice } from '@kqkd/kqkd';
import {
  explicitSubsets, reportToJson, reportToTable, scoreLayers, scoreModel, MODEL_DATASETS,
  type KqReport, type LayerFeatures, type ModelDataset,
} from '@kqkd/kqkd';
import { kqCurvesSpec, writeChart } from '@kqkd/kqkd';
import { createProgress } from '../progress.js';

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
}

const collect = (value: string, previous: string[] = []) => previous.concat(value);

function intFlag(name: string, value: string | undefined, min: number): number {
  const n = value === undefined ? NaN : Number(value);
  return expectInteger(name, Number.isInteger(n) ? n : value, min);
}

function readLabels(path: string): Int32Array {
  const npy = readNpy(path);
  if (npy.shape.length !== 1) invalidArgumentText('--labels', 'a 1-D array [N]', `shape [${npy.shape.join(', ')}] in ${path}`);
  if (npy.dtype !== 'int64' && npy.dtype !== 'int32') invalidArgumentText('--labels', 'int64 or int32 labels', `${npy.dtype} in ${path}`);
  return Int32Array.from(npy.data as ArrayLike<number | bigint>, Number);
}

function readIndices(flag: string, path: string): number[] {
  const npy = readNpy(path);
  if (npy.shape.length !== 1 || npy.dtype !== 'int64') {
    invalidArgumentText(flag, 'a 1-D int64 index array', `${npy.dtype} of shape [${npy.shape.join(', ')}] in ${path}`);
  }
  return Array.from(npy.data as BigInt64Array, Number);
}

function readLayerFeatures(paths: string[]): LayerFeatures[] {
  return paths.map((path, index) => {
    const npy = readNpy(path);
    if (npy.dtype !== 'float32') invalidArgumentText('--features', 'float32 features', `${npy.dtype} in ${path}`);
    if (npy.shape.length < 1) invalidArgumentText('--features', 'an array [N, ...]', `a scalar in ${path}`);
    // [N] is one feature per sample.
    const shape = npy.shape.length === 1 ? [npy.shape[0], 1] : npy.shape;
    return { name: basename(path).replace(/\.npy$/, ''), index, features: npy.data as Float32Array, shape };
  });
}

async function writeOutputs(report: KqReport, outDir: string, meta: Record<string, unknown>, quiet: boolean): Promise<void> {
  writeFileAtomic(join(outDir, 'kq.json'), reportToJson(report, { meta }));
  const chart = await writeChart(kqCurvesSpec(report.layers, `Knowledge Quality per generalized layer — ${meta.source}`), join(outDir, 'kq-curves'));
  if (!quiet) {
    process.stdout.write(reportToTable(report));
    process.stdout.write(`wrote ${join(outDir, 'kq.json')}, ${chart.svg}, ${chart.png}\n`);
  }
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
    .option('--quiet', 'no progress and no table')
    .action(async (flags: ScoreFlags) => {
      const outDir = resolve(flags.out);
      const seed = intFlag('--seed', flags.seed, 0);
      const topK = intFlag('--top-k', flags.topK, 0);
      const threads = intFlag('--threads', flags.threads, 0);
      const progress = createProgress(flags.quiet);
      const common = {
        seed, topK, backend: flags.backend, threads,
        zeroNormRows: flags.dropZeroNormRows ? 'drop' as const : 'error' as const,
      };
      if ((flags.idxMain === undefined) !== (flags.idxClass === undefined)) {
        invalidArgumentText('--idx-main/--idx-class', 'both index files or neither', 'only one of them');
      }
      const subsets = flags.idxMain && flags.idxClass
        ? explicitSubsets(readIndices('--idx-main', flags.idxMain), readIndices('--idx-class', flags.idxClass))
        : undefined;

      if (flags.features && flags.model) invalidArgumentText('--features/--model', 'one source of features', 'both');
      if (flags.features) {
        if (!flags.labels) invalidArgumentText('--labels', 'a labels .npy file with --features', 'nothing');
        const datasetSize = intFlag('--dataset-size', flags.datasetSize, 1);
        const labels = readLabels(flags.labels);
        const layers = readLayerFeatures(flags.features);
        progress.start(layers.length, 'scoring layers');
        const report = await scoreLayers(layers, labels, {
          ...common, datasetSize, subsets,
          onProgress: (e) => progress.update(e.done, `${e.layer} ${e.seconds.toFixed(2)} s`),
        });
        progress.stop();
        await writeOutputs(report, outDir, { source: 'features', files: flags.features, labels: flags.labels }, !!flags.quiet);
        return;
      }
      if (flags.model) {
        if (!flags.data) invalidArgumentText('--data', `a dataset name with --model (${MODEL_DATASETS.join(', ')})`, 'nothing');
        const report = await scoreModel({
          ...common,
          model: flags.model,
          dataset: flags.data as ModelDataset,
          dataDir: flags.dataDir,
          layers: flags.layers?.split(',').map((s) => s.trim()).filter(Boolean),
          samples: intFlag('--samples', flags.samples, 2),
          batchSize: intFlag('--batch-size', flags.batchSize, 1),
          subsets,
          workDir: join(outDir, '.features'),
          onProgress: (e) => {
            if (e.done === 0) progress.start(e.total, e.stage);
            progress.update(e.done, e.detail);
            if (e.done === e.total) progress.stop();
          },
        });
        await writeOutputs(report, outDir, { source: basename(flags.model), model: flags.model, data: flags.data }, !!flags.quiet);
        return;
      }
      invalidArgumentText('--features or --model', 'a source of features', 'neither');
    });
}
