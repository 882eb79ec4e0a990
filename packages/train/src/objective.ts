/**
 * The seam between the training engine and what is trained for: by default a student learns from cross-entropy on
 * its logits; a `TrainingObjective` (e.g. @kqkd/distill's methods) replaces that with its own loss on the student's
 * graph and its own per-batch inputs (teacher features and logits). The engine stays ignorant of what the terms are;
 * the objective stays ignorant of epochs, backends and checkpoints.
 */
import type { ZooModel } from '@kqkd/models';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';

/** Per-batch inputs besides images and labels (a distillation run's teacher features/logits), by graph input name. */
export type ExtraFeeds = Record<string, Float32Array>;

export interface TrainingObjective {
  /**
   * Key under which `spec` joins the run's recorded config and its hash (`distill` for @kqkd/distill), so two runs of
   * the same model with different objectives never share a run folder.
   */
  readonly key: string;
  /** The objective's validated settings, defaults filled: plain JSON, recorded in the run config and hashed. */
  readonly spec: unknown;
  /** Per-sample shapes of the extra graph inputs, in feed order. */
  readonly inputs: readonly { name: string; shape: number[] }[];
  /**
   * Adds the objective to a built student. Returns the logits the model predicts with (they may differ from the
   * student's own, e.g. SimKD's reused teacher classifier) and, when `training` is given, the scalar training loss.
   */
  compose(g: GraphBuilder, student: ZooModel, training?: { labels: Tensor; batchSize: number }): { logits: Tensor; loss?: Tensor };
  /** The batch's rows of every input of `inputs`, for these training-sample indices. */
  feeds(indices: readonly number[]): ExtraFeeds;
  /** Set when the objective cannot train on augmented images (its teacher features were cached unaugmented): why. */
  readonly refusesAugmentation?: string;
}
