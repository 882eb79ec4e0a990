/**
 * The validated distillation spec as a type (a run's `distill` block after `parseDistillSpec`), in a module that
 * imports no method or term: the terms' types (terms/types.ts) read it without closing an import cycle through
 * spec.ts → methods.ts → terms/. spec.ts checks at compile time that its schema's output is exactly this type.
 */
import type { PROJECTORS } from './losses/feature.js';

export interface DistillSpec {
  /** A method key (METHOD_KEYS). */
  method: string;
  teacherSha256: string;
  teacherClasses: number;
  pairs: { student: number; teacher: number; teacherShape: number[] }[];
  projector: (typeof PROJECTORS)[number];
  temperature: number;
  weights: { feature: number; kd: number; sp: number; semckd: number; simkd: number };
  simkd?: {
    teacherLayer: number;
    teacherShape: number[];
    teacherTensor: string;
    teacherLogitsTensor: string;
    factor: number;
  } | undefined;
}
