/**
 * Gradient checking: analytic gradients from running the training graph in the ORT web training build (exposed as
 * `<p>.gradient` outputs) against central finite differences of the loss.
 */
import { createInferenceSession } from '@kqkd/runtime';
import { encodeModel, type GraphBuilder, type Tensor } from '@kqkd/onnx';
import { buildTrainingGraphs, type TrainingGraphs, type TrainingGraphsOptions } from '../src/index.js';
import { writeCheckpoint } from '../src/artifacts/checkpoint.js';
import { buildOptimizerModel } from '../src/artifacts/optimizer.js';

type Loader = typeof import('../../runtime/src/training/loader.js');

/** The runtime's training loader: from @kqkd/runtime once it exports it, else its source module. */
export async function trainingLoader(): Promise<Loader> {
  const pkg = (await import('@kqkd/runtime')) as unknown as Partial<Loader>;
  if (pkg.loadTrainingRuntime && pkg.withMemoryCapture && pkg.decodeWasmException) return pkg as Loader;
  return import('../../runtime/src/training/loader.js');
}

export interface Feed { data: Float32Array; dims: number[] }

/** Loss and per-parameter gradients of one training step. */
export async function analyticGradients(g: TrainingGraphs, feeds: Record<string, Feed>, fdParams?: Set<string>): Promise<{
  loss: number; grads: Record<string, Float32Array>; trainLoss: (params: Record<string, Float32Array>) => Promise<number>; release: () => Promise<void>;
}> {
  const L = await trainingLoader();
  const { ort } = L.loadTrainingRuntime();
  const trainable = g.parameters.filter((p) => p.trainable);
  const frozen = g.parameters.filter((p) => !p.trainable);
  const checkpointState = writeCheckpoint({ trainable, frozen });
  const session = await L.withMemoryCapture(() => ort.TrainingSession.create({
    checkpointState, trainModel: encodeModel(g.trainingModel), evalModel: encodeModel(g.evalModel),
    optimizerModel: buildOptimizerModel({ kind: 'adamw' }, { kind: 'constant', lr: 1e-3 }),
  })).catch((e: unknown) => { throw new Error(L.decodeWasmException(e)); });
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
  const run = async () => {
    try {
      return await session.runTrainStep(ortFeeds);
    } catch (e) {
      throw new Error(L.decodeWasmException(e));
    }
  };
  const out = await run();
  const loss = (out[g.trainingOutputs[0]].data as Float32Array)[0];
  const grads: Record<string, Float32Array> = {};
  for (const [p, name] of Object.entries(g.gradientOutputs)) grads[p] = Float32Array.from(out[name].data as Float32Array);
  void fdParams;
  return {
    loss, grads,
    async trainLoss(params) {
      const flat = new Float32Array(trainable.reduce((s, p) => s + p.data.length, 0));
      let off = 0;
      for (const p of trainable) { flat.set(params[p.name] ?? p.data, off); off += p.data.length; }
      await session.loadParametersBuffer(new Uint8Array(flat.buffer), true);
      const o = await run();
      return (o[g.trainingOutputs[0]].data as Float32Array)[0];
    },
    release: () => session.release(),
  };
}

export interface CheckOptions {
  /** FD step. */
  h?: number;
  /** Coordinates checked per parameter (random subset when larger). */
  maxCoords?: number;
  /** "eval": FD through the eval model on onnxruntime-node (fast); "training": through the training graph (BN batch stats). */
  fdVia?: 'eval' | 'training';
  /** The FD noise floor (absolute); see below. */
  atol?: number;
  /** Relative to the largest gradient of the same tensor among the checked coordinates. */
  rtol?: number;
  /**
   * Parameters whose gradient is zero by the math (an attention key's bias: softmax ignores a shift shared by a query's
   * scores): their analytic gradient must be ~0 (≤ 1e-5) and their FD within the noise, instead of above it.
   */
  zeroGradient?: readonly string[];
}

/**
 * Builds the graphs, runs one training step and compares every trainable parameter's gradient with central finite
 * differences. Tolerance: float32 loss evaluations carry ~1e-7·|L|·(terms) rounding, so the FD quotient with
 * h = 1e-3 has an error around 1e-4..5e-4 for losses of magnitude ~1..10; the truncation error is O(h²·f''') ≈ 1e-6.
 * Each coordinate may differ by atol (5e-4, that noise) + rtol (2e-2) × the largest |gradient| of its tensor among the
 * checked coordinates, so a small tensor's error is judged against its own scale; and every tensor's gradient must
 * stand above the noise (largest |FD| ≥ 1.5 × atol), so that a gradient wrongly zero misses its tolerance by a third
 * or more instead of passing as "within atol" (the old absolute 5e-3 let any gradient below it pass as zero).
 */
