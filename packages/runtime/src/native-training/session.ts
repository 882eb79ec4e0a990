/**
 * Native training: ONE onnxruntime-node session over a LOWERED training graph (standard ONNX ops only, see
 * `lowerTrainingGraph` in @kqkd/autodiff) that outputs the loss, `<p>.gradient` for every trainable parameter and the
 * updated BatchNorm statistics. Parameters are plain graph inputs: the session keeps one Float32Array and one ORT
 * tensor per parameter for its whole life (the host optimizer updates the arrays in place; nothing is reallocated
 * per step), and gradient outputs are written into pre-allocated tensors when ONNX Runtime accepts them.
 *
 * The optimizer is not here: the caller (the `native` backend of @kqkd/distill) applies it to `parameters`.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { KqkdError, expectInteger, expectOneOf, invalidArgument } from '@kqkd/common';
import { RuntimeError, type FloatTensor } from '../session.js';
import { CUDA_INSTALL_HINT, ortExecutionProviders, TRAINING_EXECUTION_PROVIDERS, type TrainingExecutionProvider } from './providers.js';

/** Name of the lowered-graph output holding the gradient of parameter `p`. */
export const nativeGradientOutputName = (p: string): string => `${p}.gradient`;

/** A user feed of the training graph: float32 images, int64 labels, int32 indices. */
export type NativeFeedTensor =
  | FloatTensor
  | { data: BigInt64Array; shape: number[] }
  | { data: Int32Array; shape: number[] };

export interface NativeTrainingParameter {
  name: string;
  dims: readonly number[];
  /** Initial values; copied into the session's own buffer. */
  data: Float32Array;
  /** Default true: a `<name>.gradient` output must exist. False: a frozen input (BN statistic, frozen weight). */
  trainable?: boolean;
}

export interface NativeTrainingSessionOptions {
  /** The lowered training model (ONNX bytes): standard ops only, parameters as plain inputs. */
  trainingModel: Uint8Array;
  parameters: readonly NativeTrainingParameter[];
  /** Intra-op threads (default: ONNX Runtime's choice, one per physical core). */
  threads?: number;
  /** 'cpu' (default) or 'cuda' (needs onnxruntime-node's CUDA EP binaries; see README "CUDA"). */
  executionProvider?: TrainingExecutionProvider;
  /** Name of the loss output (default: the first graph output). */
  loss?: string;
  /** Write ONNX Runtime's per-node profile (Chrome trace JSON) with this file prefix; `endProfiling()` returns the file. */
  profilePrefix?: string;
  /**
   * Float32 outputs (not gradients) to write into arrays allocated once, like the gradients: large per-step outputs
   * (the activations and output gradients of host weight gradients) then cost no allocation or copy per step. The
   * arrays are overwritten by the next step.
   */
  preallocatedOutputs?: readonly { name: string; dims: readonly number[] }[];
  /**
   * ONNX Runtime's memory pattern: after the first run, every intermediate tensor gets a planned offset in one block.
   * Default false: measured on the zoo (batch 128, AMD EPYC, interleaved A/B) it held 1.4–1.8× the resident memory
   * (ResNet9 1.39 → 0.94 GB, MobileNetV2 2.20 → 1.22 GB, ResNet34 3.36 → 2.11 GB) and in some graphs made one layer's
   * weight-gradient MatMuls 11× slower from the second run on (VGG11's 64 → 128-channel layer: 4 → 47 ms per MatMul;
   * the step 84–113 → 121–131 img/s without it); ResNet34, MobileNetV2 and ViT_ETT ran as fast either way.
   */
  memoryPattern?: boolean;
}

export interface NativeStepResult {
  /** The (unscaled) loss of this step. */
  loss: number;
  /** Every non-gradient output (loss, BN statistics `<stat>.updated`, extra outputs), float32 only. */
  outputs: Record<string, FloatTensor>;
  /**
   * `<p>.gradient` per trainable parameter (by parameter name). The arrays belong to the session and are overwritten
   * by the next step when pre-allocated outputs are in use: copy what must survive it.
   */
  gradients: Record<string, Float32Array>;
}

