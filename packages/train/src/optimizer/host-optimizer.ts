/**
 * The optimizer of the `native` backend, on the host: the same update as the web-training backend's ORT optimizer
 * model (@kqkd/autodiff `buildOptimizerModel`), float32 operation for operation.
 *
 * - Update: ORT's AdamWOptimizer kernel (AdamW, and SGD-momentum expressed through it: `kernelSettings`), the
 *   arithmetic of `adamwKernelUpdate` (measured 0 ulp against ORT over 20 steps), with the constants hoisted and one
 *   pass per parameter tensor.
 * - Rate: the optimizer graph computes `lr_eff = 0.001 × schedule(step)` in float32 from the `step` ORT feeds
 *   (= updates taken + 1). `scheduleRate` evaluates the very nodes of `scheduleGraph` in float32 (Math.fround per
 *   op), so constant and multistep rates are bit-identical; one-cycle goes through Cos, where the host's cos may
 *   differ from the runtime's float32 cos by an ulp of the rate.
 * - Gradient accumulation: like InPlaceAccumulatorV2: the first micro-batch after a reset is copied, the next ones
 *   added in float32; with the training graph's lossScale 1/A the buffer is the mean gradient.
 * - State: moments m (momentum0) and v (momentum1) per parameter and the step, read from and written to the
 *   checkpoint's optimizer group exactly like `OptimizerStateMirror`, so either backend resumes the other's run.
 * - Where: the element loop runs in @kqkd/native (C++, vectorised, OpenMP; bit-identical to the TypeScript reference
 *   `adamwUpdateScalars` of @kqkd/autodiff, ~15–30× faster) when the addon is built, else in TypeScript;
 *   `backend` / `backendReason` say which and why.
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import {
  adamwScalars, adamwUpdateScalars, kernelSettings, momentumAt, MOMENTUM_NAMES, ORT_WEB_LEARNING_RATE, OPTIMIZER_GROUP_NAME, scheduleGraph,
  type AdamWKernelSettings, type AdamWScalars, type LrSchedule, type OptimizerConfig, type OptimizerGroup,
} from '@kqkd/autodiff';
import { tryLoadAddon, type NativeAddon } from '@kqkd/native';
import type { NodeProto, TensorProto } from '@kqkd/onnx';
import type { OptimizerSpec } from '../config.js';
import { viewsOverlap } from '../backends/conv-weight-gradient.js';

/** The optimizer of a training config as @kqkd/autodiff's kernel settings take it. */
export function optimizerConfigOf(o: OptimizerSpec): OptimizerConfig {
  return o.type === 'adamw' ? { kind: 'adamw', weightDecay: o.weightDecay } : { kind: 'sgd', momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay };
}

const f = Math.fround;

/** A float32 evaluator of the schedule subgraph `scheduleGraph` emits (the only ops it uses). */
function compileSchedule(schedule: LrSchedule, multiplier: number): (step: number) => number {
  const sg = scheduleGraph(schedule, 'step', multiplier);
  const consts = new Map<string, Float32Array>();
  for (const t of sg.initializers as TensorProto[]) {
    const raw = t.rawData!;
    consts.set(t.name!, new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
  }
  const nodes = sg.nodes as NodeProto[];
  const map2 = (a: Float32Array, b: Float32Array, op: (x: number, y: number) => number): Float32Array => {
    const n = Math.max(a.length, b.length);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = op(a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]);
    return out;
  };
  return (step: number) => {
    const env = new Map(consts);
    env.set('step', new Float32Array([step])); // only ever Cast to float
    const get = (name: string) => {
      const v = env.get(name);
      if (!v) throw new KqkdError('schedule graph', `a value for "${name}"`, 'none');
      return v;
    };
    for (const n of nodes) {
      const [a, b, c] = (n.input ?? []).map((i) => get(i));
      let out: Float32Array;
      switch (n.opType) {
        case 'Identity': case 'Cast': out = Float32Array.from(a); break;
        case 'Add': out = map2(a, b, (x, y) => x + y); break;
        case 'Sub': out = map2(a, b, (x, y) => x - y); break;
        case 'Mul': out = map2(a, b, (x, y) => x * y); break;
        case 'Div': out = map2(a, b, (x, y) => x / y); break;
        case 'Min': out = map2(a, b, (x, y) => Math.min(x, y)); break;
        case 'Pow': out = map2(a, b, (x, y) => Math.pow(x, y)); break;
        case 'GreaterOrEqual': out = map2(a, b, (x, y) => (x >= y ? 1 : 0)); break;
        case 'LessOrEqual': out = map2(a, b, (x, y) => (x <= y ? 1 : 0)); break;
        case 'Cos': out = a.map((x) => Math.cos(x)); break;
        case 'ReduceSum': out = new Float32Array([a.reduce((s, x) => f(s + x), 0)]); break;
        case 'Where': out = map2(b, c, (x, y) => (a[0] ? x : y)); break;
        default: throw new KqkdError('schedule graph node', 'an op the host schedule evaluator knows', n.opType ?? '?');
      }
      env.set(n.output![0], out);
    }
    return get(sg.output)[0];
  };
}

