import { describe, expect, it } from 'vitest';
import {
  drawSubsets, embeddingDim, knowledgeQuality, poolAndFlatten, poolingKernel, reportToJson, selectTopK,
  varianceRatios, windowEntropy,
} from '../src/index.js';
import type { LayerGeometry } from '@kqkd/geometry';

describe('KQ-SPEC §3 pieces, by hand', () => {
  it('variance ratios are zero-padded to W and NaN for a class without variance', () => {
    expect(Array.from(varianceRatios(Float64Array.of(3, 1), 4))).toEqual([0.75, 0.25, 0, 0]);
    const nan = varianceRatios(Float64Array.of(0), 3);
    expect(nan[0]).toBeNaN();
    expect(nan[1]).toBe(0);
  });
  it('embedding dimension: first prefix reaching 95%, capped at W − 1, 1 for a NaN row', () => {
    expect(embeddingDim(Float64Array.of(0.5, 0.3, 0.16, 0.04), 4)).toBe(3); // 0.5, 0.8, 0.96
    expect(embeddingDim(Float64Array.of(0.96, 0.04), 2)).toBe(1);
    expect(embeddingDim(Float64Array.of(0.25, 0.25, 0.25, 0.25), 4)).toBe(3); // capped at W − 1
    expect(embeddingDim(Float64Array.of(Number.NaN, 0, 0), 3)).toBe(1);
  });
  it('window entropy, with the exact-zero / NaN guard', () => {
    expect(windowEntropy(Float64Array.of(0.5, 0.5, 0), 2)).toBeCloseTo(Math.log(2), 12);
    // p = (0.6, 0.2) / 0.8 = (0.75, 0.25)
    expect(windowEntropy(Float64Array.of(0.6, 0.2, 0.2), 2)).toBeCloseTo(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)), 12);
    expect(windowEntropy(Float64Array.of(0.5, 0.5, 0), 3)).toBe(0);
    expect(windowEntropy(Float64Array.of(Number.NaN, 0), 1)).toBe(0);
    expect(windowEntropy(Float64Array.of(1), 0)).toBe(0);
  });
});

describe('knowledgeQuality from a hand-made geometry', () => {
  it('combines S, I, E as KQ-SPEC §1–§4 say', () => {
    const g = {
      numClasses: 2, backend: 'cpu',
      dpsAvg: Float64Array.of(0.9, 0.2, 0.2, 0.7), dpsMin: Float64Array.of(0.1, 0, 0, 0.3), dpsMax: Float64Array.of(1, 1, 1, 1),
      normAvg: Float64Array.of(2, 4), minInterDist: Float64Array.of(1, 2), pcagid: 2,
      pcaClassCount: Float64Array.of(2, 2), spectrum: [Float64Array.of(3, 1), Float64Array.of(1, 1)],
    } as unknown as LayerGeometry;
    const q = knowledgeQuality(g, 100);
    expect(q.S).toBeCloseTo(0.8 - 0.2, 12);
    const K = Math.sqrt(100 / Math.PI);
    expect(q.K).toBeCloseTo(K, 12);
    expect(q.E).toBeCloseTo(K * 2 * 1.5 / 3, 12);
    // ρ = (0.75, 0.25) and (0.5, 0.5); ED = 1 each (cap W − 1 = 1); window = min(2, 2) = 2.
    expect(q.EmbeddingDims).toEqual([1, 1]);
    expect(q.EntropyWindow).toBe(2);
    const h0 = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
    expect(q.SVDE).toBeCloseTo((h0 + Math.log(2)) / 2, 12);
    expect(q.I).toBeCloseTo((1 - 0.2) * q.SVDE / Math.log(5), 12);
    expect(q.Q).toBeCloseTo(q.S + Math.sqrt(q.I * q.E), 12);
  });
});

describe('selection and subsets', () => {
  it('top-k by Q with ties toward the deeper layer, returned in depth order', () => {
    const layers = [{ index: 0, Q: 1 }, { index: 1, Q: 3 }, { index: 2, Q: 2 }, { index: 3, Q: 2 }, { index: 4, Q: Number.NaN }];
    expect(selectTopK(layers, 2)).toEqual([1, 3]);
    expect(selectTopK(layers, 3)).toEqual([1, 2, 3]);
    expect(selectTopK(layers, 9)).toEqual([0, 1, 2, 3]);
  });
  it('M takes floor(5000/C) per class, P min(500, floor(N/C)); seeded and reproducible', () => {
    const labels = Array.from({ length: 7000 }, (_, i) => i % 4); // 1750 per class
    const s = drawSubsets(labels, 3);
    const perClass = (idx: number[]) => [0, 1, 2, 3].map((c) => idx.filter((i) => labels[i] === c).length);
    expect(perClass(s.mainIndices)).toEqual([1250, 1250, 1250, 1250]);
    expect(perClass(s.classIndices)).toEqual([500, 500, 500, 500]);
    expect(new Set(s.mainIndices).size).toBe(5000);
    expect(drawSubsets(labels, 3)).toEqual(s);
    expect(drawSubsets(labels, 4).mainIndices).not.toEqual(s.mainIndices);
    // A class smaller than its quota contributes all its samples.
    const small = [0, 0, 0, 1, 1];
    expect(drawSubsets(small, 0).mainIndices.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(() => drawSubsets([0, 0, 0], 0)).toThrow(/at least 2 classes/);
  });
});

describe('KQ-SPEC §0 pooling', () => {
  it('pools only 4-D features above 262 144 values, kernel ceil(sqrt(size / 262144))', () => {
    expect(poolingKernel([64, 64, 64])).toBe(1); // exactly 262 144: not pooled
    expect(poolingKernel([64, 64, 65])).toBe(2);
    expect(poolingKernel([512, 64, 64])).toBe(3); // sqrt(8) → 3
    expect(poolingKernel([600000])).toBe(1);
  });
  it('max-pools with kernel = stride, floor, no padding', () => {
    // One sample, 1 channel, 3×3 with threshold 4 → k = ceil(sqrt(9/4)) = 2, output 1×1 = max of the top-left 2×2.
    const x = Float32Array.of(1, 5, 9, 2, 3, 9, 9, 9, 9);
    expect(Array.from(poolAndFlatten(x, [1, 1, 3, 3], 4).data)).toEqual([5]);
    const flat = poolAndFlatten(Float32Array.of(1, 2, 3, 4), [2, 2]);
    expect(flat.dim).toBe(2);
  });
});

describe('reports', () => {
  it('JSON writes NaN as null and typed arrays as arrays', () => {
    const json = JSON.parse(reportToJson({ layers: [{ Q: Number.NaN, x: Float64Array.of(1, 2) }] } as never));
    expect(json.layers[0]).toEqual({ Q: null, x: [1, 2] });
  });
});
