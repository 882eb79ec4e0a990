/**
 * The distillation losses (src/losses) against float64 references computed here by direct loops on fixed small
 * tensors, evaluated through onnxruntime-node; and the FKD gradient separation (CE through `detachedHead` reaches no
 * backbone parameter, L_F reaches no head parameter) through the real ORT web training build.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeModel, GraphBuilder, type Tensor } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { buildTrainingGraphs } from '@kqkd/autodiff';
import { analyticGradients, randn } from '../../autodiff/test/gradcheck.js';
import {
  alignSpatial, detachedHead, featureLoss, kdLoss, spLoss, vkdLoss, vkdLsLoss,
} from '../src/losses/index.js';
import { getTerm, parseDistillSpec, TERM_KEYS } from '../src/index.js';
import { at, avgPool64, bnRelu64, conv64, map, tokens64, type Map64 } from './reference64.js';

type Feeds = Record<string, { data: Float32Array; dims: number[] }>;

async function evaluate(b: GraphBuilder, outputs: Record<string, Tensor>, feeds: Feeds): Promise<Record<string, Float64Array>> {
  for (const [name, t] of Object.entries(outputs)) b.output(t, name);
  const s = await createInferenceSession(encodeModel(b.build()), { threads: 1 });
  try {
    const f = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, { data: v.data, shape: v.dims }]));
    const out = await s.run(f, Object.keys(outputs));
    return Object.fromEntries(Object.keys(outputs).map((k) => [k, Float64Array.from(out[k].data)]));
  } finally {
    await s.release();
  }
}

// ------------------------------------------------------------------ float64 references (NCHW, row-major)


function mse64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}
function logSoftmax64(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}
const rows = (x: ArrayLike<number>, n: number, c: number) => Array.from({ length: n }, (_, i) => Array.from(x).slice(i * c, (i + 1) * c));
/** T² · mean_n Σ_c p_t (log p_t − log p_s) at temperature T. */
function kd64(s: number[][], t: number[][], T: number): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    const ls = logSoftmax64(s[i].map((v) => v / T));
    const lt = logSoftmax64(t[i].map((v) => v / T));
    for (let c = 0; c < ls.length; c++) total += Math.exp(lt[c]) * (lt[c] - ls[c]);
  }
  return (T * T * total) / s.length;
}
const ce64 = (s: number[][], labels: number[]) => s.reduce((acc, r, i) => acc - logSoftmax64(r)[labels[i]], 0) / s.length;
function standardize64(r: number[]): number[] {
  const mean = r.reduce((a, v) => a + v, 0) / r.length;
  const std = Math.sqrt(r.reduce((a, v) => a + (v - mean) ** 2, 0) / (r.length - 1));
  return r.map((v) => (v - mean) / (1e-7 + std));
}
function normGram64(a: number[][]): number[] {
  const g = a.map((r) => a.map((q) => r.reduce((s, v, k) => s + v * q[k], 0)));
  return g.flatMap((r) => {
    const norm = Math.sqrt(r.reduce((s, v) => s + v * v, 0) + 1e-12);
    return r.map((v) => v / norm);
  });
}

const param = (b: GraphBuilder, name: string) => {
  const p = b.parameters().find((q) => q.name === name);
  if (!p) throw new Error(`no parameter ${name}; have ${b.parameters().map((q) => q.name).join(', ')}`);
  return p.data;
};
const close = (got: number, want: number, rtol = 1e-5) => expect(Math.abs(got - want)).toBeLessThanOrEqual(rtol * Math.max(1, Math.abs(want)));

const T = 60_000;

