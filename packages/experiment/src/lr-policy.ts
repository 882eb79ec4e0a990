/**
 * The peak learning rate each method runs with. The paper's text gives one `MaxLR` per model family, but under its
 * one-cycle schedule its code passes the config's `LearningRate` as the peak (MaxLR is only printed): 0.05 for every
 * distillation method with a ResNet or MobileNet student, 0.01 with VGG or ViT students, and 0.01 for the students
 * trained alone with CE. `paper-code` reproduces that; `shared` gives every method the configured rate (the fair
 * comparison); `methodLr` overrides single methods.
 */
import { getMethod, REFERENCE_METHOD } from '@kqkd/distill';

export const LR_POLICIES = ['shared', 'paper-code'] as const;
export type LrPolicy = (typeof LR_POLICIES)[number];

/** The paper code's peak LR for a method and a student model (zoo name). */
export function paperCodeLearningRate(method: string, student: string): number {
  getMethod(method); // unknown keys fail here
  if (method === REFERENCE_METHOD) return 0.01;
  return student.startsWith('resnet') || student.startsWith('mobilenet') ? 0.05 : 0.01;
}

/** The peak learning rate of `method` under a policy (explicit `methodLr` first). */
export function methodLearningRate(o: { method: string; student: string; sharedLr: number; policy: LrPolicy; methodLr?: Partial<Record<string, number>> }): number {
  const explicit = o.methodLr?.[o.method];
  if (explicit !== undefined) return explicit;
  return o.policy === 'paper-code' ? paperCodeLearningRate(o.method, o.student) : o.sharedLr;
}
