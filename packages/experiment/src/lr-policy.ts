/**
 * The peak learning rate each method runs with. The paper's text gives one `MaxLR` per model family, but under its
 * one-cycle schedule its code passes the config's `LearningRate` as the peak (MaxLR is only printed): 0.05 for every
 * distillation method with a ResNet or MobileNet student, 0.01 with VGG or ViT students, and 0.01 for the students
 * trained alone with CE. `paper-code` reproduces that; `shared` gives every method the configured rate; `tuned` takes
 * every method's rate from `methodLr`, a table an earlier tuning chose on the validation split (tuning.ts); `methodLr`
 * overrides single methods under the other policies. An experiment with a tuning block chooses the rates itself.
 */
import { getMethod, REFERENCE_METHOD } from '@kqkd/distill';

export const LR_POLICIES = ['shared', 'paper-code', 'tuned'] as const;
export type LrPolicy = (typeof LR_POLICIES)[number];

/** Where a method's peak learning rate came from (results.json `methods[key].lrSource`). */
export type LrSource = 'shared' | 'paper-code' | 'tuned' | 'methodLr' | 'tuning';

/** The paper code's peak LR for a method and a student model (zoo name). */
export function paperCodeLearningRate(method: string, student: string): number {
  getMethod(method); // unknown keys fail here
  if (method === REFERENCE_METHOD) return 0.01;
  return student.startsWith('resnet') || student.startsWith('mobilenet') ? 0.05 : 0.01;
}

export interface LrPolicyInput {
  method: string;
  student: string;
  sharedLr: number;
  policy: LrPolicy;
  methodLr?: Partial<Record<string, number>>;
}

/** The peak learning rate of `method` under a policy (explicit `methodLr` first) and where it came from. */
export function methodLearningRateWithSource(o: LrPolicyInput): { lr: number; source: LrSource } {
  const explicit = o.methodLr?.[o.method];
  if (explicit !== undefined) return { lr: explicit, source: o.policy === 'tuned' ? 'tuned' : 'methodLr' };
  if (o.policy === 'paper-code') return { lr: paperCodeLearningRate(o.method, o.student), source: 'paper-code' };
  // 'tuned' without an entry is refused when the experiment file is read (config.ts); the shared rate is the fallback.
  return { lr: o.sharedLr, source: 'shared' };
}

/** The peak learning rate of `method` under a policy (explicit `methodLr` first). */
export function methodLearningRate(o: LrPolicyInput): number {
  return methodLearningRateWithSource(o).lr;
}
