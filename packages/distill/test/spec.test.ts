/**
 * The distillation spec (`parseDistillSpec`): each method accepted with what it needs and the loss defaults filled;
 * every problem a KqkdError naming the field (config.distill.…), the rule and the value received.
 */
import { describe, expect, it } from 'vitest';
import { expectError } from '../../../test/support/kqkd-error.js';
import { METHOD_KEYS, parseDistillSpec } from '../src/index.js';



const train = (distill: unknown) => ({ distill: parseDistillSpec(distill) });
const SHA = '0123456789abcdef'.repeat(4);
const PAIRS = [{ student: 1, teacher: 12, teacherShape: [32, 8, 8] }, { student: 2, teacher: 13, teacherShape: [64, 4, 4] }];
const SIMKD = { teacherLayer: 16, teacherShape: [64, 4, 4], teacherTensor: 'layer4.2.out', teacherLogitsTensor: 'logits' };

describe('parseDistillSpec: the spec against the method', () => {
  it('accepts each method with what it needs, and fills the loss defaults', () => {
    for (const key of METHOD_KEYS) {
      const features = ['1lc', '1lc-vkd', 'sp-vkd', 'semckd'].includes(key) || key.startsWith('fkd');
      const d = train({ method: key, teacherSha256: SHA, teacherClasses: 10, ...(features ? { pairs: PAIRS } : {}), ...(key === 'simkd' ? { simkd: SIMKD } : {}) }).distill!;
      expect(d.method).toBe(key);
      expect([d.projector, d.temperature, d.weights]).toEqual(['single-layer-conv', 4, { feature: 1, kd: 1, sp: 3000, semckd: 400, simkd: 1 }]);
      if (key === 'simkd') expect(d.simkd!.factor).toBe(2);
    }
  });

  it('names the field (config.distill.…), the rule and the value received', () => {
    const ok = { method: 'fkd-kq', teacherSha256: SHA, teacherClasses: 10, pairs: PAIRS };
    expectError(() => train({ ...ok, pairs: undefined }), 'config.distill.pairs', 'at least one (student, teacher) layer pair for method fkd-kq', 'none');
    expectError(() => train({ ...ok, pairs: [] }), 'config.distill.pairs', 'at least one (student, teacher) layer pair for method fkd-kq', 'none');
    expectError(() => train({ ...ok, method: 'semckd', pairs: [] }), 'config.distill.pairs', 'for method semckd', 'none');
    expectError(() => train({ ...ok, method: 'vkd' }), 'config.distill.pairs', 'none for method vkd (it has no layer-pair feature term)', '2 pair(s)');
    expectError(() => train({ ...ok, method: 'ce' }), 'config.distill.pairs', 'none for method ce', '2 pair(s)');
    expectError(() => train({ ...ok, method: 'simkd', pairs: undefined }), 'config.distill.simkd', 'the SimKD teacher layer block for method simkd', 'nothing');
    expectError(() => train({ ...ok, method: 'simkd', simkd: SIMKD }), 'config.distill.pairs', 'none for method simkd', '2 pair(s)');
    expectError(() => train({ ...ok, simkd: SIMKD }), 'config.distill.simkd', 'nothing for method fkd-kq', 'a simkd block');
    expectError(() => train({ ...ok, pairs: [PAIRS[0], { ...PAIRS[1], student: 1 }] }), 'config.distill.pairs',
      'distinct student layers (pairs map one-to-one)', 'student layers 1, 1');
    expectError(() => train({ ...ok, method: '1lc-vkd', pairs: [PAIRS[0], PAIRS[0]] }), 'config.distill.pairs', 'distinct student layers', 'student layers 1, 1');
    expectError(() => train({ ...ok, teacherSha256: 'abc' }), 'config.distill.teacherSha256', 'a sha256 of 64 hex digits', '"abc"');
    expectError(() => train({ ...ok, teacherSha256: SHA.toUpperCase() }), 'config.distill.teacherSha256', 'a sha256 of 64 hex digits', `"${SHA.toUpperCase()}"`);
    expectError(() => train({ ...ok, teacherSha256: undefined }), 'config.distill.teacherSha256', /.+/, 'nothing');
    const m = expectError(() => train({ ...ok, method: 'fkd' }), 'config.distill.method', 'a method (', '"fkd"');
    expect(m.expected).toContain(METHOD_KEYS.join(', '));
    expectError(() => train({ ...ok, teacherClasses: 0 }), 'config.distill.teacherClasses', 'an integer ≥ 1', '0');
    expectError(() => train({ ...ok, pairs: [{ ...PAIRS[0], teacherShape: [32, 0, 8] }] }), 'config.distill.pairs.0.teacherShape.1', 'an integer ≥ 1', '0');
    expectError(() => train({ ...ok, pairs: [{ ...PAIRS[0], teacherShape: [1, 2, 3, 4] }] }), 'config.distill.pairs.0.teacherShape', /.+/, '[1,2,3,4]');
    expectError(() => train({ ...ok, pairs: [{ ...PAIRS[0], student: -1 }] }), 'config.distill.pairs.0.student', 'a layer index ≥ 0', '-1');
    expectError(() => train({ ...ok, projector: 'mlp' }), 'config.distill.projector', /.+/, '"mlp"');
    expectError(() => train({ ...ok, weights: { feature: -1 } }), 'config.distill.weights.feature', /.+/, '-1');
    expectError(() => train({ ...ok, weights: { ce: 1 } }), 'config.distill.weights', /.+/, 'unknown key(s) "ce"');
    expectError(() => train({ ...ok, method: 'simkd', pairs: undefined, simkd: { ...SIMKD, factor: 0 } }), 'config.distill.simkd.factor', 'an integer ≥ 1', '0');
  });
});

