/**
 * optimizer_model.onnx for ONNX Runtime's training API, plus the host-side float32 emulation of the update that the
 * resume logic (and its tests) rely on.
 *
 * ORT's Optimizer feeds exactly: learning_rate float[1] (always 0.001 through the web API: it has no
 * SetLearningRate), step int64[1] (= updates already taken + 1), params, gradients, first_order_moments,
 * second_order_moments (seq(tensor(float)) each). The user-visible rate is therefore computed in the graph:
 * `lr_eff = learning_rate × lr_scale(step)`, lr_scale(step) = schedule(step − 1) / 0.001 (× 1/(1 − momentum) for SGD).
 * The web API cannot feed extra inputs per step (ORT rejects any optimizer-graph input outside the list above), so
 * the per-step scale is a pure function of the `step` ORT feeds; it resumes exactly because `step` lives in the
 * checkpoint.
 *
 * - AdamW: com.microsoft AdamWOptimizer, adam_mode=1 (Hugging Face: bias correction folded into the rate, decoupled
 *   weight decay `w -= lr·wd·w` after the update), correct_bias=1, output BOOL.
 * - SGD with momentum μ and weight decay wd: the training build's SGDOptimizerV2 has no momentum input (inputs: lr,
 *   weights, gradients[, update_signal]) and the optimizer graph cannot write state in place with standard ops, so
 *   momentum is expressed with the AdamWOptimizer kernel: alpha=μ, beta=1, epsilon=1, correct_bias=0, adam_mode=1
 *   (adam_mode=0 would need correct_bias=1, and beta=1 then divides by 1 − 1^t = 0). With beta=1, v stays 0, the
 *   denominator is sqrt(0)+1 = 1 and m = μ·m + (1 − μ)·g = (1 − μ)·b, where b is PyTorch's buffer b = μ·b + g, so
 *   feeding lr/(1 − μ) gives w -= lr·b exactly as torch.optim.SGD(momentum=μ, dampening=0, nesterov=False).
 *   Weight decay is decoupled and applied after the momentum step (the kernel's mode-1 order):
 *   w ← (w − lr·b)·(1 − lr·wd) (the attribute holds wd·(1 − μ) to cancel the 1/(1 − μ) in the rate). PyTorch's
 *   coupled SGD(weight_decay) gives w − lr·(b' ) with b' = μ·b' + g + wd·w; one step differs by lr²·wd·g, and over
 *   many steps decoupled decay does not enter the momentum buffer (SGDW, Loshchilov & Hutter).
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import { onnx, encodeModel, type ModelProto, type NodeProto, type ValueInfoProto } from '@kqkd/onnx';
import { scheduleGraph, validateSchedule, type LrSchedule } from './schedule.js';

/** The learning rate the web training API feeds to the optimizer graph on every step. */
export const ORT_WEB_LEARNING_RATE = 0.001;
/** Optimizer-graph inputs, exactly in ORT's order. */
export const OPTIMIZER_INPUTS = ['learning_rate', 'step', 'params', 'gradients', 'first_order_moments', 'second_order_moments'] as const;

export type OptimizerConfig =
  | { kind: 'adamw'; beta1?: number; beta2?: number; epsilon?: number; weightDecay?: number }
  | { kind: 'sgd'; momentum?: number; weightDecay?: number };

/** The AdamWOptimizer attributes and rate multiplier that implement a config. */
export interface AdamWKernelSettings {
  alpha: number;
  beta: number;
  epsilon: number;
  weightDecay: number;
  correctBias: 0 | 1;
  adamMode: 0 | 1;
  /** lr_eff = learning_rate(0.001) × schedule(t) × rateMultiplier / 0.001 */
  rateMultiplier: number;
}

const inRange = (arg: string, v: unknown, lo: number, hi: number, hiOpen = true): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
    invalidArgument(arg, `a number in [${lo}, ${hi}${hiOpen ? ')' : ']'}`, v);
  }
  return v;
};

