/** What a loss term of a distillation method is, and what it gets to build its graph. */
import type { ZooModel } from '@kqkd/models';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import type { DistillSpec } from '../spec-type.js';

/** One (student layer, teacher layer) pair as the graph sees it. */
export interface GraphPair {
  student: Tensor;
  /** The teacher layer's features: a graph input fed from the teacher cache. */
  teacher: Tensor;
  studentIndex: number;
  teacherIndex: number;
}

/** Everything a term may read while adding itself to the student's training graph. */
export interface TermContext {
  g: GraphBuilder;
  spec: DistillSpec;
  student: ZooModel;
  /** The logits the student predicts with (SimKD replaces them). */
  logits: Tensor;
  /** int64 labels [N]. */
  labels: Tensor;
  /** The fixed training batch size (SemCKD's batch-similarity matrices need it). */
  batchSize: number;
  /** True when the classifier reads a stop-gradient copy of the backbone (the method's head is detached). */
  headDetached: boolean;
  /** The loss a predictor term (SimKD) built together with its logits. */
  predictedLoss?: Tensor;
  /** The pairs this term reads (its `pairing` applied to the spec's pairs). */
  pairs: readonly GraphPair[];
  /** The teacher logits [N, classes] as a graph input (created on first use). */
  teacherLogits(): Tensor;
}

export interface LossTerm {
  /** Registry key, used by the methods (methods.ts). */
  key: string;
  /** One line for docs and errors. */
  title: string;
  /**
   * Which of the spec's (student, teacher) pairs the term reads: every pair, the deepest only (SP matches the last
   * feature map), or none. The teacher layers fed to the graph are exactly those the terms read.
   */
  pairing: 'all' | 'deepest' | 'none';
  /** Whether the term reads the teacher's logits (then they are cached and fed). */
  readsTeacherLogits: boolean;
  /** The scalar loss tensor of this term, already weighted by its `spec.weights` entry. */
  build(ctx: TermContext): Tensor;
  /**
   * For a term that changes what the student predicts with (SimKD: the teacher's classifier on projected student
   * features): the teacher layers it reads besides the pairs, and the new logits, built before any other term, for
   * inference too (`training` absent). `build` then returns the loss `predict` made.
   */
  predictor?: {
    teacherLayers(spec: DistillSpec): { index: number; shape: number[] }[];
    predict(ctx: PredictorContext): { logits: Tensor; loss?: Tensor };
  };
}

/** What a predictor term reads: no labels or pairs, and a teacher layer input only when training. */
export interface PredictorContext {
  g: GraphBuilder;
  spec: DistillSpec;
  student: ZooModel;
  /** The teacher model (SimKD imports its classifier). */
  teacherModel?: import('@kqkd/onnx').ModelProto;
  /** The teacher layer `index` as a graph input [N, ...shape] when training, else undefined. */
  teacherLayer(index: number, shape: number[]): Tensor | undefined;
}
