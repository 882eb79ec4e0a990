/**
 * The training build loader and TrainingSession wrapper on their own (end-to-end optimizer/resume tests that need
 * the artifact builders live in packages/autodiff/test/artifacts-training.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { encodeModel, type NodeProto, type ValueInfoProto } from '@kqkd/onnx';
import {
  GLUE_PATCHES, RuntimeError, applyGluePatches, createTrainingSession, decodeWasmException, loadTrainingRuntime,
} from '../src/index.js';

/** Checkpoint (version 2) with W [2, 3] = [0.3, −0.2, 0.5, −0.7, 0.1, 0.25] and b [2] = [0.05, −0.1], no frozen params. */
const CHECKPOINT = new Uint8Array(Buffer.from(
  'DAAAAE9EVEMAAAAA9P///xAAAAACAAAACAAMAAgABAAIAAAACAAAAAgAAAAAAAAAAgAAAEgAAAAEAAAAzv///xAAAAABAAAAFAAAABwAAAAIAAAAzcxMPc3M'
  + 'zL0BAAAAAgAAAAAAAAABAAAAYgAOABQAEAAAAAwACAAEAA4AAAAQAAAAAQAAACQAAAA0AAAAGAAAAJqZmT7NzEy+AAAAPzMzM7/NzMw9AACAPgIAAAACAAAAAA'
  + 'AAAAMAAAAAAAAAAQAAAFcAAAA=', 'base64'));

const vi = (name: string, elemType: number, dims: number[]): ValueInfoProto =>
  ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
const nd = (opType: string, input: string[], output: string[], attrs: Record<string, number> = {}, domain = ''): NodeProto => ({
  opType, input, output, domain, name: `${opType}_${output[0]}`, attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: 2, i })),
});
const model = (node: NodeProto[], input: ValueInfoProto[], output: ValueInfoProto[]) => encodeModel({
  irVersion: 8, opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
  graph: { name: 'g', node, input, output, initializer: [] },
});

/** loss = sum(x·Wᵀ + b); gradients: W_grad = 1ᵀx, b_grad = N·1 (via ReduceSum of ones). */
function trainingModel(): Uint8Array {
  return model([
    nd('Gemm', ['x', 'W', 'b'], ['pred'], { transB: 1 }),
    nd('ReduceSum', ['pred'], ['loss'], { keepdims: 0 }),
    nd('Shape', ['pred'], ['pred_shape']),
    nd('ConstantOfShape', ['pred_shape'], ['ones']),
    nd('Gemm', ['ones', 'x'], ['W_grad'], { transA: 1 }),
    nd('ReduceSum', ['ones'], ['b_grad_2d'], { keepdims: 0 }),
    nd('Expand', ['b_grad_2d', 'b_shape'], ['b_grad']),
    nd('Shape', ['b'], ['b_shape']),
    nd('InPlaceAccumulatorV2', ['W_grad.accumulation.buffer', 'W_grad', 'lazy_reset_grad'], ['W_grad.accumulation.out'], {}, 'com.microsoft'),
    nd('InPlaceAccumulatorV2', ['b_grad.accumulation.buffer', 'b_grad', 'lazy_reset_grad'], ['b_grad.accumulation.out'], {}, 'com.microsoft'),
  ], [
    vi('x', 1, [4, 3]), vi('W', 1, [2, 3]), vi('b', 1, [2]),
    vi('W_grad.accumulation.buffer', 1, [2, 3]), vi('b_grad.accumulation.buffer', 1, [2]), vi('lazy_reset_grad', 9, [1]),
  ], [vi('loss', 1, []), vi('pred', 1, [4, 2]), vi('W_grad.accumulation.out', 9, [1]), vi('b_grad.accumulation.out', 9, [1])]);
}

const X = { data: Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2), shape: [4, 3] };

describe('training build loader', () => {
  it('applies the glue patches to the installed 1.19.2 build and loads it with one thread', () => {
    const rt = loadTrainingRuntime();
    expect(rt.version).toBe('1.19.2');
    expect(rt.threads).toBe(1);
    expect(GLUE_PATCHES).toHaveLength(3);
    expect(() => loadTrainingRuntime({ threads: 2 })).toThrow(/already loaded/);
  });

  it('a missing glue patch site names the patch and the version', () => {
    expect(() => applyGluePatches('/* some other glue */', '1.20.0')).toThrow(KqkdError);
    expect(() => applyGluePatches('/* some other glue */', '1.20.0'))
      .toThrow(/glue patch "getContiguousParameters[^"]*" \(written for onnxruntime-web 1\.19\.2\) for onnxruntime-web 1\.20\.0/);
    const twice = GLUE_PATCHES[0].find + GLUE_PATCHES[0].find;
    expect(() => applyGluePatches(twice, '1.19.2')).toThrow(/several sites/);
  });

  it('decodes non-numbers as their message', () => {
    expect(decodeWasmException(new Error('plain'))).toBe('plain');
    expect(decodeWasmException(12)).not.toMatch(/^\d+$/);
  });
});

