/**
 * Evaluation of any ONNX classifier on a dataset split through onnxruntime-node: top-1, per-class accuracy and the
 * confusion matrix. The model takes `[N, C, H, W]` images normalised with the dataset's published constants (what
 * kqkd's exports expect) and returns logits `[N, classes]` as its first output.
 */
import { expectInteger, KqkdError } from '@kqkd/common';
import { batches, type Dataset } from '@kqkd/data';
import { checkClassifier, decodeModel } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';

export interface EvaluateOptions {
  /** The model's bytes (an ONNX file read by the caller) and a name for messages (e.g. its path). */
  model: Uint8Array;
  modelName?: string;
  dataset: Dataset;
  batchSize?: number;
  threads?: number;
  /** Called after every batch. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface Evaluation {
  /** Top-1 accuracy in percent. */
  top1: number;
  correct: number;
  count: number;
  classes: number;
  classNames: readonly string[];
  /** Accuracy of each true class in percent (NaN for a class with no image). */
  perClass: number[];
  /** confusion[trueClass][predictedClass] = number of images. */
  confusion: number[][];
}

/** Index of the largest logit of each row (the first one on ties, as argmax everywhere). */
export function predictions(logits: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let arg = 0;
    for (let j = 1; j < k; j++) if (logits[o + j] > logits[o + arg]) arg = j;
    out[i] = arg;
  }
  return out;
}

/** Top-1, per-class accuracy and the confusion matrix of an ONNX classifier on `dataset`. */
export async function evaluateModel(o: EvaluateOptions): Promise<Evaluation> {
  const name = o.modelName ?? 'model';
  const batchSize = expectInteger('batchSize', o.batchSize ?? 500, 1, 65_536);
  const d = o.dataset;
  const proto = decodeModel(o.model, name);
  // One image input of the data's shape, logits for its classes, finite weights: refused before any session.
  const { input } = checkClassifier(proto, name, { name: d.name, channels: d.channels, height: d.height, width: d.width, classes: d.classes });
  const dims = input.shape ?? [];
  if (typeof dims[0] === 'number' && dims[0] !== batchSize) {
    throw new KqkdError(`${name} input "${input.name}"`, `a symbolic batch dimension (or batchSize = ${dims[0]})`, `a fixed batch of ${dims[0]}`);
  }
  const output = proto.graph!.output![0].name!;
  const k = d.classes;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const session = await createInferenceSession(o.model, { ...(o.threads !== undefined ? { threads: o.threads } : {}), name });
  let done = 0;
  try {
    for await (const batch of batches(d, { batchSize })) {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
      const n = batch.labels.length;
      const out = await session.run({ [input.name]: { data: batch.data, shape: [n, d.channels, d.height, d.width] } }, [output]);
      const logits = out[output];
      if (logits.data.length !== n * k) {
        throw new KqkdError(`${name} output "${output}"`, `logits [${n}, ${k}] (${d.name} has ${k} classes)`, `${logits.data.length} values`);
      }
      // NaN/Infinity logits would be scored as class 0 (argmax ignores NaN): a number a user must never see.
      const bad = logits.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new KqkdError(`${name} output "${output}"`, 'finite logits', `${String(logits.data[bad])} for image ${done + Math.floor(bad / k)} of the ${d.name} ${d.split} split (class ${bad % k})`,
          'the model computes NaN or Infinity on this input; no accuracy is reported');
      }
      const pred = predictions(logits.data, n, k);
      for (let i = 0; i < n; i++) confusion[batch.labels[i]][pred[i]]++;
      done += n;
      o.onProgress?.(done, d.count);
    }
  } finally {
    await session.release();
  }
  const correct = confusion.reduce((s, row, c) => s + row[c], 0);
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? NaN : (100 * row[c]) / total;
  });
  return { top1: (100 * correct) / done, correct, count: done, classes: k, classNames: d.classNames, perClass, confusion };
}
