import { Command, Option } from 'commander';
import { invalidArgumentText } from '@kqkd/common';
import { BACKENDS, DEFAULT_BACKEND, MODEL_NAMES, benchTrainStep, type BenchDistillSpec, type BenchTrainStepProfile } from '@kqkd/kqkd';
import { intFlag, withFlagNames } from '../flags.js';
import { commandSignal } from '../interrupt.js';

interface BenchFlags {
  model: string;
  input: string;
  classes: string;
  batch: string;
  steps: string;
  warmup: string;
  backend: 'native' | 'web-training';
  threads?: string;
  width?: string;
  optimizer: 'adamw' | 'sgd';
  device: 'cpu' | 'cuda';
  distill?: string;
  /** true (bare flag): a temporary folder; a string: the folder that keeps the trace. */
  profile?: boolean | string;
  hostWeightGradients?: boolean;
  json?: boolean;
}

/** API option names → the flags that set them. */
const FLAGS = {
  model: '--model', input: '--input', classes: '--classes', batch: '--batch', steps: '--steps', warmupSteps: '--warmup', backend: '--backend',
  threads: '--threads', width: '--width', optimizer: '--optimizer', executionProvider: '--device', distill: '--distill',
  profile: '--profile', hostWeightGradients: '--host-weight-gradients',
};

/** "fkd-kq (4 pairs)" for a distillation spec. */
function describeObjective(spec: unknown): string {
  const d = spec as { method?: string; pairs?: unknown[] };
  return `${d.method ?? 'objective'}${d.pairs ? ` (${d.pairs.length} pairs)` : ''}`;
}

/** Op types and nodes printed by --profile (the JSON has every op type and the API's top nodes). */
const PROFILE_OPS = 12;
const PROFILE_NODES = 10;

