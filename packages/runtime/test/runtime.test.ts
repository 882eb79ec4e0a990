import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KqkdError, createRng } from '@kqkd/common';
import { GraphBuilder, encodeModel, exposeOutputs, findGeneralizedLayers, loadModel } from '@kqkd/onnx';
import { RuntimeError, createInferenceSession, runFeatureExtraction, type FloatTensor, type InferenceSession } from '../src/index.js';

const tinyCnnPath = resolve(import.meta.dirname, '../../../models/tiny-cnn.onnx');

function randomBatch(n: number, seed: number): FloatTensor {
  const rng = createRng(seed);
  return { data: Float32Array.from({ length: n * 784 }, () => rng.nextNormal()), shape: [n, 1, 28, 28] };
}

describe('tiny-cnn with its generalized layers exposed', () => {
  const model = loadModel(tinyCnnPath);
  const { layers } = findGeneralizedLayers(model);
  const names = layers.map((l) => l.tensor);
  let session: InferenceSession;

  beforeAll(async () => {
    session = await createInferenceSession(encodeModel(exposeOutputs(model, names)), { threads: 2 });
  });
  afterAll(() => session.release());

  it('streams batches and hands every layer with the expected shape to the callback', async () => {
    const seen: { index: number; offset: number; shapes: number[][] }[] = [];
    const pooled: number[][] = [];
    async function* batches() {
      yield randomBatch(3, 1);
      yield randomBatch(2, 2);
    }
    const summary = await runFeatureExtraction(session, {
      inputName: 'input',
      batches: batches(),
      outputs: names,
      onBatch: ({ index, offset, outputs }) => {
        seen.push({ index, offset, shapes: names.map((n) => outputs[n].shape) });
        const flat = outputs.flatten;
        for (let b = 0; b < flat.shape[0]; b++) pooled.push(Array.from(flat.data.subarray(b * 32, (b + 1) * 32)));
      },
    });
    expect(summary).toEqual({ batches: 2, samples: 5 });
    expect(seen.map((s) => [s.index, s.offset])).toEqual([[0, 0], [1, 3]]);
    const expected = (n: number) => [[n, 16, 28, 28], [n, 16, 28, 28], [n, 32, 14, 14], [n, 32, 14, 14], [n, 32]];
    expect(seen[0].shapes).toEqual(expected(3));
    expect(seen[1].shapes).toEqual(expected(2));
    // The declared (symbolic) shapes agree with what ORT produced.
    layers.forEach((l, i) => expect(l.shape!.slice(1)).toEqual(expected(1)[i].slice(1)));
    expect(pooled).toHaveLength(5);
  });

  it('Relu features are non-negative and not all zero', async () => {
    const out = await session.run({ input: randomBatch(2, 3) }, ['relu1', 'block1.relu', 'relu4']);
    for (const t of Object.values(out)) {
      expect(t.data.every((v) => v >= 0)).toBe(true);
      expect(t.data.some((v) => v > 0)).toBe(true);
    }
  });

  it('is deterministic and batch-independent', async () => {
    const x = randomBatch(2, 4);
    const both = await session.run({ input: x }, ['logits']);
    const first = await session.run({ input: { data: x.data.subarray(0, 784), shape: [1, 1, 28, 28] } }, ['logits']);
    for (let i = 0; i < 10; i++) expect(first.logits.data[i]).toBeCloseTo(both.logits.data[i], 5);
  });

  it('readable errors: wrong input shape, unknown output, unknown input name', async () => {
    const bad = { data: new Float32Array(2 * 27 * 27), shape: [2, 1, 27, 27] };
    const failure = runFeatureExtraction(session, { inputName: 'input', batches: [bad], outputs: ['logits'], onBatch: () => {} });
    await expect(failure).rejects.toThrow(RuntimeError);
    await expect(runFeatureExtraction(session, { inputName: 'input', batches: [bad], outputs: ['logits'], onBatch: () => {} }))
      .rejects.toThrow(/failed running <\d+ model bytes> on input "input" \[2, 1, 27, 27\]/);
    await expect(session.run({ input: randomBatch(1, 0) }, ['relu2'])).rejects.toThrow(/graph outputs of .*"relu2"/);
    await expect(runFeatureExtraction(session, { inputName: 'x', batches: [], outputs: ['logits'], onBatch: () => {} }))
      .rejects.toThrow(KqkdError);
    await expect(session.run({ input: { data: new Float32Array(5), shape: [1, 1, 28, 28] } })).rejects.toThrow(/feeds\.input\.shape/);
  });
});

describe('createInferenceSession', () => {
  it('loads from a path and names it in errors', async () => {
    const s = await createInferenceSession(tinyCnnPath);
    expect(s.inputNames).toEqual(['input']);
    expect(s.outputNames).toEqual(['logits']);
    await expect(s.run({ input: { data: new Float32Array(784 * 2), shape: [1, 2, 28, 28] } }))
      .rejects.toThrow(new RegExp(`failed running ${tinyCnnPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} on input "input" \\[1, 2, 28, 28\\]`));
    await s.release();
  });

  it('rejects a missing file, bad bytes and unsupported options', async () => {
    await expect(createInferenceSession('/nonexistent/m.onnx')).rejects.toThrow(/could not load the model \/nonexistent\/m\.onnx/);
    await expect(createInferenceSession(new Uint8Array([1, 2, 3]))).rejects.toThrow(/could not load the model <3 model bytes>/);
    await expect(createInferenceSession(tinyCnnPath, { executionProvider: 'cuda' as 'cpu' })).rejects.toThrow(/one of "cpu" for options\.executionProvider/);
    await expect(createInferenceSession(tinyCnnPath, { threads: 0 })).rejects.toThrow(/options\.threads/);
  });
});

describe('a one-convolution model against a hand-computed forward', () => {
  it('matches within 1e-5', async () => {
    const [cin, cout, h, w, k, stride, pad] = [2, 3, 5, 6, 3, 2, 1];
    const rng = createRng(11);
    const weight = Float32Array.from({ length: cout * cin * k * k }, () => rng.nextNormal());
    const bias = Float32Array.from({ length: cout }, () => rng.nextNormal());
    const b = new GraphBuilder({ name: 'one_conv' });
    const x = b.input('x', ['N', cin, h, w]);
    b.output(b.conv(x, cout, { name: 'conv', kernel: k, stride, pad, bias: true, weight, biasValues: bias }), 'y');
    const session = await createInferenceSession(encodeModel(b.build()));
    const n = 2;
    const input = Float32Array.from({ length: n * cin * h * w }, () => rng.nextNormal());
    const { y } = await session.run({ x: { data: input, shape: [n, cin, h, w] } });
    const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
    expect(y.shape).toEqual([n, cout, oh, ow]);
    for (let s = 0; s < n; s++) for (let o = 0; o < cout; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      let acc = bias[o];
      for (let c = 0; c < cin; c++) for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) {
        const r = i * stride - pad + u;
        const q = j * stride - pad + v;
        if (r < 0 || r >= h || q < 0 || q >= w) continue;
        acc += weight[((o * cin + c) * k + u) * k + v] * input[((s * cin + c) * h + r) * w + q];
      }
      expect(Math.abs(y.data[((s * cout + o) * oh + i) * ow + j] - acc)).toBeLessThan(1e-5);
    }
    await session.release();
  });
});
