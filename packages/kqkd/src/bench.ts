/**
 * `benchTrainStep`: images/s of full training steps (forward, backward, optimizer update, BatchNorm write-back) of a
 * zoo model on random inputs, after warm-up steps, on either backend and execution provider (@kqkd/train) — of
 * cross-entropy, or of a distillation method's step (`distill`, built by @kqkd/distill's `benchDistillObjective`
 * with random teacher features). `profile`: ONNX Runtime's per-op and per-node kernel time of the timed steps (native
 * backend; the trace kept in the folder given, or in a temporary one removed afterwards).
 */
import { KqkdError } from '@kqkd/common';
import { benchDistillObjective, type DistillSpecInput } from '@kqkd/distill';
import { benchTrainStep as benchRun, type BenchTrainStepOptions, type BenchTrainStepResult } from '@kqkd/train';
import { throwIfAborted } from './output-folder.js';

/** A training config's `distill` block without the teacher's hash (the bench has no teacher model). */
export type BenchDistillSpec = Omit<DistillSpecInput, 'teacherSha256'>;

export interface BenchTrainStepApiOptions extends BenchTrainStepOptions {
  /** Time this distillation step instead of cross-entropy (e.g. `{ method: 'fkd-kq', pairs: [...], teacherClasses: 10 }`). */
  distill?: BenchDistillSpec;
  /**
   * Checked before the sessions are built and after the timed steps (a benchmark is a few steps; @kqkd/train's loop
   * takes no signal): an aborted signal rejects with its reason.
   */
  signal?: AbortSignal;
}

export async function benchTrainStep(o: BenchTrainStepApiOptions): Promise<BenchTrainStepResult> {
  const { distill, signal, ...rest } = o;
  throwIfAborted(signal);
  if (distill !== undefined && rest.objective !== undefined) throw new KqkdError('distill/objective', 'one step to time', 'both');
  const objective = distill !== undefined ? benchDistillObjective(distill, 'distill') : rest.objective;
  const r = await benchRun({ ...rest, ...(objective ? { objective } : {}) });
  throwIfAborted(signal);
  return r;
}
