/**
 * `predict`: the class of each image under an ONNX image classifier. Each image is preprocessed by @kqkd/data's
 * `preprocessImage` (the function that builds the image-folder cache the model was trained from) with the model's
 * kqkd image metadata (`kqkd.input`, `kqkd.normalization`, `kqkd.class_names`; @kqkd/onnx `withImageMetadata`), or
 * with explicit options for a model without it; the model runs through @kqkd/runtime; logits become softmax
 * probabilities (float64).
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { expectInteger, invalidArgument, KqkdError } from '@kqkd/common';
import { preprocessImage, toFloatBatch } from '@kqkd/data';
import { decodeModel, graphInputs, graphOutputs, readImageMetadata, readModelFile } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';

export interface PredictOptions {
  /** The ONNX classifier: its path, or its bytes. */
  model: string | Uint8Array;
  /** Image files (JPEG, PNG, WebP), or their bytes. */
  images: readonly (string | Uint8Array)[];
  /** Classes reported per image, most probable first (default 1). */
  top?: number;
  /** Overrides of the model's metadata; required (with `mean`, `std`) for a model without kqkd image metadata. */
  imageSize?: number;
  channels?: 1 | 3;
  mean?: readonly number[];
  std?: readonly number[];
  /** Images per inference batch (default 32). */
  batchSize?: number;
  threads?: number;
}

export interface Prediction {
  /** The image's path (or `<image k>` for bytes). */
  image: string;
  /** The `top` most probable classes: index, name, softmax probability. */
  top: { class: number; name: string; probability: number }[];
}

export interface PredictResult {
  model: { path: string | null; sha256: string };
  preprocessing: { imageSize: number; channels: 1 | 3; normalization: { mean: number[]; std: number[] }; resize: 'shorter-side-center-crop'; source: 'metadata' | 'options' };
  classNames: string[];
  predictions: Prediction[];
}

const numbers = (name: string, v: unknown, n: number, positive: boolean): number[] => {
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))) {
    invalidArgument(name, `${n} finite number${n > 1 ? 's' : ''}${positive ? ' > 0' : ''} (one per channel)`, v);
  }
  return [...v];
};

/**
 * The preprocessing: from the model's kqkd image metadata (each value replaceable by an option), else from the options
 * with the size and channels the model's input declares; checked.
 */
function preprocessingOf(o: PredictOptions, metadata: ReturnType<typeof readImageMetadata>, input: ReturnType<typeof graphInputs>[number], modelName: string) {
  let imageSize: number;
  let channels: 1 | 3;
  let normalization: { mean: number[]; std: number[] };
  if (metadata) {
    if (metadata.imageSize[0] !== metadata.imageSize[1]) {
      throw new KqkdError(`${modelName} metadata kqkd.input`, 'a square input (height = width: images are centre-cropped squares)', metadata.imageSize.join('×'));
    }
    imageSize = o.imageSize ?? metadata.imageSize[0];
    channels = o.channels ?? metadata.channels;
    normalization = {
      mean: o.mean ? [...o.mean] : channels === metadata.channels ? metadata.normalization.mean : invalidArgument('mean', `${channels} values with channels ${channels} (the model's metadata has ${metadata.channels})`, o.mean),
      std: o.std ? [...o.std] : channels === metadata.channels ? metadata.normalization.std : invalidArgument('std', `${channels} values with channels ${channels} (the model's metadata has ${metadata.channels})`, o.std),
    };
  } else {
    const shape = input.shape && input.shape.length === 4 ? input.shape : null;
    const c = shape?.[1];
    const h = shape?.[2];
    const w = shape?.[3];
    const size = o.imageSize ?? (typeof h === 'number' && h === w ? h : undefined);
    const ch = o.channels ?? (c === 1 || c === 3 ? c : undefined);
    if (o.mean === undefined || o.std === undefined || size === undefined || ch === undefined) {
      throw new KqkdError('model', 'an ONNX classifier with kqkd image metadata (kqkd.class_names, kqkd.normalization, kqkd.input: written by kqkd distill)',
        `${modelName} without it`, 'or give the preprocessing: --image-size N --channels 1|3 --mean a[,b,c] --std a[,b,c] (mean/std of pixel/255)');
    }
    imageSize = size;
    channels = ch;
    normalization = { mean: [], std: [] };
    normalization.mean = numbers('mean', o.mean, channels, false);
    normalization.std = numbers('std', o.std, channels, true);
  }
  expectInteger('imageSize', imageSize, 1, 4096);
  if (channels !== 1 && channels !== 3) invalidArgument('channels', '1 or 3', channels);
  numbers('mean', normalization.mean, channels, false);
  numbers('std', normalization.std, channels, true);

  return { imageSize, channels, normalization };
}

