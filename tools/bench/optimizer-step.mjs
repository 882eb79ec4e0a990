// optimizer-step: one AdamW update of a ResNet9-sized parameter vector (6.57 M floats) three ways, in one run:
// the C++ addon (in place), the same update as a standard-op ONNX graph in onnxruntime-node, and TypeScript.
// Issue 6 asks to measure the addon against the ONNX-graph route and keep the faster one.
import { adamwScalars, adamwUpdateScalars } from '@kqkd/autodiff';
import { tryLoadAddon } from '@kqkd/native';
import { encodeModel, GraphBuilder } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { record, stats } from './lib.mjs';

const n = Number(process.env.OPT_PARAMS ?? 6_570_000);
const reps = Number(process.env.BENCH_REPS ?? 10);
// AdamW as kqkd configures ORT's kernel (see @kqkd/autodiff kernelSettings): β = 0.9 / 0.999, ε = 1e-8, decoupled decay.
const k = { alpha: 0.9, beta: 0.999, epsilon: 1e-8, weightDecay: 0.01, correctBias: 1, adamMode: 1, rateMultiplier: 1 };
const s = adamwScalars(k, 3, 1e-3);
const rand = (scale) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * scale);
const fresh = () => ({ p: rand(1), g: rand(0.01), m: rand(0.001), v: new Float32Array(n).fill(1e-6) });

async function time(fn) {
  const seconds = [];
  await fn(); // warm-up
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await fn();
    seconds.push((performance.now() - t) / 1000);
  }
  return stats(seconds);
}

// 1. C++ addon, in place.
const native = tryLoadAddon();
const a = fresh();
const cpp1 = native.addon ? await time(() => native.addon.adamwUpdate(a.p, a.g, a.m, a.v, s, 1)) : null;
const cpp2 = native.addon ? await time(() => native.addon.adamwUpdate(a.p, a.g, a.m, a.v, s, 2)) : null;

// 2. The same update (adam_mode 1) as a standard-op ONNX graph: m' = αm + (1−α)g, v' = βv + (1−β)g²,
//    p' = p − lrc·m'/(√v' + ε) − lr·wd·p; results copied back into the parameter buffers, as a training loop must.
const b = new GraphBuilder({ name: 'adamw_step' });
const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((name) => b.input(name, [n]));
const m2 = b.add(b.mulScalar(m, s.alpha), b.mulScalar(g, s.oneMinusAlpha));
const v2 = b.add(b.mulScalar(v, s.beta), b.mulScalar(b.mul(g, g), s.oneMinusBeta));
const step = b.mulScalar(b.div(m2, b.addScalar(b.sqrt(v2), s.epsilon)), s.lrCorrected);
const p2 = b.sub(b.sub(p, step), b.mulScalar(p, s.lrWeightDecay));
b.output(p2, 'p_out');
b.output(m2, 'm_out');
b.output(v2, 'v_out');
const session = await createInferenceSession(encodeModel(b.build()), { threads: 2 });
const o = fresh();
const onnx = await time(async () => {
  const r = await session.run({ p: { data: o.p, shape: [n] }, g: { data: o.g, shape: [n] }, m: { data: o.m, shape: [n] }, v: { data: o.v, shape: [n] } });
  o.p.set(r.p_out.data);
  o.m.set(r.m_out.data);
  o.v.set(r.v_out.data);
});
await session.release();

// 3. TypeScript.
const t = fresh();
const ts = await time(() => adamwUpdateScalars(s, t.p, t.g, t.m, t.v));

const line = record('optimizer-step', {
  sizes: { params: n }, reps, versions: {},
  timings: { cppThreads1: cpp1, cppThreads2: cpp2, onnxGraph: onnx, typescript: ts },
  addon: native.addon ? 'built' : `missing: ${native.reason}`,
  ratio: cpp1 ? onnx.median / Math.min(cpp1.median, cpp2.median) : null,
});
const ms = (x) => (x ? `${(x.median * 1e3).toFixed(1)} ms (min ${(x.min * 1e3).toFixed(1)})` : 'n/a');
console.log(`optimizer-step, ${n} params: C++ 1 thread ${ms(cpp1)}, C++ 2 threads ${ms(cpp2)}, ONNX graph in onnxruntime-node ${ms(onnx)}, TypeScript ${ms(ts)}` +
  (line.ratio ? ` → the addon is ${line.ratio.toFixed(1)}× faster than the ONNX graph` : ''));
