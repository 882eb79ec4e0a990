// Small graphs with known generalized layers, built with the package's own builder.
import { GraphBuilder, type Tensor } from '../src/index.js';

/** conv-ReLU, conv-LeakyReLU, maxpool, conv-ReLU, flatten, MLP head (Gemm-ReLU-Gemm). */
export function plainCnn() {
  const b = new GraphBuilder({ name: 'plain', seed: 1 });
  const x = b.input('input', ['N', 1, 8, 8]);
  const a = b.relu(b.conv(x, 4, { name: 'c1', bias: true }), 'a1');
  const l = b.leakyRelu(b.conv(a, 4, { name: 'c2' }), 0.1, 'a2');
  const p = b.maxPool(l, 2, 2, 'pool');
  const c = b.relu(b.conv(p, 8, { name: 'c3' }), 'a3');
  const f = b.flatten(c, 1, 'flat');
  const h = b.relu(b.gemm(f, 16, 'fc1'), 'fc1_relu');
  b.output(b.gemm(h, 3, 'fc2'), 'logits');
  return b.build();
}

/** Stem + a full BasicBlock (conv-BN-ReLU-conv-BN + identity, Add, ReLU) + a downsampling block with 1×1 skip. */
export function residualCnn() {
  const b = new GraphBuilder({ name: 'resnet', seed: 2 });
  const x = b.input('input', ['N', 3, 8, 8]);
  const stem = b.relu(b.batchNorm(b.conv(x, 8, { name: 'stem.conv' }), { name: 'stem.bn' }), 'stem.relu');
  const basic = (inp: Tensor, ch: number, stride: number, name: string) => {
    const h = b.relu(b.batchNorm(b.conv(inp, ch, { name: `${name}.conv1`, stride }), { name: `${name}.bn1` }), `${name}.relu1`);
    const r = b.batchNorm(b.conv(h, ch, { name: `${name}.conv2` }), { name: `${name}.bn2` });
    const skip = stride === 1 ? inp
      : b.batchNorm(b.conv(inp, ch, { name: `${name}.down`, kernel: 1, stride }), { name: `${name}.down_bn` });
    return b.relu(b.add(r, skip, `${name}.add`), `${name}.relu2`);
  };
  const l1 = basic(stem, 8, 1, 'layer1');
  const l2 = basic(l1, 16, 2, 'layer2');
  const f = b.flatten(b.globalAveragePool(l2, 'gap'), 1, 'flatten');
  b.output(b.gemm(f, 5, 'fc'), 'logits');
  return b.build();
}

/** MobileNetV2-style: stem ReLU6, an inverted residual with skip (ends in Add), one without skip, last 1×1. */
export function mobileNetCnn() {
  const b = new GraphBuilder({ name: 'mobilenet', seed: 3 });
  const x = b.input('input', ['N', 3, 8, 8]);
  const stem = b.relu6(b.batchNorm(b.conv(x, 8, { name: 'stem.conv' })), 'stem.relu6');
  const inverted = (inp: Tensor, out: number, stride: number, name: string) => {
    const e = b.relu6(b.batchNorm(b.conv(inp, 16, { name: `${name}.expand`, kernel: 1 })), `${name}.expand_relu6`);
    const d = b.relu6(b.batchNorm(b.conv(e, 16, { name: `${name}.dw`, group: 16, stride })), `${name}.dw_relu6`);
    const p = b.batchNorm(b.conv(d, out, { name: `${name}.project`, kernel: 1 }), { name: `${name}.project_bn` });
    return stride === 1 && out === inp.shape[1] ? b.add(p, inp, `${name}.add`) : p;
  };
  const i1 = inverted(stem, 8, 1, 'ir1');
  const i2 = inverted(i1, 12, 2, 'ir2');
  const last = b.relu6(b.batchNorm(b.conv(i2, 32, { name: 'last.conv', kernel: 1 })), 'last.relu6');
  const f = b.flatten(b.globalAveragePool(last), 1, 'flatten');
  b.output(b.gemm(f, 4, 'classifier'), 'logits');
  return b.build();
}

/**
 * Stem 3×3 conv-BN-ReLU6; a t=1 inverted residual (depthwise first, no expansion) that widens 8→12, so no skip;
 * a MobileNetV1 unit (depthwise-BN-ReLU, pointwise-BN-ReLU: the pointwise conv is NOT linear); Flatten, Gemm.
 * The depthwise convs fold BN into the conv (bias, no BatchNormalization), as exporters do in eval mode.
 */
