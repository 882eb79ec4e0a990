/**
 * The training backend on ONNX Runtime's web training build (through @kqkd/runtime) and artifacts from
 * @kqkd/autodiff.
 *
 * Two facts of that runtime shape this file:
 * - Its web API cannot read optimizer moments back, so `OptimizerStateMirror` (@kqkd/autodiff) keeps a bit-exact
 *   host copy, updated from the per-step `<p>.gradient` outputs; a session created from the saved checkpoint resumes
 *   with identical moments and step.
 * - It never writes BatchNorm running statistics back, and its API can only load TRAINABLE parameters. So the
 *   running statistics are turned from frozen parameters into ordinary graph inputs (`<stat>.feed`) of the training
 *   and eval models: the host feeds its copy on every step and takes `<stat>.updated` back, which is exactly the
 *   write-back ORT would do, and the eval step sees the current statistics.
 */
import { KqkdError } from '@kqkd/common';
import {
  buildOptimizerModel, buildTrainingGraphs, OptimizerStateMirror, parameterLayout, splitParameters, writeCheckpoint,
  type CheckpointTensor, type LrSchedule, type OptimizerConfig, type ParameterSlot, type TrainingGraphs,
} from '@kqkd/autodiff';
import { DataType, encodeModel, GraphBuilder, withGeneralizedLayers, type ModelProto, type Tensor } from '@kqkd/onnx';
import { createInferenceSession, createTrainingSession, type InferenceSession, type TrainingSession } from '@kqkd/runtime';
import type { ModelState, TrainBackend } from './backend.js';
import type { ModelSpec, OptimizerSpec } from './config.js';
import type { RunState } from './run-state.js';
import { getModel, type ZooModel } from '@kqkd/models';
import { smallCnnWithoutBatchNorm } from './models/small-cnn.js';
import { composeDistillation, distillationInputs, type DistillationGraphOptions } from './distill-graph.js';

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
  /** wasm threads (default 1). */
  threads?: number;
  /**
   * Micro-batches per optimizer step (default 1). The training graph's loss-gradient seed is 1/accumulationSteps, so
   * the accumulated gradient is the MEAN of the micro-batch gradients (= the gradient of the mean loss over the
   * effective batch); the reported loss is the unscaled micro-batch mean.
   */
  accumulationSteps?: number;
  /** Distillation: the method's loss terms and teacher inputs (distill-graph.ts); absent = CE training. */
  distill?: DistillationGraphOptions;
}

export const INPUT_NAME = 'input';
export const LABELS_NAME = 'labels';
export const LOGITS_NAME = 'logits';
const FEED_SUFFIX = '.feed';

/**
 * The forward graph of a model spec: input [N, C, H, W] → logits [N, classes] (+ CE loss when `withLoss`). Every
 * model comes from the zoo of @kqkd/models (`getModel(name).build`), except small-cnn with `batchNorm: false`.
 */
export function buildForward(spec: ModelSpec, inputShape: number[], classes: number, seed: number, withLoss: boolean,
  distill?: DistillationGraphOptions & { batchSize: number }):
  { g: GraphBuilder; logits: Tensor; loss?: Tensor; taps?: Pick<ZooModel, 'layers' | 'headStartsAfter'> } {
  const g = new GraphBuilder({ name: spec.name.replace(/-/g, '_'), seed });
  const x = g.input(INPUT_NAME, ['N', ...inputShape]);
  let logits: Tensor;
  let taps: Pick<ZooModel, 'layers' | 'headStartsAfter'> | undefined;
  if (spec.name === 'small-cnn' && spec.batchNorm === false) {
    logits = smallCnnWithoutBatchNorm(g, x, { widths: spec.widths, width: spec.width, classes });
  } else {
    const options = {
      classes, ...(spec.width !== undefined ? { width: spec.width } : {}), ...(spec.patch !== undefined ? { patch: spec.patch } : {}),
      ...(spec.widths !== undefined ? { widths: spec.widths } : {}),
    };
    const built = getModel(spec.name).build(g, x, options);
    logits = built.logits;
    taps = { layers: built.layers, headStartsAfter: built.headStartsAfter };
    if (distill) {
      const labels = withLoss ? g.input(LABELS_NAME, ['N'], DataType.INT64) : undefined;
      const composed = composeDistillation(g, built, distill, labels ? { labels, batchSize: distill.batchSize } : undefined);
      return { g, logits: g.output(composed.logits, LOGITS_NAME), loss: composed.loss, taps };
    }
  }
  if (distill) throw new KqkdError('distillation student', 'a model of the zoo (its generalized layers are the distillation taps)', 'small-cnn without BatchNorm');
  logits = g.output(logits, LOGITS_NAME);
  if (!withLoss) return { g, logits, taps };
  const labels = g.input(LABELS_NAME, ['N'], DataType.INT64);
  const loss = g.softmaxCrossEntropy(logits, labels, { name: 'loss' });
  return { g, logits, loss };
}

