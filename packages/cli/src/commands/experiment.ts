import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import {
  LR_POLICIES, METHOD_KEYS, PRESET_NAMES, resolveExperimentConfig, runExperiment, type LrPolicy,
} from '@kqkd/kqkd';
import { createProgress } from '../progress.js';
import { experimentProgressPrinter } from '../experiment-progress.js';
import { intFlag, numberListFlag, withFlagNames } from '../flags.js';
import { commandSignal } from '../interrupt.js';
import { imageFolderOptions, IMAGE_FOLDER_FLAGS, withImageFolderFlags, type ImageFolderFlags } from '../image-folder-flags.js';

interface ExperimentFlags extends ImageFolderFlags {
  preset?: string;
  config?: string;
  methods?: string;
  seeds?: string;
  teacher?: string;
  dataDir?: string;
  epochs?: string;
  lrPolicy?: LrPolicy;
  tuneLr?: string;
  tuneSeeds?: string;
  validation?: string;
  out: string;
  threads?: string;
  parallel?: string;
  quiet?: boolean;
  force?: boolean;
  queue?: string;
  attempts?: string;
  redisWait?: string;
}

/** API option names → the flags that set them. */
const FLAGS = {
  ...IMAGE_FOLDER_FLAGS,
  'preset/config': '--preset/--config', config: '--config', methods: '--methods', seeds: '--seeds', epochs: '--epochs',
  dataDir: '--data-dir', lrPolicy: '--lr-policy', tuneLr: '--tune-lr', tuneSeeds: '--tune-seeds', validation: '--validation', threads: '--threads', parallel: '--parallel', out: '--out', queue: '--queue', attempts: '--attempts',
  redisWaitSeconds: '--redis-wait',
};

/** The resolve options of the flags (the API validates them). */
export function experimentOptions(flags: ExperimentFlags) {
  return {
    ...(flags.preset !== undefined ? { preset: flags.preset } : {}), ...(flags.config !== undefined ? { config: flags.config } : {}),
    overrides: {
      ...(flags.methods !== undefined ? { methods: flags.methods.split(',').map((m) => m.trim()).filter(Boolean) } : {}),
      ...(flags.seeds !== undefined ? { seeds: intFlag('--seeds', flags.seeds, 1) } : {}),
      ...(flags.epochs !== undefined ? { epochs: intFlag('--epochs', flags.epochs, 1) } : {}),
      ...(flags.teacher !== undefined ? { teacher: flags.teacher } : {}),
      ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}),
      ...(flags.lrPolicy !== undefined ? { lrPolicy: flags.lrPolicy } : {}),
      ...(flags.tuneLr !== undefined ? { tuneLr: numberListFlag('--tune-lr', flags.tuneLr, { min: 2, what: 'learning rates > 0, e.g. 0.005,0.01,0.02,0.05' }) } : {}),
      ...(flags.tuneSeeds !== undefined ? { tuneSeeds: intFlag('--tune-seeds', flags.tuneSeeds, 1) } : {}),
      ...(flags.validation !== undefined ? { validation: intFlag('--validation', flags.validation, 1) } : {}),
      ...(() => { const d = imageFolderOptions(flags); return Object.keys(d).length ? { dataOptions: d } : {}; })(),
    },
  };
}

