/**
 * A typed wrapper over onnxruntime-web's training session: validated arguments, float32 results, and every ORT
 * failure turned into a RuntimeError naming the step and the input shapes (C++ exceptions decoded to text).
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import { RuntimeError, type FloatTensor } from '../session.js';
import {
  decodeWasmException, loadTrainingRuntime, withMemoryCapture,
  type OrtTensor, type OrtTrainingModule, type OrtTrainingSessionHandle,
} from './loader.js';

/** Input tensors: float32, int64 (labels) or int32, row-major with their shape. */
export type TrainingFeedTensor =
  | FloatTensor
  | { data: BigInt64Array; shape: number[] }
  | { data: Int32Array; shape: number[] };

export type TrainingFeeds = Record<string, TrainingFeedTensor>;

export interface TrainingArtifacts {
  /** ORT checkpoint bytes (flatbuffers "ODTC"). */
  checkpoint: Uint8Array;
  trainingModel: Uint8Array;
  evalModel?: Uint8Array;
  optimizerModel?: Uint8Array;
  /** wasm threads; default 1. Fixed by the first session of the process. */
  threads?: number;
}

export interface TrainingSession {
  /** User inputs of the training model (parameters, gradient buffers and lazy_reset_grad excluded). */
  readonly trainingInputNames: readonly string[];
  /** Visible training outputs: loss first (graph order), then extra outputs; gradient outputs of ORT are hidden. */
  readonly trainingOutputNames: readonly string[];
  readonly evalInputNames: readonly string[];
  readonly evalOutputNames: readonly string[];
  /** Number of trainable float32 values (length of getParameters()). */
  readonly parameterCount: number;
  /** Forward + backward; accumulates gradients (overwrites them after lazyResetGrad). */
  trainStep(feeds: TrainingFeeds): Promise<Record<string, FloatTensor>>;
  /** The next trainStep overwrites the gradient buffers instead of adding to them. */
  lazyResetGrad(): Promise<void>;
  /** One optimizer update from the accumulated gradients. */
  optimizerStep(): Promise<void>;
  evalStep(feeds: TrainingFeeds): Promise<Record<string, FloatTensor>>;
  /** Trainable parameters, contiguous, in training-model input order. */
  getParameters(): Promise<Float32Array>;
  setParameters(params: Float32Array): Promise<void>;
  release(): Promise<void>;
}

const describeFeeds = (feeds: TrainingFeeds) =>
  Object.entries(feeds).map(([k, t]) => `"${k}" [${t.shape.join(', ')}]`).join(', ') || 'none';

const ortType = (data: unknown): string | null =>
  data instanceof Float32Array ? 'float32' : data instanceof BigInt64Array ? 'int64' : data instanceof Int32Array ? 'int32' : null;

function validateFeeds(step: string, feeds: TrainingFeeds, names: readonly string[]): void {
  if (!feeds || typeof feeds !== 'object') invalidArgument(`${step} feeds`, 'an object of named tensors', feeds);
  for (const [name, t] of Object.entries(feeds)) {
    if (!names.includes(name)) {
      throw new KqkdError(`${step} feeds`, `inputs among ${names.map((n) => `"${n}"`).join(', ')}`, `"${name}"`);
    }
    if (!t || typeof t !== 'object' || ortType(t.data) === null) {
      invalidArgument(`${step} feeds["${name}"].data`, 'a Float32Array, BigInt64Array or Int32Array', t?.data);
    }
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      invalidArgument(`${step} feeds["${name}"].shape`, 'an array of non-negative integers', t.shape);
    }
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (size !== t.data.length) {
      throw new KqkdError(`${step} feeds["${name}"]`, `${size} values for shape [${t.shape.join(', ')}]`, `${t.data.length} values`);
    }
  }
  const missing = names.filter((n) => !(n in feeds));
  if (missing.length > 0) {
    throw new KqkdError(`${step} feeds`, `every input (${names.map((n) => `"${n}"`).join(', ')})`, `no ${missing.map((n) => `"${n}"`).join(', ')}`);
  }
}

/**
 * The feeds as ORT tensors, in the model's input order: the 1.19.2 wasm glue passes the values to
 * `OrtTrainingRunTrainStep` / `OrtTrainingEvalStep` POSITIONALLY in the order of the feeds object (the input indices
 * it computes serve only its error messages), so a feed given out of order would be bound to another input.
 * `names` are the session's input names; validateFeeds has checked that the feeds are exactly these.
 */
function toOrtFeeds(ort: OrtTrainingModule, feeds: TrainingFeeds, names: readonly string[]): Record<string, OrtTensor> {
  const out: Record<string, OrtTensor> = {};
  for (const name of names) {
    const t = feeds[name];
    out[name] = new ort.Tensor(ortType(t.data)!, t.data, t.shape);
  }
  return out;
}

function fromOrtOutputs(step: string, results: Record<string, OrtTensor>, names: readonly string[]): Record<string, FloatTensor> {
  const out: Record<string, FloatTensor> = {};
  for (const name of names) {
    const t = results[name];
    if (!t) throw new RuntimeError(`${step}: ONNX Runtime returned no output "${name}"`);
    if (t.type !== 'float32' || !(t.data instanceof Float32Array)) {
      throw new RuntimeError(`${step}: output "${name}" is ${t.type}; training outputs must be float32`);
    }
    out[name] = { data: t.data, shape: [...t.dims] };
  }
  return out;
}