export function kernelSettings(optimizer: OptimizerConfig): AdamWKernelSettings {
  if (!optimizer || typeof optimizer !== 'object') invalidArgument('optimizer', 'an optimizer config {kind: "adamw" | "sgd"}', optimizer);
  if (optimizer.kind === 'adamw') {
    const alpha = inRange('optimizer.beta1', optimizer.beta1 ?? 0.9, 0, 1);
    const beta = inRange('optimizer.beta2', optimizer.beta2 ?? 0.999, 0, 1);
    const epsilon = optimizer.epsilon ?? 1e-8;
    if (typeof epsilon !== 'number' || !(epsilon > 0) || !Number.isFinite(epsilon)) invalidArgument('optimizer.epsilon', 'a number > 0', epsilon);
    const wd = inRange('optimizer.weightDecay', optimizer.weightDecay ?? 0.01, 0, Infinity);
    return { alpha, beta, epsilon, weightDecay: wd, correctBias: 1, adamMode: 1, rateMultiplier: 1 };
  }
  if (optimizer.kind === 'sgd') {
    const mu = inRange('optimizer.momentum', optimizer.momentum ?? 0.9, 0, 1);
    const wd = inRange('optimizer.weightDecay', optimizer.weightDecay ?? 0, 0, Infinity);
    return { alpha: mu, beta: 1, epsilon: 1, weightDecay: wd * (1 - mu), correctBias: 0, adamMode: 1, rateMultiplier: 1 / (1 - mu) };
  }
  return invalidArgument('optimizer.kind', 'one of "adamw", "sgd"', (optimizer as { kind: unknown }).kind);
}

const seqInput = (name: string): ValueInfoProto =>
  ({ name, type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } } });
const tensorInput = (name: string, elemType: number, dims: number[]): ValueInfoProto =>
  ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });

/** Builds optimizer_model.onnx (as a ModelProto) for the optimizer and schedule. */
export function buildOptimizerModelProto(optimizer: OptimizerConfig, schedule: LrSchedule): ModelProto {
  const k = kernelSettings(optimizer);
  validateSchedule(schedule);
  const sched = scheduleGraph(schedule, 'step', k.rateMultiplier / ORT_WEB_LEARNING_RATE);
  const A = onnx.AttributeProto.AttributeType;
  const nodes: NodeProto[] = [
    ...sched.nodes,
    { opType: 'Mul', domain: '', name: 'lr_eff', input: ['learning_rate', sched.output], output: ['lr_eff'] },
    {
      opType: 'AdamWOptimizer', domain: 'com.microsoft', name: 'optimizer',
      input: ['lr_eff', 'step', 'params', 'gradients', 'first_order_moments', 'second_order_moments'],
      output: ['updated_flag'],
      attribute: [
        { name: 'alpha', type: A.FLOAT, f: k.alpha },
        { name: 'beta', type: A.FLOAT, f: k.beta },
        { name: 'epsilon', type: A.FLOAT, f: k.epsilon },
        { name: 'weight_decay', type: A.FLOAT, f: k.weightDecay },
        { name: 'correct_bias', type: A.INT, i: k.correctBias },
        { name: 'adam_mode', type: A.INT, i: k.adamMode },
      ],
    },
  ];
  return {
    irVersion: 8,
    producerName: 'kqkd-autodiff',
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: `optimizer_${optimizer.kind}_${schedule.kind}`,
      node: nodes,
      input: [
        tensorInput('learning_rate', 1, [1]), tensorInput('step', 7, [1]),
        seqInput('params'), seqInput('gradients'), seqInput('first_order_moments'), seqInput('second_order_moments'),
      ],
      output: [tensorInput('updated_flag', 9, [1])],
      initializer: sched.initializers,
    },
  };
}

/** optimizer_model.onnx bytes. */
export function buildOptimizerModel(optimizer: OptimizerConfig, schedule: LrSchedule): Uint8Array {
  return encodeModel(buildOptimizerModelProto(optimizer, schedule));
}

const f = Math.fround;

/**
 * The effective float32 rate the optimizer graph computes for a constant schedule: learning_rate × lr_scale, both
 * float32. (Other schedules go through float32 Cos/Pow in the runtime and are only close to `learningRateAt`.)
 */