export function depthwiseCnn() {
  const b = new GraphBuilder({ name: 'depthwise', seed: 5 });
  const x = b.input('input', ['N', 3, 8, 8]);
  const stem = b.relu6(b.batchNorm(b.conv(x, 8, { name: 'stem.conv' })), 'stem.relu6');
  const dw = b.relu6(b.conv(stem, 8, { name: 'b1.dw', group: 8, bias: true }), 'b1.dw_relu6');
  const p = b.batchNorm(b.conv(dw, 12, { name: 'b1.project', kernel: 1 }), { name: 'b1.project_bn' });
  const v1 = b.relu(b.conv(p, 12, { name: 'v1.dw', group: 12, stride: 2, bias: true }), 'v1.dw_relu');
  const pw = b.relu(b.batchNorm(b.conv(v1, 16, { name: 'v1.pw', kernel: 1 })), 'v1.pw_relu');
  const f = b.flatten(b.globalAveragePool(pw), 1, 'flatten');
  b.output(b.gemm(f, 4, 'classifier'), 'logits');
  return b.build();
}

/**
 * Two encoder blocks over [N, 4 tokens, 8], pre-norm (default) or post-norm, then LN, Flatten, Gemm — or, with
 * head 'mean', the token average (ReduceMean over the token axis, keepdims 0) instead of the Flatten.
 */
export function tinyTransformer(postNorm = false, head: 'flatten' | 'mean' = 'flatten') {
  const b = new GraphBuilder({ name: 'vit', seed: 4 });
  const x = b.input('tokens', ['N', 4, 6]);
  let h = b.linear(x, 8, { name: 'embed' });
  for (let k = 0; k < 2; k++) {
    const n = `block${k}`;
    const inA = postNorm ? h : b.layerNorm(h, { name: `${n}.ln1` });
    const q = b.linear(inA, 8, { name: `${n}.q` });
    const kk = b.linear(inA, 8, { name: `${n}.k` });
    const v = b.linear(inA, 8, { name: `${n}.v` });
    const scores = b.softmax(b.mulScalar(b.matMul(q, b.transpose(kk, [0, 2, 1])), 1 / Math.sqrt(8)), -1, `${n}.softmax`);
    const attn = b.linear(b.matMul(scores, v), 8, { name: `${n}.proj` });
    let x1 = b.add(h, attn, `${n}.attn_add`);
    if (postNorm) x1 = b.layerNorm(x1, { name: `${n}.ln1` });
    const inM = postNorm ? x1 : b.layerNorm(x1, { name: `${n}.ln2` });
    const m = b.linear(b.relu(b.linear(inM, 16, { name: `${n}.fc1` }), `${n}.mlp_relu`), 8, { name: `${n}.fc2` });
    h = b.add(x1, m, `${n}.mlp_add`);
    if (postNorm) h = b.layerNorm(h, { name: `${n}.ln2` });
  }
  const z = postNorm ? h : b.layerNorm(h, { name: 'final_ln' });
  const f = head === 'mean' ? b.reduceMean(z, [1], false, 'token_average') : b.flatten(z, 1, 'flatten');
  b.output(b.gemm(f, 10, 'head'), 'logits');
  return b.build();
}

/**
 * Modern activations and a squeeze-excitation gate on a plain CNN: HardSwish as one op (opset 14), SiLU as
 * Sigmoid·Mul, ReLU → squeeze-excitation (pool → 1×1 → ReLU → 1×1 → Sigmoid → Mul), flatten, an MLP head whose
 * hidden activation is GELU in its Erf form (x · (erf(x / √2) + 1) · 0.5).
 */
export function gatedCnn() {
  const b = new GraphBuilder({ name: 'gated', seed: 6 });
  const x = b.input('input', ['N', 1, 8, 8]);
  const h1 = b.op('HardSwish', [b.conv(x, 4, { name: 'c1' })], {}, 'hswish');
  const c2 = b.conv(h1, 4, { name: 'c2' });
  const silu = b.mul(c2, b.sigmoid(c2, 'silu.sigmoid'), 'silu');
  const r = b.relu(b.conv(silu, 8, { name: 'c3' }), 'relu3');
  const squeeze = b.relu(b.conv(b.globalAveragePool(r, 'se.pool'), 2, { name: 'se.fc1', kernel: 1, bias: true }), 'se.relu');
  const gate = b.sigmoid(b.conv(squeeze, 8, { name: 'se.fc2', kernel: 1, bias: true }), 'se.sigmoid');
  const gated = b.mul(r, gate, 'se.scale');
  const f = b.flatten(b.conv(gated, 8, { name: 'c4', stride: 2 }), 1, 'flat');
  const fc1 = b.gemm(f, 16, 'fc1');
  const erf = b.op('Erf', [b.div(fc1, b.constant('sqrt2', [], [Math.SQRT2]), 'gelu.div')], {}, 'gelu.erf');
  const gelu = b.mulScalar(b.mul(fc1, b.addScalar(erf, 1, 'gelu.add'), 'gelu.mul'), 0.5, 'gelu');
  b.output(b.gemm(gelu, 3, 'fc2'), 'logits');
  return b.build();
}