/** Wraps ONNX Runtime failures: RuntimeError naming the step and the inputs, decoded message, original as cause. */
async function guarded<T>(step: string, feeds: TrainingFeeds | null, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KqkdError || err instanceof RuntimeError) throw err;
    const inputs = feeds ? ` with inputs ${describeFeeds(feeds)}` : '';
    throw new RuntimeError(`${step} failed${inputs}: ${decodeWasmException(err)}`, { cause: err });
  }
}

function checkBytes(argument: string, v: unknown, required: boolean): Uint8Array | undefined {
  if (v === undefined && !required) return undefined;
  if (!(v instanceof Uint8Array) || v.byteLength === 0) invalidArgument(argument, 'non-empty bytes (Uint8Array)', v);
  return v;
}

/** Opens a training session from in-memory artifacts (see @kqkd/autodiff for building them). */
export async function createTrainingSession(artifacts: TrainingArtifacts): Promise<TrainingSession> {
  if (!artifacts || typeof artifacts !== 'object') invalidArgument('artifacts', 'an object {checkpoint, trainingModel, evalModel?, optimizerModel?}', artifacts);
  const checkpoint = checkBytes('artifacts.checkpoint', artifacts.checkpoint, true)!;
  const trainingModel = checkBytes('artifacts.trainingModel', artifacts.trainingModel, true)!;
  const evalModel = checkBytes('artifacts.evalModel', artifacts.evalModel, false);
  const optimizerModel = checkBytes('artifacts.optimizerModel', artifacts.optimizerModel, false);
  const { ort } = loadTrainingRuntime({ threads: artifacts.threads });
  const what = [`checkpoint ${checkpoint.byteLength} B`, `training model ${trainingModel.byteLength} B`,
    evalModel ? `eval model ${evalModel.byteLength} B` : null, optimizerModel ? `optimizer model ${optimizerModel.byteLength} B` : null]
    .filter(Boolean).join(', ');
  const handle: OrtTrainingSessionHandle = await guarded(`createTrainingSession (${what})`, null, () => withMemoryCapture(() =>
    ort.TrainingSession.create({
      checkpointState: checkpoint, trainModel: trainingModel,
      ...(evalModel ? { evalModel } : {}), ...(optimizerModel ? { optimizerModel } : {}),
    })));
  const parameterCount = await guarded('getParametersSize', null, () => handle.getParametersSize(true));
  const trainingInputNames = [...handle.trainingInputNames];
  const trainingOutputNames = [...handle.trainingOutputNames];
  const evalInputNames = evalModel ? [...handle.evalInputNames] : [];
  const evalOutputNames = evalModel ? [...handle.evalOutputNames] : [];
  let released = false;
  let queue: Promise<unknown> = Promise.resolve();
  // One call at a time: the wasm instance is shared and not re-entrant.
  const serial = <T>(step: string, fn: () => Promise<T>): Promise<T> => {
    if (released) return Promise.reject(new KqkdError('TrainingSession', `an open session for ${step}`, 'a released session'));
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  return {
    trainingInputNames, trainingOutputNames, evalInputNames, evalOutputNames, parameterCount,
    async trainStep(feeds) {
      validateFeeds('trainStep', feeds, trainingInputNames);
      return serial('trainStep', () => guarded('trainStep', feeds, async () =>
        fromOrtOutputs('trainStep', await handle.runTrainStep(toOrtFeeds(ort, feeds, trainingInputNames)), trainingOutputNames)));
    },
    async lazyResetGrad() {
      return serial('lazyResetGrad', () => guarded('lazyResetGrad', null, () => handle.lazyResetGrad()));
    },
    async optimizerStep() {
      if (!optimizerModel) throw new KqkdError('optimizerStep', 'a session created with an optimizerModel', 'a session without one');
      return serial('optimizerStep', () => guarded('optimizerStep', null, () => handle.runOptimizerStep()));
    },
    async evalStep(feeds) {
      if (!evalModel) throw new KqkdError('evalStep', 'a session created with an evalModel', 'a session without one');
      validateFeeds('evalStep', feeds, evalInputNames);
      return serial('evalStep', () => guarded('evalStep', feeds, async () =>
        fromOrtOutputs('evalStep', await handle.runEvalStep(toOrtFeeds(ort, feeds, evalInputNames)), evalOutputNames)));
    },
    async getParameters() {
      return serial('getParameters', () => guarded('getParameters', null, async () => {
        const t = await handle.getContiguousParameters(true);
        if (!(t.data instanceof Float32Array) || t.data.length !== parameterCount) {
          throw new RuntimeError(`getParameters: expected ${parameterCount} float32 values, ONNX Runtime returned ${t.type} [${t.dims.join(', ')}]`);
        }
        return t.data.slice();
      }));
    },
    async setParameters(params) {
      if (!(params instanceof Float32Array) || params.length !== parameterCount) {
        invalidArgument('params', `a Float32Array of ${parameterCount} values (trainable parameters)`, params);
      }
      const copy = params.slice();
      return serial('setParameters', () => guarded('setParameters', null, () =>
        handle.loadParametersBuffer(new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength), true)));
    },
    async release() {
      if (released) return;
      await queue;
      released = true;
      await guarded('release', null, () => handle.release());
    },
  };
}
