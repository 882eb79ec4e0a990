/**
 * The one-cycle schedule against an independent float64 reimplementation of PyTorch's OneCycleLR (two phases, cosine
 * annealing, cycle_momentum) at every step of several short schedules: the learning rate (`learningRateAt`) and beta1
 * (`momentumAt`).
 */
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { learningRateAt, momentumAt, type LrSchedule } from '../src/index.js';

/** torch.optim.lr_scheduler.OneCycleLR (three_phase=False, anneal_strategy='cos'), written from its definition. */
function torchOneCycle(total: number, maxLr: number, pct = 0.3, div = 25, finalDiv = 1e4, base = 0.85, max = 0.95) {
  const initial = maxLr / div;
  const phases = [
    { end: pct * total - 1, lr: [initial, maxLr], m: [max, base] },
    { end: total - 1, lr: [maxLr, initial / finalDiv], m: [base, max] },
  ];
  const cos = (start: number, end: number, p: number) => end + ((start - end) / 2) * (Math.cos(Math.PI * p) + 1);
  return (step: number) => {
    let start = 0;
    for (const [i, ph] of phases.entries()) {
      if (step <= ph.end || i === phases.length - 1) {
        const p = (step - start) / (ph.end - start);
        return { lr: cos(ph.lr[0], ph.lr[1], p), momentum: cos(ph.m[0], ph.m[1], p) };
      }
      start = ph.end;
    }
    throw new Error('unreachable');
  };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('one-cycle: learning rate and beta1 at every step = PyTorch OneCycleLR (float64)', () => {
  const cases: { total: number; maxLr: number; pct?: number; base?: number; max?: number }[] = [
    { total: 10, maxLr: 0.05 }, { total: 37, maxLr: 0.01 }, { total: 100, maxLr: 0.0075 },
    { total: 37, maxLr: 0.02, pct: 0.25 }, { total: 50, maxLr: 0.05, base: 0.8, max: 0.9 },
  ];
  for (const c of cases) {
    it(`${c.total} steps, peak ${c.maxLr}${c.pct ? `, pct ${c.pct}` : ''}${c.base ? `, beta1 ${c.max} → ${c.base}` : ''}`, () => {
      const schedule: LrSchedule = {
        kind: 'one-cycle', maxLr: c.maxLr, totalSteps: c.total, cycleMomentum: true,
        ...(c.pct ? { pctStart: c.pct } : {}), ...(c.base ? { baseMomentum: c.base, maxMomentum: c.max } : {}),
      };
      const ref = torchOneCycle(c.total, c.maxLr, c.pct, 25, 1e4, c.base, c.max);
      for (let t = 0; t < c.total; t++) {
        const want = ref(t);
        expect(rel(learningRateAt(schedule, t), want.lr), `lr at ${t}`).toBeLessThan(1e-12);
        expect(rel(momentumAt(schedule, t)!, want.momentum), `beta1 at ${t}`).toBeLessThan(1e-12);
      }
    });
  }

  it('by hand: the first update runs at peak/25 with beta1 0.95; the peak at beta1 0.85; the last at peak/25/1e4 with beta1 0.95', () => {
    const s: LrSchedule = { kind: 'one-cycle', maxLr: 0.05, totalSteps: 11, cycleMomentum: true }; // warm-up ends at 0.3·11 − 1 = 2.3
    expect(learningRateAt(s, 0)).toBeCloseTo(0.002, 15);
    expect(momentumAt(s, 0)).toBeCloseTo(0.95, 15);
    const peak = { kind: 'one-cycle' as const, maxLr: 0.05, totalSteps: 10, cycleMomentum: true }; // warm-up ends at step 2
    expect(learningRateAt(peak, 2)).toBeCloseTo(0.05, 15);
    expect(momentumAt(peak, 2)).toBeCloseTo(0.85, 15);
    expect(learningRateAt(peak, 9)).toBeCloseTo(0.002 / 1e4, 18);
    expect(momentumAt(peak, 9)).toBeCloseTo(0.95, 15);
    // past the end the schedule holds its last values
    expect(momentumAt(peak, 20)).toBe(momentumAt(peak, 9));
  });

  it('without cycleMomentum, and for the other schedules, beta1 is the optimizer\'s (undefined here)', () => {
    expect(momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10 }, 3)).toBeUndefined();
    expect(momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: false }, 3)).toBeUndefined();
    expect(momentumAt({ kind: 'constant', lr: 0.01 }, 3)).toBeUndefined();
    expect(momentumAt({ kind: 'multistep', lr: 0.01, milestones: [2], gamma: 0.1 }, 3)).toBeUndefined();
  });

  it('bad momentum settings name the field', () => {
    const s = (o: object) => () => momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: true, ...o }, 0);
    expect(s({ baseMomentum: 0.9, maxMomentum: 0.8 })).toThrow(/for schedule\.maxMomentum but received 0\.8/);
    expect(s({ maxMomentum: 1 })).toThrow(/for schedule\.maxMomentum but received 1/);
    expect(s({ baseMomentum: -0.1 })).toThrow(/for schedule\.baseMomentum but received -0\.1/);
    expect(s({ baseMomentum: -0.1 })).toThrow(KqkdError);
    expect(() => momentumAt({ kind: 'one-cycle', maxLr: 0.01, totalSteps: 10, cycleMomentum: 'yes' as never }, 0)).toThrow(/schedule\.cycleMomentum/);
  });
});
