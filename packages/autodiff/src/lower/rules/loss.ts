/** The softmax cross-entropy loss gradient. */
import { KqkdError } from '@kqkd/common';
import { DataType, attrString, toInt } from '@kqkd/onnx';
import { int64Tensor } from '../../emitter.js';
import { type Rule, In, Out, numel, range, f32, i64, op } from '../context.js';

export const LOSS_RULES: Record<string, Rule> = {
  SoftmaxCrossEntropyLossGrad(c) {
    // dX = (softmax − onehot(label)) · w_n · dY / (Σ w_n for "mean"), w_n = weight[label]·[label ≠ ignore_index].
    const [dy, logProb, labels, weights] = [In(c, 0), In(c, 1), In(c, 2), In(c, 3)];
    const ls = c.shape(logProb);
    const C = ls[1];
    const reduction = (attrString(c.node, 'reduction') ?? 'mean');
    const ignore = (c.node.attribute ?? []).find((a) => a.name === 'ignore_index');
    let lab = labels;
    if (c.elemType(labels) !== DataType.INT64) lab = op(c, 'Cast', [labels], 'labels64', { to: DataType.INT64 });
    let valid: string | null = null;
    if (ignore) {
      const ii = toInt(ignore.i as number);
      valid = op(c, 'Not', [op(c, 'Equal', [lab, i64(c, 'ignore_index', [ii])], 'ignored')], 'valid');
      lab = op(c, 'Where', [valid, lab, i64(c, 'zero_label', [0])], 'labels_safe');
    }
    const classes = c.em.fresh(`${c.node.name}.classes`);
    c.em.initializers.push(int64Tensor(classes, range(0, C), [1, C, ...ls.slice(2).map(() => 1)]));
    const onehot = op(c, 'Cast', [op(c, 'Equal', [op(c, 'Unsqueeze', [lab, i64(c, 'axis1', [1])], 'labels_u'), classes], 'onehot_b')], 'onehot', { to: DataType.FLOAT });
    const diff = op(c, 'Sub', [op(c, 'Exp', [logProb], 'prob'), onehot], 'diff');
    let w: string | null = weights ? op(c, 'Gather', [weights, lab], 'w', { axis: 0 }) : null;
    if (valid) {
      const vf = op(c, 'Cast', [valid], 'valid_f', { to: DataType.FLOAT });
      w = w ? op(c, 'Mul', [w, vf], 'w_valid') : vf;
    }
    let scale = dy;
    if (reduction === 'mean') {
      if (w) {
        const total = op(c, 'ReduceSum', [w], 'w_total', { keepdims: 0 });
        scale = op(c, 'Div', [dy, total], 'dy_mean');
      } else {
        scale = op(c, 'Mul', [dy, f32(c, 'inv_count', 1 / (numel(ls) / C))], 'dy_mean');
      }
    } else if (reduction !== 'sum' && reduction !== 'none') {
      throw new KqkdError(`${c.site} attribute reduction`, '"mean", "sum" or "none"', `"${reduction}"`);
    }
    if (w) scale = op(c, 'Mul', [scale, w], 'dy_w');
    if (w || reduction === 'none') scale = op(c, 'Unsqueeze', [scale, i64(c, 'axis1b', [1])], 'scale_u');
    op(c, 'Mul', [diff, scale], 'dx', {}, Out(c, 0));
  },
};
