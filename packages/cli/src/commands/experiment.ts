import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { expectInteger, invalidArgumentText, KqkdError } from '@kqkd/common';
import {
  METHOD_KEYS, parseExperimentConfig, presetConfig, PRESET_NAMES, runExperiment, type ExperimentConfigInput, type ExperimentProgress,
} from '@kqkd/kqkd';
import { createProgress } from '../progress.js';

interface ExperimentFlags {
  preset?: string;
  config?: string;
  methods?: string;
  seeds?: string;
  teacher?: string;
  dataDir?: string;
  epochs?: string;
  out: string;
  threads?: string;
  quiet?: boolean;
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KqkdError('--config', 'a readable experiment JSON file', `"${path}"`, (err as Error).message);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new KqkdError('--config', 'JSON', `unparsable text in "${path}"`, (err as Error).message);
  }
}

/** The experiment config of the flags: a preset or a file, then the overrides. */
export function experimentInput(flags: ExperimentFlags): { input: ExperimentConfigInput; preset?: string; source: string } {
  if ((flags.preset === undefined) === (flags.config === undefined)) {
    invalidArgumentText('--preset/--config', 'exactly one of --preset NAME or --config FILE', flags.preset ? 'both' : 'neither');
  }
  const input = (flags.preset !== undefined ? presetConfig(flags.preset) : readConfigFile(flags.config!)) as ExperimentConfigInput;
  if (input === null || typeof input !== 'object') invalidArgumentText('--config', 'a JSON object', typeof input);
  if (flags.methods !== undefined) {
    const methods = flags.methods.split(',').map((m) => m.trim()).filter(Boolean);
    for (const m of methods) if (!METHOD_KEYS.includes(m)) invalidArgumentText('--methods', `method keys among ${METHOD_KEYS.join(', ')}`, `"${m}"`);
    input.methods = methods as ExperimentConfigInput['methods'];
  }
  if (flags.seeds !== undefined) input.seeds = expectInteger('--seeds', Number(flags.seeds), 1);
  if (flags.epochs !== undefined) input.training = { ...input.training, epochs: expectInteger('--epochs', Number(flags.epochs), 1) };
  if (flags.teacher !== undefined) input.teacher = { ...input.teacher, onnx: flags.teacher };
  if (flags.dataDir !== undefined) input.dataset = { ...input.dataset, dir: flags.dataDir };
  else if (input.dataset?.dir === '(set with --data-dir)') {
    invalidArgumentText('--data-dir', `the ${input.dataset.name} folder for preset ${flags.preset}`, 'nothing');
  }
  return { input, ...(flags.preset ? { preset: flags.preset } : {}), source: flags.preset ? `preset ${flags.preset}` : (flags.config ?? 'experiment') };
}

export function registerExperiment(program: Command): void {
  program
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
    .option('--threads <n>', 'onnxruntime intra-op threads for the teacher cache and KQ scoring')
    .requiredOption('--out <dir>', 'experiment folder')
    .option('--quiet', 'no progress output')
    .action(async (flags: ExperimentFlags) => {
      const { input, preset, source } = experimentInput(flags);
      const config = parseExperimentConfig(input, source === 'experiment' ? 'experiment' : 'experiment');
      const out = resolve(flags.out);
      const progress = createProgress(flags.quiet);
      const say = (line: string) => { if (!flags.quiet) process.stdout.write(`${line}\n`); };
      let bar = false;
      let barLabel = '';
      const stopBar = () => { if (bar) { progress.stop(); bar = false; } };
      const onProgress = (e: ExperimentProgress) => {
        if (e.kind === 'stage') {
          stopBar();
          say(`[${e.stage}] ${e.detail ?? ''}`);
        } else if (e.kind === 'progress') {
          if (!bar || barLabel !== e.stage) { stopBar(); progress.start(e.total, e.stage); bar = true; barLabel = e.stage; }
          progress.update(e.done);
          if (e.done >= e.total) stopBar();
        } else {
          const ev = e.event;
          const label = e.who === 'teacher' ? 'teacher' : `run ${e.index + 1}/${e.total} ${e.who}`;
          if (ev.kind === 'batch') {
            const l = `${label} epoch ${ev.epoch}/${ev.epochs}`;
            if (!bar || barLabel !== l) { stopBar(); progress.start(ev.batches, l); bar = true; barLabel = l; }
            progress.update(ev.batch, `loss ${ev.loss.toFixed(4)} | ${ev.imagesPerSecond.toFixed(0)} img/s`);
          } else if (ev.kind === 'epoch') {
            stopBar();
            say(`${label} epoch ${ev.metrics.epoch}: test top-1 ${ev.metrics.testTop1.toFixed(2)}% (best ${ev.best.testTop1.toFixed(2)}%), ${ev.metrics.seconds.toFixed(1)} s`);
          } else if (ev.kind === 'done' && !ev.recomputed) {
            say(`${label}: finished earlier (best ${ev.results.top1Best.toFixed(2)}%, last ${ev.results.top1Last.toFixed(2)}%), not recomputed`);
          }
        }
      };
      const threads = flags.threads !== undefined ? expectInteger('--threads', Number(flags.threads), 1) : undefined;
      const r = await runExperiment({ config, out, ...(preset ? { preset } : {}), onProgress, ...(threads ? { threads } : {}) });
      stopBar();
      say('');
      say(`teacher ${r.teacher.model}: top-1 ${r.teacher.top1.toFixed(2)}%; KQ-selected teacher layers ${r.selectedTeacherLayers.join(', ')}`);
      say('method            top-1 best-epoch (mean ± std)   top-1 last-epoch (mean ± std)');
      for (const m of Object.values(r.methods)) {
        const f = (s: { mean: number; std: number | null }) => `${s.mean.toFixed(2)} ± ${s.std === null ? '—' : s.std.toFixed(2)}`;
        say(`${m.key.padEnd(18)}${f(m.top1Best).padEnd(32)}${f(m.top1Last)}`);
      }
      if (r.ari.value !== null) say(`ARI of ${r.ari.ours} over ${r.ari.baselines.join(', ')}: ${r.ari.value.toFixed(3)}`);
      say(`wrote ${join(out, 'results.json')}, ${join(out, 'results.md')} and pictures (${Object.keys(r.pictures).join(', ')}) in ${r.seconds.toFixed(0)} s`);
    });
}