describe('feature loss L_F vs float64 references', () => {
  it('single-layer-conv: a 4×4→2×2 pooled conv map pair and a token pair (6 → 3 tokens), averaged', async () => {
    const b = new GraphBuilder({ seed: 5 });
    const s0 = b.input('s0', [2, 3, 4, 4]);
    const t0 = b.input('t0', [2, 5, 2, 2]);
    const s1 = b.input('s1', [2, 6, 4]); // tokens [B, T, C]
    const t1 = b.input('t1', [2, 3, 7]);
    const loss = featureLoss(b, [{ student: s0, teacher: t0 }, { student: s1, teacher: t1 }], { projector: 'single-layer-conv' });
    const feeds: Feeds = {
      s0: { data: randn(96, 1), dims: [2, 3, 4, 4] }, t0: { data: randn(40, 2), dims: [2, 5, 2, 2] },
      s1: { data: randn(48, 3), dims: [2, 6, 4] }, t1: { data: randn(42, 4), dims: [2, 3, 7] },
    };
    const got = (await evaluate(b, { loss }, feeds)).loss[0];
    const p0 = avgPool64(conv64(map(feeds.s0.data, 2, 3, 4, 4), param(b, 'feature_loss.pair0.proj.conv.weight'), 5, 1, 0), 2, 2);
    const l0 = mse64(p0.data, feeds.t0.data);
    const p1 = avgPool64(conv64(tokens64(feeds.s1.data, 2, 6, 4), param(b, 'feature_loss.pair1.proj.conv.weight'), 7, 1, 0), 2, 1);
    const l1 = mse64(p1.data, tokens64(feeds.t1.data, 2, 3, 7).data);
    expect(l0).toBeGreaterThan(0.1);
    close(got, (l0 + l1) / 2);
  }, T);

  it('three-layer-conv: 1×1 → BN/ReLU → 3×3 → BN/ReLU → 1×1 at the builder\'s fixed weights', async () => {
    const b = new GraphBuilder({ seed: 6 });
    const s = b.input('s', [2, 3, 4, 4]);
    const t = b.input('t', [2, 4, 4, 4]);
    const loss = featureLoss(b, [{ student: s, teacher: t }], { projector: 'three-layer-conv' });
    const feeds: Feeds = { s: { data: randn(96, 7), dims: [2, 3, 4, 4] }, t: { data: randn(128, 8), dims: [2, 4, 4, 4] } };
    const got = (await evaluate(b, { loss }, feeds)).loss[0];
    const pre = 'feature_loss.pair0.proj';
    let h = conv64(map(feeds.s.data, 2, 3, 4, 4), param(b, `${pre}.conv1.weight`), 4, 1, 0);
    h = bnRelu64(h);
    h = bnRelu64(conv64(h, param(b, `${pre}.conv2.weight`), 4, 3, 1));
    h = conv64(h, param(b, `${pre}.conv3.weight`), 4, 1, 0);
    close(got, mse64(h.data, feeds.t.data));
    // convs without bias; BN scale/bias trainable, running statistics not
    expect(b.parameters().filter((p) => p.trainable).map((p) => p.name).sort()).toEqual(
      ['bn1.bias', 'bn1.weight', 'bn2.bias', 'bn2.weight', 'conv1.weight', 'conv2.weight', 'conv3.weight'].map((n) => `${pre}.${n}`).sort());
  }, T);

  it('pooled alignment 8×8 → 4×4 (student larger), and teacher larger pooled to the student', async () => {
    const b = new GraphBuilder({ seed: 7 });
    const s = b.input('s', [1, 2, 8, 8]);
    const t = b.input('t', [1, 3, 4, 4]);
    const s2 = b.input('s2', [1, 2, 4, 4]);
    const t2 = b.input('t2', [1, 2, 8, 8]);
    const [sa, ta] = alignSpatial(b, s2, t2, 'align_t');
    expect(sa.name).toBe('s2');
    expect(ta.shape).toEqual([1, 2, 4, 4]);
    const loss = featureLoss(b, [{ student: s, teacher: t }], { projector: 'single-layer-conv' });
    const feeds: Feeds = {
      s: { data: randn(128, 9), dims: [1, 2, 8, 8] }, t: { data: randn(48, 10), dims: [1, 3, 4, 4] },
      s2: { data: randn(32, 11), dims: [1, 2, 4, 4] }, t2: { data: randn(128, 12), dims: [1, 2, 8, 8] },
    };
    const out = await evaluate(b, { loss, pooled: ta }, feeds);
    const p = avgPool64(conv64(map(feeds.s.data, 1, 2, 8, 8), param(b, 'feature_loss.pair0.proj.conv.weight'), 3, 1, 0), 2, 2);
    close(out.loss[0], mse64(p.data, feeds.t.data));
    const want = avgPool64(map(feeds.t2.data, 1, 2, 8, 8), 2, 2).data;
    for (let i = 0; i < want.length; i++) close(out.pooled[i], want[i]);
  }, T);

  it('non-integer ratios pool with PyTorch adaptive_avg_pool2d windows (7×7 → 4×4, 6×5 → 4×3), student or teacher side', async () => {
    // adaptive_avg_pool2d by its definition: output i averages inputs floor(i·n/o) … ceil((i+1)·n/o) − 1, per axis.
    const adaptive64 = (x: Map64, oh: number, ow: number): Map64 => {
      const r = map(new Float64Array(x.n * x.c * oh * ow), x.n, x.c, oh, ow);
      for (let n = 0; n < x.n; n++) for (let c = 0; c < x.c; c++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
        const [y0, y1] = [Math.floor((i * x.h) / oh), Math.ceil(((i + 1) * x.h) / oh)];
        const [x0, x1] = [Math.floor((j * x.w) / ow), Math.ceil(((j + 1) * x.w) / ow)];
        let sum = 0;
        for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) sum += at(x, n, c, y, xx);
        r.data[((n * x.c + c) * oh + i) * ow + j] = sum / ((y1 - y0) * (x1 - x0));
      }
      return r;
    };
    const b = new GraphBuilder();
    const t = b.input('t', [2, 3, 7, 7]);
    const s = b.input('s', [2, 3, 4, 4]);
    const [, pooledTeacher] = alignSpatial(b, s, t, 'align_t');
    const s2 = b.input('s2', [1, 2, 6, 5]);
    const [pooledStudent] = alignSpatial(b, s2, b.input('t2', [1, 2, 4, 3]), 'align_s');
    const feeds: Feeds = {
      t: { data: randn(2 * 3 * 49, 21), dims: [2, 3, 7, 7] }, s: { data: randn(2 * 3 * 16, 22), dims: [2, 3, 4, 4] },
      s2: { data: randn(60, 23), dims: [1, 2, 6, 5] }, t2: { data: randn(24, 24), dims: [1, 2, 4, 3] },
    };
    const out = await evaluate(b, { pt: pooledTeacher, ps: pooledStudent }, feeds);
    const wantT = adaptive64(map(feeds.t.data, 2, 3, 7, 7), 4, 4).data;
    const wantS = adaptive64(map(feeds.s2.data, 1, 2, 6, 5), 4, 3).data;
    expect(out.pt.length).toBe(wantT.length);
    for (let i = 0; i < wantT.length; i++) close(out.pt[i], wantT[i]);
    for (let i = 0; i < wantS.length; i++) close(out.ps[i], wantS[i]);
  }, T);

  it('clear errors: crossed sizes, unknown projector, no pairs', () => {
    const b = new GraphBuilder();
    const s = b.input('s', [1, 2, 6, 6]);
    expect(() => alignSpatial(b, s, b.input('t2', [1, 2, 3, 12]))).toThrow(/at least as large/);
    expect(() => featureLoss(b, [{ student: s, teacher: s }], { projector: 'five-layer' as never })).toThrow(/single-layer-conv/);
    expect(() => featureLoss(b, [], { projector: 'single-layer-conv' })).toThrow(/at least one/);
  });
});

