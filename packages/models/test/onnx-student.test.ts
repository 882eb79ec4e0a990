/**
 * ONNX students (issue 21, point 2) on the fixtures of models/students/ (exported by Debian's PyTorch 1.13 with
 * models/students/export.py). Kinds of check (CONTRIBUTING "How we test"):
 * - another implementation: the replayed graph run by onnxruntime-node against onnxruntime-node running the ORIGINAL
 *   file (eval exports: same function, shape arithmetic folded), and a training-mode export's replay (BN on running
 *   statistics) against the eval export of the same weights (BN folded by PyTorch);
 * - central finite differences (packages/autodiff/test/gradcheck.ts) through each imported fixture;
 * - PyTorch: three plain-SGD steps of the imported training-mode exports on the native backend against the same steps
 *   in PyTorch from the same weights (losses, parameters, BN running statistics), in onnx-student-torch.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { DataType, GraphBuilder, cloneModel, decodeModel, encodeModel, tensorValues, type ModelProto } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { gradCheck, randn } from '../../autodiff/test/gradcheck.js';
import { loadOnnxStudent } from '../src/index.js';

const DIR = join(__dirname, '..', '..', '..', 'models', 'students');
const FIXTURES = ['resnet_train_op13', 'resnet_eval_op13', 'mobilenet_train_op13', 'mobilenet_eval_op13', 'vit_train_op13', 'vit_eval_op17'] as const;
const file = (f: string) => join(DIR, `${f}.onnx`);
const load = (f: string): ModelProto => decodeModel(readFileSync(file(f)));
const T = 120_000;

/** The student replayed alone: input [N, 1, 28, 28] → logits, as an inference model (BN on running statistics). */
function replayed(source: string | ModelProto): { model: ModelProto; g: GraphBuilder } {
  const s = loadOnnxStudent(source);
  const g = new GraphBuilder({ name: 'student' });
  const x = g.input('input', ['N', 1, 28, 28]);
  g.output(s.build(g, x, { classes: 10 }).logits, 'logits');
  return { model: g.build(), g };
}

