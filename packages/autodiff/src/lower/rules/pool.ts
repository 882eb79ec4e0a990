/** Pooling gradients: MaxPoolGrad (scatter-add at the forward indices) and AveragePoolGrad (ConvTranspose of dY / count). */
import { KqkdError } from '@kqkd/common';
import { attrInt } from '@kqkd/onnx';
import { type Rule, In, Out, numel, range, i64, op, reshape, zeros, geometry } from '../context.js';

export const POOL_RULES: Record<string, Rule> = {
  MaxPoolGrad(c) {
    // ORT's MaxPool Indices are flat offsets into X (batch and channel included, padding excluded): dX is the
    // scatter-add of dY at those offsets, which routes each window's gradient to the element the forward picked.
    if (attrInt(c.node, 'storage_order', 0) !== 0) {
      throw new KqkdError(`${c.site} attribute storage_order`, '0 (row-major indices)', String(attrInt(c.node, 'storage_order', 0)));
    }
    const xs = c.shape(Out(c, 0));
    const flatIdx = reshape(c, In(c, 1), [-1], 'indices_flat');
    const flatDy = reshape(c, In(c, 0), [-1], 'dy_flat');
    const s = op(c, 'ScatterElements', [zeros(c, [numel(xs)], 'zeros'), flatIdx, flatDy], 'dx_flat', { axis: 0, reduction: 'add' });
    reshape(c, s, xs, 'dx', Out(c, 0));
  },
  AveragePoolGrad(c) {
    // dX = ConvTranspose(dY / count, ones kernel per channel): count is the forward's divisor at each output
    // position (kernel size with count_include_pad, else the window's overlap with X), a build-time constant.
    const xs = c.shape(Out(c, 0));
    const sp = xs.length - 2;
    const g = geometry(c, sp, null);
    const ceil = attrInt(c.node, 'ceil_mode', 0) === 1;
    const includePad = attrInt(c.node, 'count_include_pad', 0) === 1;
    const outSize = range(0, sp).map((a) => {
      const span = xs[a + 2] + g.pb[a] + g.pe[a] - g.k[a];
      let o = (ceil ? Math.ceil(span / g.s[a]) : Math.floor(span / g.s[a])) + 1;
      if (ceil && (o - 1) * g.s[a] >= xs[a + 2] + g.pb[a]) o--;
      return o;
    });
    // per-axis divisor factors, then their outer product
    const perAxis = range(0, sp).map((a) => range(0, outSize[a]).map((o) => {
      const start = o * g.s[a] - g.pb[a];
      const endPadded = Math.min(start + g.k[a], xs[a + 2] + g.pe[a]);
      return includePad ? endPadded - start : Math.min(start + g.k[a], xs[a + 2]) - Math.max(start, 0);
    }));
    const counts: number[] = [];
    const walk = (a: number, prod: number) => {
      if (a === sp) { counts.push(prod); return; }
      for (const v of perAxis[a]) walk(a + 1, prod * v);
    };
    walk(0, 1);
    const C = xs[1];
    const kprod = numel(g.k);
    const uniform = counts.every((v) => v === counts[0]);
    let dy = In(c, 0);
    let kernelValue = 1 / kprod;
    if (!uniform) {
      dy = op(c, 'Mul', [dy, c.em.constF(`${c.node.name}.inv_count`, [1, 1, ...outSize], counts.map((v) => 1 / v))], 'dy_over_count');
      kernelValue = 1;
    } else {
      kernelValue = 1 / counts[0];
    }
    const kernel = c.em.constF(`${c.node.name}.kernel`, [C, 1, ...g.k], Array(C * kprod).fill(kernelValue));
    const full = range(0, sp).map((a) => g.s[a] * (outSize[a] - 1) + g.k[a] - g.pb[a] - g.pe[a]);
    const outputPadding = full.map((f, a) => Math.max(0, xs[a + 2] - f));
    const crop = full.some((f, a) => f > xs[a + 2]);
    const t = op(c, 'ConvTranspose', [dy, kernel], 'dx_full', {
      kernel_shape: g.k, strides: g.s, pads: [...g.pb, ...g.pe], group: C, output_padding: outputPadding,
    }, crop ? undefined : Out(c, 0));
    if (crop) {
      op(c, 'Slice', [t, i64(c, 'starts', Array(sp).fill(0)), i64(c, 'ends', xs.slice(2)), i64(c, 'axes', range(2, 2 + sp))], 'dx', {}, Out(c, 0));
    }
  },
};
