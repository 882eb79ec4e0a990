/** Normalisation: training-mode BatchNormInternal and the BatchNormalization / LayerNormalization gradients. */
import { attrFloat, attrInt } from '@kqkd/onnx';
import { type Rule, In, Out, numel, range, f32, op, reduceSum, reduceMean, reshape } from '../context.js';

export const NORMALIZATION_RULES: Record<string, Rule> = {
  BatchNormInternal(c) {
    // Training-mode BN: batch mean and biased variance over (N, spatial); Y through the fused inference kernel on
    // those statistics; saved_mean / saved_inv_std = 1/√(var + ε); running = momentum·running + (1 − momentum)·batch.
    const [x, scale, bias, rMean, rVar] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4)];
    const xs = c.shape(x);
    const C = xs[1];
    const eps = attrFloat(c.node, 'epsilon', 1e-5);
    const momentum = attrFloat(c.node, 'momentum', 0.9);
    const axes = [0, ...range(2, xs.length)];
    const meanK = reduceMean(c, x, axes, true, 'mean_k');
    const centered = op(c, 'Sub', [x, meanK], 'centered');
    const varK = reduceMean(c, op(c, 'Mul', [centered, centered], 'centered2'), axes, true, 'var_k');
    const mean = reshape(c, meanK, [C], 'mean', Out(c, 3) || undefined);
    const variance = reshape(c, varK, [C], 'var');
    c.em.node('BatchNormalization', [x, scale, bias, mean, variance], [Out(c, 0)], { epsilon: { float: eps } });
    if (Out(c, 4)) {
      op(c, 'Reciprocal', [op(c, 'Sqrt', [op(c, 'Add', [variance, f32(c, 'eps', eps)], 'var_eps')], 'std')], 'inv_std', {}, Out(c, 4));
    }
    const m = f32(c, 'momentum', momentum);
    const m1 = f32(c, 'one_minus_momentum', 1 - momentum);
    const update = (running: string, batch: string, i: number) => {
      if (!Out(c, i)) return;
      op(c, 'Add', [op(c, 'Mul', [running, m], `running${i}_m`), op(c, 'Mul', [batch, m1], `batch${i}_m`)], `running${i}`, {}, Out(c, i));
    };
    update(rMean, mean, 1);
    update(rVar, variance, 2);
  },
  BatchNormalizationGrad(c) {
    // xhat = (X − μ)·σ⁻¹; dβ = Σ dY; dγ = Σ dY·xhat; dX = γσ⁻¹·(dY − dβ/M − xhat·dγ/M), M = N·spatial.
    const [dy, x, scale, mean, invStd] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4)];
    const xs = c.shape(x);
    const C = xs[1];
    const bshape = [1, C, ...xs.slice(2).map(() => 1)];
    const M = numel(xs) / C;
    const axes = [0, ...range(2, xs.length)];
    const invB = reshape(c, invStd, bshape, 'inv_std_b');
    const xhat = op(c, 'Mul', [op(c, 'Sub', [x, reshape(c, mean, bshape, 'mean_b')], 'centered'), invB], 'xhat');
    const dBias = reduceSum(c, dy, axes, false, 'dbias', Out(c, 2) || undefined);
    const dScale = reduceSum(c, op(c, 'Mul', [dy, xhat], 'dy_xhat'), axes, false, 'dscale', Out(c, 1) || undefined);
    if (!Out(c, 0)) return;
    const a = op(c, 'Mul', [scale, invStd], 'a'); // [C]
    const negAOverM = op(c, 'Mul', [a, f32(c, 'minus_inv_m', -1 / M)], 'neg_a_m');
    const bCoef = reshape(c, op(c, 'Mul', [negAOverM, dScale], 'b'), bshape, 'b_b');
    const cCoef = reshape(c, op(c, 'Mul', [negAOverM, dBias], 'c'), bshape, 'c_b');
    const t = op(c, 'Add', [op(c, 'Mul', [dy, reshape(c, a, bshape, 'a_b')], 'a_dy'), op(c, 'Mul', [xhat, bCoef], 'b_xhat')], 'sum1');
    op(c, 'Add', [t, cCoef], 'dx', {}, Out(c, 0));
  },
  LayerNormalizationGrad(c) {
    // xhat = (X − μ)·σ⁻¹ over axes [axis, rank); dβ = Σ_outer dY; dγ = Σ_outer dY·xhat;
    // dX = σ⁻¹·(g − mean(g) − xhat·mean(g·xhat)), g = dY·γ.
    const [dy, x, scale, mean, invStd] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4)];
    const r = c.shape(x).length;
    let axis = attrInt(c.node, 'axis', -1);
    if (axis < 0) axis += r;
    const outer = range(0, axis);
    const inner = range(axis, r);
    const xhat = op(c, 'Mul', [op(c, 'Sub', [x, mean], 'centered'), invStd], 'xhat');
    if (Out(c, 2)) reduceSum(c, dy, outer, false, 'dbias', Out(c, 2));
    if (Out(c, 1)) reduceSum(c, op(c, 'Mul', [dy, xhat], 'dy_xhat'), outer, false, 'dscale', Out(c, 1));
    if (!Out(c, 0)) return;
    const gy = op(c, 'Mul', [dy, scale], 'g');
    const m1 = reduceMean(c, gy, inner, true, 'mean_g');
    const m2 = reduceMean(c, op(c, 'Mul', [gy, xhat], 'g_xhat'), inner, true, 'mean_g_xhat');
    const inside = op(c, 'Sub', [op(c, 'Sub', [gy, m1], 'g_centered'), op(c, 'Mul', [xhat, m2], 'xhat_m2')], 'inside');
    op(c, 'Mul', [inside, invStd], 'dx', {}, Out(c, 0));
  },
};
