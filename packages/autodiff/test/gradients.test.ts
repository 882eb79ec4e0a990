import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Tensor } from '@kqkd/onnx';
import { analyticGradients, gradCheck, projectLoss, randn, type CheckOptions } from './gradcheck.js';
import { attentionBlock, depthwiseBlock, residualBlock } from './blocks.js';
import { buildTrainingGraphs } from '../src/index.js';

/** One op under test: x (input) + p0 (trainable, same shape) feeds `op`, so dX of the op is checked through p0. */
async function checkOp(xShape: number[], op: (b: GraphBuilder, x: Tensor) => Tensor, o: CheckOptions & { seed?: number; xScale?: number } = {}) {
  const b = new GraphBuilder({ seed: o.seed ?? 3 });
  const x = b.input('x', xShape);
  const n = xShape.reduce((p, d) => p * d, 1);
  const p0 = b.param('p0', xShape, randn(n, 11, 0.5));
  const y = op(b, b.add(x, p0, 'x_plus_p0'));
  const loss = projectLoss(b, y);
  b.output(y, 'y');
  return gradCheck({ model: b, loss }, { x: { data: randn(n, 5, o.xScale ?? 1), dims: xShape } }, o);
}

const T = 60_000;
describe('gradients vs finite differences (ORT web training build)', () => {
  it('Conv with stride, pad and bias', async () => {
    const r = await checkOp([2, 3, 6, 6], (b, x) => b.conv(x, 4, { kernel: 3, stride: 2, pad: 1, bias: true, name: 'c' }));
    expect(r.checked).toBeGreaterThan(20);
  }, T);

  it('Conv with dilation 2 and groups 2', async () => {
    await checkOp([2, 4, 7, 7], (b, x) => b.conv(x, 6, { kernel: 3, dilation: 2, group: 2, name: 'c' }));
  }, T);
  it('depthwise Conv', async () => {
    await checkOp([2, 4, 5, 5], (b, x) => b.conv(x, 4, { kernel: 3, group: 4, bias: true, name: 'dw' }));
  }, T);
  for (const [name, f] of [
    ['Relu', (b: GraphBuilder, x: Tensor) => b.relu(x)],
    ['LeakyRelu', (b: GraphBuilder, x: Tensor) => b.leakyRelu(x, 0.2)],
    ['Clip (ReLU6)', (b: GraphBuilder, x: Tensor) => b.relu6(b.mulScalar(x, 4))],
    ['Gelu', (b: GraphBuilder, x: Tensor) => b.gelu(x)],
    ['Sigmoid', (b: GraphBuilder, x: Tensor) => b.sigmoid(x)],
    ['Tanh', (b: GraphBuilder, x: Tensor) => b.tanh(x)],
    ['Sqrt', (b: GraphBuilder, x: Tensor) => b.sqrt(b.addScalar(b.mul(x, x), 1))],
    ['Pow', (b: GraphBuilder, x: Tensor) => b.pow(x, 3)],
    ['Identity', (b: GraphBuilder, x: Tensor) => b.identity(x)],
    ['Softmax', (b: GraphBuilder, x: Tensor) => b.softmax(x, 1)],
    ['ReduceMean', (b: GraphBuilder, x: Tensor) => b.reduceMean(x, [1], false)],
    ['ReduceSum', (b: GraphBuilder, x: Tensor) => b.reduceSum(x, [0, 2], true)],
    ['Reshape', (b: GraphBuilder, x: Tensor) => b.tanh(b.reshape(x, [3, -1]))],
    ['Flatten', (b: GraphBuilder, x: Tensor) => b.tanh(b.flatten(x, 2))],
    ['Transpose', (b: GraphBuilder, x: Tensor) => b.sigmoid(b.transpose(x, [2, 0, 1]))],
    ['Slice', (b: GraphBuilder, x: Tensor) => b.tanh(b.slice(x, [0, 1], [2, 5], [1, 2], [1, 2]))],
    ['Gather', (b: GraphBuilder, x: Tensor) => b.tanh(b.gather(x, [2, 0, 2], 1))],
    ['Concat', (b: GraphBuilder, x: Tensor) => b.concat([b.tanh(x), b.sigmoid(b.slice(x, [0], [1], [1]))], 1)],
  ] as const) {
    it(name, async () => {
      await checkOp([2, 3, 5], f);
    }, T);
  }
  // Ops of torch.onnx.export students (issue 21): new rules, and the forms torch writes for the existing ones.
  it('Erf (torch\'s exact GELU: x · 0.5 · (1 + Erf(x/√2)))', async () => {
    await checkOp([2, 3, 5], (b, x) => b.op('Erf', [x]));
    await checkOp([2, 3, 5], (b, x) => b.mul(b.mulScalar(x, 0.5), b.addScalar(b.op('Erf', [b.mulScalar(x, Math.SQRT1_2)]), 1)));
  }, T);
  it('HardSigmoid (alpha 1/6 as torch exports it, and the ONNX default 0.2) and HardSwish', async () => {
    // xScale 3 puts inputs on both sides of the kinks (±3 for HardSwish/torch HardSigmoid, ±2.5 for alpha 0.2).
    await checkOp([2, 3, 5], (b, x) => b.op('HardSigmoid', [x], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } }), { xScale: 3 });
    await checkOp([2, 3, 5], (b, x) => b.op('HardSigmoid', [x]), { xScale: 3 });
    await checkOp([2, 3, 5], (b, x) => b.op('HardSwish', [x]), { xScale: 3 });
  }, T);
  it('ReLU6 as opset ≥ 11 Clip with min/max input tensors, and Clip with only a min', async () => {
    await checkOp([2, 3, 5], (b, x) => b.op('Clip', [b.mulScalar(x, 4), b.constant('lo', [], [0]), b.constant('hi', [], [6])]));
    await checkOp([2, 3, 5], (b, x) => b.op('Clip', [x, b.constant('lo', [], [-0.2])]));
  }, T);
  it('MatMul of two batched 4-D activations (attention scores) and Softmax on the last axis', async () => {
    await checkOp([2, 2, 3, 4], (b, x) => b.softmax(b.matMul(x, b.transpose(b.tanh(x), [0, 1, 3, 2])), -1));
  }, T);
  it('MaxPool, AveragePool and GlobalAveragePool', async () => {
    await checkOp([2, 2, 6, 6], (b, x) => b.maxPool(x, { kernel: 2, stride: 2 }));
    await checkOp([2, 2, 6, 6], (b, x) => b.averagePool(x, { kernel: 3, stride: 2, pad: 1 }));
    await checkOp([2, 3, 4, 4], (b, x) => b.globalAveragePool(x));
  }, T);
  it('Add/Sub/Mul/Div with numpy broadcasting on both sides', async () => {
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      await checkOp([2, 3, 4], (b, x) => {
        const q = b.param(`q_${op}`, [3, 1], op === 'div' ? [1.5, -2, 1.2] : [0.3, -0.7, 1.1]);
        const r = b.param(`r_${op}`, [4], [0.5, -1.2, 0.8, 2]);
        const y = op === 'div' ? b.div(x, b.add(q, b.constant(`one_${op}`, [1, 1], [0.1]))) : b[op](x, q);
        return b[op === 'div' ? 'mul' : op](r, y);
      });
    }
  }, T);
  it('MatMul batched with broadcasting', async () => {
    await checkOp([2, 3, 4], (b, x) => b.matMul(x, b.param('w', [4, 5], randn(20, 2, 0.5))));
    await checkOp([2, 1, 3, 4], (b, x) => b.matMul(b.param('w', [3, 2, 3], randn(18, 4, 0.5)), x));
  }, T);
  it('Gemm with every transA/transB and broadcast C', async () => {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      await checkOp(ta ? [4, 3] : [3, 4], (b, x) => {
        const w = b.param('w', tb ? [5, 4] : [4, 5], randn(20, 6, 0.5));
        const c = b.param('c', [5], randn(5, 7));
        return b.gemmWith(x, w, c, { transA: ta, transB: tb, alpha: 0.7, beta: 1.3 });
      });
    }
  }, T);
  it('LayerNormalization', async () => {
    await checkOp([2, 3, 6], (b, x) => b.layerNorm(x, { name: 'ln' }));
  }, T);
  it('BatchNormalization in training mode (batch statistics), FD through the training graph', async () => {
    await checkOp([4, 3, 3, 3], (b, x) => b.batchNorm(x, { name: 'bn', jitter: 0.3 }), { fdVia: 'training' });
  }, T);
  it('BatchNormalization with frozen statistics (inference mode), scale/bias trainable', async () => {
    await checkOp([2, 3, 3, 3], (b, x) => b.batchNorm(x, { name: 'bn', jitter: 0.3, frozenStats: true }));
  }, T);
  it('stop-gradient: a detached branch contributes nothing to the gradient', async () => {
    const grads = async (detached: boolean) => {
      const b = new GraphBuilder();
      const x = b.input('x', [2, 3]);
      const h = b.add(x, b.param('p0', [2, 3], randn(6, 11, 0.5)));
      const y = detached ? b.add(b.tanh(h), b.mul(b.detach(b.sigmoid(h)), b.constant('c', [2, 3], randn(6, 4)))) : b.tanh(h);
      const g = buildTrainingGraphs({ model: b, loss: projectLoss(b, y), exposeGradients: true });
      const a = await analyticGradients(g, { x: { data: randn(6, 5), dims: [2, 3] } });
      await a.release();
      return a.grads.p0;
    };
    const [withDetach, without] = [await grads(true), await grads(false)];
    expect(Array.from(withDetach)).toEqual(Array.from(without));
  }, T);
});