/** The --profile tables: the top op types and nodes of the timed steps by kernel time. */
function profileText(p: BenchTrainStepProfile): string {
  const pct = (s: number) => `${(100 * s).toFixed(1).padStart(5)} %`;
  const ms = (v: number) => v.toFixed(v < 10 ? 2 : 1).padStart(9);
  const ops = p.byOp.slice(0, PROFILE_OPS);
  const nodes = p.topNodes.slice(0, PROFILE_NODES);
  const opW = Math.max(7, ...ops.map((o) => o.op.length), ...nodes.map((n) => n.op.length));
  const nodeW = Math.max(4, ...nodes.map((n) => n.name.length));
  const lines = [
    `profile of the ${p.steps} timed steps (warm-up excluded; ONNX Runtime's kernel times): ${p.nodeMsPerStep.toFixed(1)} ms/step in ` +
      `nodes, ${p.runMsPerStep.toFixed(1)} ms/step per run`,
    p.file ? `trace: ${p.file}` : 'trace: removed with its temporary folder (--profile DIR keeps it)',
    '',
    `${'op type'.padEnd(opW)}  ${'calls/step'.padStart(10)}  ${'ms/step'.padStart(9)}  ${'share'.padStart(7)}`,
    ...ops.map((o) => `${o.op.padEnd(opW)}  ${String(+(o.calls / p.steps).toFixed(1)).padStart(10)}  ${ms(o.msPerStep)}  ${pct(o.share)}`),
    ...(p.byOp.length > ops.length ? [`(${p.byOp.length - ops.length} more op types: ` +
      `${pct(p.byOp.slice(ops.length).reduce((a, o) => a + o.share, 0)).trim()})`] : []),
    '',
    `${'node'.padEnd(nodeW)}  ${'op'.padEnd(opW)}  ${'ms/step'.padStart(9)}  ${'share'.padStart(7)}`,
    ...nodes.map((n) => `${n.name.padEnd(nodeW)}  ${n.op.padEnd(opW)}  ${ms(n.msPerStep)}  ${pct(n.share)}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('Micro-benchmarks.');
  bench
    .command('train-step')
    .description('Images/s of full training steps (forward, backward, optimizer, BN write-back) on random inputs, after warm-up steps.')
    .addOption(new Option('--model <name>', 'model of the zoo').choices(MODEL_NAMES as unknown as string[]).default('small-cnn'))
    .option('--input <CxHxW>', 'input shape', '3x32x32')
    .option('--classes <n>', 'classes', '10')
    .option('--batch <n>', 'batch size', '128')
    .option('--steps <n>', 'timed steps', '10')
    .option('--warmup <n>', 'untimed warm-up steps', '2')
    .addOption(new Option('--backend <name>', 'training backend').choices(BACKENDS as unknown as string[]).default(DEFAULT_BACKEND))
    .option('--threads <n>', 'intra-op threads (native) / wasm threads (web-training); default: ONNX Runtime\'s choice (native), 1 (web-training)')
    .option('--width <x>', 'width multiplier of the model')
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adamw', 'sgd']).default('adamw'))
    .addOption(new Option('--device <name>', 'execution provider of the native backend (cuda needs onnxruntime-node\'s CUDA binaries)')
      .choices(['cpu', 'cuda']).default('cpu'))
    .option('--distill <json>', 'time the distillation step instead of CE, teacher features random: a JSON object ' +
      '{"method":"fkd-kq","pairs":[{"student":1,"teacher":12,"teacherShape":[256,8,8]},…],"teacherClasses":10} (a training config\'s distill, no teacherSha256)')
    .option('--profile [dir]', 'profile the timed steps with ONNX Runtime (native backend): kernel time per op type and node; ' +
      'the trace (Chrome-trace JSON) is kept in DIR if given, else removed')
    .option('--host-weight-gradients', 'native CPU backend: stride-1 convolution weight gradients on the host (the addon) ' +
      'instead of in the graph (default off; KQKD_HOST_DW=1 is the fallback when the flag is absent)')
    .option('--json', 'print one JSON object')
    .action(async (flags: BenchFlags) => {
      const input = flags.input.toLowerCase().split(/[x×,]/).map((d) => Number(d));
      if (input.length !== 3 || input.some((d) => !Number.isInteger(d) || d < 1)) invalidArgumentText('--input', 'C×H×W such as 3x32x32', `"${flags.input}"`);
      const width = flags.width !== undefined ? Number(flags.width) : undefined;
      if (width !== undefined && !(width > 0)) invalidArgumentText('--width', 'a number > 0', `"${flags.width}"`);
      let distill: BenchDistillSpec | undefined;
      if (flags.distill !== undefined) {
        try {
          distill = JSON.parse(flags.distill) as BenchDistillSpec;
        } catch (err) {
          invalidArgumentText('--distill', 'a JSON object { method, pairs, teacherClasses }', `unparsable "${flags.distill}" (${(err as Error).message})`);
        }
        if (distill === null || typeof distill !== 'object' || Array.isArray(distill)) {
          invalidArgumentText('--distill', 'a JSON object { method, pairs, teacherClasses }', JSON.stringify(distill));
        }
      }
      const r = await withFlagNames(FLAGS, () => benchTrainStep({
        model: flags.model, input, classes: intFlag('--classes', flags.classes, 2), batch: intFlag('--batch', flags.batch, 1),
        steps: intFlag('--steps', flags.steps, 1), warmupSteps: intFlag('--warmup', flags.warmup, 0), backend: flags.backend,
        ...(flags.threads !== undefined ? { threads: intFlag('--threads', flags.threads, 1) } : {}),
        ...(width !== undefined ? { width } : {}), optimizer: flags.optimizer, executionProvider: flags.device,
        ...(distill ? { distill } : {}), ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
        ...(flags.hostWeightGradients ? { hostWeightGradients: true } : {}),
        ...(commandSignal() ? { signal: commandSignal() } : {}),
      }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
      } else {
        process.stdout.write(`${r.model} ${r.input.join('×')} batch ${r.batch}${r.objective ? `, ${describeObjective(r.objective.spec)} step` : ''}, ${r.backend} (${r.executionProvider}${r.threads ? `, ${r.threads} threads` : ''}` +
          `${r.nchwcBlock ? `, NCHWc convolutions, block ${r.nchwcBlock}` : ''}) on ${r.cpu}: ` +
          `${r.imagesPerSecond.toFixed(1)} images/s (median of ${r.steps} steps, ${(r.secondsPerStep.median * 1000).toFixed(1)} ms/step` +
          `${r.profile ? ', profiler on' : ''})\n`);
        if (r.profile) process.stdout.write(`\n${profileText(r.profile)}`);
      }
    });
}