/** Renames graph inputs `names` to `<name>.feed` (node inputs included), so ORT treats them as user inputs. */
function inputsToFeeds(model: ModelProto, names: ReadonlySet<string>): void {
  const g = model.graph!;
  for (const vi of g.input ?? []) if (names.has(vi.name!)) vi.name = `${vi.name}${FEED_SUFFIX}`;
  for (const n of g.node ?? []) n.input = (n.input ?? []).map((i) => (names.has(i) ? `${i}${FEED_SUFFIX}` : i));
}

/** `TrainBackend.exportInference` of both backends: the inference model of a backend's current state, encoded. */
export function exportInferenceBytes(o: BackendOptions, s: ModelState): Uint8Array {
  return encodeModel(inferenceModel(o.modelSpec, o.inputShape, o.classes, o.seed, [...s.trainable, ...s.frozen], o.distill));
}

/** A plain inference model: the forward graph with these parameter and statistic values as initializers. */
export function inferenceModel(spec: ModelSpec, inputShape: number[], classes: number, seed: number,
  tensors: readonly CheckpointTensor[], distill?: DistillationGraphOptions): ModelProto {
  const { g, taps } = buildForward(spec, inputShape, classes, seed, false, distill ? { ...distill, batchSize: 1 } : undefined);
  // The zoo's generalized layers travel with the export, so `kqkd score --model` uses the paper's indices.
  const model = taps ? withGeneralizedLayers(g.build(), taps) : g.build();
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const init of model.graph!.initializer ?? []) {
    const t = byName.get(init.name!);
    if (!t) continue;
    const copy = t.data.slice();
    init.rawData = new Uint8Array(copy.buffer);
    init.floatData = [];
    byName.delete(init.name!);
  }
  // A distillation run also trains loss-only parameters (projectors) that the inference graph does not have.
  if (distill) for (const name of [...byName.keys()]) if (!g.parameters().some((p) => p.name === name)) byName.delete(name);
  if (byName.size > 0) throw new KqkdError('inference export', 'a value for parameters of the model only', `extra ${[...byName.keys()].join(', ')}`);
  model.producerName = 'kqkd';
  model.docString = `kqkd ${spec.name}: inference model (BatchNormalization in inference mode with the trained running statistics)`;
  return model;
}

function optimizerConfig(o: OptimizerSpec): OptimizerConfig {
  return o.type === 'adamw' ? { kind: 'adamw', weightDecay: o.weightDecay } : { kind: 'sgd', momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay };
}

