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
  buildOptimizerModel, OptimizerStateMirror, parameterLayout, splitParameters, writeCheckpoint,
  type CheckpointTensor, type ParameterSlot,
} from '@kqkd/autodiff';
import { encodeModel, type ModelProto } from '@kqkd/onnx';
import { createInferenceSession, createTrainingSession, type InferenceSession, type TrainingSession } from '@kqkd/runtime';
import { optimizerConfigOf } from '../optimizer/host-optimizer.js';
import {
  exportInferenceBytes, extraInputsOf, initialValues, trainingGraphsFor, INPUT_NAME, LABELS_NAME, LOGITS_NAME,
  type BackendOptions, type ModelState,
} from '../student-graph.js';
import type { TrainBackend } from './types.js';

const FEED_SUFFIX = '.feed';

/** Renames graph inputs `names` to `<name>.feed` (node inputs included), so ORT treats them as user inputs. */
function inputsToFeeds(model: ModelProto, names: ReadonlySet<string>): void {
  const g = model.graph!;
  for (const vi of g.input ?? []) if (names.has(vi.name!)) vi.name = `${vi.name}${FEED_SUFFIX}`;
  for (const n of g.node ?? []) n.input = (n.input ?? []).map((i) => (names.has(i) ? `${i}${FEED_SUFFIX}` : i));
}

/** What the training build cannot do: profile (its wasm sessions expose no profiler to Node), or cycle beta1. */
function refuseUnsupported(o: BackendOptions): void {
  if (o.profilePrefix !== undefined) throw new KqkdError('profilePrefix', 'backend "native" (ONNX Runtime profiling)', 'backend "web-training"');
  if (o.schedule.kind === 'one-cycle' && o.schedule.cycleMomentum) {
    // ORT's AdamWOptimizer takes beta1 as a node attribute: the web training build cannot change it per step.
    throw new KqkdError('backend "web-training"', 'a schedule with a fixed beta1 (set oneCycle.cycleMomentum to false), or backend "native", which cycles beta1 as PyTorch does',
      'a one-cycle schedule with cycleMomentum');
  }
}

/** Values: from the resume state, else the builder's seeded initial values; trainable, frozen, BN statistics apart. */
function startingValues(parameters: ReturnType<typeof trainingGraphsFor>['graphs']['parameters'], state: BackendOptions['state'], statNames: ReadonlySet<string>) {
  const value = initialValues(parameters, state);
  const tensor = (p: { name: string; dims: number[] }): CheckpointTensor => ({ name: p.name, dims: p.dims, data: value(p.name) });
  const trainable: CheckpointTensor[] = parameters.filter((p) => p.trainable).map(tensor);
  const frozenParams: CheckpointTensor[] = parameters.filter((p) => !p.trainable && !statNames.has(p.name)).map(tensor);
  const stats: CheckpointTensor[] = parameters.filter((p) => statNames.has(p.name)).map(tensor);
  return { trainable, frozenParams, stats };
}

/** The checkpoint the session starts from and the host mirror of the optimizer state (resumed when given). */
function checkpointAndMirror(o: BackendOptions, trainingModel: ModelProto, trainable: CheckpointTensor[], frozenParams: CheckpointTensor[]) {
  const layout: ParameterSlot[] = parameterLayout(trainingModel, { trainable });
  const optCfg = optimizerConfigOf(o.optimizer);
  const mirror = new OptimizerStateMirror(optCfg, layout,
    o.state ? { groupName: 'group0', step: o.state.step, initialLearningRate: 0.001, states: o.state.moments } : undefined);
  const checkpoint = writeCheckpoint({
    trainable, frozen: frozenParams,
    ...(o.state ? { optimizer: mirror.toOptimizerGroup() } : {}),
  });
  return { layout, optCfg, mirror, checkpoint };
}

/** The onnxruntime-node evaluator of an objective's run: kept while the step is the same, else rebuilt from the state. */
async function currentEvaluator(evaluator: { step: number; session: InferenceSession } | undefined, step: number,
  model: () => Promise<Uint8Array>, threads: number | undefined): Promise<{ step: number; session: InferenceSession }> {
  if (evaluator && evaluator.step === step) return evaluator;
  await evaluator?.session.release();
  const bytes = await model();
  return { step, session: await createInferenceSession(bytes, threads !== undefined ? { threads } : {}) };
}

/** The training and eval graphs with the BatchNorm statistics as fed inputs (`<name>.feed`): the host keeps them. */
function graphsWithStatisticFeeds(o: BackendOptions) {
  const { graphs, B, A } = trainingGraphsFor(o);
  const statNames = new Set(graphs.batchNormStatistics.map((s) => s.parameter));
  inputsToFeeds(graphs.trainingModel, statNames);
  inputsToFeeds(graphs.evalModel, statNames);
  return { graphs, B, A, statNames };
}

export async function createWebTrainingBackend(o: BackendOptions): Promise<TrainBackend> {
  refuseUnsupported(o);
  const { graphs, B, A, statNames } = graphsWithStatisticFeeds(o);

  const { trainable, frozenParams, stats } = startingValues(graphs.parameters, o.state, statNames);

  const trainingBytes = encodeModel(graphs.trainingModel);
  const { layout, optCfg, mirror, checkpoint } = checkpointAndMirror(o, graphs.trainingModel, trainable, frozenParams);
  // The training build feeds its eval model EVERY training parameter, but an objective's eval graph may read only
  // the student's (distillation projectors are loss-only, SimKD's teacher head eval-only): such runs evaluate
  // through onnxruntime-node instead (evalLogits below).
  const session: TrainingSession = await createTrainingSession({
    checkpoint, trainingModel: trainingBytes, ...(o.objective ? {} : { evalModel: encodeModel(graphs.evalModel) }),
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
      if (!o.objective) {
        const out = await session.evalStep({ [INPUT_NAME]: { data: x, shape: [n, C, H, W] }, ...statFeeds() });
        return out[LOGITS_NAME].data;
      }
      // With an objective: the inference model of the current state, rebuilt only after the parameters changed.
      evaluator = await currentEvaluator(evaluator, mirror.step, async () => exportInferenceBytes(o, await readState()), o.threads);
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
