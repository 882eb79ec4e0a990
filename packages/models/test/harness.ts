/**
 * Test harness: trains a zoo model a few AdamW steps through the ONNX Runtime web training build (artifacts from
 * @kqkd/autodiff), then exports the plain inference model with the trained parameters and BN statistics.
 * BN running statistics are fed as graph inputs (`<stat>.feed`), as @kqkd/distill does, because the web runtime never
 * writes them back.
 */
import {
  buildOptimizerModel, buildTrainingGraphs, parameterLayout, splitParameters, writeCheckpoint, type CheckpointTensor,
} from '@kqkd/autodiff';
import { DataType, encodeModel, type ModelProto } from '@kqkd/onnx';
import { createTrainingSession } from '@kqkd/runtime';
import { buildZooModel, type BuildZooModelOptions, type BuiltZooModel } from '../src/index.js';

const FEED = '.feed';

function inputsToFeeds(model: ModelProto, names: ReadonlySet<string>): void {
  const g = model.graph!;
  for (const vi of g.input ?? []) if (names.has(vi.name!)) vi.name = `${vi.name}${FEED}`;
  for (const n of g.node ?? []) n.input = (n.input ?? []).map((i) => (names.has(i) ? `${i}${FEED}` : i));
}

/** A fresh inference model of `name` with these parameter/statistic values as initializers (all required). */
export function withValues(name: string, options: BuildZooModelOptions, tensors: readonly CheckpointTensor[]): ModelProto {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const fresh = buildZooModel(name, { ...options, initialize: false });
  const model = fresh.model;
  const missing = fresh.builder.parameters().filter((p) => !byName.has(p.name)).map((p) => p.name);
  if (missing.length) throw new Error(`no values for ${missing.join(', ')}`);
  for (const init of model.graph!.initializer ?? []) {
    const t = byName.get(init.name!);
    if (!t) continue;
    init.rawData = new Uint8Array(t.data.slice().buffer);
    init.floatData = [];
    byName.delete(init.name!);
  }
  if (byName.size > 0) throw new Error(`values for tensors the model lacks: ${[...byName.keys()].join(', ')}`);
  return model;
}

export interface TrainRun {
  built: BuiltZooModel;
  losses: number[];
  x: Float32Array;
  evalLogits: Float32Array;
  exported: ModelProto;
}

export async function trainFewSteps(name: string, o: { input: [number, number, number]; classes: number; width: number; batch: number; steps: number; lr: number }): Promise<TrainRun> {
  const options: BuildZooModelOptions = { input: o.input, classes: o.classes, width: o.width, seed: 1 };
  const built = buildZooModel(name, options);
  const g = built.builder;
  const labels = g.input('labels', ['N'], DataType.INT64);
  const loss = g.softmaxCrossEntropy(built.logits, labels, { name: 'loss' });
  const graphs = buildTrainingGraphs({ model: g, loss, staticDims: { N: o.batch }, evalOutputs: ['logits'] });
  const statNames = new Set(graphs.batchNormStatistics.map((s) => s.parameter));
  inputsToFeeds(graphs.trainingModel, statNames);
  inputsToFeeds(graphs.evalModel, statNames);
  const trainable: CheckpointTensor[] = graphs.parameters.filter((p) => p.trainable).map((p) => ({ name: p.name, dims: p.dims, data: p.data.slice() }));
  const frozen: CheckpointTensor[] = graphs.parameters.filter((p) => !p.trainable && !statNames.has(p.name)).map((p) => ({ name: p.name, dims: p.dims, data: p.data.slice() }));
  const stats: CheckpointTensor[] = graphs.parameters.filter((p) => statNames.has(p.name)).map((p) => ({ name: p.name, dims: p.dims, data: p.data.slice() }));
  const session = await createTrainingSession({
    checkpoint: writeCheckpoint({ trainable, frozen }), trainingModel: encodeModel(graphs.trainingModel),
    evalModel: encodeModel(graphs.evalModel),
    optimizerModel: buildOptimizerModel({ kind: 'adamw', weightDecay: 0.01 }, { kind: 'constant', lr: o.lr }), threads: 1,
  });
  try {
    const [C, H, W] = o.input;
    const n = o.batch * C * H * W;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + 0.5 * Math.cos(i * 0.011));
    const y = BigInt64Array.from({ length: o.batch }, (_, i) => BigInt(i % o.classes));
    const statFeeds = () => Object.fromEntries(stats.map((s) => [`${s.name}${FEED}`, { data: s.data, shape: [...s.dims] }]));
    const lossName = graphs.trainingOutputs[0];
    const losses: number[] = [];
    for (let s = 0; s < o.steps; s++) {
      await session.lazyResetGrad();
      const out = await session.trainStep({ input: { data: x, shape: [o.batch, C, H, W] }, labels: { data: y, shape: [o.batch] }, ...statFeeds() });
      losses.push(out[lossName].data[0]);
      for (const st of graphs.batchNormStatistics) stats.find((t) => t.name === st.parameter)!.data = out[st.output].data.slice();
      await session.optimizerStep();
    }
    const evalOut = await session.evalStep({ input: { data: x, shape: [o.batch, C, H, W] }, ...statFeeds() });
    const layout = parameterLayout(graphs.trainingModel, { trainable });
    const params = splitParameters(layout, await session.getParameters());
    const exported = withValues(name, options, [...params, ...frozen, ...stats]);
    return { built, losses, x, evalLogits: evalOut.logits.data, exported };
  } finally {
    await session.release();
  }
}
