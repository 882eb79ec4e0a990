import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '@kqkd/onnx';
import { buildTrainingGraphs } from '../src/index.js';

function smallCnn() {
  const b = new GraphBuilder({ seed: 1 });
  const x = b.input('x', [4, 1, 6, 6]);
  const h = b.relu(b.batchNorm(b.conv(x, 3, { name: 'conv' }), { name: 'bn' }));
  const feat = b.flatten(b.maxPool(h, 2, 2, 'pool'), 1, 'features');
  const logits = b.gemm(feat, 5, 'fc');
  b.output(logits, 'logits');
  const unused = b.gemm(feat, 2, 'unused_head');
  const loss = b.softmaxCrossEntropy(logits, b.int64Constant('labels', [0, 1, 2, 3]), { name: 'loss' });
  return { b, loss, feat, unused };
}

describe('buildTrainingGraphs: training model conventions (ORT-TRAINING.md)', () => {
  it('declares parameters, accumulation buffers, lazy_reset_grad, InPlaceAccumulatorV2 and ordered outputs', () => {
    const { b, loss, feat } = smallCnn();
    const g = buildTrainingGraphs({ model: b, loss, extraOutputs: [feat], trainable: ['conv.weight', 'bn.weight', 'bn.bias', 'fc.weight', 'fc.bias'], exposeGradients: true });
    const graph = g.trainingModel.graph!;
    const inputs = graph.input!.map((i) => i.name);
    expect(inputs.slice(0, 8)).toEqual(['x', 'conv.weight', 'bn.weight', 'bn.bias', 'fc.weight', 'fc.bias', 'bn.running_mean', 'bn.running_var']);
    expect(inputs).toContain('conv.weight_grad.accumulation.buffer');
    expect(inputs[inputs.length - 1]).toBe('lazy_reset_grad');
    const outs = graph.output!.map((o) => o.name);
    expect(outs.slice(0, 4)).toEqual(['loss', 'features', 'bn.running_mean.updated', 'bn.running_var.updated']);
    expect(outs).toContain('fc.weight.gradient');
    expect(outs.filter((o) => o!.endsWith('_grad.accumulation.out'))).toHaveLength(5);
    const acc = graph.node!.filter((n) => n.opType === 'InPlaceAccumulatorV2');
    expect(acc.map((n) => n.input)).toContainEqual(['fc.bias_grad.accumulation.buffer', 'fc.bias_grad', 'lazy_reset_grad']);
    expect(acc.every((n) => n.domain === 'com.microsoft')).toBe(true);
    const seed = graph.initializer!.find((t) => t.name === 'loss_grad')!;
    expect(seed.dataType).toBe(1);
    expect(Array.from(new Float32Array(new Uint8Array(seed.rawData!).buffer))).toEqual([1]);
    expect(graph.node!.some((n) => n.opType === 'BatchNormInternal')).toBe(true);
    expect(graph.node!.some((n) => n.name?.startsWith('unused_head'))).toBe(false); // pruned
    expect(graph.initializer!.some((t) => t.name === 'unused_head.weight')).toBe(false);
    const mpg = graph.node!.find((n) => n.opType === 'MaxPoolGrad')!;
    expect(graph.valueInfo!.find((v) => v.name === mpg.output![0])!.type!.tensorType!.shape!.dim!.map((d) => d.dimValue)).toEqual([4, 3, 6, 6]);
    expect(g.parameters.map((p) => [p.name, p.trainable])).toEqual([
      ['conv.weight', true], ['bn.weight', true], ['bn.bias', true], ['fc.weight', true], ['fc.bias', true],
      ['bn.running_mean', false], ['bn.running_var', false]]);
    expect(g.batchNormStatistics).toEqual([
      { parameter: 'bn.running_mean', output: 'bn.running_mean.updated' }, { parameter: 'bn.running_var', output: 'bn.running_var.updated' }]);
  });

  it('eval model: inference BN on running statistics, parameters as inputs, loss then declared outputs', () => {
    const { b, loss } = smallCnn();
    const g = buildTrainingGraphs({ model: b, loss, trainable: ['conv.weight', 'fc.weight', 'fc.bias'] });
    const graph = g.evalModel.graph!;
    expect(graph.output!.map((o) => o.name)).toEqual(['loss', 'logits']);
    expect(graph.node!.some((n) => n.opType === 'BatchNormalization')).toBe(true);
    expect(graph.node!.some((n) => (n.opType ?? '').endsWith('Grad') || n.opType === 'BatchNormInternal')).toBe(false);
    // frozen BN scale/bias: inference-mode BN in training too (a frozen backbone)
    expect(g.trainingModel.graph!.node!.some((n) => n.opType === 'BatchNormInternal')).toBe(false);
    expect(g.parameters.filter((p) => !p.trainable).map((p) => p.name)).toEqual(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var']);
  });

  it('a frozen teacher inside the graph gets no gradients and no accumulation buffers', () => {
    const b = new GraphBuilder({ seed: 2 });
    const x = b.input('x', [2, 4]);
    const t = b.scope('teacher', () => b.gemm(x, 3, 'fc'), { frozen: true });
    const s = b.gemm(x, 3, 'student');
    const g = buildTrainingGraphs({ model: b, loss: b.klDivergence(s, t, { temperature: 2 }) });
    const ins = g.trainingModel.graph!.input!.map((i) => i.name!);
    expect(ins).toContain('teacher.fc.weight');
    expect(ins.some((n) => n.startsWith('teacher') && n.endsWith('buffer'))).toBe(false);
    expect(g.parameters.filter((p) => p.trainable).map((p) => p.name)).toEqual(['student.weight', 'student.bias']);
  });
});

describe('buildTrainingGraphs: clear errors', () => {
  it('unknown op on the gradient path', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [2, 3]);
    const y = b.op('Elu', [b.add(x, b.param('p', [2, 3], new Float32Array(6)))]);
    expect(() => buildTrainingGraphs({ model: b, loss: b.reduceSum(y, undefined, false) })).toThrow(/Elu node "elu0" but received unknown op "Elu"/);
  });
  it('non-differentiable path to a parameter (Gather indices from a parameter)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [4, 3]);
    const p = b.param('p', [2], [1, 2]);
    const idx = b.cast(p, 7, 'idx');
    const y = b.gather(x, idx, 0);
    expect(() => buildTrainingGraphs({ model: b, loss: b.reduceSum(y, undefined, false) })).toThrow(/differentiable path to the loss .* for parameter "p" but received a path through input 1 \("idx"\) of Gather/);
  });
  it('trainable parameter with no path to the loss, or only behind a stop-gradient', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [2, 3]);
    const p = b.param('p', [2, 3], new Float32Array(6));
    b.param('orphan', [3], new Float32Array(3));
    const y = b.add(x, b.detach(p));
    expect(() => buildTrainingGraphs({ model: b, loss: b.reduceSum(y, undefined, false), trainable: ['orphan'] })).toThrow(/"orphan".*no path/);
    expect(() => buildTrainingGraphs({ model: b, loss: 'nope', trainable: ['p'] })).toThrow(/loss.*"nope"/);
  });
  it('non-scalar loss, symbolic shapes without staticDims, outputs ending in _grad', () => {
    const b = new GraphBuilder();
    const x = b.input('x', ['N', 3]);
    const y = b.add(x, b.param('p', [3], new Float32Array(3)), 'y');
    expect(() => buildTrainingGraphs({ model: b, loss: y })).toThrow(/static shape.*staticDims/);
    expect(() => buildTrainingGraphs({ model: b, loss: y, staticDims: { N: 2 } })).toThrow(/scalar tensor.*\[2, 3\]/);
    const l = b.reduceSum(y, undefined, false, 'l');
    const z = b.identity(y, 'z_grad');
    expect(() => buildTrainingGraphs({ model: b, loss: l, staticDims: { N: 2 }, extraOutputs: [z] })).toThrow(/_grad/);
    expect(buildTrainingGraphs({ model: b, loss: l, staticDims: { N: 2 } }).trainingModel.graph!.input![0].type!.tensorType!.shape!.dim![0].dimValue).toBe(2);
  });
});