export interface NativeTrainingSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** User inputs: graph inputs that are not parameters. */
  readonly feedNames: readonly string[];
  readonly trainableNames: readonly string[];
  readonly executionProvider: TrainingExecutionProvider;
  /** Whether gradient outputs go into pre-allocated tensors (else ORT allocates them every step). */
  readonly preallocatedGradients: boolean;
  /**
   * The live parameter buffers (trainable and frozen), by name: update them IN PLACE (`set`, or elementwise); the next
   * step reads them. Replacing an entry has no effect.
   */
  readonly parameters: Readonly<Record<string, Float32Array>>;
  /** Forward + backward on one batch. */
  step(feeds: Record<string, NativeFeedTensor>): Promise<NativeStepResult>;
  /** Stops profiling (see `profilePrefix`) and returns the profile file written by ONNX Runtime. */
  endProfiling(): string;
  release(): Promise<void>;
}

const typeOf = (data: unknown): 'float32' | 'int64' | 'int32' | null =>
  data instanceof Float32Array ? 'float32' : data instanceof BigInt64Array ? 'int64' : data instanceof Int32Array ? 'int32' : null;

const describeFeeds = (feeds: Record<string, NativeFeedTensor>) =>
  Object.entries(feeds).map(([k, t]) => `"${k}" [${t.shape.join(', ')}]`).join(', ') || 'none';

/** Phase 1: ONNX Runtime's session options from ours (provider, threads, memory pattern, profiling). */
function sessionOptions(o: NativeTrainingSessionOptions) {
  const provider = expectOneOf('options.executionProvider', o.executionProvider ?? 'cpu', TRAINING_EXECUTION_PROVIDERS);
  const memoryPattern = o.memoryPattern ?? false;
  if (typeof memoryPattern !== 'boolean') invalidArgument('options.memoryPattern', 'true or false', memoryPattern);
  const ortOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: ortExecutionProviders(provider), graphOptimizationLevel: 'all', enableMemPattern: memoryPattern,
  };
  if (o.threads !== undefined) ortOptions.intraOpNumThreads = expectInteger('options.threads', o.threads, 1, 1024);
  if (o.profilePrefix !== undefined) {
    if (typeof o.profilePrefix !== 'string' || o.profilePrefix.length === 0) invalidArgument('options.profilePrefix', 'a file prefix', o.profilePrefix);
    ortOptions.enableProfiling = true;
    ortOptions.profileFilePrefix = o.profilePrefix;
  }
  return { provider, ortOptions };
}

/** Phase 2: the session, or a RuntimeError naming the model and (on CUDA) what to install. */
async function openSession(model: Uint8Array, ortOptions: ort.InferenceSession.SessionOptions, provider: string, source: string): Promise<ort.InferenceSession> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, ortOptions);
  } catch (err) {
    const msg = (err as Error).message;
    if (provider === 'cuda') {
      throw new RuntimeError(`ONNX Runtime could not open ${source} on the CUDA execution provider: ${msg}. ${CUDA_INSTALL_HINT}`, { cause: err });
    }
    throw new RuntimeError(`ONNX Runtime could not load ${source}: ${msg}`, { cause: err });
  }
  return session;
}

/** Phase 3: each parameter checked against the model and copied into the buffer the session reads every step. */
function bindParameters(parameters: NativeTrainingParameter[], inputNames: string[], outputNames: string[]) {
  const paramBuffers: Record<string, Float32Array> = {};
  const paramTensors: Record<string, ort.Tensor> = {};
  const trainableNames: string[] = [];
  for (const [i, p] of parameters.entries()) {
    if (!p || typeof p.name !== 'string') invalidArgument(`options.parameters[${i}].name`, 'a parameter name', p?.name);
    if (!(p.data instanceof Float32Array)) invalidArgument(`options.parameters[${i}].data`, 'a Float32Array', p.data);
    const size = (p.dims as number[]).reduce((a: number, d: number) => a * d, 1);
    if (size !== p.data.length) throw new KqkdError(`parameter "${p.name}"`, `${size} values for dims [${p.dims.join(', ')}]`, `${p.data.length}`);
    if (!inputNames.includes(p.name)) {
      throw new KqkdError(`parameter "${p.name}"`, `an input of the lowered training model (inputs: ${inputNames.join(', ')})`, 'no such input');
    }
    if (p.name in paramBuffers) throw new KqkdError('options.parameters', 'distinct names', `"${p.name}" twice`);
    const buf = p.data.slice();
    paramBuffers[p.name] = buf;
    paramTensors[p.name] = new ort.Tensor('float32', buf, [...p.dims]);
    if (p.trainable !== false) {
      trainableNames.push(p.name);
      if (!outputNames.includes(nativeGradientOutputName(p.name))) {
        throw new KqkdError(`lowered training model`, `an output "${nativeGradientOutputName(p.name)}" for trainable parameter "${p.name}"`, 'none');
      }
    }
  }
  return { paramBuffers, paramTensors, trainableNames };
}

