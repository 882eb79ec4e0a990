/** ConvGrad: dX (Conv for stride 1, else ConvTranspose; NCHWc where it applies), dW (./conv-weight.ts or the host), dB. */
import { attrInt } from '@kqkd/onnx';
import { type Ctx, type Rule, In, Out, range, i64, op, reshape, type ConvGeometry, geometry } from '../context.js';
import { emitNchwcConv, emitNchwcDepthwiseWeightGradient } from '../nchwc.js';
import { finishConvBias, convWeightGemm, isPointwise, convWeightMatMul, convWeightDepthwise, chooseWeightPath } from './conv-weight.js';

/**
 * dX for stride 1 as a Conv: dX[n, g·Cg + c, i] = Σ_{m,κ} dY[n, g·Mg + m, i + p − κ·d] · W[g·Mg + m, c, κ], i.e. a Conv of
 * dY with the kernel W′[g·Cg + c, m, κ] = W[g·Mg + m, c, K − 1 − κ] (channels transposed within each group, spatially
 * flipped), the same dilation and "full" pads d·(k − 1) − p. Returns false when a pad would be negative.
 */
function convInputConv(c: Ctx, dy: string, w: string, ws: number[], xs: number[], g: ConvGeometry, group: number, block: number): boolean {
  const sp = xs.length - 2;
  if (g.s.some((v) => v !== 1)) return false;
  const pb = range(0, sp).map((a) => g.d[a] * (g.k[a] - 1) - g.pb[a]);
  const pe = range(0, sp).map((a) => g.d[a] * (g.k[a] - 1) - g.pe[a]);
  if ([...pb, ...pe].some((v) => v < 0)) return false;
  const [M, Cg] = [ws[0], ws[1]];
  const Mg = M / group;
  const sIdx = range(2, 2 + sp);
  let wt: string;
  if (group === 1) {
    wt = op(c, 'Transpose', [w], 'w_t', { perm: [1, 0, ...sIdx] });
  } else {
    const w5 = reshape(c, w, [group, Mg, Cg, ...g.k], 'w_groups');
    wt = reshape(c, op(c, 'Transpose', [w5], 'w_groups_t', { perm: [0, 2, 1, ...range(3, 3 + sp)] }), [group * Cg, Mg, ...g.k], 'w_t');
  }
  const flipAxes = sIdx.filter((a) => g.k[a - 2] > 1);
  const dys = [xs[0], M, ...range(0, sp).map((a) => xs[a + 2] + g.pb[a] + g.pe[a] - g.d[a] * (g.k[a] - 1))];
  const site = {
    em: c.em, name: `${c.node.name ?? 'lower'}.dx`, x: dy, w: wt, y: Out(c, 0), xShape: dys, wShape: [xs[1], Mg, ...g.k],
    kernel: g.k, strides: g.s, dilations: g.d, pads: [...pb, ...pe], group, flipKernel: flipAxes.length > 0,
  };
  if (!emitNchwcConv(site, block)) {
    if (flipAxes.length) {
      wt = op(c, 'Slice', [wt, i64(c, 'w_flip.starts', flipAxes.map(() => -1)), i64(c, 'w_flip.ends', flipAxes.map(() => -(2 ** 53))),
        i64(c, 'w_flip.axes', flipAxes), i64(c, 'w_flip.steps', flipAxes.map(() => -1))], 'w_flip');
    }
    c.em.node('Conv', [dy, wt], [Out(c, 0)], { kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...pb, ...pe], group });
  }
  return true;
}

/**
 * The host path for dW (hostConvWeightGradient): only where the in-graph path would be the k·k shifted MatMuls (the
 * expensive one) — 2-D, group 1, wide enough, not a single 1×1 stride-1 MatMul — X is computed by the graph (not a
 * graph input) and dW is the parameter's whole gradient. Writes zeros to the dW output and records X, dY and the
 * geometry; returns false (nothing emitted) otherwise.
 */
function hostWeightGradient(c: Ctx, dy: string, x: string, w: string, xs: number[], ws: number[], g: ConvGeometry, outSize: number[], group: number): boolean {
  // Stride 1 only: the host's fast path (per-sample GEMMs over contiguous windows) needs it; strided convolutions
  // keep the in-graph MatMuls, which beat a host im2col there.
  if (xs.length !== 4 || group !== 1 || chooseWeightPath(xs[1], ws[0], 1) !== 'matmul' || g.s.some((v) => v !== 1)) return false;
  if (isPointwise(g) || c.isGraphInput(x) || c.isGraphInput(dy)) return false;
  const param = c.wholeGradientOf(Out(c, 1));
  if (param === undefined || param !== w) return false;
  op(c, 'ConstantOfShape', [i64(c, 'dw_host.shape', ws)], 'dw_host_zeros', {}, Out(c, 1));
  c.host.push({
    parameter: param, x, dy, xShape: xs, dyShape: [xs[0], ws[0], ...outSize], weightShape: ws,
    strides: g.s, padsBegin: g.pb, dilations: g.d,
  });
  return true;
}