describe('feature loss L_F: ViT tokens paired with a CNN map go on their patch grid', () => {
  /** Tokens [B, T, C] on the √T×√T grid, independently: token k at row ⌊k/√T⌋, column k mod √T (row-major). */
  const grid64 = (data: ArrayLike<number>, n: number, t: number, c: number): Map64 => {
    const side = Math.sqrt(t);
    const r = map(new Float64Array(n * c * t), n, c, side, side);
    for (let b = 0; b < n; b++) for (let k = 0; k < t; k++) for (let ch = 0; ch < c; ch++) {
      const [y, x] = [Math.floor(k / side), k % side];
      r.data[((b * c + ch) * side + y) * side + x] = data[(b * t + k) * c + ch];
    }
    return r;
  };

  it('teacher tokens [B, 49, C] vs student map 28×28: student projected and pooled 4×4, tokens on the 7×7 grid', async () => {
    const b = new GraphBuilder({ seed: 31 });
    const s = b.input('s', [2, 3, 28, 28]);
    const t = b.input('t', [2, 49, 5]);
    const loss = featureLoss(b, [{ student: s, teacher: t }], { projector: 'single-layer-conv' });
    const feeds: Feeds = { s: { data: randn(2 * 3 * 784, 32), dims: [2, 3, 28, 28] }, t: { data: randn(2 * 49 * 5, 33), dims: [2, 49, 5] } };
    const got = (await evaluate(b, { loss }, feeds)).loss[0];
    const p = avgPool64(conv64(map(feeds.s.data, 2, 3, 28, 28), param(b, 'feature_loss.pair0.proj.conv.weight'), 5, 1, 0), 4, 4);
    const want = mse64(p.data, grid64(feeds.t.data, 2, 49, 5).data);
    expect(want).toBeGreaterThan(0.1);
    close(got, want);
  }, T);

  it('student tokens [B, 49, C] vs teacher map 14×14: the student grid projected, the teacher pooled 2×2 to 7×7', async () => {
    const b = new GraphBuilder({ seed: 34 });
    const s = b.input('s', [2, 49, 4]);
    const t = b.input('t', [2, 6, 14, 14]);
    const loss = featureLoss(b, [{ student: s, teacher: t }], { projector: 'single-layer-conv' });
    const feeds: Feeds = { s: { data: randn(2 * 49 * 4, 35), dims: [2, 49, 4] }, t: { data: randn(2 * 6 * 196, 36), dims: [2, 6, 14, 14] } };
    const got = (await evaluate(b, { loss }, feeds)).loss[0];
    const p = conv64(grid64(feeds.s.data, 2, 49, 4), param(b, 'feature_loss.pair0.proj.conv.weight'), 6, 1, 0);
    const want = mse64(p.data, avgPool64(map(feeds.t.data, 2, 6, 14, 14), 2, 2).data);
    expect(want).toBeGreaterThan(0.1);
    close(got, want);
  }, T);

  it('tokens vs tokens (and vs flat or 1×1 features) keep the [B, C, T, 1] graph, byte for byte', () => {
    const b = new GraphBuilder({ seed: 37 });
    const pairs = [
      { student: b.input('s0', [2, 6, 4]), teacher: b.input('t0', [2, 3, 7]) }, // tokens ↔ tokens
      { student: b.input('s1', [2, 5]), teacher: b.input('t1', [2, 4, 3]) }, // flat ↔ tokens
      { student: b.input('s2', [2, 9, 4]), teacher: b.input('t2', [2, 3, 1, 1]) }, // tokens ↔ 1×1 map
    ];
    b.output(featureLoss(b, pairs, { projector: 'three-layer-conv' }), 'loss');
    const model = b.build();
    const pair0 = model.graph.node.filter((n) => n.name?.startsWith('feature_loss/pair0/') || n.name?.startsWith('feature_loss.pair0.'));
    expect(pair0.slice(0, 5).map((n) => n.opType)).toEqual(['Transpose', 'Reshape', 'Identity', 'Transpose', 'Reshape']);
    // sha256 of the model the code before the patch-grid layout built (commit 7afc32e), same seed and inputs
    expect(createHash('sha256').update(encodeModel(model)).digest('hex')).toBe('c121331a8f0ec1ef15df4e7232d4e0dc226537e9bd4f16f0cd322ed4864ec2cc');
  });

  it('a token count that is not a perfect square, facing a spatial map, is refused naming the feature', () => {
    const b = new GraphBuilder();
    const s = b.input('s', [2, 3, 28, 28]);
    const t = b.input('vit.block7', [2, 50, 8]);
    expect(() => featureLoss(b, [{ student: s, teacher: t }], { projector: 'single-layer-conv' }))
      .toThrow('Expected a perfect-square token count T (patch tokens only, laid out on their √T×√T grid to meet the spatial map '
        + 'on the other side of the pair; a class token is not supported) for teacher feature "vit.block7" but received T = 50 tokens of 8 channels');
    expect(() => featureLoss(b, [{ student: b.input('st', [2, 12, 8]), teacher: b.input('tm', [2, 8, 4, 4]) }], { projector: 'single-layer-conv' }))
      .toThrow(/for student feature "st" but received T = 12 tokens/);
  });
});