/** Softmax of one row of logits (max-shifted), its `top` classes by probability (ties: the lower class first). */
function softmaxTop(logits: number[], top: number): { c: number; p: number }[] {
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e, c) => ({ c, p: e / sum })).sort((a, b) => b.p - a.p || a.c - b.c).slice(0, top);
}

export async function predict(o: PredictOptions): Promise<PredictResult> {
  if (!o || typeof o !== 'object') invalidArgument('options', 'an object', o);
  if (!Array.isArray(o.images) || o.images.length === 0) invalidArgument('images', 'at least one image file', o.images);
  const top = expectInteger('top', o.top ?? 1, 1);
  const batchSize = expectInteger('batchSize', o.batchSize ?? 32, 1);
  if (typeof o.model !== 'string' && !(o.model instanceof Uint8Array)) invalidArgument('model', 'a path to an .onnx file or its bytes', o.model);
  const bytes = typeof o.model === 'string' ? readModelFile(o.model).bytes : o.model;
  const modelName = typeof o.model === 'string' ? `ONNX file "${o.model}"` : 'model bytes';
  const model = decodeModel(bytes, modelName);
  const metadata = readImageMetadata(model, modelName);
  const input = graphInputs(model)[0];
  const output = graphOutputs(model)[0];
  if (!input || !output) throw new KqkdError('model', 'an image classifier with an input [N, C, H, W] and an output [N, classes]', `${modelName} without them`);

  let classNames: string[] | undefined = metadata?.classNames;
  const overrides = o.imageSize !== undefined || o.channels !== undefined || o.mean !== undefined || o.std !== undefined;
  const { imageSize, channels, normalization } = preprocessingOf(o, metadata, input, modelName);

  const session = await createInferenceSession(bytes, { name: modelName, ...(o.threads !== undefined ? { threads: o.threads } : {}) });
  const predictions: Prediction[] = [];
  try {
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    const size = imageSize * imageSize * channels;
    for (let start = 0; start < o.images.length; start += batchSize) {
      const part = o.images.slice(start, start + batchSize);
      const pixels = new Uint8Array(part.length * size);
      for (let i = 0; i < part.length; i++) pixels.set(await preprocessImage(part[i], { size: imageSize, channels }), i * size);
      const { data, shape } = toFloatBatch({ images: pixels, count: part.length, height: imageSize, width: imageSize, channels },
        part.map((_, i) => i), normalization);
      const out = (await session.run({ [inputName]: { data, shape } }, [outputName]))[outputName];
      const k = out.shape[out.shape.length - 1];
      if (out.shape.length !== 2 || out.shape[0] !== part.length) {
        throw new KqkdError(`${modelName} output "${outputName}"`, `logits [${part.length}, classes]`, `[${out.shape.join(', ')}]`);
      }
      classNames ??= Array.from({ length: k }, (_, c) => `class ${c}`);
      if (classNames.length !== k) {
        throw new KqkdError(`${modelName} metadata kqkd.class_names`, `${k} names (the model has ${k} logits)`, `${classNames.length}`);
      }
      for (let i = 0; i < part.length; i++) {
        const order = softmaxTop(Array.from(out.data.subarray(i * k, (i + 1) * k), Number), top);
        const img = part[i];
        predictions.push({
          image: typeof img === 'string' ? img : `<image ${start + i}>`,
          top: order.map(({ c, p }) => ({ class: c, name: classNames![c], probability: p })),
        });
      }
    }
  } finally {
    await session.release();
  }
  return {
    model: { path: typeof o.model === 'string' ? resolve(o.model) : null, sha256: createHash('sha256').update(bytes).digest('hex') },
    preprocessing: { imageSize, channels, normalization, resize: 'shorter-side-center-crop', source: metadata && !overrides ? 'metadata' : 'options' },
    classNames: classNames ?? [],
    predictions,
  };
}
