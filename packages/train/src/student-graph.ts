/**
 * The one student-graph module both training backends build from: the zoo model's forward graph with its loss
 * (cross-entropy, or a `TrainingObjective`'s), the training graphs @kqkd/autodiff derives from it at the fixed batch
 * size, where a backend's starting values come from, how extra inputs are fed, and the plain inference export.
 */
import { KqkdError } from '@kqkd/common';
import { buildTrainingGraphs, type CheckpointTensor, type LrSchedule, type TrainingGraphs } from '@kqkd/autodiff';
import { getModel, loadOnnxStudent, type ModelDefinition, type OnnxStudent, type ZooModel } from '@kqkd/models';
import { DataType, encodeModel, GraphBuilder, withGeneralizedLayers, type ModelProto, type Tensor } from '@kqkd/onnx';
import type { ModelSpec, OptimizerSpec } from './config.js';
import type { ExtraFeeds, TrainingObjective } from './objective.js';
import type { RunState } from './run-state.js';

export const INPUT_NAME = 'input';
export const LABELS_NAME = 'labels';
export const LOGITS_NAME = 'logits';

/** The complete numeric state of a model under training, as stored in the run checkpoint. */
export interface ModelState {
  trainable: CheckpointTensor[];
  /** Frozen tensors: BatchNorm running statistics (and frozen parameters). */
  frozen: CheckpointTensor[];
  moments: import('@kqkd/autodiff').ParameterOptimizerState[];
  /** Optimizer updates taken. */
  step: number;
}

/** What a backend is built from. */
export interface BackendOptions {
  modelSpec: ModelSpec;
  classes: number;
  /** [C, H, W] */
  inputShape: number[];
  batchSize: number;
  evalBatchSize: number;
  optimizer: OptimizerSpec;
  schedule: LrSchedule;
  seed: number;
  /** Resume from this state (parameters, statistics, moments, step). */
  state?: Pick<RunState, 'trainable' | 'frozen' | 'moments' | 'step'>;
  /** Intra-op threads of the sessions (default: ONNX Runtime's choice; web-training: 1 wasm thread). */
  threads?: number;
  /** 'cpu' (default) or 'cuda' (native backend only; needs onnxruntime-node's CUDA provider binaries). */
  executionProvider?: 'cpu' | 'cuda';
  /**
   * Micro-batches per optimizer step (default 1). The training graph's loss-gradient seed is 1/accumulationSteps, so
   * the accumulated gradient is the MEAN of the micro-batch gradients (= the gradient of the mean loss over the
   * effective batch); the reported loss is the unscaled micro-batch mean.
   */
  accumulationSteps?: number;
  /** What the student is trained for besides plain cross-entropy (a distillation method); absent = CE. */
  objective?: TrainingObjective;
  /**
   * Native backend only: ONNX Runtime profiles the training session into `<profilePrefix>_<time>.json` (Chrome trace);
   * the backend's `endProfiling()` stops it and returns the file.
   */
  profilePrefix?: string;
  /**
   * Native CPU backend only: compute the weight gradient of every stride-1 k×k convolution on the host (the addon's
   * per-sample SGEMMs, @kqkd/autodiff `hostConvWeightGradient`) instead of in the graph. Default false: it is twice
   * the in-graph speed for dW itself, but onnxruntime-node hands X and dY back as copies, which eats the gain
   * (docs/benchmarks.md). Unset, the environment variable KQKD_HOST_DW=1 turns it on (a fallback kept for old
   * scripts); the option wins when given.
   */
  hostWeightGradients?: boolean;
}

/**
 * The forward graph of a model spec: input [N, C, H, W] → logits [N, classes], plus the loss when `training` is given
 * (cross-entropy, or the objective's). The model comes from the zoo of @kqkd/models, or (name "onnx") from the
 * spec's file, replayed by @kqkd/models' loadOnnxStudent (checked against the spec's sha256).
 */
export function buildForward(spec: ModelSpec, inputShape: number[], classes: number, seed: number,
  objective?: TrainingObjective, training?: { batchSize: number }):
  { g: GraphBuilder; logits: Tensor; loss?: Tensor; taps: Pick<ZooModel, 'layers' | 'headStartsAfter'> } {
  const g = new GraphBuilder({ name: spec.name.replace(/-/g, '_'), seed });
  const x = g.input(INPUT_NAME, ['N', ...inputShape]);
  const built = (spec.name === 'onnx' ? onnxStudent(spec) : getModel(spec.name)).build(g, x, {
    classes, ...(spec.width !== undefined ? { width: spec.width } : {}), ...(spec.patch !== undefined ? { patch: spec.patch } : {}),
    ...(spec.widths !== undefined ? { widths: spec.widths } : {}), ...(spec.batchNorm !== undefined ? { batchNorm: spec.batchNorm } : {}),
  } as Parameters<ModelDefinition['build']>[2]);
  const taps = { layers: built.layers, headStartsAfter: built.headStartsAfter };
  const labels = training ? g.input(LABELS_NAME, ['N'], DataType.INT64) : undefined;
  if (objective) {
    const composed = objective.compose(g, built, labels ? { labels, batchSize: training!.batchSize } : undefined);
    return { g, logits: g.output(composed.logits, LOGITS_NAME), loss: composed.loss, taps };
  }
  const logits = g.output(built.logits, LOGITS_NAME);
  if (!labels) return { g, logits, taps };
  return { g, logits, loss: g.softmaxCrossEntropy(logits, labels, { name: 'loss' }), taps };
}

