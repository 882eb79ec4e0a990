/**
 * The `native` training backend: the training graph of @kqkd/autodiff lowered to standard ONNX ops
 * (`lowerTrainingGraph`), run as ONE onnxruntime-node session (@kqkd/runtime `createNativeTrainingSession`) that
 * outputs the loss, every `<p>.gradient` and the updated BatchNorm statistics; the optimizer runs on the host
 * (`HostOptimizer`: ORT's AdamW kernel arithmetic, the optimizer graph's float32 schedule) on the session's parameter
 * buffers in place. Evaluation runs the eval model (inference-mode BN, parameters as inputs) in a second
 * onnxruntime-node session fed the same buffers.
 *
 * Same state as the web-training backend (`ModelState`: trainable, frozen incl. BN statistics, moments, step), so
 * the run checkpoint is the same and either backend resumes the other's run. Gradient accumulation: the graph's
 * loss-gradient seed is 1/A (as in the web-training backend); the host adds the A micro-batch gradients in float32 in
 * the order InPlaceAccumulatorV2 does, then updates.
 */
import { KqkdError } from '@kqkd/common';
import {
  hostConvWeightGradients, lowerTrainingGraph, useNchwcConvolutions, type CheckpointTensor, type HostConvWeightGradient,
} from '@kqkd/autodiff';
import { tryLoadAddon, type NativeAddon } from '@kqkd/native';
import { encodeModel, type ModelProto } from '@kqkd/onnx';
import { createInferenceSession, createNativeTrainingSession, type InferenceSession, type NativeTrainingSession, type NativeStepResult } from '@kqkd/runtime';
import { HostOptimizer, optimizerConfigOf } from '../optimizer/host-optimizer.js';
import {
  exportInferenceBytes, extraInputsOf, initialValues, trainingGraphsFor, INPUT_NAME, LABELS_NAME, LOGITS_NAME,
  type BackendOptions, type ModelState,
} from '../student-graph.js';
import type { TrainBackend } from './types.js';
import { nchwcBlockSize } from './nchwc.js';
import { convWeightGradient } from './conv-weight-gradient.js';

export interface NativeBackendOptions extends BackendOptions {
  /** The lowering pass (default: @kqkd/autodiff `lowerTrainingGraph`); tests may inject one. */
  lower?: (trainingModel: ModelProto) => ModelProto;
}

/** The `hostWeightGradients` option, or where it is not given the documented fallback KQKD_HOST_DW=1. */
export function hostWeightGradientsAsked(o: Pick<BackendOptions, 'hostWeightGradients'>, env: NodeJS.ProcessEnv = process.env): boolean {
  return o.hostWeightGradients ?? env.KQKD_HOST_DW === '1';
}

/** Phase 1: the training graph lowered for this machine (NCHWc block size, host weight gradients when asked). */
async function lowerForBackend(o: NativeBackendOptions, trainingModel: ModelProto) {
  // Blocked (NCHWc) convolution kernels where ONNX Runtime's CPU build has them: ./nchwc.ts. Stride-1 convolution
  // weight gradients on the host (the addon's per-sample SGEMMs; @kqkd/autodiff host-weight-gradients.ts) only when
  // asked (`hostWeightGradients`, else KQKD_HOST_DW=1): twice the in-graph speed for dW itself, but onnxruntime-node
  // hands every output back as a fresh copy, and copying X and dY out (~230 MB a ResNet9 step) ate the gain
  // (docs/benchmarks.md).
  const cpu = (o.executionProvider ?? 'cpu') === 'cpu';
  const block = cpu ? await nchwcBlockSize() : 0;
  const { addon } = tryLoadAddon();
  const hostDw = cpu && addon !== null && hostWeightGradientsAsked(o);
  const lowered = (o.lower ?? ((m: ModelProto) => lowerTrainingGraph(m, { nchwcBlockSize: block, hostConvWeightGradient: hostDw })))(trainingModel);
  const hostGradients = hostConvWeightGradients(lowered);
  if (hostGradients.length && !addon) throw new KqkdError('native backend', 'the @kqkd/native addon for host weight gradients', 'no addon');
  return { lowered, hostGradients, block, addon };
}

