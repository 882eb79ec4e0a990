/**
 * The composite blocks both the finite-difference tests (gradients.test.ts) and the lowering tests (lower.test.ts)
 * differentiate: each a small graph with its loss and the input it is fed.
 */
import { GraphBuilder, type Tensor } from '@kqkd/onnx';
import { projectLoss, randn, type Feed } from './gradcheck.js';

export interface Block {
  b: GraphBuilder;
  loss: Tensor;
  feeds: Record<string, Feed>;
}

/** conv-BN-ReLU stem, a residual block (conv-BN-ReLU-conv-BN + skip, ReLU), global average pool, linear, CE. */
export function residualBlock(channels = 4): Block {
  const b = new GraphBuilder({ seed: 7 });
  const x = b.input('x', [4, 3, 6, 6]);
  const stem = b.relu(b.batchNorm(b.conv(x, channels, { name: 'stem' }), { name: 'stem_bn' }));
  const out = b.scope('block1', () => {
    const h = b.relu(b.batchNorm(b.conv(stem, channels, { name: 'conv1' }), { name: 'bn1' }));
    const r = b.batchNorm(b.conv(h, channels, { name: 'conv2' }), { name: 'bn2' });
    return b.relu(b.add(r, stem, 'add'));
  });
  const logits = b.gemm(b.flatten(b.globalAveragePool(out)), 3, 'fc');
  const loss = b.softmaxCrossEntropy(logits, b.int64Constant('labels', [0, 2, 1, 2]));
  return { b, loss, feeds: { x: { data: randn(432, 8), dims: [4, 3, 6, 6] } } };
}

/** Depthwise conv-BN-ReLU6, pointwise conv, max-pool, linear, CE. */
export function depthwiseBlock(): Block {
  const b = new GraphBuilder({ seed: 8 });
  const x = b.input('x', [2, 4, 6, 6]);
  const y = b.scope('dws', () => {
    const dw = b.relu6(b.batchNorm(b.conv(x, 4, { name: 'dw', group: 4 }), { name: 'bn' }));
    return b.conv(dw, 6, { name: 'pw', kernel: 1, bias: true });
  });
  const logits = b.gemm(b.flatten(b.maxPool(y, 3, 3)), 3, 'fc');
  const loss = b.softmaxCrossEntropy(logits, b.int64Constant('labels', [1, 2]));
  return { b, loss, feeds: { x: { data: randn(288, 9), dims: [2, 4, 6, 6] } } };
}

/** Pre-LN attention: LN, q/k/v, softmax(qkᵀ/√d)v, projection, residual, LN + GELU MLP, residual; a projected loss. */
export function attentionBlock(): Block {
  const b = new GraphBuilder({ seed: 9 });
  const x = b.input('x', [2, 3, 8]);
  const y = b.scope('attn', () => {
    const h = b.layerNorm(x, { name: 'ln1' });
    const q = b.linear(h, 8, { name: 'q' });
    const k = b.linear(h, 8, { name: 'k' });
    const v = b.linear(h, 8, { name: 'v' });
    const att = b.softmax(b.mulScalar(b.matMul(q, b.transpose(k, [0, 2, 1])), 1 / Math.sqrt(8)), -1, 'softmax');
    const r = b.add(x, b.linear(b.matMul(att, v), 8, { name: 'proj' }), 'res1');
    const m = b.linear(b.gelu(b.linear(b.layerNorm(r, { name: 'ln2' }), 16, { name: 'fc1' })), 8, { name: 'fc2' });
    return b.add(r, m, 'res2');
  });
  return { b, loss: projectLoss(b, y), feeds: { x: { data: randn(48, 10), dims: [2, 3, 8] } } };
}
