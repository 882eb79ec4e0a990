/**
 * importSubgraph: which nodes and initializers come over, under which names, frozen or not, and the errors. The
 * numerical check (imported head = original model on the same intermediate tensor, through onnxruntime-node) lives in
 * packages/distill/test/losses-kd-extra.test.ts, since @kqkd/onnx does not depend on the runtime.
 */
import { describe, expect, it } from 'vitest';
import {
  DataType, GraphBuilder, decodeModel, encodeModel, importSubgraph, type ModelProto, type NodeProto,
} from '../src/index.js';

/** A small ResNet-like teacher: conv-BN-ReLU (`feat`) → BN → ReLU → GAP → Flatten → Gemm (the head). */
function cnnTeacher(): { model: ModelProto; feat: string; logits: string } {
  const b = new GraphBuilder({ name: 'teacher', seed: 3 });
  const x = b.input('input', ['N', 3, 4, 4]);
  const feat = b.relu(b.batchNorm(b.conv(x, 6, { name: 'conv' }), { name: 'bn', jitter: 0.2 }), 'feat');
  const h = b.relu(b.batchNorm(feat, { name: 'head_bn', jitter: 0.3 }), 'head_relu');
  const logits = b.gemm(b.flatten(b.globalAveragePool(h, 'avgpool'), 1, 'flatten'), 5, 'fc');
  b.output(logits, 'logits');
  return { model: b.build(), feat: feat.name, logits: 'logits' };
}

/** A ViT-like head: LayerNorm → ReduceMean over tokens → Reshape (int64 shape initializer) → Transpose → MatMul + Add. */
function vitTeacher(): ModelProto {
  const b = new GraphBuilder({ name: 'vit', seed: 4 });
  const x = b.input('tokens', ['N', 6, 8]);
  const blocks = b.relu(b.linear(x, 8, { name: 'block' }), 'block_out');
  const ln = b.layerNorm(blocks, { name: 'ln' });
  const pooled = b.reduceMean(ln, [1], false, 'token_average');
  const r = b.transpose(b.reshape(pooled, [-1, 8, 1], 'to3d'), [0, 2, 1], 'swap');
  b.output(b.reshape(b.linear(r, 4, { name: 'head' }), [-1, 4], 'logits_flat'), 'logits');
  return b.build();
}

const ops = (b: GraphBuilder) => (b.build({ requireOutputs: false }).graph!.node ?? []) as NodeProto[];