export const CONV_RULES: Record<string, Rule> = {
  ConvGrad(c, o) {
    const [dy, x, w] = [In(c, 0), In(c, 1), In(c, 2)];
    const xs = c.shape(x);
    const ws = c.shape(w);
    const sp = xs.length - 2;
    const g = geometry(c, sp, ws.slice(2));
    const group = attrInt(c.node, 'group', 1);
    const outSize = range(0, sp).map((a) => Math.floor((xs[a + 2] + g.pb[a] + g.pe[a] - g.d[a] * (g.k[a] - 1) - 1) / g.s[a]) + 1);
    const [N, C] = [xs[0], xs[1]];
    const M = ws[0];
    const Cg = C / group;
    const dxMode = o.convInputGradient ?? 'auto';
    if (Out(c, 0) && dxMode !== 'convtranspose' && convInputConv(c, dy, w, ws, xs, g, group, o.nchwcBlockSize ?? 0)) {
      // done: stride-1 dX as a Conv with the flipped kernel
    } else if (Out(c, 0)) {
      // dX = ConvTranspose(dY, W): the adjoint of Conv, same strides/pads/dilations/groups; output_padding restores
      // the input rows the forward's floor division dropped (always < stride).
      const outputPadding = range(0, sp).map((a) => xs[a + 2] - (g.s[a] * (outSize[a] - 1) + g.d[a] * (g.k[a] - 1) + 1 - g.pb[a] - g.pe[a]));
      c.em.node('ConvTranspose', [dy, w], [Out(c, 0)], {
        kernel_shape: g.k, strides: g.s, dilations: g.d, pads: [...g.pb, ...g.pe], group, output_padding: outputPadding,
      });
    }
    if (Out(c, 1) && o.hostConvWeightGradient && hostWeightGradient(c, dy, x, w, xs, ws, g, outSize, group)) {
      return finishConvBias(c, dy, sp);
    }
    if (Out(c, 1)) {
      // dW[m, c, κ] = Σ_n Σ_o dY[n, m, o] · X[n, g·Cg + c, o·s + κ·d − p]: a Conv whose batch is X's channel-in-group,
      // whose channels are (group, sample) and whose kernel is dY (channels m, in-channels n) with stride d and
      // dilation s; its output (Cg, M, K′) with K′ ≥ K is cropped to K and transposed to (M, Cg, K).
      const sIdx = range(2, 2 + sp);
      const depthwise = group === C && M === C;
      const mode = o.convWeightGradient ?? 'auto';
      if (mode === 'gemm' && (group === 1 || depthwise)) {
        convWeightGemm(c, dy, x, xs, g, outSize, M, depthwise);
        return finishConvBias(c, dy, sp);
      }
      const path = mode === 'auto' ? chooseWeightPath(C, M, group) : mode === 'matmul' ? (depthwise ? 'depthwise' : 'matmul') : 'conv';
      if (path === 'matmul') {
        convWeightMatMul(c, dy, x, xs, g, outSize, M, group);
        return finishConvBias(c, dy, sp);
      }
      if (path === 'depthwise') {
        const blocked = sp === 2 && emitNchwcDepthwiseWeightGradient({
          em: c.em, name: `${c.node.name ?? 'lower'}.dw`, x, dy, out: Out(c, 1), xShape: xs, dyShape: [N, M, ...outSize],
          kernel: g.k, strides: g.s, dilations: g.d, padsBegin: g.pb, padsEnd: g.pe,
        }, o.nchwcBlockSize ?? 0);
        if (!blocked) convWeightDepthwise(c, dy, x, xs, g, outSize);
        return finishConvBias(c, dy, sp);
      }
      let xr: string;
      if (group === 1) {
        xr = op(c, 'Transpose', [x], 'x_t', { perm: [1, 0, ...sIdx] });
      } else {
        const x5 = reshape(c, x, [N, group, Cg, ...xs.slice(2)], 'x_groups');
        const xt = op(c, 'Transpose', [x5], 'x_groups_t', { perm: [2, 1, 0, ...range(3, 3 + sp)] });
        xr = reshape(c, xt, [Cg, group * N, ...xs.slice(2)], 'x_t');
      }
      const dyr = op(c, 'Transpose', [dy], 'dy_t', { perm: [1, 0, ...sIdx] });
      const kOut = range(0, sp).map((a) => Math.floor((xs[a + 2] + g.pb[a] + g.pe[a] - g.s[a] * (outSize[a] - 1) - 1) / g.d[a]) + 1);
      let dw = op(c, 'Conv', [xr, dyr], 'dw_t', {
        kernel_shape: outSize, strides: g.d, dilations: g.s, pads: [...g.pb, ...g.pe], group,
      });
      if (kOut.some((k, a) => k !== g.k[a])) {
        dw = op(c, 'Slice', [dw, i64(c, 'dw.starts', Array(sp).fill(0)), i64(c, 'dw.ends', g.k), i64(c, 'dw.axes', sIdx)], 'dw_t_crop');
      }
      op(c, 'Transpose', [dw], 'dw', { perm: [1, 0, ...sIdx] }, Out(c, 1));
      void M;
    }
    finishConvBias(c, dy, sp);
  },
};
