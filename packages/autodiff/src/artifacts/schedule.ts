/**
 * Learning-rate schedules as pure functions of the 0-based update index t (t = 0 is the first optimizer step),
 * and the same schedules as ONNX nodes for the optimizer model, where ORT feeds `step` = t + 1.
 *
 * - constant:  lr(t) = lr
 * - multistep: lr(t) = lr · gamma^k, k = number of milestones m with m <= t (PyTorch MultiStepLR).
 * - one-cycle: PyTorch OneCycleLR, cosine annealing, two phases (three_phase=False):
 *     initial = maxLr / divFactor (25), min = initial / finalDivFactor (1e4),
 *     e1 = pctStart·totalSteps − 1 (pctStart 0.3: 30 % warm-up), e2 = totalSteps − 1,
 *     t <= e1: lr = anneal(initial → maxLr, t / e1); else lr = anneal(maxLr → min, (t − e1) / (e2 − e1)),
 *     anneal(a → b, p) = b + (a − b)/2 · (cos(π p) + 1).
 *   PyTorch raises past the last step; here t is clamped to e2 (the rate stays at min).
 *   With `cycleMomentum` (PyTorch's default for Adam/AdamW) beta1 follows the same phases in the opposite direction:
 *   maxMomentum (0.95) → baseMomentum (0.85) during the warm-up, back to maxMomentum during the decay (`momentumAt`).
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import type { NodeProto, TensorProto } from '@kqkd/onnx';

export type LrSchedule =
  | { kind: 'constant'; lr: number }
  | { kind: 'multistep'; lr: number; milestones: readonly number[]; gamma: number }
  | {
    kind: 'one-cycle'; maxLr: number; totalSteps: number;
    /** Default 0.3. */ pctStart?: number;
    /** Default 25. */ divFactor?: number;
    /** Default 1e4. */ finalDivFactor?: number;
    /** Cycle beta1 opposite to the rate (PyTorch OneCycleLR cycle_momentum). Default false here; configs turn it on. */
    cycleMomentum?: boolean;
    /** Default 0.85. */ baseMomentum?: number;
    /** Default 0.95. */ maxMomentum?: number;
  };

const positive = (arg: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) invalidArgument(arg, 'a finite number > 0', v);
  return v;
};

interface OneCycle { initial: number; max: number; min: number; e1: number; e2: number }

function oneCycleParams(s: Extract<LrSchedule, { kind: 'one-cycle' }>): OneCycle {
  const max = positive('schedule.maxLr', s.maxLr);
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 2) invalidArgument('schedule.totalSteps', 'an integer >= 2', s.totalSteps);
  const pct = s.pctStart ?? 0.3;
  if (typeof pct !== 'number' || !(pct > 0 && pct < 1)) invalidArgument('schedule.pctStart', 'a number in (0, 1)', pct);
  const div = positive('schedule.divFactor', s.divFactor ?? 25);
  const finalDiv = positive('schedule.finalDivFactor', s.finalDivFactor ?? 1e4);
  const e1 = pct * s.totalSteps - 1;
  const e2 = s.totalSteps - 1;
  if (!(e1 > 0 && e2 > e1)) {
    throw new KqkdError('schedule', 'a warm-up of more than one step and a decay phase (pctStart·totalSteps − 1 in (0, totalSteps − 1))',
      `pctStart ${pct}, totalSteps ${s.totalSteps}`);
  }
  const initial = max / div;
  return { initial, max, min: initial / finalDiv, e1, e2 };
}