/** The addon's convolution geometry of each host weight gradient. */
function hostConvShapes(hostGradients: HostConvWeightGradient[]) {
  return hostGradients.map((h) => ({
    h, shape: {
      batch: h.xShape[0], inChannels: h.xShape[1], inHeight: h.xShape[2], inWidth: h.xShape[3],
      outChannels: h.dyShape[1], outHeight: h.dyShape[2], outWidth: h.dyShape[3],
      kernelHeight: h.weightShape[2], kernelWidth: h.weightShape[3], strideHeight: h.strides[0], strideWidth: h.strides[1],
      padTop: h.padsBegin[0], padLeft: h.padsBegin[1], dilationHeight: h.dilations[0], dilationWidth: h.dilations[1],
    },
  }));
}

/** The eval session: the eval model (NCHWc like the training graph), fed the live parameter buffers. */
async function openEvalSession(o: NativeBackendOptions, model: ModelProto, block: number, params: { name: string; dims: number[] }[],
  buffers: Map<string, Float32Array>) {
  // The eval model's weights are inputs too: the same NCHWc convolutions for its forward pass.
  const evalModel = block ? useNchwcConvolutions(model, block) : model;
  const evalSession: InferenceSession = await createInferenceSession(encodeModel(evalModel),
    o.threads !== undefined ? { threads: o.threads } : {});
  const evalParamFeeds = () => Object.fromEntries(params.filter((p) => evalSession.inputNames.includes(p.name))
    .map((p) => [p.name, { data: buffers.get(p.name)!, shape: [...p.dims] }]));
  return { evalSession, evalParamFeeds };
}

/** Phase 2: the one onnxruntime-node session of the lowered graph (host gradients' X and dY pre-allocated). */
async function openTrainingSession(o: NativeBackendOptions, lowered: ModelProto, loss: string,
  parameters: { name: string; dims: number[]; data: Float32Array; trainable: boolean }[], hostGradients: HostConvWeightGradient[]): Promise<NativeTrainingSession> {
  return createNativeTrainingSession({
    trainingModel: encodeModel(lowered), parameters,
    ...(o.threads !== undefined ? { threads: o.threads } : {}), executionProvider: o.executionProvider ?? 'cpu',
    loss, ...(o.profilePrefix !== undefined ? { profilePrefix: o.profilePrefix } : {}),
    preallocatedOutputs: [...new Map(hostGradients.flatMap((h) => [[h.x, h.xShape], [h.dy, h.dyShape]] as const)).entries()]
      .map(([name, dims]) => ({ name, dims })),
  });
}

/** Each host weight gradient computed by the addon from the step's X and dY into its `<p>.gradient` buffer (checked first). */
function hostConvWeightGradientsInto(r: NativeStepResult, hostShapes: ReturnType<typeof hostConvShapes>, addon: NativeAddon, threads: number): void {
  for (const { h, shape } of hostShapes) {
    const xOut = r.outputs[h.x];
    const dyOut = r.outputs[h.dy];
    if (!xOut || !dyOut) throw new KqkdError('lowered training model', `outputs "${h.x}" and "${h.dy}" (host weight gradient)`, 'missing');
    convWeightGradient(addon, xOut.data, dyOut.data, r.gradients[h.parameter], shape, threads);
  }
}

