import { describe, expect, it } from 'vitest';
import { DataType, GraphBuilder } from '../src/index.js';

describe('GraphBuilder DSL: shape inference for every op', () => {
  it('infers shapes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [2, 4, 9, 9]);
    expect(b.conv(x, 6, { kernel: 3, stride: 2, pad: 1, dilation: 1, group: 2 }).shape).toEqual([2, 6, 5, 5]);
    expect(b.conv(x, 4, { kernel: 3, dilation: 2 }).shape).toEqual([2, 4, 9, 9]);
    expect(b.conv(x, 4, { kernel: 3, group: 4, pad: 0 }).shape).toEqual([2, 4, 7, 7]);
    for (const f of ['relu', 'relu6', 'gelu', 'sigmoid', 'tanh', 'sqrt', 'identity', 'detach'] as const) expect(b[f](x).shape).toEqual([2, 4, 9, 9]);
    expect(b.leakyRelu(x, 0.1).shape).toEqual([2, 4, 9, 9]);
    expect(b.batchNorm(x).shape).toEqual([2, 4, 9, 9]);
    expect(b.maxPool(x, { kernel: 3, stride: 2, pad: 1 }).shape).toEqual([2, 4, 5, 5]);
    expect(b.averagePool(x, { kernel: 2 }).shape).toEqual([2, 4, 4, 4]);
    expect(b.globalAveragePool(x).shape).toEqual([2, 4, 1, 1]);
    const v = b.param('v', [4, 1, 1], new Float32Array(4));
    for (const f of ['add', 'sub', 'mul', 'div', 'pow'] as const) expect(b[f](x, v).shape).toEqual([2, 4, 9, 9]);
    expect(b.flatten(x).shape).toEqual([2, 324]);
    expect(b.reshape(x, [0, -1, 9]).shape).toEqual([2, 36, 9]);
    expect(b.transpose(x, [0, 2, 3, 1]).shape).toEqual([2, 9, 9, 4]);
    expect(b.concat([x, x], 1).shape).toEqual([2, 8, 9, 9]);
    expect(b.slice(x, [1, -3], [4, 100], [1, 3], [2, 1]).shape).toEqual([2, 2, 9, 3]);
    expect(b.gather(x, [0, 3, 3], 1).shape).toEqual([2, 3, 9, 9]);
    expect(b.softmax(x, 1).shape).toEqual([2, 4, 9, 9]);
    expect(b.reduceMean(x, [2, 3], true).shape).toEqual([2, 4, 1, 1]);
    expect(b.reduceSum(x, [1], false).shape).toEqual([2, 9, 9]);
    expect(b.reduceSum(x, undefined, false).shape).toEqual([]);
    const t = b.input('t', [2, 5, 8]);
    expect(b.layerNorm(t).shape).toEqual([2, 5, 8]);
    expect(b.matMul(t, b.param('w', [3, 1, 8, 7], new Float32Array(168))).shape).toEqual([3, 2, 5, 7]);
    const m = b.input('m', [5, 8]);
    expect(b.gemmWith(m, b.param('g', [6, 8], new Float32Array(48)), undefined, { transB: true }).shape).toEqual([5, 6]);
    expect(b.gemm(m, 3).shape).toEqual([5, 3]);
    const labels = b.int64Constant('labels', [0, 1, 2, 0, 1]);
    const logits = b.gemm(m, 3, 'head');
    expect(b.softmaxCrossEntropy(logits, labels).shape).toEqual([]);
    expect(b.mse(logits, logits).shape).toEqual([]);
    expect(b.klDivergence(logits, logits, { temperature: 4, standardize: true }).shape).toEqual([]);
    expect(b.cosineLoss(logits, logits).shape).toEqual([]);
  });

  it('scopes names, records trainable / frozen parameters and statistics', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [1, 2, 4, 4]);
    b.scope('block1', () => b.batchNorm(b.conv(x, 2, { name: 'conv' }), { name: 'bn' }));
    b.scope('teacher', () => b.conv(x, 2, { name: 'conv' }), { frozen: true });
    expect(b.parameters().map((p) => [p.name, p.trainable, p.statistic])).toEqual([
      ['block1.conv.weight', true, false], ['block1.bn.weight', true, false], ['block1.bn.bias', true, false],
      ['block1.bn.running_mean', false, true], ['block1.bn.running_var', false, true], ['teacher.conv.weight', false, false]]);
    expect(b.freeze('block1.conv')).toBe(1);
    expect(() => b.freeze('nothing')).toThrow(/freeze/);
    expect(b.typeOf('block1.conv').elemType).toBe(DataType.FLOAT);
  });
});

