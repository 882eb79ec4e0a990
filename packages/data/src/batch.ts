import { expectInteger, invalidArgument, invalidArgumentText, type Rng } from '@kqkd/common';
import type { ImageDataset } from './fashion-mnist.js';

export interface FloatBatchOptions {
  /** Per-channel mean of pixel/255 (one entry per channel). */
  mean: readonly number[];
  /** Per-channel standard deviation of pixel/255. */
  std: readonly number[];
  /** Reuse this buffer (length ≥ indices × C×H×W) instead of allocating. */
  out?: Float32Array;
}

/**
 * The images at `indices` as a float NCHW batch, (pixel/255 − mean[c]) / std[c]. Source images are HWC bytes
 * (for one channel, HWC and CHW coincide).
 */
export function toFloatBatch(
  dataset: Pick<ImageDataset, 'images' | 'count' | 'height' | 'width' | 'channels'>,
  indices: ArrayLike<number>,
  options: FloatBatchOptions,
): { data: Float32Array; shape: [number, number, number, number] } {
  const { count, height: h, width: w, channels: c } = dataset;
  if (options.mean.length !== c) invalidArgument('mean', `${c} value(s), one per channel`, options.mean);
  if (options.std.length !== c) invalidArgument('std', `${c} value(s), one per channel`, options.std);
  options.std.forEach((s, k) => {
    if (!(s > 0)) invalidArgument(`std[${k}]`, 'a positive number', s);
  });
  const n = indices.length;
  const plane = h * w;
  const size = n * c * plane;
  let data = options.out;
  if (data !== undefined && data.length < size) invalidArgument('out', `a Float32Array of at least ${size}`, data);
  data = data ? data.subarray(0, size) : new Float32Array(size);
  const scale = options.std.map((s) => 1 / (255 * s));
  const shift = options.mean.map((m, k) => m / options.std[k]);
  for (let b = 0; b < n; b++) {
    const idx = indices[b];
    if (!Number.isInteger(idx) || idx < 0 || idx >= count) {
      invalidArgumentText(`indices[${b}]`, `an integer index in [0, ${count})`, String(idx));
    }
    const src = idx * plane * c;
    const dst = b * plane * c;
    for (let ch = 0; ch < c; ch++) {
      const sc = scale[ch];
      const sh = shift[ch];
      const o = dst + ch * plane;
      for (let p = 0; p < plane; p++) data[o + p] = dataset.images[src + p * c + ch] * sc - sh;
    }
  }
  return { data, shape: [n, c, h, w] };
}

/**
 * `perClass` distinct indices of every class, drawn with `rng`, returned in ascending order (file order, which
 * keeps reads local). Classes are 0..classes−1 (default: max label + 1); a class with too few images is an error.
 */
export function classBalancedIndices(labels: ArrayLike<number>, perClass: number, rng: Rng, classes?: number): number[] {
  expectInteger('perClass', perClass, 1);
  if (!labels || typeof labels.length !== 'number' || labels.length === 0) invalidArgument('labels', 'a non-empty label array', labels);
  let maxLabel = -1;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0) invalidArgumentText(`labels[${i}]`, 'a non-negative integer class', String(l));
    if (l > maxLabel) maxLabel = l;
  }
  const k = classes === undefined ? maxLabel + 1 : expectInteger('classes', classes, maxLabel + 1);
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const picked: number[] = [];
  byClass.forEach((members, c) => {
    if (members.length < perClass) {
      invalidArgumentText('perClass', `at most ${members.length} (the images of class ${c})`, String(perClass));
    }
    picked.push(...rng.sample(members, perClass));
  });
  return picked.sort((a, b) => a - b);
}