/** Checks a schedule; throws a KqkdError naming the field. */
export function validateSchedule(schedule: LrSchedule): void {
  if (!schedule || typeof schedule !== 'object') invalidArgument('schedule', 'a learning-rate schedule object', schedule);
  switch (schedule.kind) {
    case 'constant':
      positive('schedule.lr', schedule.lr);
      return;
    case 'multistep': {
      positive('schedule.lr', schedule.lr);
      positive('schedule.gamma', schedule.gamma);
      const m = schedule.milestones;
      if (!Array.isArray(m) || m.some((v, i) => !Number.isInteger(v) || v < 0 || (i > 0 && v <= m[i - 1]))) {
        invalidArgument('schedule.milestones', 'strictly increasing non-negative integers (update indices)', m);
      }
      return;
    }
    case 'one-cycle':
      oneCycleParams(schedule);
      if (schedule.cycleMomentum !== undefined && typeof schedule.cycleMomentum !== 'boolean') {
        invalidArgument('schedule.cycleMomentum', 'true or false', schedule.cycleMomentum);
      }
      if (schedule.cycleMomentum) momentumRange(schedule);
      return;
    default:
      invalidArgument('schedule.kind', 'one of "constant", "multistep", "one-cycle"', (schedule as { kind: unknown }).kind);
  }
}

const anneal = (a: number, b: number, p: number) => b + ((a - b) / 2) * (Math.cos(Math.PI * p) + 1);

function momentumRange(s: Extract<LrSchedule, { kind: 'one-cycle' }>): { base: number; max: number } {
  const base = s.baseMomentum ?? 0.85;
  const max = s.maxMomentum ?? 0.95;
  if (typeof base !== 'number' || !(base >= 0 && base < 1)) invalidArgument('schedule.baseMomentum', 'a number in [0, 1)', base);
  if (typeof max !== 'number' || !(max >= base && max < 1)) invalidArgument('schedule.maxMomentum', `a number in [baseMomentum ${base}, 1)`, max);
  return { base, max };
}

/**
 * beta1 of update t (0-based) under a one-cycle schedule with `cycleMomentum`, in float64 (PyTorch OneCycleLR:
 * anneal(max → base) over the warm-up, anneal(base → max) over the decay, the same phase fractions as the rate);
 * undefined for every other schedule (beta1 stays the optimizer's).
 */
export function momentumAt(schedule: LrSchedule, t: number): number | undefined {
  validateSchedule(schedule);
  if (!Number.isInteger(t) || t < 0) invalidArgument('t', 'a non-negative integer update index', t);
  if (schedule.kind !== 'one-cycle' || !schedule.cycleMomentum) return undefined;
  const p = oneCycleParams(schedule);
  const m = momentumRange(schedule);
  const tc = Math.min(t, p.e2);
  return tc <= p.e1 ? anneal(m.max, m.base, tc / p.e1) : anneal(m.base, m.max, (tc - p.e1) / (p.e2 - p.e1));
}

/** The learning rate of update t (0-based), in float64. */
export function learningRateAt(schedule: LrSchedule, t: number): number {
  validateSchedule(schedule);
  if (!Number.isInteger(t) || t < 0) invalidArgument('t', 'a non-negative integer update index', t);
  switch (schedule.kind) {
    case 'constant':
      return schedule.lr;
    case 'multistep':
      return schedule.lr * schedule.gamma ** schedule.milestones.filter((m) => m <= t).length;
    case 'one-cycle': {
      const p = oneCycleParams(schedule);
      const tc = Math.min(t, p.e2);
      return tc <= p.e1 ? anneal(p.initial, p.max, tc / p.e1) : anneal(p.max, p.min, (tc - p.e1) / (p.e2 - p.e1));
    }
  }
}

/** Nodes and initializers of a schedule subgraph. */
export interface ScheduleGraph {
  nodes: NodeProto[];
  initializers: TensorProto[];
  /** float[1] tensor holding lr(t) · multiplier. */
  output: string;
}

const FLOAT = 1;
const floatTensor = (name: string, values: readonly number[], dims: number[] = [values.length]): TensorProto => {
  const f = Float32Array.from(values);
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(f.buffer) };
};
const node = (opType: string, input: string[], output: string[], attribute: NodeProto['attribute'] = []): NodeProto =>
  ({ opType, input, output, name: `${opType}_${output[0]}`, domain: '', attribute });

