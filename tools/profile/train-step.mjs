// ONNX Runtime's per-node profile of a training step (`npx nx run @kqkd/train:profile --model resnet9`): the native
// backend's training session under ONNX Runtime's profiler (@kqkd/train benchTrainStep's `profile`, the code behind
// `kqkd bench train-step --profile`), the warm-up steps left out of the sums. Writes, in
// packages/train/profile/out/<model>/ (the target's declared output): the Chrome-trace JSON of the session
// (chrome://tracing or Perfetto), summary.json (per op type: calls, ms per step and share of the summed node time;
// the top nodes; images/s) and op-types.txt (the same as a table).
// Flags (also as --flag=value): --model (resnet9), --input (3x32x32), --batch-size (64; Nx keeps --batch for itself), --steps (3), --warmup (1),
// --threads (2), --width (1).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchTrainStep } from '@kqkd/train';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
};
const model = flag('model', 'resnet9');
const input = flag('input', '3x32x32').split(/[x×,]/).map(Number);
const batch = Number(flag('batch-size', '64'));
const steps = Number(flag('steps', '3'));
const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages', 'train', 'profile', 'out', model);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const r = await benchTrainStep({
  model, input, classes: 10, batch, steps, warmupSteps: Number(flag('warmup', '1')), backend: 'native',
  threads: Number(flag('threads', '2')), width: Number(flag('width', '1')), profile: out,
});
const p = r.profile;
const pct = (s) => `${(100 * s).toFixed(1).padStart(5)} %`;
const table = [
  `${model} ${input.join('×')} batch ${batch}, native, ${r.threads} threads: ${r.imagesPerSecond.toFixed(1)} images/s (profiler on)`,
  `${p.steps} timed steps: ${p.nodeMsPerStep.toFixed(1)} ms/step in nodes (ONNX Runtime's kernel times), ${p.runMsPerStep.toFixed(1)} ms/step per run`,
  '',
  `${'op type'.padEnd(24)} ${'calls/step'.padStart(10)} ${'ms/step'.padStart(9)} ${'share'.padStart(7)}`,
  ...p.byOp.map((o) => `${o.op.padEnd(24)} ${String(+(o.calls / p.steps).toFixed(1)).padStart(10)} ${o.msPerStep.toFixed(2).padStart(9)} ${pct(o.share)}`),
  '',
  'top nodes:',
  ...p.topNodes.map((n) => `${n.name.slice(0, 60).padEnd(60)} ${n.op.padEnd(16)} ${n.msPerStep.toFixed(2).padStart(9)} ${pct(n.share)}`),
].join('\n');
writeFileSync(join(out, 'summary.json'), `${JSON.stringify({ model, input, batch, imagesPerSecond: r.imagesPerSecond, threads: r.threads, profile: p }, null, 2)}\n`);
writeFileSync(join(out, 'op-types.txt'), `${table}\n`);
console.log(table);
console.log(`\nwrote ${out}: ${readdirSync(out).join(', ')}`);