describe('TrainingSession', () => {
  it('trains, reads and writes parameters', async () => {
    const s = await createTrainingSession({ checkpoint: CHECKPOINT, trainingModel: trainingModel() });
    try {
      expect(s.trainingInputNames).toEqual(['x']);
      expect(s.trainingOutputNames).toEqual(['loss', 'pred']);
      expect(s.parameterCount).toBe(8);
      expect(Array.from(await s.getParameters())).toEqual(Array.from(Float32Array.from([0.3, -0.2, 0.5, -0.7, 0.1, 0.25, 0.05, -0.1])));
      const out = await s.trainStep({ x: X });
      expect(Object.keys(out)).toEqual(['loss', 'pred']);
      expect(out.pred.shape).toEqual([4, 2]);
      // pred = x·Wᵀ + b in float64 from the checkpoint's parameters (W [2, 3] then b [2]), loss = its sum
      const W = [[0.3, -0.2, 0.5], [-0.7, 0.1, 0.25]];
      const b = [0.05, -0.1];
      const want = Array.from({ length: 8 }, (_, k) => {
        const [n, j] = [Math.floor(k / 2), k % 2];
        return b[j] + [0, 1, 2].reduce((acc, i) => acc + X.data[n * 3 + i] * W[j][i], 0);
      });
      want.forEach((v, k) => expect(out.pred.data[k], `pred[${k}]`).toBeCloseTo(v, 5));
      expect(out.loss.data[0]).toBeCloseTo(want.reduce((a, v) => a + v, 0), 5);
      const p = Float32Array.from({ length: 8 }, (_, i) => i / 8);
      await s.setParameters(p);
      expect(Array.from(await s.getParameters())).toEqual(Array.from(p));
      await expect(s.optimizerStep()).rejects.toThrow(/optimizerModel/);
      await expect(s.evalStep({ x: X })).rejects.toThrow(/evalModel/);
    } finally {
      await s.release();
    }
  });

  it('a bad training model gives a readable RuntimeError, never a bare number', async () => {
    const bad = model([nd('NoSuchOp', ['x'], ['loss'])], [vi('x', 1, [4, 3])], [vi('loss', 1, [])]);
    const err = await createTrainingSession({ checkpoint: CHECKPOINT, trainingModel: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^createTrainingSession \(checkpoint \d+ B, training model \d+ B\) failed: ONNX Runtime/);
    expect(msg).toMatch(/NoSuchOp/);
  });

  it('a missing gradient buffer is reported in words (C++ exception decoded from wasm memory)', async () => {
    const noBuffer = model([nd('Gemm', ['x', 'W', 'b'], ['pred'], { transB: 1 }), nd('ReduceSum', ['pred'], ['loss'], { keepdims: 0 })],
      [vi('x', 1, [4, 3]), vi('W', 1, [2, 3]), vi('b', 1, [2])], [vi('loss', 1, [])]);
    const err = await createTrainingSession({ checkpoint: CHECKPOINT, trainingModel: noBuffer }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as Error).message).toMatch(/Gradient buffer input not provided for param/);
  });

  it('a shape mismatch at trainStep names the step and the input shapes, and the session keeps working', async () => {
    const s = await createTrainingSession({ checkpoint: CHECKPOINT, trainingModel: trainingModel() });
    try {
      const err = await s.trainStep({ x: { data: new Float32Array(20), shape: [5, 4] } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeError);
      expect((err as Error).message).toMatch(/^trainStep failed with inputs "x" \[5, 4\]: \D/);
      await s.lazyResetGrad();
      expect((await s.trainStep({ x: X })).loss.data.length).toBe(1);
    } finally {
      await s.release();
    }
  });

  it('validates every argument', async () => {
    await expect(createTrainingSession({ checkpoint: new Uint8Array(0), trainingModel: trainingModel() })).rejects.toThrow(KqkdError);
    await expect(createTrainingSession({ checkpoint: CHECKPOINT, trainingModel: 'model.onnx' as unknown as Uint8Array }))
      .rejects.toThrow(/artifacts.trainingModel/);
    const s = await createTrainingSession({ checkpoint: CHECKPOINT, trainingModel: trainingModel() });
    await expect(s.trainStep({})).rejects.toThrow(/no "x"/);
    await expect(s.trainStep({ x: X, z: X })).rejects.toThrow(/"z"/);
    await expect(s.trainStep({ x: { data: new Float32Array(3), shape: [4, 3] } })).rejects.toThrow(/12 values/);
    await expect(s.trainStep({ x: { data: [1, 2] as unknown as Float32Array, shape: [2] } })).rejects.toThrow(KqkdError);
    await expect(s.setParameters(new Float32Array(3))).rejects.toThrow(/8 values/);
    await s.release();
    await expect(s.getParameters()).rejects.toThrow(/released/);
  });
});