/** The float32 learning rate the optimizer graph feeds the kernel at ORT step `step` (= updates taken + 1). */
export function scheduleRate(optimizer: OptimizerConfig, schedule: LrSchedule): (step: number) => number {
  const k = kernelSettings(optimizer);
  const sched = compileSchedule(schedule, k.rateMultiplier / ORT_WEB_LEARNING_RATE);
  return (step) => f(f(ORT_WEB_LEARNING_RATE) * sched(step));
}

type NativeOptimizerAddon = Pick<NativeAddon, 'adamwUpdate' | 'optimThreads'>;

const SCALAR_NAMES = ['alpha', 'beta', 'oneMinusAlpha', 'oneMinusBeta', 'epsilon', 'lrCorrected', 'lrWeightDecay', 'lr', 'weightDecay',
  'alphaCorrection', 'betaCorrection'] as const;

/**
 * The constants of one update as the addon's adamwUpdate takes them: adamMode 0 or 1, every other value a finite
 * float32 (a rate that overflows float32 is refused here, naming it, rather than by the addon).
 */
export function checkAdamwScalars(s: AdamWScalars): void {
  if (s.adamMode !== 0 && s.adamMode !== 1) invalidArgument('scalars.adamMode', '0 or 1', s.adamMode);
  for (const key of SCALAR_NAMES) {
    if (typeof s[key] !== 'number' || !Number.isFinite(Math.fround(s[key]))) invalidArgument(`scalars.${key}`, 'a finite float32 number', s[key]);
  }
}

/** The addon's optimizer step, or why it is unavailable. */
function nativeOptimizer(): { addon: NativeOptimizerAddon; reason?: undefined } | { addon: null; reason: string } {
  const r = tryLoadAddon();
  if (!r.addon) return r;
  return typeof r.addon.adamwUpdate === 'function' && typeof r.addon.optimThreads === 'function' ? { addon: r.addon }
    : { addon: null, reason: '@kqkd/native is built without adamwUpdate (rebuild it: npm run build -w @kqkd/native)' };
}

/** Where the update runs: `auto` (default) = the native addon when it is built, else TypeScript. */
export interface HostOptimizerOptions {
  backend?: 'auto' | 'native' | 'ts';
  /** Native update threads: 0 (default) = automatic (≤ 4; the update is memory bound), 1 = serial. */
  threads?: number;
}

/** A parameter the optimizer updates: its live buffer (updated in place). */
export interface HostOptimizerSlot {
  name: string;
  dims: readonly number[];
  param: Float32Array;
}

interface Slot extends HostOptimizerSlot { m: Float32Array; v: Float32Array; grad: Float32Array; borrowed: Float32Array | null }

export class HostOptimizer {
  readonly settings: AdamWKernelSettings;
  private readonly slots: Slot[];
  private readonly rate: (step: number) => number;
  /** beta1 of update t (0-based) when the schedule cycles it (one-cycle `cycleMomentum`), else undefined. */
  private readonly beta1At: (t: number) => number | undefined;
  private stepCount: number;
  private accumulated = 0;
  private readonly native: NativeOptimizerAddon | null;
  private readonly threads: number;
  /** Where the update runs (debug): 'native' = @kqkd/native's C++ loop, 'ts' = the TypeScript loop. */
  readonly backend: 'native' | 'ts';
  /** Why `backend` is what it is (the addon's load error when it fell back to TypeScript). */
  readonly backendReason: string;