export function registerExperiment(program: Command): void {
  const command = program
    .command('experiment')
    .description('Teacher → KQ layer selection → students for each method × seed → results.json, results.md and pictures. ' +
      'Re-running on the same --out skips finished runs and resumes partial ones.')
    .option('--preset <name>', `a preset: ${PRESET_NAMES.join(', ')}`)
    .option('--config <file>', 'an experiment JSON file (version 1; see docs/experiments.md)')
    .option('--methods <list>', `comma-separated method keys (${METHOD_KEYS.join(', ')})`)
    .option('--seeds <n>', 'runs per method')
    .option('--epochs <n>', 'student epochs (overrides the preset/config)')
    .option('--teacher <file>', 'import this ONNX teacher instead of training one')
    .option('--data-dir <dir>', 'dataset folder (CIFAR-10/100, Tiny ImageNet)')
    .addOption(new Option('--lr-policy <name>', 'peak LR per method: shared (every method at training.optimizer.lr) or paper-code ' +
      '(as the paper\'s code: CE 0.01, distillation 0.05 with ResNet/MobileNet students, 0.01 with VGG/ViT) or tuned ' +
      '(the preset\'s per-method table, chosen by an earlier tuning on a validation split)').choices([...LR_POLICIES]))
    .option('--tune-lr <list>', 'tune every method\'s peak learning rate over this comma-separated grid on the validation split first ' +
      '(best mean validation top-1 at the last epoch, ties to the smaller rate); the final runs use the chosen rates and report the test split. ' +
      'Needs a validation split (--validation or the config\'s dataset.validation)')
    .option('--tune-seeds <n>', 'with --tune-lr: tuning runs per method and rate (default 2)')
    .option('--validation <n>', 'hold out the last N training images as the validation split (tuning is scored there)')
    .option('--threads <n>', 'onnxruntime intra-op threads of every session: teacher training and evaluation, KQ scoring, the teacher cache and ' +
      'each student run (default: onnxruntime\'s choice; for student runs, the cores divided among --parallel)')
    .option('--parallel <n>', 'student runs trained at once, each on its own thread: a number or auto (one per core, at most 8; ' +
      'small students barely use a second core, so this finishes sooner). Not with --queue')
    .requiredOption('--out <dir>', 'experiment folder')
    .option('--force', 'use --out even if it holds files kqkd did not write, or another experiment (they are written over)')
    .option('--queue <url>', 'queue the student runs on this Redis for `kqkd worker`s on other machines: redis://[user:password@]host[:port][/db] ' +
      '(rediss:// for TLS); --out must be on a file system every worker mounts at the same path (docs/distributed.md)')
    .option('--attempts <n>', 'with --queue: tries of a run before it is marked failed (default 3; a diverged run fails at once)')
    .option('--redis-wait <seconds>', 'with --queue: how long to wait for Redis when it goes away before stopping (default 300)')
    .option('--quiet', 'no progress output');
  withImageFolderFlags(command)
    .action(async (flags: ExperimentFlags) => {
      const options = experimentOptions(flags);
      // Validate everything before any work (and name the flags in errors).
      const { config } = await withFlagNames(FLAGS, () => resolveExperimentConfig(options));
      const out = resolve(flags.out);
      const progress = createProgress(flags.quiet);
      const say = (line: string) => { if (!flags.quiet) process.stdout.write(`${line}\n`); };
      const { onProgress, stopBar } = experimentProgressPrinter(progress, say, {
        // a tuned experiment reports its final runs on the test split; otherwise a validation split is evaluated on
        evaluatedOn: config.dataset.validation !== undefined && !config.tuning ? 'validation' : 'test',
      });
      const threads = flags.threads !== undefined ? intFlag('--threads', flags.threads, 1) : undefined;
      const parallel = flags.parallel === undefined || flags.parallel === 'auto' ? flags.parallel : intFlag('--parallel', flags.parallel, 1);
      const signal = commandSignal();
      const queued = {
        ...(flags.queue !== undefined ? { queue: flags.queue } : {}), ...(flags.attempts !== undefined ? { attempts: Number(flags.attempts) } : {}),
        ...(flags.redisWait !== undefined ? { redisWaitSeconds: Number(flags.redisWait) } : {}),
      };
      const r = await withFlagNames(FLAGS, () => runExperiment({
        ...options, ...queued, out, onProgress, ...(threads ? { threads } : {}), ...(parallel !== undefined ? { parallel } : {}), ...(signal ? { signal } : {}), ...(flags.force ? { force: true } : {}),
      }));
      stopBar();
      say('');
      say(`teacher ${r.teacher.model}: ${r.dataset.evaluatedOn} top-1 ${r.teacher.top1.toFixed(2)}%; teacher layers of ours (rule ${r.selectionRule}): ${r.selectedTeacherLayers.join(', ')}`);
      say('method            top-1 best-epoch (mean ± std)   top-1 last-epoch (mean ± std)');
      for (const m of Object.values(r.methods)) {
        const f = (s: { mean: number; std: number | null }) => `${s.mean.toFixed(2)} ± ${s.std === null ? '—' : s.std.toFixed(2)}`;
        say(`${m.key.padEnd(18)}${f(m.top1Best).padEnd(32)}${f(m.top1Last)}`);
      }
      if (r.ari.value !== null) say(`ARI of ${r.ari.ours} over ${r.ari.baselines.join(', ')}: ${r.ari.value.toFixed(3)}`);
      say(`wrote ${join(out, 'results.json')}, ${join(out, 'results.md')} and pictures (${Object.keys(r.pictures).join(', ')}) in ${r.seconds.toFixed(0)} s`);
    });
}