export async function createNativeBackend(o: NativeBackendOptions): Promise<TrainBackend> {
  const { graphs, B, A } = trainingGraphsFor(o);
  const { lowered, hostGradients, block, addon } = await lowerForBackend(o, graphs.trainingModel);
  const statNames = new Set(graphs.batchNormStatistics.map((s) => s.parameter));

  const value = initialValues(graphs.parameters, o.state);
  const loweredInputs = new Set((lowered.graph?.input ?? []).map((i) => i.name!));
  const params = graphs.parameters.map((p) => ({ name: p.name, dims: p.dims, data: value(p.name), trainable: p.trainable }));
  const session = await openTrainingSession(o, lowered, graphs.trainingOutputs[0], params.filter((p) => loweredInputs.has(p.name)), hostGradients);
  const hostShapes = hostConvShapes(hostGradients);
  // The live buffers: the session's for graph inputs, host copies for anything the lowered graph does not read.
  const live = (name: string, fallback: Float32Array) => session.parameters[name] ?? fallback;
  const buffers = new Map(params.map((p) => [p.name, live(p.name, p.data)]));
  const trainable = params.filter((p) => p.trainable);
  const frozen = params.filter((p) => !p.trainable);
  const optimizer = new HostOptimizer(optimizerConfigOf(o.optimizer), o.schedule,
    trainable.map((p) => ({ name: p.name, dims: p.dims, param: buffers.get(p.name)! })),
    o.state ? { groupName: 'group0', step: o.state.step, initialLearningRate: 0.001, states: o.state.moments } : undefined);

  const { evalSession, evalParamFeeds } = await openEvalSession(o, graphs.evalModel, block, params, buffers);
  const [C, H, W] = o.inputShape;
  const statOut = graphs.batchNormStatistics.map((s) => ({ buf: buffers.get(s.parameter)!, output: s.output }));
  for (const s of statNames) if (!buffers.has(s)) throw new KqkdError('BN statistic', 'a parameter of the model', s);

  let pending = 0;
  const extra = extraInputsOf(o, B);
  const readsLabels = session.feedNames.includes(LABELS_NAME);
  const readState = async (): Promise<ModelState> => {
    if (pending !== 0) throw new KqkdError('backend state', 'an optimizer-step boundary', `${pending} of ${A} micro-batches accumulated`);
    const copy = (p: { name: string; dims: number[] }): CheckpointTensor => ({ name: p.name, dims: p.dims, data: buffers.get(p.name)!.slice() });
    return {
      trainable: trainable.map(copy),
      // frozen parameters first, then the BN statistics: the web-training backend's order
      frozen: [...frozen.filter((p) => !statNames.has(p.name)), ...frozen.filter((p) => statNames.has(p.name))].map(copy),
      moments: [...optimizer.toOptimizerGroup().states],
      step: optimizer.step,
    };
  };

  return {
    batchSize: B,
    accumulationSteps: A,
    extraInputs: extra.inputs,
    async step(x, labels, micro = { index: 0, of: 1 }, extraFeeds) {
      if (micro.of !== A || micro.index !== pending) {
        throw new KqkdError('backend step', `micro-batch ${pending + 1} of ${A}`, `micro-batch ${micro.index + 1} of ${micro.of}`);
      }
      // The lowering drops graph inputs nothing reads: the labels of a method without cross-entropy (SimKD).
      const r = await session.step({
        [INPUT_NAME]: { data: x, shape: [B, C, H, W] }, ...(readsLabels ? { [LABELS_NAME]: { data: labels, shape: [B] } } : {}), ...extra.feeds(extraFeeds),
      });
      if (hostShapes.length) hostConvWeightGradientsInto(r, hostShapes, addon!, o.threads ?? 0);
      optimizer.accumulate(r.gradients, micro.index === 0, A === 1);
      for (const s of statOut) {
        const out = r.outputs[s.output];
        if (!out) throw new KqkdError('lowered training model', `an output "${s.output}" (BN statistic)`, 'none');
        s.buf.set(out.data);
      }
      pending++;
      if (pending === A) {
        optimizer.update();
        pending = 0;
      }
      return r.loss;
    },
    async evalLogits(x, n) {
      const out = await evalSession.run({ [INPUT_NAME]: { data: x, shape: [n, C, H, W] }, ...evalParamFeeds() }, [LOGITS_NAME]);
      return out[LOGITS_NAME].data;
    },
    state: readState,
    exportInference: async () => exportInferenceBytes(o, await readState()),
    ...(o.profilePrefix !== undefined ? { endProfiling: () => session.endProfiling() } : {}),
    async release() {
      await session.release();
      await evalSession.release();
    },
  };
}