export async function createOrtBackend(o: BackendOptions): Promise<TrainBackend> {
  if (o.schedule.kind === 'one-cycle' && o.schedule.cycleMomentum) {
    // ORT's AdamWOptimizer takes beta1 as a node attribute: the web training build cannot change it per step.
    throw new KqkdError('backend "web-training"', 'a schedule with a fixed beta1 (set oneCycle.cycleMomentum to false), or backend "native", which cycles beta1 as PyTorch does',
      'a one-cycle schedule with cycleMomentum');
  }
  const { graphs, B, A } = trainingGraphsFor(o);
  const statNames = new Set(graphs.batchNormStatistics.map((s) => s.parameter));
  inputsToFeeds(graphs.trainingModel, statNames);
  inputsToFeeds(graphs.evalModel, statNames);

  // Values: from the resume state, else the builder's seeded initial values.
  const value = initialValues(graphs.parameters, o.state);
  const trainable: CheckpointTensor[] = graphs.parameters.filter((p) => p.trainable).map((p) => ({ name: p.name, dims: p.dims, data: value(p.name) }));
  const frozenParams: CheckpointTensor[] = graphs.parameters.filter((p) => !p.trainable && !statNames.has(p.name))
    .map((p) => ({ name: p.name, dims: p.dims, data: value(p.name) }));
  const stats: CheckpointTensor[] = graphs.parameters.filter((p) => statNames.has(p.name))
    .map((p) => ({ name: p.name, dims: p.dims, data: value(p.name) }));

  const trainingBytes = encodeModel(graphs.trainingModel);
  const layout: ParameterSlot[] = parameterLayout(graphs.trainingModel, { trainable });
  const optCfg = optimizerConfig(o.optimizer);
  const mirror = new OptimizerStateMirror(optCfg, layout,
    o.state ? { groupName: 'group0', step: o.state.step, initialLearningRate: 0.001, states: o.state.moments } : undefined);
  const checkpoint = writeCheckpoint({
    trainable, frozen: frozenParams,
    ...(o.state ? { optimizer: mirror.toOptimizerGroup() } : {}),
  });
  const session: TrainingSession = await createTrainingSession({
    checkpoint, trainingModel: trainingBytes,
    // The training build feeds its eval model EVERY training parameter, but a distillation eval graph reads only the
    // student's (projectors are loss-only, SimKD's teacher head eval-only): distillation runs evaluate through
    // onnxruntime-node instead (evalLogits below).
    ...(o.distill ? {} : { evalModel: encodeModel(graphs.evalModel) }),
    optimizerModel: buildOptimizerModel(optCfg, o.schedule), threads: o.threads,
  });
  const statFeeds = () => Object.fromEntries(stats.map((s) => [`${s.name}${FEED_SUFFIX}`, { data: s.data, shape: [...s.dims] }]));
  const [C, H, W] = o.inputShape;
  const statOut = graphs.batchNormStatistics.map((s) => ({ stat: stats.find((t) => t.name === s.parameter)!, output: s.output }));
  const lossName = graphs.trainingOutputs[0];

  const readState = async (): Promise<ModelState> => {
    if (pending !== 0) throw new KqkdError('backend state', 'an optimizer-step boundary', `${pending} of ${A} micro-batches accumulated`);
    const params = await session.getParameters();
    return {
      trainable: splitParameters(layout, params),
      frozen: [...frozenParams, ...stats].map((t) => ({ name: t.name, dims: t.dims, data: t.data.slice() })),
      moments: [...mirror.toOptimizerGroup().states],
      step: mirror.step,
    };
  };

  let pending = 0; // micro-batches accumulated since the last optimizer step
  let evaluator: { step: number; session: InferenceSession } | undefined;
  const extra = extraInputsOf(o, B);
  // The training model drops graph inputs nothing reads: the labels of a method without cross-entropy (SimKD).
  const readsLabels = session.trainingInputNames.includes(LABELS_NAME);
  return {
    batchSize: B,
    accumulationSteps: A,
    extraInputs: extra.inputs,
    async step(x, labels, micro = { index: 0, of: 1 }, extraFeeds) {
      if (micro.of !== A || micro.index !== pending) {
        throw new KqkdError('backend step', `micro-batch ${pending + 1} of ${A}`, `micro-batch ${micro.index + 1} of ${micro.of}`);
      }
      if (micro.index === 0) {
        await session.lazyResetGrad();
        mirror.resetGradients();
      }
      const out = await session.trainStep({
        [INPUT_NAME]: { data: x, shape: [B, C, H, W] }, ...(readsLabels ? { [LABELS_NAME]: { data: labels, shape: [B] } } : {}),
        ...statFeeds(), ...extra.feeds(extraFeeds),
      });
      mirror.recordTrainStep(out);
      for (const s of statOut) s.stat.data = out[s.output].data.slice();
      pending++;
      if (pending === A) {
        await session.optimizerStep();
        mirror.recordOptimizerStep();
        pending = 0;
      }
      return out[lossName].data[0];
    },
    async evalLogits(x, n) {
      if (!o.distill) {
        const out = await session.evalStep({ [INPUT_NAME]: { data: x, shape: [n, C, H, W] }, ...statFeeds() });
        return out[LOGITS_NAME].data;
      }
      // Distillation: the inference model of the current state, rebuilt only after the parameters changed.
      if (!evaluator || evaluator.step !== mirror.step) {
        await evaluator?.session.release();
        const model = exportInferenceBytes(o, await readState());
        evaluator = { step: mirror.step, session: await createInferenceSession(model, o.threads !== undefined ? { threads: o.threads } : {}) };
      }
      const out = await evaluator.session.run({ [INPUT_NAME]: { data: x, shape: [n, C, H, W] } }, [LOGITS_NAME]);
      return out[LOGITS_NAME].data;
    },
    state: readState,
    exportInference: async () => exportInferenceBytes(o, await readState()),
    async release() {
      await evaluator?.session.release();
      await session.release();
    },
  };
}

/**
 * Where a backend's starting values come from: the resume state when there is one (every model tensor must be in
 * it, with the right size), else the builder's seeded initial values. Always a copy the backend may own.
 */
export function initialValues(parameters: readonly { name: string; data: Float32Array }[], state?: ModelState):
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
 * The training graphs both backends start from: forward + CE at the fixed batch size, per-parameter gradients
 * exposed, loss gradient seeded with 1/accumulationSteps (the accumulated gradient is the micro-batch MEAN).
 */
export function trainingGraphsFor(o: BackendOptions): { graphs: TrainingGraphs; B: number; A: number } {
  const B = o.batchSize;
  const A = o.accumulationSteps ?? 1;
  if (!Number.isInteger(A) || A < 1) throw new KqkdError('accumulationSteps', 'an integer ≥ 1', String(A));
  const { g, loss } = buildForward(o.modelSpec, o.inputShape, o.classes, o.seed, true, o.distill ? { ...o.distill, batchSize: B } : undefined);
  const graphs = buildTrainingGraphs({
    model: g, loss: loss!, exposeGradients: true, staticDims: { N: B }, evalOutputs: [LOGITS_NAME], lossScale: 1 / A,
  });
  return { graphs, B, A };
}

/**
 * The extra inputs of a backend's training graph (teacher features/logits of a distillation run) and a function
 * turning a batch's rows into named feeds with their [B, ...] shapes, checking every input is given at its size.
 */
export function extraInputsOf(o: BackendOptions, B: number): {
  inputs: { name: string; shape: number[] }[];
  feeds: (extra: Record<string, Float32Array> | undefined) => Record<string, { data: Float32Array; shape: number[] }>;
} {
  const inputs = o.distill ? distillationInputs(o.distill.spec).map((i) => ({ name: i.name, shape: i.shape })) : [];
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
