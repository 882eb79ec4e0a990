/**
 * The one module that loads onnxruntime-node. Everything else in kqkd asks this package for sessions, so the
 * runtime choice, its options and its error wording live in one place.
 */
import ort from 'onnxruntime-node';
import { KqkdError, expectInteger, expectOneOf, invalidArgument } from '@kqkd/common';

export const EXECUTION_PROVIDERS = ['cpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export interface SessionOptions {
  /** Intra-op threads; default lets ONNX Runtime choose (one per physical core). */
  threads?: number;
  executionProvider?: ExecutionProvider;
  /** How messages name the model when it is given as bytes (its file, usually); default "<N model bytes>". */
  name?: string;
}

/** A float tensor on the JS side: data in row-major order and its shape. */
export interface FloatTensor {
  data: Float32Array;
  shape: number[];
}

/** An inference session plus what error messages need to say where it came from. */
export interface InferenceSession {
  /** The model file, or "<N model bytes>" for in-memory models. */
  readonly source: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs once; `outputs` defaults to all graph outputs. Float32 outputs only. */
  run(feeds: Record<string, FloatTensor>, outputs?: readonly string[]): Promise<Record<string, FloatTensor>>;
  release(): Promise<void>;
  /** The underlying onnxruntime session, for code inside this package only. */
  readonly ort: ort.InferenceSession;
}

/** An ONNX Runtime failure, reworded with the model and the input shapes; the original is `cause`. */
export class RuntimeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

const describeFeeds = (feeds: Record<string, FloatTensor>) =>
  Object.entries(feeds).map(([k, t]) => `"${k}" [${t.shape.join(', ')}]`).join(', ');

export async function createInferenceSession(model: string | Uint8Array, options: SessionOptions = {}): Promise<InferenceSession> {
  const isBytes = model instanceof Uint8Array;
  if (!isBytes && (typeof model !== 'string' || model.length === 0)) {
    invalidArgument('model', 'a path to an .onnx file or its bytes (Uint8Array)', model);
  }
  const provider = expectOneOf('options.executionProvider', options.executionProvider ?? 'cpu', EXECUTION_PROVIDERS);
  const ortOptions: ort.InferenceSession.SessionOptions = { executionProviders: [provider], graphOptimizationLevel: 'all' };
  if (options.threads !== undefined) ortOptions.intraOpNumThreads = expectInteger('options.threads', options.threads, 1, 1024);
  const source = options.name ?? (isBytes ? `<${model.byteLength} model bytes>` : model);
  let session: ort.InferenceSession;
  try {
    session = isBytes ? await ort.InferenceSession.create(model, ortOptions) : await ort.InferenceSession.create(model, ortOptions);
  } catch (err) {
    throw new RuntimeError(`ONNX Runtime could not load the model ${source}: ${(err as Error).message}`, { cause: err });
  }
  const outputNames = session.outputNames;
  return {
    source,
    inputNames: session.inputNames,
    outputNames,
    ort: session,
    release: () => session.release(),
    async run(feeds, outputs = outputNames) {
      for (const name of outputs) {
        if (!outputNames.includes(name)) {
          throw new KqkdError('outputs', `graph outputs of ${source} (${outputNames.map((n) => `"${n}"`).join(', ')})`, `"${name}"`,
            'expose the tensor as a graph output first (exposeOutputs in @kqkd/onnx)');
        }
      }
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        if (!session.inputNames.includes(name)) {
          throw new KqkdError('inputName', `an input of ${source} (${session.inputNames.map((n) => `"${n}"`).join(', ')})`, `"${name}"`);
        }
        if (!(t.data instanceof Float32Array)) invalidArgument(`feeds.${name}.data`, 'a Float32Array', t.data);
        const size = t.shape.reduce((p, d) => p * d, 1);
        if (!t.shape.every((d) => Number.isInteger(d) && d >= 0) || size !== t.data.length) {
          throw new KqkdError(`feeds.${name}.shape`, `non-negative dimensions whose product is data.length = ${t.data.length}`,
            `[${t.shape.join(', ')}]`);
        }
        ortFeeds[name] = new ort.Tensor('float32', t.data, t.shape);
      }
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        result = await session.run(ortFeeds, outputs as string[]);
      } catch (err) {
        throw new RuntimeError(`ONNX Runtime failed running ${source} on input ${describeFeeds(feeds)}: ${(err as Error).message}`, { cause: err });
      }
      const out: Record<string, FloatTensor> = {};
      for (const name of outputs) {
        const tensor = result[name] as ort.Tensor;
        if (tensor.type !== 'float32') {
          throw new RuntimeError(`Output "${name}" of ${source} is ${tensor.type}; feature extraction needs float32 tensors`);
        }
        out[name] = { data: tensor.data as Float32Array, shape: tensor.dims.slice() };
      }
      return out;
    },
  };
}