/**
 * ONNX nodes computing `lr(t) · multiplier` (float[1]) from the int64[1] input `stepName` that ORT feeds (= t + 1),
 * with the same formulas as `learningRateAt`, evaluated in float32 by the runtime. Names start with `prefix`.
 */
export function scheduleGraph(schedule: LrSchedule, stepName: string, multiplier = 1, prefix = 'lr_schedule/'): ScheduleGraph {
  validateSchedule(schedule);
  positive('multiplier', multiplier);
  const n = (s: string) => `${prefix}${s}`;
  const out = n('lr');
  if (schedule.kind === 'constant' || (schedule.kind === 'multistep' && schedule.milestones.length === 0)) {
    return { nodes: [node('Identity', [n('value')], [out])], initializers: [floatTensor(n('value'), [schedule.lr * multiplier])], output: out };
  }
  // t = float(step) - 1 (exact below 2^24 updates)
  const nodes: NodeProto[] = [
    node('Cast', [stepName], [n('step_f')], [{ name: 'to', type: 2, i: FLOAT }]),
    node('Sub', [n('step_f'), n('one')], [n('t')]),
  ];
  const inits: TensorProto[] = [floatTensor(n('one'), [1])];
  if (schedule.kind === 'multistep') {
    nodes.push(
      node('GreaterOrEqual', [n('t'), n('milestones')], [n('passed_b')]),
      node('Cast', [n('passed_b')], [n('passed')], [{ name: 'to', type: 2, i: FLOAT }]),
      node('ReduceSum', [n('passed')], [n('k')], [{ name: 'keepdims', type: 2, i: 1 }]),
      node('Pow', [n('gamma'), n('k')], [n('factor')]),
      node('Mul', [n('factor'), n('base')], [out]),
    );
    inits.push(floatTensor(n('milestones'), schedule.milestones), floatTensor(n('gamma'), [schedule.gamma]),
      floatTensor(n('base'), [schedule.lr * multiplier]));
    return { nodes, initializers: inits, output: out };
  }
  const p = oneCycleParams(schedule);
  // anneal(a -> b, pct) = b + (a - b)/2 * (cos(pi * pct) + 1), both phases evaluated, Where picks one.
  const phase = (tag: string, pctNodes: NodeProto[], pct: string, a: number, b: number) => {
    nodes.push(...pctNodes,
      node('Mul', [pct, n('pi')], [n(`${tag}_arg`)]),
      node('Cos', [n(`${tag}_arg`)], [n(`${tag}_cos`)]),
      node('Add', [n(`${tag}_cos`), n('one')], [n(`${tag}_cos1`)]),
      node('Mul', [n(`${tag}_cos1`), n(`${tag}_half`)], [n(`${tag}_scaled`)]),
      node('Add', [n(`${tag}_scaled`), n(`${tag}_end`)], [n(`${tag}_lr`)]));
    inits.push(floatTensor(n(`${tag}_half`), [((a - b) / 2) * multiplier]), floatTensor(n(`${tag}_end`), [b * multiplier]));
  };
  nodes.push(node('Min', [n('t'), n('e2')], [n('tc')]));
  inits.push(floatTensor(n('e1'), [p.e1]), floatTensor(n('e2'), [p.e2]), floatTensor(n('pi'), [Math.PI]),
    floatTensor(n('e2_minus_e1'), [p.e2 - p.e1]));
  phase('warmup', [node('Div', [n('tc'), n('e1')], [n('warmup_pct')])], n('warmup_pct'), p.initial, p.max);
  phase('decay', [
    node('Sub', [n('tc'), n('e1')], [n('decay_t')]),
    node('Div', [n('decay_t'), n('e2_minus_e1')], [n('decay_pct')]),
  ], n('decay_pct'), p.max, p.min);
  nodes.push(
    node('LessOrEqual', [n('tc'), n('e1')], [n('in_warmup')]),
    node('Where', [n('in_warmup'), n('warmup_lr'), n('decay_lr')], [out]),
  );
  return { nodes, initializers: inits, output: out };
}
