import { Command, Option } from 'commander';
// The score module alone, not the whole API: `kqkd score` loads no training code (docs/benchmarks.md, score-process).
import {
  GEOMETRY_BACKENDS as BACKENDS, MODEL_DATASETS, rankingToTable, reportToTable, score, scoreTeachers, type RankBy, type ScoreProgress, type ScoreResult,
} from '@kqkd/kqkd/score';
import { KqkdError } from '@kqkd/common';
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
  model?: string[];
  data?: string;
  validation?: string;
  selection?: string;
  rankBy?: string;
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
  backend: '--backend', threads: '--threads', out: '--out', models: '--model', validation: '--validation', selection: '--selection',
  rankBy: '--rank-by',
};

/** Flags that only a ranking of several teachers reads, and those it cannot take (another model's layer names, explicit subsets). */
const RANKING_ONLY = { validation: '--validation', selection: '--selection', rankBy: '--rank-by' } as const;
const NOT_WITH_RANKING = { layers: '--layers', idxMain: '--idx-main', idxClass: '--idx-class', features: '--features' } as const;

/** The model branch's options common to one model and several. */
function modelOptions(flags: ScoreFlags) {
  const d = imageFolderOptions(flags);
  return {
    data: flags.data as ModelDataset, ...(flags.dataDir ? { dataDir: flags.dataDir } : {}), ...(Object.keys(d).length ? { dataOptions: d } : {}),
    samples: intFlag('--samples', flags.samples, 2), batchSize: intFlag('--batch-size', flags.batchSize, 1),
  };
}

/** `--model A --model B …`: the candidates scored on one sample and ranked (scoreTeachers); prints the ranking. */
async function rankTeachers(flags: ScoreFlags, onProgress: (e: ScoreProgress) => void): Promise<void> {
  for (const [key, flag] of Object.entries(NOT_WITH_RANKING)) {
    if (flags[key as keyof typeof NOT_WITH_RANKING] !== undefined) throw new KqkdError(flag, 'nothing with several --model (a teacher ranking scores each candidate\'s own generalized layers on one drawn sample)', 'a value');
  }
  const r = await withFlagNames(FLAGS, () => scoreTeachers({
    models: flags.model!, ...modelOptions(flags),
    ...(flags.validation !== undefined ? { validation: intFlag('--validation', flags.validation, 1) } : {}),
    ...(flags.selection !== undefined ? { selection: flags.selection } : {}),
    ...(flags.rankBy !== undefined ? { rankBy: flags.rankBy as RankBy } : {}),
    seed: intFlag('--seed', flags.seed, 0), topK: intFlag('--top-k', flags.topK, 1), backend: flags.backend,
    threads: intFlag('--threads', flags.threads, 0), dropZeroNormRows: !!flags.dropZeroNormRows, out: flags.out,
    onProgress: (e) => onProgress({ ...e, stage: `${e.teacher} (${e.teacherIndex + 1}/${e.teachers}): ${e.stage}` }),
    ...(commandSignal() ? { signal: commandSignal() } : {}), ...(flags.force ? { force: true } : {}),
  }));
  if (flags.quiet) return;
  process.stdout.write(rankingToTable(r.ranking));
  const files = `${r.files.ranking}, ${r.files.markdown}, ${r.files.png} and one kq.json per teacher`;
  process.stdout.write(r.reused ? `reused ${files}: an earlier run's, with the same candidates (sha256) and options\n`
    : `wrote ${files} (${r.seconds.toFixed(1)} s)\n`);
}

export function registerScore(program: Command): void {
  const command = program
    .command('score')
    .description('Score every generalized layer of a teacher by Knowledge Quality (Q = S + sqrt(I·E)) and select the top-k.')
    .option('--features <file.npy>', 'features of one layer, float32 [N, ...]; repeat for several layers', collect)
    .option('--labels <file.npy>', 'labels int64/int32 [N] (with --features)')
    .option('--dataset-size <n>', 'size of the training set the features come from (with --features)')
    .option('--idx-main <file.npy>', 'explicit subset M, int64 row indices')
    .option('--idx-class <file.npy>', 'explicit subset P, int64 row indices')
    .option('--model <teacher.onnx>', 'an ONNX classifier to score instead of --features; repeat it to rank several candidate teachers ' +
      '(OUT/<teacher>/kq.json each, OUT/ranking.json, ranking.md, teachers-kq.svg/png)', collect)
    .addOption(new Option('--data <name>', 'dataset for --model (its training split is sampled)').choices([...MODEL_DATASETS]))
    .option('--data-dir <dir>', 'dataset folder; required for every --data but fashion-mnist (the extracted official folder or the ' +
      'folder holding it); fashion-mnist defaults to /usr/share/datasets/fashion-mnist')
    .option('--layers <names>', 'comma-separated tensor names to score instead of the detected generalized layers')
    .option('--samples <n>', 'class-balanced training samples to run through the model', '6000')
    .option('--batch-size <n>', 'inference batch size', '250')
    .option('--seed <n>', 'seed for the subsets M and P (and the sample with --model)', '0')
    .option('--top-k <k>', 'number of teacher layers to select', '4')
    .option('--validation <n>', 'several --model: the last N training images, held out for each teacher\'s own top-1 (default 10 %, at most 5000)')
    .option('--selection <rule>', 'several --model: the rule whose layers the KQ summary averages (default kq-last, kqkd distill\'s)')
    .option('--rank-by <kq|validation-top1>', 'several --model: what orders them, the KQ summary (default) or each teacher\'s own top-1 on the ' +
      'held-out images (docs/RESULTS.md §7: the better predictor across architectures)')
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
      if (flags.model && flags.model.length > 1) { await rankTeachers(flags, onProgress); if (open) progress.stop(); return; }
      for (const [key, flag] of Object.entries(RANKING_ONLY)) {
        if (flags[key as keyof typeof RANKING_ONLY] !== undefined) throw new KqkdError(flag, 'several --model (a teacher ranking)', `"${flags[key as keyof typeof RANKING_ONLY]}" with ${flags.model ? 'one --model' : '--features'}`);
      }
      // The API reads the files, checks the combination and names the options; errors come back named by the flags.
      const r: ScoreResult = await withFlagNames(FLAGS, () => score({
        ...(flags.features ? { features: flags.features } : {}), ...(flags.labels !== undefined ? { labels: flags.labels } : {}),
        ...(flags.datasetSize !== undefined ? { datasetSize: intFlag('--dataset-size', flags.datasetSize, 1) } : {}),
        ...(flags.model !== undefined ? {
          model: flags.model[0], ...modelOptions(flags),
          ...(flags.layers ? { layers: flags.layers.split(',').map((x) => x.trim()).filter(Boolean) } : {}),
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
