/**
 * @kqkd/train's `benchTrainStep` with a `benchDistillObjective` (the FKD student step with cached teacher features, as
 * timed by tools/bench/train-step-fkd.mjs): a tiny ResNet9 runs the fkd-kq step on random teacher inputs, its loss
 * after three steps equal to the same steps in onnxruntime-web's training build, and a bad
 * spec fails before any graph is built with a KqkdError naming the field.
 */
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { benchTrainStep, type BenchTrainStepOptions } from '@kqkd/train';
import { benchDistillObjective } from '../src/index.js';

const distill = (spec: Parameters<typeof benchDistillObjective>[0]) => benchDistillObjective(spec);

// ResNet9 at width 0.0625 on 1×16×16: block outputs (layers 1–4) are [4,16,16], [8,8,8], [16,4,4], [32,2,2].
const base: BenchTrainStepOptions = {
  model: 'resnet9', width: 0.0625, input: [1, 16, 16], classes: 10, batch: 8, steps: 2, warmupSteps: 1, backend: 'native', threads: 1,
};
const pairs = [
  { student: 1, teacher: 12, teacherShape: [16, 4, 4] },
  { student: 2, teacher: 13, teacherShape: [16, 4, 4] },
  { student: 3, teacher: 14, teacherShape: [32, 2, 2] },
  { student: 4, teacher: 15, teacherShape: [32, 2, 2] },
];

async function rejection(p: Promise<unknown>): Promise<KqkdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KqkdError);
    return err as KqkdError;
  }
  throw new Error('expected a KqkdError');
}

describe('benchTrainStep with a distillation objective', () => {
  it('fkd-kq step on a tiny ResNet9: the loss of ONNX Runtime\'s training build on the same steps, images/s, teacher inputs of the method', async () => {
    const r = await benchTrainStep({ ...base, objective: distill({ method: 'fkd-kq', pairs, teacherClasses: 10 }) });
    // An independent implementation of the same three steps (warm-up + 2: forward, gradients, AdamW): onnxruntime-web's
    // training build on the graph before kqkd's lowering. A teacher input fed to the wrong pair, a dropped feature term
    // or a wrong update changes it.
    const reference = await benchTrainStep({ ...base, backend: 'web-training', objective: distill({ method: 'fkd-kq', pairs, teacherClasses: 10 }) });
    expect(Math.abs(r.lastLoss - reference.lastLoss) / reference.lastLoss, `native ${r.lastLoss} vs web-training ${reference.lastLoss}`).toBeLessThan(1e-4);
    expect(r.lastLoss).toBeGreaterThan(0);
    expect(Number.isFinite(r.imagesPerSecond)).toBe(true);
    expect(r.imagesPerSecond).toBeGreaterThan(0);
    expect(r.steps).toBe(2);
    expect(r.objective?.key).toBe('distill');
    expect(r.objective?.spec).toMatchObject({ method: 'fkd-kq', pairs, projector: 'single-layer-conv' });
    expect(r.objective?.inputs).toEqual(pairs.map((p) => ({ name: `teacher.layer${p.teacher}`, shape: p.teacherShape })));
  }, 60_000);

  it('plain CE step reports objective null', async () => {
    const r = await benchTrainStep({ ...base, steps: 1, warmupSteps: 0 });
    expect(r.objective).toBeNull();
    expect(Number.isFinite(r.lastLoss)).toBe(true);
  }, 60_000);

  it('a bad distill spec is a KqkdError naming the field', async () => {
    const bench = async (spec: unknown) => benchTrainStep({ ...base, objective: distill(spec as never) });
    let e = await rejection(bench({ method: 'fkd-kq', pairs: [], teacherClasses: 10 }));
    expect(e.argument).toBe('distill.pairs');
    e = await rejection(bench({ method: 'no-such', pairs, teacherClasses: 10 }));
    expect(e.argument).toBe('distill.method');
    e = await rejection(bench({ method: 'fkd-kq', pairs: [{ ...pairs[0], teacherShape: [16, 0, 4] }], teacherClasses: 10 }));
    expect(e.argument).toMatch(/^distill\.pairs\.0\.teacherShape/);
    e = await rejection(bench({ method: 'fkd-kq', pairs, teacherClasses: 0 }));
    expect(e.argument).toBe('distill.teacherClasses');
    e = await rejection(bench({ method: 'fkd-kq', pairs, teacherClasses: 10, extra: 1 }));
    expect(e.argument).toBe('distill');
    expect(e.message).toContain('"extra"');
    // A student layer the model does not have: named when the graph is composed.
    e = await rejection(bench({ method: 'fkd-kq', pairs: [{ ...pairs[0], student: 9 }], teacherClasses: 10 }));
    expect(e.argument).toBe('student layer 9');
  }, 60_000);
});
