/**
 * The one-cycle schedule against an independent float64 reimplementation of PyTorch's OneCycleLR (two phases, cosine
 * annealing, cycle_momentum) at every step of several short schedules: the learning rate (`learningRateAt`) and beta1
 * (`momentumAt`); values worked by hand; which schedules cycle beta1 at all; and the validation of the momentum range.
 */
import { describe, expect, it } from 'vitest';
import { kqkdError as thrown } from '../../../test/support/kqkd-error.js';
import { KqkdError } from '@kqkd/common';
import { learningRateAt, momentumAt, validateSchedule, type LrSchedule } from '../src/index.js';

interface TorchOneCycle {
  total: number; maxLr: number; pct?: number; div?: number; finalDiv?: number; base?: number; max?: number;
}

/**
 * torch.optim.lr_scheduler.OneCycleLR (three_phase=False, anneal_strategy='cos', cycle_momentum=True), transcribed
 * from its `__init__` / `get_lr`: the phase list with float end steps, the loop that picks the first phase whose
 * end_step >= step_num (or the last one), and `_annealing_cos`. `step` is PyTorch's last_epoch: 0 for the first update.
 */
function torchOneCycle(o: TorchOneCycle): (step: number) => { lr: number; momentum: number } {
  const pctStart = o.pct ?? 0.3, divFactor = o.div ?? 25, finalDivFactor = o.finalDiv ?? 1e4;
  const baseMomentum = o.base ?? 0.85, maxMomentum = o.max ?? 0.95;
  const initialLr = o.maxLr / divFactor;
  const minLr = initialLr / finalDivFactor;
  const phases = [
    { end_step: pctStart * o.total - 1, start_lr: initialLr, end_lr: o.maxLr, start_momentum: maxMomentum, end_momentum: baseMomentum },
    { end_step: o.total - 1, start_lr: o.maxLr, end_lr: minLr, start_momentum: baseMomentum, end_momentum: maxMomentum },
  ];
  const annealingCos = (start: number, end: number, pct: number) => {
    const cosOut = Math.cos(Math.PI * pct) + 1;
    return end + ((start - end) / 2.0) * cosOut;
  };
  return (stepNum: number) => {
    if (stepNum > o.total - 1) throw new Error('PyTorch raises past total_steps'); // callers compare inside the cycle
    let startStep = 0;
    for (let i = 0; i < phases.length; i++) {
      const phase = phases[i];
      const endStep = phase.end_step;
      if (stepNum <= endStep || i === phases.length - 1) {
        const pct = (stepNum - startStep) / (endStep - startStep);
        return { lr: annealingCos(phase.start_lr, phase.end_lr, pct), momentum: annealingCos(phase.start_momentum, phase.end_momentum, pct) };
      }
      startStep = phase.end_step;
    }
    throw new Error('unreachable');
  };
}

const schedule = (o: TorchOneCycle): LrSchedule => ({
  kind: 'one-cycle', maxLr: o.maxLr, totalSteps: o.total, cycleMomentum: true,
  ...(o.pct !== undefined ? { pctStart: o.pct } : {}),
  ...(o.div !== undefined ? { divFactor: o.div } : {}),
  ...(o.finalDiv !== undefined ? { finalDivFactor: o.finalDiv } : {}),
  ...(o.base !== undefined ? { baseMomentum: o.base } : {}),
  ...(o.max !== undefined ? { maxMomentum: o.max } : {}),
});