describe('importSubgraph', () => {
  it('copies exactly the head of a CNN, prefixed, with frozen parameters and BN statistics', () => {
    const { model, feat, logits } = cnnTeacher();
    const b = new GraphBuilder({ seed: 9 });
    const s = b.input('s', ['N', 6, 2, 2]);
    const out = importSubgraph(b, model, { from: feat, to: logits, input: s, prefix: 'teacher_head' });
    expect(out.name).toBe('teacher_head.logits');
    expect(out.shape).toEqual(['N', 5]);
    expect(ops(b).map((n) => n.opType)).toEqual(['BatchNormalization', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm', 'Identity']);
    expect(ops(b).every((n) => n.name!.startsWith('teacher_head.'))).toBe(true);
    expect(ops(b)[0].input![0]).toBe('s');
    const params = b.parameters();
    expect(params.map((p) => p.name).sort()).toEqual([
      'teacher_head.fc.bias', 'teacher_head.fc.weight', 'teacher_head.head_bn.bias', 'teacher_head.head_bn.running_mean',
      'teacher_head.head_bn.running_var', 'teacher_head.head_bn.weight',
    ]);
    expect(params.every((p) => !p.trainable)).toBe(true);
    expect(params.filter((p) => p.statistic).map((p) => p.name).sort()).toEqual(['teacher_head.head_bn.running_mean', 'teacher_head.head_bn.running_var']);
    // values copied bit for bit
    const orig = model.graph!.initializer!.find((t) => t.name === 'fc.weight')!;
    const copy = params.find((p) => p.name === 'teacher_head.fc.weight')!;
    expect(copy.dims).toEqual([5, 6]);
    expect(Array.from(copy.data)).toEqual(Array.from(new Float32Array(new Uint8Array(orig.rawData!).buffer)));
    // the stem (conv, bn) is not imported
    expect(params.some((p) => p.name.includes('conv'))).toBe(false);
  });

  it('works on a decoded file (Long ints, raw views), with trainable parameters on request', () => {
    const { model, feat } = cnnTeacher();
    const decoded = decodeModel(encodeModel(model));
    const b = new GraphBuilder();
    const out = importSubgraph(b, decoded, { from: feat, to: 'fc', input: b.input('s', [2, 6, 3, 3]), prefix: 'th', trainable: true });
    expect(out.shape).toEqual([2, 5]);
    const params = b.parameters();
    expect(params.filter((p) => p.trainable).map((p) => p.name).sort()).toEqual(['th.fc.bias', 'th.fc.weight', 'th.head_bn.bias', 'th.head_bn.weight']);
    expect(params.filter((p) => p.statistic)).toHaveLength(2);
  });

  it('imports a transformer head: LayerNorm, ReduceMean, Reshape by constant shape, Transpose, MatMul, Add', () => {
    const model = vitTeacher();
    const b = new GraphBuilder();
    const t = b.input('t', ['N', 6, 8]);
    const out = importSubgraph(b, model, { from: 'block_out', to: 'logits', input: t, prefix: 'vh' });
    expect(out.shape).toEqual(['N', 4]);
    expect(ops(b).map((n) => n.opType)).toEqual(['LayerNormalization', 'ReduceMean', 'Reshape', 'Transpose', 'MatMul', 'Add', 'Reshape', 'Identity']);
    // the Reshape target shapes are builder constants, not parameters
    expect(b.parameters().map((p) => p.name).sort()).toEqual(['vh.head.bias', 'vh.head.weight', 'vh.ln.bias', 'vh.ln.weight']);
    // from a graph input works too (the whole model)
    const b2 = new GraphBuilder();
    expect(importSubgraph(b2, model, { from: 'tokens', to: 'logits', input: b2.input('x', [3, 6, 8]), prefix: 'all' }).shape).toEqual([3, 4]);
    expect(b2.parameters().some((p) => p.name === 'all.block.weight')).toBe(true);
  });

  it('Constant nodes, opset-18 ReduceMean axes input, Unsqueeze/Squeeze, Softmax and an omitted optional input', () => {
    const int64 = (name: string, values: number[]) => ({ name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer) });
    const model: ModelProto = {
      irVersion: 8, opsetImport: [{ domain: '', version: 18 }],
      graph: {
        name: 'g',
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }, { dimValue: 2 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
        initializer: [int64('axes', [2])],
        node: [
          { name: 'rm', opType: 'ReduceMean', input: ['x', 'axes'], output: ['m'], attribute: [{ name: 'keepdims', type: 2, i: 0 }] },
          { name: 'k', opType: 'Constant', input: [], output: ['two'], attribute: [{ name: 'value', type: 4, t: { dims: [], dataType: 1, floatData: [2] } }] },
          { name: 'mul', opType: 'Mul', input: ['m', 'two'], output: ['m2'] },
          { name: 'uaxes', opType: 'Constant', input: [], output: ['ua'], attribute: [{ name: 'value_ints', type: 7, ints: [1] }] },
          { name: 'un', opType: 'Unsqueeze', input: ['m2', 'ua'], output: ['u'] },
          { name: 'sq', opType: 'Squeeze', input: ['u', 'ua'], output: ['q'] },
          { name: 'clip', opType: 'Clip', input: ['q', '', 'two'], output: ['c'] },
          { name: 'sm', opType: 'Softmax', input: ['c'], output: ['y'] },
        ],
      },
    };
    const b = new GraphBuilder();
    const out = importSubgraph(b, model, { from: 'x', to: 'y', input: b.input('in', [4, 3, 2]), prefix: 'p' });
    expect(out.shape).toEqual([4, 3]);
    expect(ops(b).map((n) => n.opType)).toEqual(['ReduceMean', 'Mul', 'Reshape', 'Reshape', 'Clip', 'Softmax']);
    expect(b.typeOf('p.two').shape).toEqual([]);
    expect(b.parameters()).toHaveLength(0);
  });

  it('errors name the missing tensor, the extra graph input, the unsupported node, the shape', () => {
    const { model, feat } = cnnTeacher();
    const b = new GraphBuilder();
    const s = b.input('s', ['N', 6, 2, 2]);
    expect(() => importSubgraph(b, model, { from: 'nope', to: 'logits', input: s, prefix: 'a' })).toThrow(/from.*"nope"/);
    expect(() => importSubgraph(b, model, { from: feat, to: 'missing', input: s, prefix: 'a' })).toThrow(/to.*"missing"/);
    expect(() => importSubgraph(b, model, { from: feat, to: 'conv', input: s, prefix: 'a' })).toThrow(/"conv" also depends on the graph input "input"/);
    expect(() => importSubgraph(b, model, { from: feat, to: 'logits', input: b.input('s3', ['N', 7, 2]), prefix: 'a' })).toThrow(/rank of "feat" in the model \[N, 6, 4, 4\].*\[N, 7, 2\]/);
    // wrong channels: the builder names the first node they do not fit
    expect(() => importSubgraph(b, model, { from: feat, to: 'logits', input: b.input('s4', ['N', 7, 2, 2]), prefix: 'b' })).toThrow(/b\.head_bn|b\.fc/);
    expect(() => importSubgraph(b, model, { from: 'logits', to: 'fc', input: b.input('l', ['N', 5]), prefix: 'a' })).toThrow(/graph input "input"/);
    expect(() => importSubgraph(b, model, { from: feat, to: 'logits', input: s, prefix: 'has space' })).toThrow(/prefix/);
    // a node nothing produces
    const broken = decodeModel(encodeModel(model));
    broken.graph!.node = broken.graph!.node!.filter((n) => n.opType !== 'GlobalAveragePool');
    expect(() => importSubgraph(b, broken, { from: feat, to: 'logits', input: s, prefix: 'a' })).toThrow(/tensor "avgpool".*nothing produces it/);
    // an operator it cannot import
    const odd = decodeModel(encodeModel(model));
    odd.graph!.node!.find((n) => n.opType === 'Flatten')!.opType = 'NonMaxSuppression';
    expect(() => importSubgraph(b, odd, { from: feat, to: 'logits', input: s, prefix: 'a' })).toThrow(/node "flatten" \(NonMaxSuppression\)/);
  });
});
