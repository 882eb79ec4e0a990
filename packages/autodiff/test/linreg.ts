/**
 * A hand-built linear regression for the training-session tests (Gemm + MSE, standard-op gradients written by hand,
 * InPlaceAccumulatorV2 and per-parameter `<p>.gradient` outputs), so every number has a float64 closed form.
 */
import { expect } from 'vitest';
import { createRng } from '@kqkd/common';
import { encodeModel, type NodeProto, type TensorProto, type ValueInfoProto } from '@kqkd/onnx';
import { buildOptimizerModel, gradientOutputName, writeCheckpoint, type LrSchedule, type OptimizerConfig } from '../src/index.js';
import { createTrainingSession, type TrainingSession } from '@kqkd/runtime';

/** Rows of a full batch, input features, outputs. */
export const N = 8, D = 3, O = 2;

const vi = (name: string, elemType: number, dims: (number | string)[]): ValueInfoProto => ({
  name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
});
const nd = (opType: string, input: string[], output: string[], attrs: Record<string, number> = {}, domain = ''): NodeProto => ({
  opType, input, output, domain, name: `${opType}_${output[0]}`,
  attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: 2, i })),
});
const f32 = (name: string, dims: number[], values: number[]): TensorProto =>
  ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(values).buffer) });
const i64 = (name: string, values: number[]): TensorProto =>
  ({ name, dims: [values.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
const model = (nodes: NodeProto[], input: ValueInfoProto[], output: ValueInfoProto[], initializer: TensorProto[] = []) => encodeModel({
  irVersion: 8, producerName: 'kqkd-test',
  opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
  graph: { name: 'linreg', node: nodes, input, output, initializer },
});

/**
 * pred = x·Wᵀ + b; loss = factor · mean((pred − y)²) over a batch of `rows`; gradients by hand; per-parameter
 * gradient outputs for the mirror. `factor` 2 on 8 rows is the SUM of the mean losses of the two 4-row halves.
 */
export function trainingModel(rows = N, factor = 1): Uint8Array {
  const params: [string, number[]][] = [['W', [O, D]], ['b', [O]]];
  return model([
    nd('Gemm', ['x', 'W', 'b'], ['pred'], { transB: 1 }),
    nd('Sub', ['pred', 'y'], ['diff']),
    nd('Mul', ['diff', 'diff'], ['sq']),
    nd('ReduceMean', ['sq'], ['mse'], { keepdims: 0 }),
    nd('Mul', ['mse', 'factor'], ['loss']),
    // d loss / d pred = factor · 2 (pred − y) / (rows·O), times the seed 1.0
    nd('Mul', ['diff', 'two_over_n'], ['pred_grad_unit']),
    nd('Mul', ['pred_grad_unit', 'loss_grad'], ['pred_grad']),
    nd('Gemm', ['pred_grad', 'x'], ['W_grad'], { transA: 1 }),
    nd('ReduceSum', ['pred_grad', 'axes0'], ['b_grad'], { keepdims: 0 }),
    ...params.map(([p]) => nd('Identity', [`${p}_grad`], [gradientOutputName(p)])),
    ...params.map(([p]) => nd('InPlaceAccumulatorV2', [`${p}_grad.accumulation.buffer`, `${p}_grad`, 'lazy_reset_grad'],
      [`${p}_grad.accumulation.out`], {}, 'com.microsoft')),
  ], [
    vi('x', 1, [rows, D]), vi('y', 1, [rows, O]),
    ...params.map(([p, d]) => vi(p, 1, d)),
    ...params.map(([p, d]) => vi(`${p}_grad.accumulation.buffer`, 1, d)),
    vi('lazy_reset_grad', 9, [1]),
  ], [
    vi('loss', 1, []),
    ...params.map(([p, d]) => vi(gradientOutputName(p), 1, d)),
    ...params.map(([p]) => vi(`${p}_grad.accumulation.out`, 9, [1])),
  ], [f32('two_over_n', [], [(factor * 2) / (rows * O)]), f32('factor', [], [factor]), f32('loss_grad', [], [1]), i64('axes0', [0])]);
}

export function evalModel(): Uint8Array {
  return model([
    nd('Gemm', ['x', 'W', 'b'], ['pred'], { transB: 1 }),
    nd('Sub', ['pred', 'y'], ['diff']),
    nd('Mul', ['diff', 'diff'], ['sq']),
    nd('ReduceMean', ['sq'], ['loss'], { keepdims: 0 }),
  ], [vi('x', 1, ['n', D]), vi('y', 1, ['n', O]), vi('W', 1, [O, D]), vi('b', 1, [O])],
  [vi('loss', 1, []), vi('pred', 1, ['n', O])]);
}

export const W0 = Float32Array.from([0.3, -0.2, 0.5, -0.7, 0.1, 0.25]);
export const B0 = Float32Array.from([0.05, -0.1]);
export const initialCheckpoint = () => writeCheckpoint({
  trainable: [{ name: 'W', dims: [O, D], data: W0 }, { name: 'b', dims: [O], data: B0 }],
  properties: { strings: [{ name: 'model', value: 'linreg' }] },
});

export type Batch = { x: { data: Float32Array; shape: number[] }; y: { data: Float32Array; shape: number[] } };

export function batch(seed: number): Batch {
  const rng = createRng(seed);
  const x = Float32Array.from({ length: N * D }, () => rng.nextNormal());
  const y = Float32Array.from({ length: N * O }, () => rng.nextNormal());
  return { x: { data: x, shape: [N, D] }, y: { data: y, shape: [N, O] } };
}

/** Rows [k·n, (k+1)·n) of a batch, n = N / parts. */
export function part(b: Batch, k: number, parts: number): Batch {
  const n = N / parts;
  return {
    x: { data: b.x.data.slice(k * n * D, (k + 1) * n * D), shape: [n, D] },
    y: { data: b.y.data.slice(k * n * O, (k + 1) * n * O), shape: [n, O] },
  };
}

/** Gradient of factor · MSE (mean over the batch's rows) in float64, parameters laid out [W (row-major), b]. */
export function closedFormGradient(params: ArrayLike<number>, b: Batch, factor = 1): Float64Array {
  const rows = b.x.shape[0];
  const g = new Float64Array(O * D + O);
  for (let n = 0; n < rows; n++) {
    for (let o = 0; o < O; o++) {
      let pred = params[O * D + o];
      for (let d = 0; d < D; d++) pred += params[o * D + d] * b.x.data[n * D + d];
      const dp = (factor * 2 * (pred - b.y.data[n * O + o])) / (rows * O);
      for (let d = 0; d < D; d++) g[o * D + d] += dp * b.x.data[n * D + d];
      g[O * D + o] += dp;
    }
  }
  return g;
}

export async function open(optimizer: OptimizerConfig, schedule: LrSchedule, checkpoint = initialCheckpoint(),
  training = trainingModel()): Promise<TrainingSession> {
  return createTrainingSession({
    checkpoint, trainingModel: training, evalModel: evalModel(), optimizerModel: buildOptimizerModel(optimizer, schedule),
  });
}

export const expectClose = (actual: Float32Array, expected: Float64Array, rel = 2e-6) => {
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected[i])) + 1e-7);
  }
};