describe('logit and relational losses vs float64 references', () => {
  const N = 3;
  const C = 5;
  const sData = Float32Array.from([1.2, -0.4, 2.5, 0.3, -1.1, 0.0, 0.7, -0.2, 1.9, 0.4, -2.0, 3.1, 0.5, 0.5, -0.6]);
  const tData = Float32Array.from([2.2, 0.1, 1.0, -0.3, -0.9, 0.8, 0.9, 0.0, 3.0, -1.0, -1.5, 2.0, 1.5, -0.5, 0.2]);
  const labels = [2, 3, 1];
  const setup = () => {
    const b = new GraphBuilder();
    return { b, s: b.input('s', [N, C]), t: b.input('t', [N, C]), y: b.int64Constant('labels', labels) };
  };
  const feeds: Feeds = { s: { data: sData, dims: [N, C] }, t: { data: tData, dims: [N, C] } };

  it('KL at T = 4 times 16, and VKD = CE + 16·KL(T=4)', async () => {
    const { b, s, t, y } = setup();
    const out = await evaluate(b, { kd: kdLoss(b, s, t), vkd: vkdLoss(b, s, t, y), kdw: kdLoss(b, s, t, { weight: 0.5, name: 'kdw' }) }, feeds);
    const kl = kd64(rows(sData, N, C), rows(tData, N, C), 4);
    expect(kl).toBeGreaterThan(0.05);
    close(out.kd[0], kl);
    close(out.kdw[0], 0.5 * kl);
    close(out.vkd[0], ce64(rows(sData, N, C), labels) + kl);
  }, T);

  it('VKD + logit standardisation (unbiased std, eps 1e-7; CE on raw logits)', async () => {
    const { b, s, t, y } = setup();
    const out = await evaluate(b, { ls: vkdLsLoss(b, s, t, y) }, feeds);
    const kl = kd64(rows(sData, N, C).map(standardize64), rows(tData, N, C).map(standardize64), 4);
    close(out.ls[0], ce64(rows(sData, N, C), labels) + kl);
    // standardisation changes the value (the test is not vacuous)
    expect(Math.abs(kl - kd64(rows(sData, N, C), rows(tData, N, C), 4))).toBeGreaterThan(1e-2);
  }, T);

  it('SP loss on row-normalised batch Gram matrices (Tung & Mori), two pairs summed', async () => {
    const b = new GraphBuilder();
    const s0 = b.input('s0', [4, 3, 2, 2]);
    const t0 = b.input('t0', [4, 5]);
    const s1 = b.input('s1', [4, 6]);
    const t1 = b.input('t1', [4, 2, 3]);
    const f: Feeds = {
      s0: { data: randn(48, 21), dims: [4, 3, 2, 2] }, t0: { data: randn(20, 22), dims: [4, 5] },
      s1: { data: randn(24, 23), dims: [4, 6] }, t1: { data: randn(24, 24), dims: [4, 2, 3] },
    };
    const out = await evaluate(b, { sp: spLoss(b, [{ student: s0, teacher: t0 }, { student: s1, teacher: t1 }]) }, f);
    const term = (a: Float32Array, da: number, c: Float32Array, dc: number) => {
      const gs = normGram64(rows(a, 4, da));
      const gt = normGram64(rows(c, 4, dc));
      return gs.reduce((acc, v, i) => acc + (v - gt[i]) ** 2, 0) / 16;
    };
    const want = term(f.s0.data, 12, f.t0.data, 5) + term(f.s1.data, 6, f.t1.data, 6);
    expect(want).toBeGreaterThan(1e-3);
    close(out.sp[0], want);
  }, T);

  it('term registry: "ce" and "kd" build CE and T²·KL (a VKD method sums them); unknown keys are clear errors', async () => {
    expect(TERM_KEYS).toEqual(expect.arrayContaining(['ce', 'kd', 'kd-ls', 'sp', 'feature']));
    const { b, s, t, y } = setup();
    const spec = parseDistillSpec({ method: 'vkd', teacherSha256: '0'.repeat(64), teacherClasses: C });
    const ctx = {
      g: b, spec, student: { logits: s, layers: [], headStartsAfter: 0 }, logits: s, labels: y, batchSize: N, headDetached: false,
      pairs: [], teacherLogits: () => t,
    };
    const out = await evaluate(b, { ce: getTerm('ce').build(ctx), kd: getTerm('kd').build(ctx) }, feeds);
    close(out.ce[0] + out.kd[0], ce64(rows(sData, N, C), labels) + kd64(rows(sData, N, C), rows(tData, N, C), 4));
    close(out.ce[0], ce64(rows(sData, N, C), labels));
    expect(() => getTerm('nope')).toThrow(/kd-ls/);
    expect(() => getTerm('nope')).toThrow(/for loss term but received "nope"/);
  }, T);
});