describe('losses vs finite differences', () => {
  const setup = (seed: number) => {
    const b = new GraphBuilder({ seed });
    const x = b.input('x', [4, 6]);
    const logits = b.gemm(x, 5, 'head');
    return { b, x, logits };
  };
  const feeds = { x: { data: randn(24, 9), dims: [4, 6] } };
  it('softmax cross-entropy', async () => {
    const { b, logits } = setup(1);
    const loss = b.softmaxCrossEntropy(logits, b.int64Constant('labels', [0, 3, 4, 1]));
    await gradCheck({ model: b, loss }, feeds);
  }, T);
  it('mean squared error', async () => {
    const { b, logits } = setup(2);
    const loss = b.mse(logits, b.constant('target', [4, 5], randn(20, 3)));
    await gradCheck({ model: b, loss }, feeds);
  }, T);
  it('KL divergence with temperature 4 and with logit standardisation, against a frozen teacher', async () => {
    for (const standardize of [false, true]) {
      const { b, x, logits } = setup(3);
      const teacher = b.scope('teacher', () => b.gemm(x, 5, 'head'), { frozen: true });
      const loss = b.klDivergence(logits, teacher, { temperature: 4, standardize });
      const r = await gradCheck({ model: b, loss }, feeds);
      expect(r.loss).toBeGreaterThan(0);
    }
  }, T);
  it('cosine loss', async () => {
    const { b, logits } = setup(4);
    const loss = b.cosineLoss(logits, b.constant('target', [4, 5], randn(20, 5)));
    await gradCheck({ model: b, loss }, feeds);
  }, T);
});

describe('composite blocks vs finite differences', () => {
  it('residual block: conv-BN-ReLU-conv-BN + skip, ReLU, GAP, linear, CE', async () => {
    const { b, loss, feeds } = residualBlock();
    await gradCheck({ model: b, loss }, feeds, { fdVia: 'training', maxCoords: 6 });
  }, T);
  it('depthwise-separable block: dw conv-BN-ReLU6, pw conv, maxpool, linear, CE', async () => {
    const { b, loss, feeds } = depthwiseBlock();
    await gradCheck({ model: b, loss }, feeds, { fdVia: 'training', maxCoords: 6 });
  }, T);
  it('attention block: LN, q/k/v, softmax(qkᵀ/√d)v, projection, residual, GELU MLP', async () => {
    const { b, loss, feeds } = attentionBlock();
    // The key projection's bias adds q·b_k to every score of a query: softmax ignores it, so its gradient is 0.
    await gradCheck({ model: b, loss }, feeds, { maxCoords: 6, zeroGradient: ['attn.k.bias'] });
  }, T);
});
