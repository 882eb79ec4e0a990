/** Activation gradients (ReLU, leaky ReLU, sigmoid, tanh, GELU), softmax / log-softmax gradients, and com.microsoft Gelu. */
import { attrFloat, attrInt } from '@kqkd/onnx';
import { MS } from '../../emitter.js';
import { type Rule, In, Out, f32, op, reduceSum } from '../context.js';

export const ACTIVATIONS_RULES: Record<string, Rule> = {
  ReluGrad(c) {
    const pos = op(c, 'Greater', [In(c, 1), f32(c, 'zero', 0)], 'positive');
    op(c, 'Where', [pos, In(c, 0), f32(c, 'zero_f', 0)], 'dx', {}, Out(c, 0));
  },
  LeakyReluGrad(c) {
    const alpha = attrFloat(c.node, 'alpha', 0.01);
    const pos = op(c, 'Greater', [In(c, 1), f32(c, 'zero', 0)], 'positive');
    const neg = op(c, 'Mul', [In(c, 0), f32(c, 'alpha', alpha)], 'dy_alpha');
    op(c, 'Where', [pos, In(c, 0), neg], 'dx', {}, Out(c, 0));
  },
  SigmoidGrad(c) {
    const y = In(c, 1);
    const oneMinus = op(c, 'Sub', [f32(c, 'one', 1), y], 'one_minus_y');
    op(c, 'Mul', [In(c, 0), op(c, 'Mul', [y, oneMinus], 'y_1my')], 'dx', {}, Out(c, 0));
  },
  TanhGrad(c) {
    const y = In(c, 1);
    const oneMinus = op(c, 'Sub', [f32(c, 'one', 1), op(c, 'Mul', [y, y], 'y2')], 'one_minus_y2');
    op(c, 'Mul', [In(c, 0), oneMinus], 'dx', {}, Out(c, 0));
  },
  GeluGrad(c) {
    // d/dx x·Φ(x) = Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = exp(−x²/2)/√(2π)  (exact erf GELU, as ORT's kernel)
    const x = In(c, 1);
    const erf = op(c, 'Erf', [op(c, 'Mul', [x, f32(c, 'inv_sqrt2', Math.SQRT1_2)], 'x_sqrt1_2')], 'erf');
    const cdf = op(c, 'Mul', [op(c, 'Add', [erf, f32(c, 'one', 1)], 'one_plus_erf'), f32(c, 'half', 0.5)], 'cdf');
    const e = op(c, 'Exp', [op(c, 'Mul', [op(c, 'Mul', [x, x], 'x2'), f32(c, 'minus_half', -0.5)], 'minus_x2_2')], 'exp');
    const xpdf = op(c, 'Mul', [x, op(c, 'Mul', [e, f32(c, 'inv_sqrt_2pi', 1 / Math.sqrt(2 * Math.PI))], 'pdf')], 'x_pdf');
    op(c, 'Mul', [In(c, 0), op(c, 'Add', [cdf, xpdf], 'dgelu')], 'dx', {}, Out(c, 0));
  },
  Gelu(c, o) {
    if (!o.lowerGelu) {
      c.em.node('Gelu', c.node.input!, c.node.output!, c.node.attribute ?? [], MS, c.node.name ?? undefined);
      return;
    }
    const x = In(c, 0);
    const erf = op(c, 'Erf', [op(c, 'Mul', [x, f32(c, 'inv_sqrt2', Math.SQRT1_2)], 'x_sqrt1_2')], 'erf');
    const half = op(c, 'Mul', [x, f32(c, 'half', 0.5)], 'half_x');
    op(c, 'Mul', [half, op(c, 'Add', [erf, f32(c, 'one', 1)], 'one_plus_erf')], 'y', {}, Out(c, 0));
  },
  SoftmaxGrad_13(c) {
    // dX = Y ⊙ (dY − Σ_axis dY ⊙ Y)
    const axis = attrInt(c.node, 'axis', -1);
    const [dy, y] = [In(c, 0), In(c, 1)];
    const s = reduceSum(c, op(c, 'Mul', [dy, y], 'dy_y'), [axis], true, 'sum_dy_y');
    op(c, 'Mul', [y, op(c, 'Sub', [dy, s], 'dy_minus')], 'dx', {}, Out(c, 0));
  },
  LogSoftmaxGrad_13(c) {
    // dX = dY − exp(Y) ⊙ Σ_axis dY
    const axis = attrInt(c.node, 'axis', -1);
    const [dy, y] = [In(c, 0), In(c, 1)];
    const s = reduceSum(c, dy, [axis], true, 'sum_dy');
    op(c, 'Sub', [dy, op(c, 'Mul', [op(c, 'Exp', [y], 'softmax'), s], 'softmax_sum')], 'dx', {}, Out(c, 0));
  },
};
