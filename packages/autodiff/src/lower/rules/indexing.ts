/** Indexing gradients: GatherGrad (scatter-add of rows) and SliceGrad (Pad or ScatterElements). */
import { DataType, attrInt } from '@kqkd/onnx';
import { type Rule, In, Out, numel, range, i64, i64Scalar, op, reshape, zeros } from '../context.js';

export const INDEXING_RULES: Record<string, Rule> = {
  GatherGrad(c) {
    // dX = scatter-add of dY rows at `indices` along `axis` (ScatterND with reduction add on [D, P, Q]).
    const [shapeIn, indices, dy] = [In(c, 0), In(c, 1), In(c, 2)];
    const xs = c.constant(shapeIn) ?? c.shape(Out(c, 0));
    let axis = attrInt(c.node, 'axis', 0);
    if (axis < 0) axis += xs.length;
    const D = xs[axis];
    const P = numel(xs.slice(0, axis));
    const Q = numel(xs.slice(axis + 1));
    const K = numel(c.shape(indices));
    let idx = indices;
    if (c.elemType(indices) !== DataType.INT64) idx = op(c, 'Cast', [idx], 'indices64', { to: DataType.INT64 });
    const known = c.constant(indices);
    idx = reshape(c, idx, [K, 1], 'indices_k1');
    if (!known || known.some((v) => v < 0)) {
      const neg = op(c, 'Less', [idx, i64(c, 'zero', [0])], 'negative');
      idx = op(c, 'Where', [neg, op(c, 'Add', [idx, i64(c, 'dim', [D])], 'wrapped'), idx], 'indices_norm');
    }
    let upd = reshape(c, dy, [P, K, Q], 'dy_pkq');
    if (P > 1) upd = op(c, 'Transpose', [upd], 'dy_kpq', { perm: [1, 0, 2] });
    else upd = reshape(c, upd, [K, P, Q], 'dy_kpq');
    let s = op(c, 'ScatterND', [zeros(c, [D, P, Q], 'zeros'), idx, upd], 'dx_dpq', { reduction: 'add' });
    if (P > 1) s = op(c, 'Transpose', [s], 'dx_pdq', { perm: [1, 0, 2] });
    reshape(c, s, xs, 'dx', Out(c, 0));
  },
  SliceGrad(c) {
    // dX = dY placed back where the slice came from: Pad when the slice is a constant unit-step box, else
    // ScatterElements at Slice(arange(numel(X))) (the flat positions the forward read).
    const [dy, shapeIn, starts, ends, axesIn, stepsIn] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3), In(c, 4), In(c, 5)];
    const xs = c.constant(shapeIn) ?? c.shape(Out(c, 0));
    const r = xs.length;
    const st = c.constant(starts);
    const en = c.constant(ends);
    const ax = axesIn ? c.constant(axesIn) : range(0, st?.length ?? 0);
    const steps = stepsIn ? c.constant(stepsIn) : (st ? st.map(() => 1) : null);
    if (st && en && ax && steps && steps.every((v) => v === 1)) {
      const pads = Array(2 * r).fill(0);
      ax.forEach((a0, k) => {
        const a = a0 < 0 ? a0 + r : a0;
        const D = xs[a];
        const clamp = (v: number) => Math.min(D, Math.max(0, v < 0 ? v + D : v));
        const [b, e] = [clamp(st[k]), clamp(en[k])];
        pads[a] = b;
        pads[a + r] = D - Math.max(b, e);
      });
      op(c, 'Pad', [dy, i64(c, 'pads', pads)], 'dx', { mode: 'constant' }, Out(c, 0));
      return;
    }
    const n = numel(xs);
    const ar = op(c, 'Range', [i64Scalar(c, 'zero', 0), i64Scalar(c, 'n', n), i64Scalar(c, 'one', 1)], 'arange');
    const ins = [reshape(c, ar, xs, 'arange_x'), starts, ends];
    if (axesIn || stepsIn) ins.push(axesIn);
    if (stepsIn) ins.push(stepsIn);
    const pos = reshape(c, op(c, 'Slice', ins, 'positions'), [-1], 'positions_flat');
    const s = op(c, 'ScatterElements', [zeros(c, [n], 'zeros'), pos, reshape(c, dy, [-1], 'dy_flat')], 'dx_flat', { axis: 0 });
    reshape(c, s, xs, 'dx', Out(c, 0));
  },
};