/** Phase 4: the pre-allocated outputs — every gradient, and the non-gradient outputs the caller named. */
function outputFetches(o: NativeTrainingSessionOptions, outputNames: string[], gradOut: Map<string, string>, paramBuffers: Record<string, Float32Array>) {
  const fetches: Record<string, ort.Tensor | null> = {};
  const extraOut = new Map((o.preallocatedOutputs ?? []).map((e, i) => {
    if (!e || typeof e.name !== 'string' || !outputNames.includes(e.name) || gradOut.has(e.name)) {
      throw new KqkdError(`options.preallocatedOutputs[${i}].name`, `a non-gradient output of the model (${outputNames.join(', ')})`, JSON.stringify(e?.name));
    }
    if (!Array.isArray(e.dims) || !e.dims.every((d) => Number.isInteger(d) && d > 0)) {
      throw new KqkdError(`options.preallocatedOutputs[${i}].dims`, 'positive integer dimensions', JSON.stringify(e.dims));
    }
    return [e.name, [...e.dims]] as const;
  }));
  for (const name of outputNames) {
    const p = gradOut.get(name);
    const extra = extraOut.get(name);
    if (p) {
      const dims = o.parameters.find((q) => q.name === p)!.dims;
      fetches[name] = new ort.Tensor('float32', new Float32Array(paramBuffers[p].length), [...dims]);
    } else if (extra) {
      fetches[name] = new ort.Tensor('float32', new Float32Array(extra.reduce((a, d) => a * d, 1)), extra);
    } else {
      fetches[name] = null;
    }
  }
  return fetches;
}

/** The step's feeds checked (names, types, sizes, none missing) beside the parameter tensors. */
function toOrtFeeds(feeds: Record<string, NativeFeedTensor>, feedNames: string[], paramTensors: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  const ortFeeds: Record<string, ort.Tensor> = { ...paramTensors };
  for (const [name, t] of Object.entries(feeds)) {
    if (!feedNames.includes(name)) throw new KqkdError('feeds', `inputs among ${feedNames.map((n) => `"${n}"`).join(', ')}`, `"${name}"`);
    const type = typeOf(t?.data);
    if (type === null) invalidArgument(`feeds["${name}"].data`, 'a Float32Array, BigInt64Array or Int32Array', t?.data);
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (size !== t.data.length) throw new KqkdError(`feeds["${name}"]`, `${size} values for shape [${t.shape.join(', ')}]`, `${t.data.length} values`);
    ortFeeds[name] = new ort.Tensor(type, t.data, t.shape);
  }
  const missing = feedNames.filter((n) => !(n in feeds));
  if (missing.length) throw new KqkdError('feeds', `every input (${feedNames.join(', ')})`, `no ${missing.map((n) => `"${n}"`).join(', ')}`);
  return ortFeeds;
}

/** The step's outputs: gradients by parameter, the other float outputs by name (our pre-allocated arrays where used). */
function readOutputs(result: ort.InferenceSession.OnnxValueMapType, outputNames: string[], gradOut: Map<string, string>,
  fetches: Record<string, ort.Tensor | null> | null, source: string) {
  const outputs: Record<string, FloatTensor> = {};
  const gradients: Record<string, Float32Array> = {};
  for (const name of outputNames) {
    const t = result[name] as ort.Tensor;
    if (!t) throw new RuntimeError(`ONNX Runtime returned no output "${name}" from ${source}`);
    const p = gradOut.get(name);
    if (t.type !== 'float32') {
      if (p) throw new RuntimeError(`gradient output "${name}" of ${source} is ${t.type}; expected float32`);
      continue;
    }
    // Pre-allocated: ONNX Runtime wrote into our array (onnxruntime-node hands back a copy): return ours, the
    // same array every step.
    const own = fetches ? (fetches[name]?.data as Float32Array | undefined) : undefined;
    if (p) gradients[p] = own ?? (t.data as Float32Array);
    else outputs[name] = { data: own ?? (t.data as Float32Array), shape: [...t.dims] };
  }
  return { outputs, gradients };
}