/** |a − b| / |b| (b is never 0 here: every rate and beta1 compared is > 0). */
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const expectRel = (got: number | undefined, want: number, tol: number, what: string) => {
  expect(typeof got, what).toBe('number');
  expect(rel(got!, want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(tol);
};


describe('one-cycle: learning rate and beta1 at every step = PyTorch OneCycleLR (float64, ≤ 1e-12 relative)', () => {
  const cases: TorchOneCycle[] = [
    { total: 10, maxLr: 0.05 }, // warm-up ends exactly on step 2
    { total: 37, maxLr: 0.01 }, // warm-up ends between steps (10.1)
    { total: 100, maxLr: 0.0075 },
    { total: 10, maxLr: 0.1, pct: 0.25 }, // ends at 1.5
    { total: 37, maxLr: 0.02, pct: 0.25 }, // ends at 8.25
    { total: 100, maxLr: 0.003, pct: 0.25, base: 0.8, max: 0.9 },
    { total: 50, maxLr: 0.05, base: 0.5, max: 0.99, div: 10, finalDiv: 100 },
    { total: 20, maxLr: 0.01, base: 0.9, max: 0.9 }, // base = max: beta1 constant
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c)}`, () => {
      const s = schedule(c);
      const ref = torchOneCycle(c);
      for (let t = 0; t < c.total; t++) {
        const want = ref(t);
        expectRel(learningRateAt(s, t), want.lr, 1e-12, `lr at ${t}`);
        expectRel(momentumAt(s, t), want.momentum, 1e-12, `beta1 at ${t}`);
      }
      // PyTorch raises past the last step; here both stay at their last values.
      for (const t of [c.total, c.total + 1, 10 * c.total]) {
        expect(learningRateAt(s, t), `lr at ${t}`).toBe(learningRateAt(s, c.total - 1));
        expect(momentumAt(s, t), `beta1 at ${t}`).toBe(momentumAt(s, c.total - 1));
      }
    });
  }

  it('the rate and beta1 move in opposite directions by the same cosine fraction in each phase', () => {
    const s = schedule({ total: 37, maxLr: 0.02, pct: 0.25, base: 0.8, max: 0.95 });
    const e1 = 0.25 * 37 - 1;
    for (let t = 0; t < 37; t++) {
      const lr = learningRateAt(s, t), m = momentumAt(s, t)!;
      // warm-up: lr goes 0.02/25 → 0.02 while beta1 goes 0.95 → 0.8; decay: lr 0.02 → 0.02/25/1e4, beta1 0.8 → 0.95
      // (how far the rate is below its peak) = (how far beta1 is above its base), each as a fraction of its range
      const lrFrac = (0.02 - lr) / (0.02 - (t <= e1 ? 0.02 / 25 : 0.02 / 25 / 1e4));
      const mFrac = (m - 0.8) / (0.95 - 0.8);
      expect(Math.abs(lrFrac - mFrac), `step ${t}`).toBeLessThan(1e-12);
      // and both stay inside their ranges
      expect(lr).toBeGreaterThanOrEqual(0.02 / 25 / 1e4 * (1 - 1e-15));
      expect(lr).toBeLessThanOrEqual(0.02 * (1 + 1e-15));
      expect(m).toBeGreaterThanOrEqual(0.8 - 1e-15);
      expect(m).toBeLessThanOrEqual(0.95 + 1e-15);
    }
  });
});

describe('one-cycle: values worked by hand', () => {
  it('10 steps (warm-up ends at 0.3·10 − 1 = 2): 0.002/0.95, 0.026/0.9, the peak 0.05/0.85, last 2e-7/0.95', () => {
    const s: LrSchedule = { kind: 'one-cycle', maxLr: 0.05, totalSteps: 10, cycleMomentum: true };
    // t = 0: anneal(initial → max, 0) = initial = 0.05 / 25, beta1 = maxMomentum
    expectRel(learningRateAt(s, 0), 0.002, 1e-15, 'lr(0)');
    expectRel(momentumAt(s, 0), 0.95, 1e-15, 'beta1(0)');
    // t = 1: pct 1/2, cos(π/2) + 1 = 1: the midpoints
    expectRel(learningRateAt(s, 1), (0.002 + 0.05) / 2, 1e-15, 'lr(1)');
    expectRel(momentumAt(s, 1), 0.9, 1e-15, 'beta1(1)');
    // t = 2 = e1: the peak rate, beta1 at its base
    expectRel(learningRateAt(s, 2), 0.05, 1e-15, 'lr(2)');
    expectRel(momentumAt(s, 2), 0.85, 1e-15, 'beta1(2)');
    // t = 9 = e2: min = initial / 1e4, beta1 back to the max
    expectRel(learningRateAt(s, 9), 0.002 / 1e4, 1e-15, 'lr(9)');
    expectRel(momentumAt(s, 9), 0.95, 1e-15, 'beta1(9)');
  });

  it('20 steps (e1 = 5, e2 = 19): the middle of the decay, t = 12, is the midpoint of both ranges', () => {
    const s: LrSchedule = { kind: 'one-cycle', maxLr: 0.04, totalSteps: 20, cycleMomentum: true };
    expectRel(learningRateAt(s, 12), (0.04 + 0.04 / 25 / 1e4) / 2, 1e-15, 'lr(12)');
    expectRel(momentumAt(s, 12), 0.9, 1e-15, 'beta1(12)');
    expectRel(learningRateAt(s, 5), 0.04, 1e-15, 'lr(5)');
    expectRel(momentumAt(s, 5), 0.85, 1e-15, 'beta1(5)');
  });

  it('custom range 0.9 → 0.8: t = 0 gives 0.9, the peak 0.8; custom divFactor 10: lr(0) = max/10', () => {
    const s: LrSchedule = { kind: 'one-cycle', maxLr: 0.1, totalSteps: 10, divFactor: 10, cycleMomentum: true, baseMomentum: 0.8, maxMomentum: 0.9 };
    expectRel(learningRateAt(s, 0), 0.01, 1e-15, 'lr(0)');
    expectRel(momentumAt(s, 0), 0.9, 1e-15, 'beta1(0)');
    expectRel(momentumAt(s, 2), 0.8, 1e-15, 'beta1(2)');
    expectRel(momentumAt(s, 1), 0.85, 1e-15, 'beta1(1)');
  });
});

describe('which schedules cycle beta1', () => {
  it('without cycleMomentum (absent or false) and for constant / multistep, momentumAt is undefined', () => {
    expect(momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10 }, 3)).toBeUndefined();
    expect(momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: false }, 3)).toBeUndefined();
    expect(momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: false, baseMomentum: 0.8, maxMomentum: 0.9 }, 0)).toBeUndefined();
    expect(momentumAt({ kind: 'constant', lr: 0.01 }, 0)).toBeUndefined();
    expect(momentumAt({ kind: 'constant', lr: 0.01 }, 3)).toBeUndefined();
    expect(momentumAt({ kind: 'multistep', lr: 0.01, milestones: [2], gamma: 0.1 }, 3)).toBeUndefined();
    // the rate of such a one-cycle schedule is unchanged by the flag
    const on: LrSchedule = { kind: 'one-cycle', maxLr: 0.01, totalSteps: 37, cycleMomentum: true };
    const off: LrSchedule = { kind: 'one-cycle', maxLr: 0.01, totalSteps: 37 };
    for (let t = 0; t < 37; t++) expect(learningRateAt(on, t)).toBe(learningRateAt(off, t));
  });

  it('constant and multistep rates (PyTorch MultiStepLR) by hand', () => {
    expect(learningRateAt({ kind: 'constant', lr: 0.01 }, 123)).toBe(0.01);
    const m: LrSchedule = { kind: 'multistep', lr: 0.1, milestones: [2, 5], gamma: 0.1 };
    const want = [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001];
    want.forEach((w, t) => expectRel(learningRateAt(m, t), w, 1e-15, `multistep lr(${t})`));
  });

  it('momentumAt still checks the schedule and the step index', () => {
    expect(thrown(() => momentumAt({ kind: 'constant', lr: -1 }, 0)).argument).toBe('schedule.lr');
    const s: LrSchedule = { kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: true };
    expect(thrown(() => momentumAt(s, -1)).argument).toBe('t');
    expect(thrown(() => momentumAt(s, 1.5)).argument).toBe('t');
    // also where beta1 does not cycle (the answer would be undefined either way, the index is still wrong)
    expect(thrown(() => momentumAt({ kind: 'constant', lr: 0.01 }, -1)).argument).toBe('t');
    expect(thrown(() => momentumAt({ ...s, cycleMomentum: false }, 2.5)).argument).toBe('t');
    expect(thrown(() => momentumAt({ ...s, totalSteps: 1 }, 0)).argument).toBe('schedule.totalSteps');
    expect(thrown(() => momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: 'yes' as never }, 0)).argument).toBe('schedule.cycleMomentum');
  });
});

describe('momentum range validation', () => {
  const cyc = (o: object): LrSchedule => ({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: true, ...o } as LrSchedule);
  const bad: [object, string][] = [
    [{ baseMomentum: 0.9, maxMomentum: 0.8 }, 'schedule.maxMomentum'], // max < base
    [{ maxMomentum: 0.8 }, 'schedule.maxMomentum'], // below the default base 0.85
    [{ maxMomentum: 1 }, 'schedule.maxMomentum'],
    [{ maxMomentum: 1.5 }, 'schedule.maxMomentum'],
    [{ maxMomentum: -0.1 }, 'schedule.maxMomentum'],
    [{ baseMomentum: 0, maxMomentum: -0.1 }, 'schedule.maxMomentum'],
    [{ maxMomentum: Number.NaN }, 'schedule.maxMomentum'],
    [{ baseMomentum: -0.1 }, 'schedule.baseMomentum'],
    [{ baseMomentum: 1, maxMomentum: 1 }, 'schedule.baseMomentum'],
    [{ baseMomentum: Number.NaN }, 'schedule.baseMomentum'],
    [{ baseMomentum: '0.8' }, 'schedule.baseMomentum'],
  ];
  for (const [o, arg] of bad) {
    it(`${JSON.stringify(o)} → a KqkdError naming ${arg}, from momentumAt, learningRateAt and validateSchedule`, () => {
      const e = thrown(() => momentumAt(cyc(o), 0));
      expect(e.argument).toBe(arg);
      expect(e.message).toContain(`for ${arg} but received`);
      expect(thrown(() => learningRateAt(cyc(o), 0)).argument).toBe(arg);
      expect(thrown(() => validateSchedule(cyc(o))).argument).toBe(arg);
    });
  }

  it('the edges of the range are accepted: base 0, max = base, max just below 1', () => {
    expect(momentumAt(cyc({ baseMomentum: 0, maxMomentum: 0.999 }), 2)).toBe(0);
    expect(momentumAt(cyc({ baseMomentum: 0, maxMomentum: 0.999 }), 0)).toBeCloseTo(0.999, 15);
    for (let t = 0; t < 10; t++) expect(momentumAt(cyc({ baseMomentum: 0.7, maxMomentum: 0.7 }), t)).toBeCloseTo(0.7, 15);
  });
});
