/**
 * A distillation method as a training objective of @kqkd/train: the student's graph gets the method's loss terms
 * (distill-graph.ts), the teacher's rows arrive per batch (from the teacher cache), and the spec joins the run's
 * config and hash under the key `distill`.
 */
import { createRng, describeValue, KqkdError } from '@kqkd/common';
import type { ModelProto } from '@kqkd/onnx';
import type { ExtraFeeds, TrainingObjective } from '@kqkd/train';
import { composeDistillation, distillationInputs } from './distill-graph.js';
import { parseDistillSpec, type DistillSpec, type DistillSpecInput } from './spec.js';

export const DISTILL_OBJECTIVE_KEY = 'distill';

export interface DistillTeacher {
  /** The teacher's rows (features/logits, by graph input name) for a batch of training-sample indices. */
  feeds(indices: readonly number[]): ExtraFeeds;
  /** The teacher model, for methods that reuse its graph (SimKD's classifier). */
  model?: ModelProto;
}

/** The training objective of a distillation spec (validated here) with its teacher. */
export function distillObjective(spec: DistillSpecInput | DistillSpec, teacher: DistillTeacher): TrainingObjective {
  const parsed = parseDistillSpec(spec);
  if (!teacher || typeof teacher.feeds !== 'function') {
    throw new KqkdError('teacher.feeds', `the teacher's rows for a batch of training-sample indices (method ${parsed.method}; e.g. from openTeacherCache)`, describeValue(teacher?.feeds));
  }
  return {
    key: DISTILL_OBJECTIVE_KEY,
    spec: parsed,
    inputs: distillationInputs(parsed).map((i) => ({ name: i.name, shape: i.shape })),
    compose: (g, student, training) => composeDistillation(g, student, { spec: parsed, ...(teacher.model ? { teacherModel: teacher.model } : {}) }, training),
    feeds: (indices) => teacher.feeds(indices),
    refusesAugmentation: 'teacher features come from a cache of the unaugmented training images',
  };
}

/**
 * For timing a distillation step (tools/bench/train-step-fkd.mjs): the spec without a teacher (a dummy hash), its
 * teacher inputs fed seeded random normal rows. SimKD is not offered (it needs the teacher's ONNX classifier).
 */
export function benchDistillObjective(spec: Omit<DistillSpecInput, 'teacherSha256'> & { teacherSha256?: string }, root = 'distill'): TrainingObjective {
  const parsed = parseDistillSpec({ teacherSha256: '0'.repeat(64), ...spec }, root);
  if (parsed.method === 'simkd') {
    throw new KqkdError(`${root}.method`, 'a method without SimKD\'s reused teacher classifier (the bench has no teacher model)', '"simkd"');
  }
  const rng = createRng(1);
  const inputs = distillationInputs(parsed);
  return distillObjective(parsed, {
    feeds: (indices) => Object.fromEntries(inputs.map(({ name, shape }) =>
      [name, Float32Array.from({ length: indices.length * shape.reduce((a, b) => a * b, 1) }, () => rng.nextNormal())])),
  });
}