export async function gradCheck(opts: TrainingGraphsOptions, feeds: Record<string, Feed>, o: CheckOptions = {}): Promise<{ maxErr: number; checked: number; loss: number }> {
  const graphs = buildTrainingGraphs({ ...opts, exposeGradients: true });
  const h = o.h ?? 1e-3;
  const atol = o.atol ?? 5e-4;
  const rtol = o.rtol ?? 2e-2;
  const a = await analyticGradients(graphs, feeds);
  const params = Object.fromEntries(graphs.parameters.map((p) => [p.name, Float32Array.from(p.data)]));
  let evalLoss: (p: Record<string, Float32Array>) => Promise<number>;
  let releaseEval = async () => {};
  if ((o.fdVia ?? 'eval') === 'eval') {
    const s = await createInferenceSession(encodeModel(graphs.evalModel));
    releaseEval = () => s.release();
    const dims = Object.fromEntries(graphs.parameters.map((p) => [p.name, p.dims]));
    evalLoss = async (p) => {
      const f: Record<string, { data: Float32Array; shape: number[] }> = {};
      for (const [k, v] of Object.entries(feeds)) f[k] = { data: v.data, shape: v.dims };
      for (const name of s.inputNames) if (p[name]) f[name] = { data: p[name], shape: dims[name] };
      return (await s.run(f, [graphs.evalOutputs[0]]))[graphs.evalOutputs[0]].data[0];
    };
  } else {
    evalLoss = a.trainLoss;
  }
  let maxErr = 0;
  let checked = 0;
  const failures: string[] = [];
  for (const p of graphs.parameters.filter((q) => q.trainable)) {
    const g = a.grads[p.name];
    const n = p.data.length;
    const max = o.maxCoords ?? 12;
    const coords = n <= max ? [...Array(n).keys()] : Array.from({ length: max }, (_, k) => Math.floor(((k * 7919 + 13) % n)));
    const fds: number[] = [];
    for (const i of coords) {
      const base = params[p.name][i];
      params[p.name][i] = base + h;
      const lp = await evalLoss(params);
      params[p.name][i] = base - h;
      const lm = await evalLoss(params);
      params[p.name][i] = base;
      fds.push((lp - lm) / (2 * h));
    }
    if (o.zeroGradient?.includes(p.name)) {
      coords.forEach((i, k) => {
        checked++;
        if (!(Math.abs(g[i]) <= 1e-5 && Math.abs(fds[k]) <= 10 * atol)) failures.push(`${p.name}[${i}]: zero by the math, but analytic ${g[i]}, FD ${fds[k]}`);
      });
      continue;
    }
    const scale = Math.max(...fds.map(Math.abs), ...coords.map((i) => Math.abs(g[i])));
    if (!(Math.max(...fds.map(Math.abs)) >= 1.5 * atol)) {
      failures.push(`${p.name}: largest |FD gradient| ${Math.max(...fds.map(Math.abs))} is within 1.5 × the noise floor ${atol}: the check cannot tell it from 0`);
    }
    coords.forEach((i, k) => {
      const err = Math.abs(fds[k] - g[i]);
      maxErr = Math.max(maxErr, err);
      checked++;
      if (!(err <= atol + rtol * scale)) failures.push(`${p.name}[${i}]: analytic ${g[i]} vs FD ${fds[k]} (tensor scale ${scale})`);
    });
  }
  await a.release();
  await releaseEval();
  if (failures.length) throw new Error(`gradient mismatch (${failures.length}/${checked}):\n${failures.slice(0, 8).join('\n')}`);
  return { maxErr, checked, loss: a.loss };
}

/** loss = Σ Y ⊙ R for a fixed random R: every output element gets a distinct, non-trivial upstream gradient. */
export function projectLoss(b: GraphBuilder, y: Tensor, seed = 1): Tensor {
  const dims = y.shape as number[];
  const r = b.constant(`${y.name}.projection`, dims, randn(dims.reduce((p, d) => p * d, 1), seed));
  return b.reduceSum(b.mul(y, r, `${y.name}.projected`), undefined, false, 'loss');
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * scale);
}