async function run(model: ModelProto | Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await createInferenceSession(model instanceof Uint8Array ? model : encodeModel(model));
  try {
    const out = await s.run({ input: { data: x, shape: [n, 1, 28, 28] } });
    return Float32Array.from(out[s.outputNames[0]].data);
  } finally {
    await s.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function reshapeTarget(model: ModelProto, output: string): number[] {
  const node = model.graph!.node!.find((n) => n.opType === 'Reshape' && n.output![0] === output)!;
  const init = model.graph!.initializer!.find((t) => t.name === node.input![1])!;
  return tensorValues(init)!;
}

describe('ONNX students: import', () => {
  it('reads input shape, classes, parameters (ONNX names, BN statistics), Dropout ratios and generalized layers', () => {
    const r = loadOnnxStudent(file('resnet_train_op13'));
    expect(r.info).toMatchObject({ opset: 13, inputShape: [1, 28, 28], classes: 10, batchNorms: 6, dropout: [] });
    // PyTorch's counts for SmallResNet: parameters 5122, BN running mean+var 144 (export.py's model, sum of numel)
    expect([r.info.params, r.info.statistics]).toEqual([5122, 144]);
    expect(r.layers.map((l) => [l.tensor, l.shape])).toEqual([
      ['/Relu_output_0', [8, 14, 14]], ['/layer1/Relu_1_output_0', [8, 14, 14]], ['/layer2/Relu_1_output_0', [16, 7, 7]], ['/Reshape_output_0', [16]],
    ]);
    expect(r.headStartsAfter).toBe(3);
    const { g } = replayed(file('resnet_train_op13'));
    const p = g.parameters();
    expect(p.filter((q) => q.statistic).map((q) => q.name)).toContain('layer2.downsample.1.running_var');
    expect(p.find((q) => q.name === 'layer1.bn1.weight')).toMatchObject({ trainable: true, statistic: false });
    // the values are the file's
    const init = load('resnet_train_op13').graph!.initializer!.find((t) => t.name === 'conv1.weight')!;
    expect(Array.from(p.find((q) => q.name === 'conv1.weight')!.data)).toEqual(tensorValues(init));
    const m = loadOnnxStudent(file('mobilenet_train_op13'));
    expect(m.info.dropout.map((d) => [d.node, +d.ratio.toFixed(6)])).toEqual([['/dropout/Dropout', 0.2]]);
    expect(m.info.notes.join(' ')).toMatch(/Dropout is the identity/);
    const e = loadOnnxStudent(file('resnet_eval_op13'));
    expect(e.info.batchNorms).toBe(0);
    expect(e.info.notes.join(' ')).toMatch(/trains WITHOUT batch normalisation/);
    // torch's eval export shares identical initializers through Identity nodes (the three LayerNorm weights are all
    // ones): the replay gives each its own parameter, so the ViT keeps PyTorch's 3482 parameters in both exports
    expect([loadOnnxStudent(file('vit_eval_op17')).info.params, loadOnnxStudent(file('vit_train_op13')).info.params]).toEqual([3482, 3482]);
    expect(replayed(file('vit_eval_op17')).g.parameters().map((q) => q.name)).toEqual(expect.arrayContaining(['norm.weight', 'block.norm2.bias']));
  });

  it('folds Shape → Gather → Unsqueeze → Concat → Reshape with the batch symbolic (0 = copy, −1 = the one other unknown), and the replay computes what onnxruntime computes on the original file', async () => {
    // x.view(x.size(0), -1) on [N, 16, 1, 1]
    expect(reshapeTarget(replayed(file('resnet_eval_op13')).model, '/Reshape_output_0')).toEqual([0, -1]);
    const vit = replayed(file('vit_eval_op17')).model;
    // patch flatten: Slice(Shape, 0:2) ++ [-1] on [N, 16, 4, 4]; attention: reshape(B, T, 3, heads, C // heads), C // heads from Shape/Gather/Div/Cast
    expect(reshapeTarget(vit, '/Reshape_output_0')).toEqual([0, 16, -1]);
    expect(reshapeTarget(vit, '/block/attn/Reshape_output_0')).toEqual([0, 16, 3, 2, 8]);
    expect(reshapeTarget(vit, '/block/attn/Reshape_1_output_0')).toEqual([0, 16, 16]);
    expect(vit.graph!.node!.filter((n) => n.opType === 'Shape' || n.opType === 'Constant')).toEqual([]);
    for (const f of ['resnet_eval_op13', 'mobilenet_eval_op13', 'vit_eval_op17']) {
      const n = 3;
      const x = randn(n * 784, 17);
      const [want, got] = [await run(readFileSync(file(f)), x, n), await run(replayed(file(f)).model, x, n)];
      expect(Math.max(...want.map(Math.abs)), f).toBeGreaterThan(0.05);
      expect(maxAbsDiff(want, got), f).toBeLessThan(1e-5);
    }
  }, T);

  it('a training-mode export (BN kept, training_mode = 1, Dropout) replays to the function of the eval export (BN folded by PyTorch)', async () => {
    for (const [train, evalFile] of [['resnet_train_op13', 'resnet_eval_op13'], ['mobilenet_train_op13', 'mobilenet_eval_op13'], ['vit_train_op13', 'vit_eval_op17']]) {
      const x = randn(4 * 784, 23);
      const [want, got] = [await run(readFileSync(file(evalFile)), x, 4), await run(replayed(file(train)).model, x, 4)];
      expect(maxAbsDiff(want, got), train).toBeLessThan(2e-5);
    }
  }, T);

  it('refuses an unsupported op before any work, naming the op type, the node and its input shapes', () => {
    const m = cloneModel(load('mobilenet_eval_op13'));
    const gemm = m.graph!.node!.find((n) => n.opType === 'Gemm')!;
    gemm.opType = 'LSTM';
    // an earlier node the replay would refuse on its own: the operator check must come first
    m.graph!.node!.find((n) => n.opType === 'Flatten')!.attribute = [{ name: 'axis', type: 2, i: 7 }];
    expect(() => loadOnnxStudent(m)).toThrow(KqkdError);
    expect(() => loadOnnxStudent(m)).toThrow(/node "\/classifier\/Gemm" \(LSTM, inputs \/Flatten_output_0 \[[^\]]*\], classifier.weight \[10, 16\], classifier.bias \[10\]\).*op type LSTM/);
    gemm.opType = 'Loop';
    expect(() => loadOnnxStudent(m)).toThrow(/\(Loop, inputs .*op type Loop/);
  });

  it('refuses a Reshape target it cannot make static, and a fixed batch dimension, naming them', () => {
    const m = cloneModel(load('resnet_eval_op13'));
    const concat = m.graph!.node!.find((n) => n.opType === 'Concat')!;
    concat.input = [concat.input![0], concat.input![0], concat.input![1]]; // [N, N, -1] on [N, 16, 1, 1]
    expect(() => loadOnnxStudent(m)).toThrow(/node "\/Reshape" \(Reshape\) target shape.*\[N, N, -1\] for input \[N, 16, 1, 1\]/);
    const fixed = cloneModel(load('resnet_eval_op13'));
    fixed.graph!.input![0].type!.tensorType!.shape!.dim![0] = { dimValue: 2 };
    expect(() => loadOnnxStudent(fixed)).toThrow(/batch dimension.*dynamic_axes.*fixed size 2/);
  });

  it('checks the dataset\'s input shape and classes against the model\'s', () => {
    const s = loadOnnxStudent(file('mobilenet_eval_op13'));
    const g = new GraphBuilder();
    expect(() => s.build(g, g.input('input', ['N', 3, 32, 32]), { classes: 10 })).toThrow(/\[C, H, W\] = \[1, 28, 28\].*\[3, 32, 32\]/);
    const h = new GraphBuilder();
    expect(() => s.build(h, h.input('input', ['N', 1, 28, 28]), { classes: 100 })).toThrow(/Expected 10 \(the model's logits\) for ONNX student mobilenet_eval_op13.onnx classes but received the dataset's 100/);
  });
});

/**
 * FD settings per fixture (defaults: h 1e-3, atol 5e-4, rtol 2 %). ReLU kinks crossed by the perturbation make the FD
 * error grow linearly in h where BN (batch 4) couples the whole batch: ResNet's conv1 gradient 1.04 has FD 0.92 / 0.99 /
 * 1.01 at h 3e-3 / 1e-3 / 3e-4 (measured), so h 3e-4 with 5 %. The eval exports' squeeze-excite gradients are ~1e-3:
 * a larger h (2e-3) halves the FD noise, which lets the floor drop to 2e-4.
 */
const FD: Record<string, { h?: number; atol?: number; rtol?: number }> = {
  resnet_train_op13: { h: 3e-4, rtol: 0.05 }, mobilenet_train_op13: {}, vit_train_op13: {},
  resnet_eval_op13: { h: 2e-3, atol: 2e-4 }, mobilenet_eval_op13: { h: 2e-3, atol: 2e-4 }, vit_eval_op17: { h: 2e-3, atol: 2e-4 },
};

describe('ONNX students: gradients vs finite differences (ORT web training build)', () => {
  for (const f of FIXTURES) {
    it(`${f}: every parameter's gradient through the imported graph (batch 4, symbolic N fixed by staticDims)`, async () => {
      const s = loadOnnxStudent(file(f));
      const g = new GraphBuilder({ name: 'student' });
      const x = g.input('input', ['N', 1, 28, 28]);
      const logits = s.build(g, x, { classes: 10 }).logits;
      // loss = Σ logits ⊙ R for a fixed random R [1, 10]: every class gets a distinct upstream gradient
      const r = g.constant('projection', [1, 10], randn(10, 5));
      const loss = g.reduceSum(g.mul(logits, r), undefined, false, 'loss');
      g.output(logits, 'logits');
      const res = await gradCheck({ model: g, loss, staticDims: { N: 4 } }, { input: { data: randn(4 * 784, 9), dims: [4, 1, 28, 28] } },
        // BN exports run BN in training mode (batch statistics): FD through the training graph
        { fdVia: s.info.batchNorms > 0 ? 'training' : 'eval', maxCoords: 6, ...FD[f] });
      expect(res.checked).toBeGreaterThan(40);
    }, T);
  }
});

void DataType;