describe('FKD gradient separation through the ORT web training build', () => {
  /**
   * Backbone (conv-BN-ReLU-conv) → L_F against a cached teacher feature; head = GAP → linear on the DETACHED backbone
   * output → CE. Training graphs for loss = a·L_F + c·CE at (a, c) = (1, 1), (1, 3), (2, 1): the backbone's and the
   * projector's gradients must not depend on c at all (bit-identical), the head's must not depend on a.
   */
  const build = (a: number, c: number) => {
    const b = new GraphBuilder({ seed: 13 });
    const x = b.input('x', [4, 2, 4, 4]);
    const teacher = b.input('teacher', [4, 6, 2, 2]);
    const feat = b.scope('backbone', () => b.conv(b.relu(b.batchNorm(b.conv(x, 4, { name: 'conv1' }), { name: 'bn1' })), 5, { name: 'conv2' }));
    const logits = detachedHead(b, feat, (h) => b.scope('head', () => b.gemm(b.flatten(b.globalAveragePool(h, 'gap')), 3, 'fc')));
    const lf = featureLoss(b, [{ student: feat, teacher }], { projector: 'single-layer-conv' });
    const ce = b.softmaxCrossEntropy(logits, b.int64Constant('labels', [0, 2, 1, 2]), { name: 'ce' });
    const loss = b.add(b.mulScalar(lf, a, 'lf_w'), b.mulScalar(ce, c, 'ce_w'), 'total');
    return buildTrainingGraphs({ model: b, loss, exposeGradients: true });
  };
  const feeds: Feeds = { x: { data: randn(128, 31), dims: [4, 2, 4, 4] }, teacher: { data: randn(96, 32), dims: [4, 6, 2, 2] } };
  const grads = async (a: number, c: number) => {
    const r = await analyticGradients(build(a, c), feeds);
    await r.release();
    return r.grads;
  };

  it('CE gives exactly zero gradient to every backbone parameter; L_F exactly zero to the head', async () => {
    const [base, moreCe, moreLf] = [await grads(1, 1), await grads(1, 3), await grads(2, 1)];
    const names = Object.keys(base);
    const backbone = names.filter((n) => n.startsWith('backbone.'));
    const projector = names.filter((n) => n.startsWith('feature_loss.'));
    const head = names.filter((n) => n.startsWith('head.'));
    expect(backbone.sort()).toEqual(['backbone.bn1.bias', 'backbone.bn1.weight', 'backbone.conv1.weight', 'backbone.conv2.weight']);
    expect(head.sort()).toEqual(['head.fc.bias', 'head.fc.weight']);
    expect(projector).toEqual(['feature_loss.pair0.proj.conv.weight']);
    const nonzero = (g: Float32Array) => g.some((v) => v !== 0);
    for (const n of [...backbone, ...projector]) {
      expect(nonzero(base[n]), n).toBe(true);
      expect(Array.from(moreCe[n]), `${n}: CE reached it`).toEqual(Array.from(base[n]));
      // and L_F does reach it, linearly
      for (let i = 0; i < base[n].length; i++) close(moreLf[n][i], 2 * base[n][i]);
    }
    for (const n of head) {
      expect(nonzero(base[n]), n).toBe(true);
      expect(Array.from(moreLf[n]), `${n}: L_F reached it`).toEqual(Array.from(base[n]));
      for (let i = 0; i < base[n].length; i++) close(moreCe[n][i], 3 * base[n][i]);
    }
  }, T);
});