export function constantScheduleRate(optimizer: OptimizerConfig, lr: number): number {
  const k = kernelSettings(optimizer);
  return f(f(ORT_WEB_LEARNING_RATE) * f((lr * k.rateMultiplier) / ORT_WEB_LEARNING_RATE));
}

/** The float32 constants of one kernel update, hoisted out of the element loop (shared with the C++ loop of @kqkd/native). */
export interface AdamWScalars {
  adamMode: 0 | 1;
  alpha: number;
  beta: number;
  oneMinusAlpha: number;
  oneMinusBeta: number;
  epsilon: number;
  /** adam_mode 1: lr · sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ) (or lr without bias correction), and lr · weightDecay */
  lrCorrected: number;
  lrWeightDecay: number;
  /** adam_mode 0 */
  lr: number;
  weightDecay: number;
  alphaCorrection: number;
  betaCorrection: number;
}

/**
 * The float32 constants of the kernel update at `step` (= updates taken + 1) and float32 rate `lr`. `k.alpha` is
 * beta1 of this update (a one-cycle schedule with `cycleMomentum` changes it per step, as PyTorch does).
 */
export function adamwScalars(k: AdamWKernelSettings, step: number, lr: number): AdamWScalars {
  const alpha = f(k.alpha), beta = f(k.beta), eps = f(k.epsilon), wd = f(k.weightDecay);
  lr = f(lr);
  let ac = 1, bc = 1, lrc = lr;
  if (k.correctBias === 1) {
    ac = f(1 - f(Math.pow(alpha, step)));
    bc = f(1 - f(Math.pow(beta, step)));
    lrc = f(lr * f(f(Math.sqrt(bc)) / ac));
  }
  return {
    adamMode: k.adamMode, alpha, beta, oneMinusAlpha: f(1 - alpha), oneMinusBeta: f(1 - beta), epsilon: eps,
    lrCorrected: lrc, lrWeightDecay: f(lr * wd), lr, weightDecay: wd, alphaCorrection: ac, betaCorrection: bc,
  };
}

/**
 * One AdamWOptimizer kernel update of one tensor in place, float32 operation for operation as ORT's CPU kernel
 * (Eigen, no FMA in wasm), from the hoisted constants. This is kqkd's one TypeScript reference of the update: the
 * web-training mirror, the host optimizer and the tests of the C++ loop all use it.
 */
export function adamwUpdateScalars(s: AdamWScalars, param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array): void {
  const { alpha, beta, oneMinusAlpha: oma, oneMinusBeta: omb, epsilon: eps } = s;
  const n = param.length;
  if (s.adamMode === 1) {
    const lrc = s.lrCorrected, lrwd = s.lrWeightDecay;
    for (let i = 0; i < n; i++) {
      const g = grad[i];
      const mi = f(f(alpha * m[i]) + f(oma * g));
      const vi = f(f(beta * v[i]) + f(f(omb * g) * g));
      m[i] = mi;
      v[i] = vi;
      let w = f(param[i] - f(f(lrc * mi) / f(f(Math.sqrt(vi)) + eps)));
      w = f(w - f(lrwd * w));
      param[i] = w;
    }
    return;
  }
  const { lr, weightDecay: wd, alphaCorrection: ac, betaCorrection: bc } = s;
  for (let i = 0; i < n; i++) {
    let w = param[i];
    const g = grad[i];
    w = f(w - f(f(w * lr) * wd));
    const mi = f(f(alpha * m[i]) + f(oma * g));
    const vi = f(f(beta * v[i]) + f(f(omb * g) * g));
    m[i] = mi;
    v[i] = vi;
    const denom = f(f(Math.sqrt(f(vi / bc))) + eps);
    param[i] = f(w - f(f(lr * mi) / f(ac * denom)));
  }
}

/**
 * One AdamWOptimizer kernel update in float32: updates `param`, `m` and `v` in place. `step` is the value ORT feeds
 * (updates already taken + 1), `lr` the float32 rate the graph computed. Moments do not depend on `lr`.
 */
export function adamwKernelUpdate(k: AdamWKernelSettings, step: number, lr: number,
  param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array): void {
  adamwUpdateScalars(adamwScalars(k, step, lr), param, grad, m, v);
}