describe('GraphBuilder DSL: build-time shape errors name op, node, input and shapes', () => {
  const b = new GraphBuilder();
  const x = b.input('x', [2, 3, 8, 8]);
  const cases: [string, () => unknown, RegExp][] = [
    ['broadcast', () => b.add(x, b.param('q', [5], new Float32Array(5)), 'bad_add'),
      /Expected a shape broadcastable with input A \[2, 3, 8, 8\] for Add "bad_add" input B but received \[5\]/],
    ['matmul', () => b.matMul(b.input('a', [2, 3]), b.input('bb', [4, 5]), 'mm'), /MatMul "mm" input B but received \[4, 5\].*|last dim of input A \[2, 3\] for MatMul "mm" input B but received \[4, 5\]/],
    ['gemm', () => b.gemmWith(b.input('ga', [2, 3]), b.input('gb', [4, 5]), undefined, { name: 'gm' }), /inner dimension 3 to match input A \[2, 3\].* for Gemm "gm" input B but received \[4, 5\]/],
    ['conv groups', () => b.conv(x, 4, { group: 2, name: 'cg' }), /Conv "cg" input X but received \[2, 3, 8, 8\]/],
    ['conv too small', () => b.conv(x, 4, { kernel: 11, pad: 0, name: 'big' }), /spatial size >= 11.* for Conv "big" input X but received \[2, 3, 8, 8\]/],
    ['reshape', () => b.reshape(x, [5, -1], 'rs'), /384 elements like input X \[2, 3, 8, 8\] for Reshape "rs" input shape but received \[5, -1\]/],
    ['concat', () => b.concat([x, b.input('y', [2, 3, 7, 8])], 1, 'cc'), /input 0 \[2, 3, 8, 8\] for Concat "cc" input 1 but received \[2, 3, 7, 8\]/],
    ['transpose', () => b.transpose(x, [0, 1, 2], 'tp'), /Transpose "tp" attribute perm but received \[0, 1, 2\]/],
    ['slice', () => b.slice(x, [9], [10], [2], [1], 'sl'), /non-empty slice.* for Slice "sl" input data/],
    ['gather axis', () => b.gather(x, [0], 4, 'ga2'), /Gather "ga2" attribute axis/],
    ['softmax axis', () => b.softmax(x, 4, 'sm'), /Softmax "sm" attribute axis/],
    ['layernorm', () => b.layerNormWith(x, b.param('s', [3], new Float32Array(3)), b.param('bi', [8], new Float32Array(8)), { name: 'ln' }), /LayerNormalization "ln" input Scale but received \[3\]/],
    ['cross-entropy labels', () => b.softmaxCrossEntropy(b.input('lg', [2, 5]), b.int64Constant('lb', [1, 2, 3]), { name: 'ce' }), /\[2\].* for SoftmaxCrossEntropyLoss "ce" input labels but received \[3\]/],
    ['kl shapes', () => b.klDivergence(b.input('s1', [2, 5]), b.input('t1', [2, 4]), { name: 'kl' }), /KLDivergence "kl" input teacher but received \[2, 4\]/],
    ['unknown op', () => b.op('NoSuchOp', [x], {}, 'u'), /NoSuchOp node "u"/],
  ];
  for (const [name, f, re] of cases) it(name, () => expect(f).toThrow(re));
});
