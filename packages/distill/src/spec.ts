/**
 * The distillation spec (a run's `distill` block): the method, the teacher (by its model hash; the features come from
 * the teacher cache), the (student layer, teacher layer) pairs with the teacher's per-sample feature shapes, and the
 * loss settings. Validated with the method's needs; it joins the run's config hash under the key `distill`.
 */
import { z } from 'zod';
import { KqkdError } from '@kqkd/common';
import { parseWithSchema, positiveInt } from '@kqkd/train';
import { PROJECTORS } from './losses/feature.js';
import { getMethod, METHOD_KEYS, pairing, predictorTerm } from './methods.js';
import type { DistillSpec } from './spec-type.js';

const layerIndex = z.number().int('an integer layer index').min(0, 'a layer index ≥ 0');

export const distillSpecSchema = z.object({
  method: z.enum(METHOD_KEYS as [string, ...string[]], { error: `a method (${METHOD_KEYS.join(', ')})` }).describe('distillation method key'),
  teacherSha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 of 64 hex digits').describe('sha256 of the teacher ONNX model'),
  teacherClasses: positiveInt().describe('classes of the teacher logits'),
  pairs: z.array(z.object({
    student: layerIndex.describe('student generalized-layer index'),
    teacher: layerIndex.describe('teacher generalized-layer index'),
    teacherShape: z.array(positiveInt()).min(1).max(3).describe('per-sample shape of the teacher features'),
  }).strict()).default([]).describe('feature pairs, student layer → teacher layer, in depth order'),
  projector: z.enum(PROJECTORS).default('single-layer-conv').describe('feature projector: single-layer-conv (1×1 conv, the paper) or three-layer-conv'),
  temperature: z.number().positive().max(100).default(4).describe('KD temperature (the KL term is multiplied by T²)'),
  weights: z.object({
    feature: z.number().min(0).default(1).describe('weight of L_F (MSE feature term)'),
    kd: z.number().min(0).default(1).describe('weight on top of T²·KL'),
    sp: z.number().min(0).default(3000).describe('SP weight γ (Tung & Mori: 3000)'),
    semckd: z.number().min(0).default(400).describe('SemCKD weight β (Chen et al.: 400)'),
    simkd: z.number().min(0).default(1).describe('SimKD feature-MSE weight'),
  }).strict().default({ feature: 1, kd: 1, sp: 3000, semckd: 400, simkd: 1 }),
  simkd: z.object({
    teacherLayer: layerIndex.describe('teacher layer whose features the projected student matches (the map before its classifier)'),
    teacherShape: z.array(positiveInt()).min(1).max(3),
    teacherTensor: z.string().min(1).describe('tensor name of that layer in the teacher graph'),
    teacherLogitsTensor: z.string().min(1).describe('tensor name of the teacher logits'),
    factor: positiveInt().max(64).default(2).describe('projector hidden width = teacher channels / factor'),
  }).strict().optional(),
}).strict();

export type { DistillSpec } from './spec-type.js';
/** Compile-time check: the schema's output and the DistillSpec of ./spec-type.ts are the same type, both ways. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const specTypeMatchesSchema: Same<z.output<typeof distillSpecSchema>, DistillSpec> = true;
void specTypeMatchesSchema;
export type DistillSpecInput = z.input<typeof distillSpecSchema>;

/** Validates a spec and checks it against its method's needs; errors name `<root>.<field>` (default `config.distill`). */
export function parseDistillSpec(input: unknown, root = 'config.distill'): DistillSpec {
  const d = parseWithSchema(distillSpecSchema, input, root);
  const m = getMethod(d.method);
  const wantsPairs = pairing(m) !== 'none';
  const predictor = predictorTerm(m) !== undefined;
  if (wantsPairs && d.pairs.length === 0) {
    throw new KqkdError(`${root}.pairs`, `at least one (student, teacher) layer pair for method ${m.key}`, 'none');
  }
  if (!wantsPairs && d.pairs.length > 0) {
    throw new KqkdError(`${root}.pairs`, `none for method ${m.key} (it has no layer-pair feature term)`, `${d.pairs.length} pair(s)`);
  }
  if (predictor !== (d.simkd !== undefined)) {
    throw new KqkdError(`${root}.simkd`, predictor ? `the SimKD teacher layer block for method ${m.key}` : `nothing for method ${m.key}`,
      d.simkd === undefined ? 'nothing' : 'a simkd block');
  }
  const students = d.pairs.map((p) => p.student);
  if (m.terms.includes('feature') && new Set(students).size !== students.length) {
    throw new KqkdError(`${root}.pairs`, 'distinct student layers (pairs map one-to-one)', `student layers ${students.join(', ')}`);
  }
  return d;
}
