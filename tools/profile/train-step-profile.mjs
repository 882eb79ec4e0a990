// Where a native training step spends its time: runs a zoo model's lowered training graph (forward + backward in
// one onnxruntime-node session) with ONNX Runtime's profiler and prints the time per op type and the top nodes.
//   node tools/profile/train-step-profile.mjs [model=resnet9] [batch=128] [steps=3]
// (build first: npm run build). The raw Chrome-trace JSON is kept in /tmp for chrome://tracing or Perfetto.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTrainingGraphs, lowerTrainingGraph } from '@kqkd/autodiff';
import { buildForward, INPUT_NAME, LABELS_NAME } from '@kqkd/train';
import { encodeModel } from '@kqkd/onnx';
import { createNativeTrainingSession } from '@kqkd/runtime';

const [model = 'resnet9', batchArg = '128', stepsArg = '3'] = process.argv.slice(2);
const batch = Number(batchArg);
const steps = Number(stepsArg);
const input = [3, 32, 32];
const { g, loss } = buildForward({ name: model }, input, 10, 0, undefined, { batchSize: 128 });
const graphs = buildTrainingGraphs({ model: g, loss, exposeGradients: true, staticDims: { N: batch } });
const session = await createNativeTrainingSession({
  trainingModel: encodeModel(lowerTrainingGraph(graphs.trainingModel)),
  parameters: graphs.parameters,
  threads: 2,
  profilePrefix: join(tmpdir(), `kqkd-${model}-profile`),
});
const x = Float32Array.from({ length: batch * input.reduce((a, b) => a * b, 1) }, () => Math.random() - 0.5);
const y = BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 10));
for (let s = 0; s < steps; s++) {
  await session.step({ [INPUT_NAME]: { data: x, shape: [batch, ...input] }, [LABELS_NAME]: { data: y, shape: [batch] } });
}
const file = session.endProfiling();
await session.release();

const events = JSON.parse(readFileSync(file, 'utf8')).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
const byOp = new Map();
const byNode = new Map();
let total = 0;
for (const e of events) {
  const op = e.args?.op_name ?? '?';
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  byNode.set(e.name.replace(/_kernel_time$/, ''), (byNode.get(e.name.replace(/_kernel_time$/, '')) ?? 0) + e.dur);
  total += e.dur;
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
console.log(`${model}, batch ${batch}, ${steps} steps: kernel time ${(total / 1e3 / steps).toFixed(0)} ms per step (${file})`);
console.log('\nby op type');
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${pct(us)}  ${(us / 1e3 / steps).toFixed(1).padStart(8)} ms  ${op}`);
console.log('\ntop nodes');
for (const [node, us] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${pct(us)}  ${(us / 1e3 / steps).toFixed(1).padStart(8)} ms  ${node}`);