  /** `state` (a checkpoint's optimizer group) restores the moments and the step. */
  constructor(readonly optimizer: OptimizerConfig, schedule: LrSchedule, slots: readonly HostOptimizerSlot[], state?: OptimizerGroup,
    options: HostOptimizerOptions = {}) {
    const choice = options.backend ?? 'auto';
    if (!['auto', 'native', 'ts'].includes(choice)) invalidArgument('options.backend', 'one of "auto", "native", "ts"', choice);
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) invalidArgument('options.threads', 'an integer in [0, 1024]', threads);
    this.threads = threads;
    if (choice === 'ts') {
      this.native = null;
      this.backend = 'ts';
      this.backendReason = 'options.backend = "ts"';
    } else {
      const n = nativeOptimizer();
      if (!n.addon && choice === 'native') throw new KqkdError('options.backend "native"', 'the @kqkd/native optimizer step', n.reason);
      this.native = n.addon;
      this.backend = n.addon ? 'native' : 'ts';
      this.backendReason = n.addon ? `@kqkd/native adamwUpdate, ${n.addon.optimThreads(threads)} thread(s)` : `@kqkd/native unavailable: ${n.reason}`;
    }
    this.settings = kernelSettings(optimizer);
    this.rate = scheduleRate(optimizer, schedule);
    if (momentumAt(schedule, 0) !== undefined && optimizer.kind !== 'adamw') {
      throw new KqkdError('schedule.cycleMomentum', `an AdamW optimizer (beta1 is what cycles; ${optimizer.kind} keeps its momentum)`, 'true');
    }
    this.beta1At = (t) => momentumAt(schedule, t);
    if (!Array.isArray(slots) || slots.length === 0) invalidArgument('slots', 'a non-empty list of parameters', slots);
    const states = new Map((state?.states ?? []).map((s) => [s.paramName, s]));
    this.slots = slots.map((s, i) => {
      // m and v are allocated here, so param (and a borrowed gradient, checked in accumulate) are all the addon needs checked
      if (!(s.param instanceof Float32Array)) invalidArgument(`slots[${i}].param`, 'a Float32Array', s.param);
      const m = new Float32Array(s.param.length), v = new Float32Array(s.param.length);
      const st = states.get(s.name);
      if (state && !st) throw new KqkdError('state.states', `moments for "${s.name}"`, 'none');
      for (const [i, key] of MOMENTUM_NAMES.entries()) {
        const t = st?.momentums.find((x) => x.name === key);
        if (st && !t) throw new KqkdError(`state "${s.name}"`, `a momentum named "${key}"`, 'none');
        if (t) {
          if (t.data.length !== m.length) throw new KqkdError(`state "${s.name}".${key}`, `${m.length} values`, `${t.data.length}`);
          (i === 0 ? m : v).set(t.data);
        }
      }
      return { ...s, m, v, grad: new Float32Array(0), borrowed: null };
    });
    this.stepCount = state?.step ?? 0;
  }

  /** Optimizer updates taken (the checkpoint's step). */
  get step(): number {
    return this.stepCount;
  }

  /** The float32 rate of the next update. */
  get nextRate(): number {
    return this.rate(this.stepCount + 1);
  }

  /**
   * Adds one micro-batch's gradients (by parameter name). `first`: the first micro-batch of an update (copies, like
   * InPlaceAccumulatorV2 after lazyResetGrad). With `borrow` the arrays are used without a copy when the update
   * follows before they change (one micro-batch per update).
   */
  accumulate(gradients: Readonly<Record<string, Float32Array>>, first: boolean, borrow = false): void {
    if (!first && this.accumulated === 0) throw new KqkdError('accumulate', 'a first micro-batch before the others', 'first = false');
    for (const s of this.slots) {
      const g = gradients[s.name];
      if (!(g instanceof Float32Array) || g.length !== s.param.length) {
        throw new KqkdError(`gradients["${s.name}"]`, `a Float32Array of ${s.param.length} values`, g ? `${g.length} values` : 'none');
      }
      if (first) {
        if (borrow) {
          if (viewsOverlap(g, s.param)) throw new KqkdError(`gradients["${s.name}"]`, 'an array that does not overlap its parameter', 'a view sharing memory with it');
          s.borrowed = g;
        } else {
          if (s.grad.length !== g.length) s.grad = new Float32Array(g.length);
          s.grad.set(g);
          s.borrowed = null;
        }
      } else {
        if (s.borrowed) { // a borrowed first micro-batch turns into an owned buffer
          if (s.grad.length !== g.length) s.grad = new Float32Array(g.length);
          s.grad.set(s.borrowed);
          s.borrowed = null;
        }
        const acc = s.grad;
        for (let i = 0; i < acc.length; i++) acc[i] = f(acc[i] + g[i]);
      }
    }
    this.accumulated = first ? 1 : this.accumulated + 1;
  }

  /** One update of every parameter from the accumulated gradients, at the schedule's rate; counts the step. */
  update(): void {
    if (this.accumulated === 0) throw new KqkdError('HostOptimizer.update', 'accumulated gradients', 'none since the last update');
    const t = this.stepCount + 1;
    const beta1 = this.beta1At(this.stepCount);
    const scalars = adamwScalars(beta1 === undefined ? this.settings : { ...this.settings, alpha: beta1 }, t, this.rate(t));
    if (this.native) checkAdamwScalars(scalars); // lengths, threads and overlap are checked where they are set
    for (const s of this.slots) {
      const grad = s.borrowed ?? s.grad;
      if (this.native) this.native.adamwUpdate(s.param, grad, s.m, s.v, scalars, this.threads);
      else adamwUpdateScalars(scalars, s.param, grad, s.m, s.v);
    }
    for (const s of this.slots) s.borrowed = null;
    this.accumulated = 0;
    this.stepCount++;
  }

  /** The optimizer group for a checkpoint (momentum0 = m, momentum1 = v), as `OptimizerStateMirror` writes it. */
  toOptimizerGroup(): OptimizerGroup {
    return {
      groupName: OPTIMIZER_GROUP_NAME, step: this.stepCount, initialLearningRate: ORT_WEB_LEARNING_RATE,
      states: this.slots.map((s) => ({
        paramName: s.name,
        momentums: [
          { name: MOMENTUM_NAMES[0], dims: s.dims, data: s.m.slice() },
          { name: MOMENTUM_NAMES[1], dims: s.dims, data: s.v.slice() },
        ],
      })),
    };
  }
}
