/**
 * Hinton's KD on the logits, T²·KL(teacher_T ‖ student_T) × weights.kd (T = spec.temperature), and the same with
 * logit standardisation (Sun et al. 2024: both logits z-scored before softening).
 */
import { kdLoss } from '../losses/index.js';
import type { LossTerm, TermContext } from './types.js';

const kd = (standardize: boolean) => (ctx: TermContext) => kdLoss(ctx.g, ctx.logits, ctx.teacherLogits(), {
  temperature: ctx.spec.temperature, weight: ctx.spec.weights.kd, standardize, name: 'kd',
});

export const KD: LossTerm = {
  key: 'kd', title: 'T²·KL between softened teacher and student logits', pairing: 'none', readsTeacherLogits: true, build: kd(false),
};

export const KD_LS: LossTerm = {
  key: 'kd-ls', title: 'T²·KL between the z-scored, softened teacher and student logits', pairing: 'none', readsTeacherLogits: true, build: kd(true),
};
