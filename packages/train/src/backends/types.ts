/**
 * What the training loop needs from a compiled model: one interface, so the loop (epochs, batches, evaluation,
 * checkpoints) is written once and the ONNX Runtime details live in the backends.
 */
import type { ExtraFeeds } from '../objective.js';
import type { BackendOptions, ModelState } from '../student-graph.js';

export interface TrainBackend {
  /** Training (micro-)batch size the training graph was built for (static). */
  readonly batchSize: number;
  /** Micro-batches per optimizer step (gradient accumulation); absent = 1. */
  readonly accumulationSteps?: number;
  /** Per-sample shapes of the extra inputs `step` needs (a training objective's teacher features/logits). */
  readonly extraInputs?: readonly { name: string; shape: number[] }[];
  /**
   * One forward/backward pass on a full (micro-)batch; returns its (float32, unscaled) mean loss. `micro` (default
   * `{ index: 0, of: 1 }`): micro-batch `index` of the `of` accumulated into one optimizer step — the gradients are
   * reset at index 0 and the optimizer update runs after index `of − 1`. `extra`: the batch's rows of every input of
   * `extraInputs` (required when there are any).
   */
  step(x: Float32Array, labels: BigInt64Array, micro?: { index: number; of: number }, extra?: ExtraFeeds): Promise<number>;
  /** Logits [n, classes] of an evaluation batch (any n ≤ the eval batch size), with the running BN statistics. */
  evalLogits(x: Float32Array, n: number): Promise<Float32Array>;
  /** Reads the full state for a checkpoint. */
  state(): Promise<ModelState>;
  /** A plain inference ONNX model (BatchNorm in inference mode with the trained running statistics). */
  exportInference(): Promise<Uint8Array>;
  /** Present when the backend was built with `profilePrefix`: stops profiling, returns the profile file. */
  endProfiling?(): string;
  release(): Promise<void>;
}

/** Builds a backend for a model under training. */
export type BackendFactory = (options: BackendOptions) => Promise<TrainBackend>;