/** ONNX Runtime names the profile <prefix>_<timestamp>.json: the newest such file is this session's. */
function newestProfile(prefix: string): string {
  const dir = dirname(prefix);
  const stem = basename(prefix);
  const files = readdirSync(dir).filter((f) => f.startsWith(stem) && f.endsWith('.json'))
    .map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) throw new RuntimeError(`ONNX Runtime wrote no profile next to ${prefix}`);
  return files[0];
}

/** Creates the session; see the module comment. Throws RuntimeError with the model size when ONNX Runtime refuses it. */
export async function createNativeTrainingSession(o: NativeTrainingSessionOptions): Promise<NativeTrainingSession> {
  if (!o || typeof o !== 'object') invalidArgument('options', 'an object {trainingModel, parameters}', o);
  if (!(o.trainingModel instanceof Uint8Array) || o.trainingModel.byteLength === 0) {
    invalidArgument('options.trainingModel', 'the lowered training model as non-empty ONNX bytes (Uint8Array)', o.trainingModel);
  }
  if (!Array.isArray(o.parameters)) invalidArgument('options.parameters', 'an array of {name, dims, data}', o.parameters);
  const { provider, ortOptions } = sessionOptions(o);
  const source = `<lowered training model, ${o.trainingModel.byteLength} bytes>`;
  const session = await openSession(o.trainingModel, ortOptions, provider, source);
  const inputNames = [...session.inputNames];
  const outputNames = [...session.outputNames];
  const { paramBuffers, paramTensors, trainableNames } = bindParameters(o.parameters, inputNames, outputNames);
  const feedNames = inputNames.filter((n) => !(n in paramBuffers));
  const lossName = o.loss ?? outputNames[0];
  if (!outputNames.includes(lossName)) throw new KqkdError('options.loss', `an output of the model (${outputNames.join(', ')})`, `"${lossName}"`);
  const gradOut = new Map(trainableNames.map((p) => [nativeGradientOutputName(p), p]));

  // Pre-allocated gradient outputs: the same arrays every step (ORT writes into them). Probed on the first step.
  const fetches = outputFetches(o, outputNames, gradOut, paramBuffers);
  let preallocated = true;
  let released = false;

  const run = async (ortFeeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> => {
    if (preallocated) {
      try {
        return await session.run(ortFeeds, fetches as ort.InferenceSession.FetchesType);
      } catch {
        preallocated = false; // this build refuses pre-allocated outputs: let ORT allocate them
      }
    }
    return session.run(ortFeeds, outputNames);
  };

  const api: NativeTrainingSession = {
    inputNames, outputNames, feedNames, trainableNames, executionProvider: provider, parameters: paramBuffers,
    get preallocatedGradients() { return preallocated; },
    async step(feeds) {
      if (released) throw new KqkdError('NativeTrainingSession.step', 'an open session', 'a released session');
      if (!feeds || typeof feeds !== 'object') invalidArgument('feeds', 'an object of named tensors', feeds);
      const ortFeeds = toOrtFeeds(feeds, feedNames, paramTensors);
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        result = await run(ortFeeds);
      } catch (err) {
        throw new RuntimeError(`ONNX Runtime failed a training step of ${source} with inputs ${describeFeeds(feeds)}: ${(err as Error).message}`, { cause: err });
      }
      const { outputs, gradients } = readOutputs(result, outputNames, gradOut, preallocated ? fetches : null, source);
      const lossT = outputs[lossName];
      if (!lossT || lossT.data.length !== 1) throw new RuntimeError(`loss output "${lossName}" of ${source} is not a float32 scalar`);
      return { loss: lossT.data[0], outputs, gradients };
    },
    endProfiling() {
      if (o.profilePrefix === undefined) throw new KqkdError('endProfiling', 'a session created with profilePrefix', 'none');
      session.endProfiling();
      return newestProfile(o.profilePrefix);
    },
    async release() {
      if (released) return;
      released = true;
      await session.release();
    },
  };
  return api;
}