const onnxStudents = new Map<string, OnnxStudent>();

/** The ONNX student of a spec (name "onnx"), loaded once per file content. */
export function onnxStudent(spec: ModelSpec): OnnxStudent {
  if (!spec.file) throw new KqkdError('modelSpec.file', 'the student .onnx file (name "onnx")', 'nothing');
  const key = `${spec.file}\0${spec.sha256 ?? ''}`;
  let s = onnxStudents.get(key);
  if (!s) {
    s = loadOnnxStudent(spec.file);
    if (spec.sha256 !== undefined && s.info.sha256 !== spec.sha256) {
      throw new KqkdError(`modelSpec.sha256 of ${spec.file}`, s.info.sha256, `${spec.sha256}: the file changed since the run was configured`);
    }
    onnxStudents.set(key, s);
  }
  return s;
}

/** `TrainBackend.exportInference` of both backends: the inference model of a backend's current state, encoded. */
export function exportInferenceBytes(o: BackendOptions, s: ModelState): Uint8Array {
  return encodeModel(inferenceModel(o.modelSpec, o.inputShape, o.classes, o.seed, [...s.trainable, ...s.frozen], o.objective));
}

/** A plain inference model: the forward graph with these parameter and statistic values as initializers. */
export function inferenceModel(spec: ModelSpec, inputShape: number[], classes: number, seed: number,
  tensors: readonly CheckpointTensor[], objective?: TrainingObjective): ModelProto {
  const { g, taps } = buildForward(spec, inputShape, classes, seed, objective);
  // The zoo's generalized layers travel with the export, so `kqkd score --model` uses the paper's indices.
  const model = withGeneralizedLayers(g.build(), taps);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const init of model.graph!.initializer ?? []) {
    const t = byName.get(init.name!);
    if (!t) continue;
    const copy = t.data.slice();
    init.rawData = new Uint8Array(copy.buffer);
    init.floatData = [];
    byName.delete(init.name!);
  }
  // An objective may train loss-only parameters (distillation projectors) that the inference graph does not have.
  if (objective) for (const name of [...byName.keys()]) if (!g.parameters().some((p) => p.name === name)) byName.delete(name);
  if (byName.size > 0) throw new KqkdError('inference export', 'a value for parameters of the model only', `extra ${[...byName.keys()].join(', ')}`);
  model.producerName = 'kqkd';
  model.docString = `kqkd ${spec.name}: inference model (BatchNormalization in inference mode with the trained running statistics)`;
  return model;
}

/**
 * Where a backend's starting values come from: the resume state when there is one (every model tensor must be in
 * it, with the right size), else the builder's seeded initial values. Always a copy the backend may own.
 */
export function initialValues(parameters: readonly { name: string; data: Float32Array }[], state?: Pick<ModelState, 'trainable' | 'frozen'>):
  (name: string) => Float32Array {
  const initial = new Map(parameters.map((p) => [p.name, p]));
  const fromState = new Map([...(state?.trainable ?? []), ...(state?.frozen ?? [])].map((t) => [t.name, t]));
  return (name: string): Float32Array => {
    const s = fromState.get(name);
    const p = initial.get(name)!;
    if (!s) {
      if (state) throw new KqkdError('checkpoint', `a tensor "${name}" (the model has it)`, 'none');
      return p.data.slice();
    }
    if (s.data.length !== p.data.length) throw new KqkdError(`checkpoint tensor "${name}"`, `${p.data.length} values`, `${s.data.length}`);
    return s.data.slice();
  };
}

/**
 * The training graphs both backends start from: forward + loss at the fixed batch size, per-parameter gradients
 * exposed, loss gradient seeded with 1/accumulationSteps (the accumulated gradient is the micro-batch MEAN).
 */
export function trainingGraphsFor(o: BackendOptions): { graphs: TrainingGraphs; B: number; A: number } {
  const B = o.batchSize;
  const A = o.accumulationSteps ?? 1;
  if (!Number.isInteger(A) || A < 1) throw new KqkdError('accumulationSteps', 'an integer ≥ 1', String(A));
  const { g, loss } = buildForward(o.modelSpec, o.inputShape, o.classes, o.seed, o.objective, { batchSize: B });
  const graphs = buildTrainingGraphs({
    model: g, loss: loss!, exposeGradients: true, staticDims: { N: B }, evalOutputs: [LOGITS_NAME], lossScale: 1 / A,
  });
  return { graphs, B, A };
}

/**
 * The extra inputs of a backend's training graph (the objective's) and a function turning a batch's rows into named
 * feeds with their [B, ...] shapes, checking every input is given at its size.
 */
export function extraInputsOf(o: BackendOptions, B: number): {
  inputs: { name: string; shape: number[] }[];
  feeds: (extra: ExtraFeeds | undefined) => Record<string, { data: Float32Array; shape: number[] }>;
} {
  const inputs = o.objective ? o.objective.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })) : [];
  return {
    inputs,
    feeds(extra) {
      const out: Record<string, { data: Float32Array; shape: number[] }> = {};
      for (const i of inputs) {
        const data = extra?.[i.name];
        const size = B * i.shape.reduce((a, b) => a * b, 1);
        if (!data || data.length !== size) {
          throw new KqkdError(`training input "${i.name}"`, `${size} floats (batch ${B} × [${i.shape.join(', ')}])`, data ? `${data.length}` : 'nothing');
        }
        out[i.name] = { data, shape: [B, ...i.shape] };
      }
      return out;
    },
  };
}
