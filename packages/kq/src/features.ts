import { invalidArgumentText } from '@kqkd/common';

/** KQ-SPEC §0: 4-D features with more than this many values per sample are max-pooled first. */
export const MAX_FEATURE_DIM = 262144;

/** Pooling kernel (= stride) for a per-sample shape, or 1 when no pooling applies. */
export function poolingKernel(sampleShape: readonly number[], maxDim = MAX_FEATURE_DIM): number {
  if (sampleShape.length !== 3) return 1;
  const size = sampleShape[0] * sampleShape[1] * sampleShape[2];
  return size > maxDim ? Math.ceil(Math.sqrt(size / maxDim)) : 1;
}

/** Per-sample shape after KQ-SPEC §0 pooling (floor, no padding). */
export function pooledSampleShape(sampleShape: readonly number[], maxDim = MAX_FEATURE_DIM): number[] {
  const k = poolingKernel(sampleShape, maxDim);
  if (k === 1) return sampleShape.slice();
  const [ch, h, w] = sampleShape;
  return [ch, Math.floor(h / k), Math.floor(w / k)];
}

/**
 * Applies KQ-SPEC §0 to a batch `[n, ...sampleShape]` and returns row-major `[n, D]` float32.
 * Works per batch so that model features can be pooled as they stream out of the runtime.
 */
export function poolAndFlatten(
  data: Float32Array,
  shape: readonly number[],
  maxDim = MAX_FEATURE_DIM,
): { data: Float32Array; dim: number } {
  if (shape.length < 1) invalidArgumentText('features', 'a shape [N, ...]', 'a scalar');
  const n = shape[0];
  const sample = shape.slice(1);
  const rawDim = sample.reduce((a, b) => a * b, 1);
  if (data.length !== n * rawDim) {
    invalidArgumentText('features', `${n * rawDim} values for shape [${shape.join(', ')}]`, `${data.length} values`);
  }
  const k = poolingKernel(sample, maxDim);
  if (k === 1) return { data, dim: rawDim };
  const [ch, h, w] = sample;
  const oh = Math.floor(h / k);
  const ow = Math.floor(w / k);
  const dim = ch * oh * ow;
  const out = new Float32Array(n * dim);
  let o = 0;
  for (let s = 0; s < n; s++) {
    for (let c = 0; c < ch; c++) {
      const plane = (s * ch + c) * h * w;
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          let m = -Infinity;
          for (let dy = 0; dy < k; dy++) {
            const row = plane + (y * k + dy) * w + x * k;
            for (let dx = 0; dx < k; dx++) if (data[row + dx] > m) m = data[row + dx];
          }
          out[o++] = m;
        }
      }
    }
  }
  return { data: out, dim };
}
