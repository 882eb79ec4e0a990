import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { loadAddon } from '@kqkd/native';
import { computeLayerGeometry, resolveBackend, buildInfo, cudaStatus } from '../src/index.js';

// Two classes, two samples each, in 2-D, chosen so that every quantity is easy by hand:
// class 0: a=(3,4) |a|=5, b=(4,3) |b|=5; class 1: c=(0,2) |c|=2, d=(1,0) |d|=1.
const features = Float32Array.of(3, 4, 4, 3, 0, 2, 1, 0);
const labels = [0, 0, 1, 1];
const all = [0, 1, 2, 3];

describe('computeLayerGeometry on a hand-computed example', () => {
  it('block |cos| statistics, norms and distances', async () => {
    const g = await computeLayerGeometry({ features, rows: 4, dim: 2, labels, mainIndices: all, classIndices: all });
    const cos = (x: number[], y: number[]) => Math.abs(x[0] * y[0] + x[1] * y[1]) / Math.hypot(...x) / Math.hypot(...y);
    const a = [3, 4], b = [4, 3], c = [0, 2], d = [1, 0];
    // Block (0,0) includes the diagonal: {1, 24/25, 24/25, 1}.
    expect(g.dpsAvg[0]).toBeCloseTo((2 + 2 * cos(a, b)) / 4, 6);
    expect(g.dpsMin[0]).toBeCloseTo(24 / 25, 6);
    expect(g.dpsMax[0]).toBeCloseTo(1, 6);
    // Block (1,1): c ⟂ d.
    expect(g.dpsAvg[3]).toBeCloseTo(0.5, 6);
    expect(g.dpsMin[3]).toBeCloseTo(0, 6);
    // Block (0,1) = block (1,0).
    const inter = (cos(a, c) + cos(a, d) + cos(b, c) + cos(b, d)) / 4;
    expect(g.dpsAvg[1]).toBeCloseTo(inter, 6);
    expect(g.dpsAvg[2]).toBeCloseTo(inter, 6);
    expect(Array.from(g.normAvg)).toEqual([5, 1.5].map((v) => expect.closeTo(v, 6)));
    expect(g.normMin[1]).toBeCloseTo(1, 6);
    expect(g.normMax[1]).toBeCloseTo(2, 6);
    // Nearest inter-class pair for both classes: b=(4,3) and c=(0,2): sqrt(16+1) = sqrt(17).
    const ac = Math.hypot(3, 2), bc = Math.hypot(4, 1), ad = Math.hypot(2, 4), bd = Math.hypot(3, 3);
    const nearest = Math.min(ac, bc, ad, bd);
    expect(g.minInterDist[0]).toBeCloseTo(nearest, 6);
    expect(g.minInterDist[1]).toBeCloseTo(nearest, 6);
    expect(g.avgIntraDist[0]).toBeCloseTo(Math.SQRT2, 6);
    expect(g.pcagid).toBe(2);
    // Class PCA of two points: one direction with variance |x−y|²/2, and L = min(2, 2) = 2 values.
    expect(g.spectrum[0][0]).toBeCloseTo(2 / 2, 5);
    expect(g.spectrum[1][0]).toBeCloseTo(5 / 2, 5);
    expect(g.spectrum[0]).toHaveLength(2);
    expect(g.backend).toBe('cpu');
  });

  it('rejects, never crashes, on bad arguments', async () => {
    await expect(computeLayerGeometry({ features, rows: 4, dim: 2, labels, mainIndices: all, classIndices: all }, { threads: -1 }))
      .rejects.toThrow('Expected integer between 0 and 1024 for options.threads but received -1 of type number');
    await expect(computeLayerGeometry(null as never)).rejects.toBeInstanceOf(KqkdError);
    // the addon's integer limits are checked here first: tileRows and numClasses below 2^31
    await expect(computeLayerGeometry({ features, rows: 4, dim: 2, labels, mainIndices: all, classIndices: all }, { tileRows: 2 ** 31 }))
      .rejects.toThrow('Expected integer between 0 and 2147483647 for options.tileRows but received 2147483648 of type number');
    await expect(computeLayerGeometry({ features, rows: 4, dim: 2, labels, numClasses: 2 ** 31, mainIndices: all, classIndices: all }))
      .rejects.toThrow('Expected integer between 2 and 2147483647 for numClasses but received 2147483648 of type number');
  });

  it('the addon called directly: its one error (a TypeError, code KQKD_INVALID_ARGUMENT, naming the argument)', () => {
    const idx = BigInt64Array.of(0n, 1n, 2n, 3n), lab = Int32Array.from(labels);
    const call = (...a: unknown[]) => () => (loadAddon().computeGeometry as unknown as (...b: unknown[]) => unknown)(...a);
    const refused = (argument: string, message: string) => expect.objectContaining({ name: 'TypeError', code: 'KQKD_INVALID_ARGUMENT', argument, message });
    expect(call(features, 4, 2, lab, 2, idx, idx, { threads: -1 }))
      .toThrow(refused('options.threads', 'Expected an integer in [0, 1024] for options.threads but received -1 of type number'));
    expect(call(features, 4, 2, lab, 2, idx, idx, { tileRows: 0.5 }))
      .toThrow(refused('options.tileRows', 'Expected an integer in [0, 2147483647] for options.tileRows but received 0.5 of type number'));
    expect(call(features, 4, 2, lab, 2, idx, idx, { backend: 'gpu' }))
      .toThrow(refused('options.backend', 'Expected one of "cpu", "cuda" for options.backend but received "gpu" of type string'));
    expect(call(features, 4, 3, lab, 2, idx, idx, {})).toThrow(refused('features', 'Expected a Float32Array of 12 values for features but received Float32Array(8)'));
    expect(call(features, 4, 2, [0, 0, 1, 1], 2, idx, idx, {})).toThrow(refused('labels', 'Expected an Int32Array for labels but received Array(4)'));
    expect(call(features, 4, 2, lab, 2 ** 31, idx, idx, {}))
      .toThrow(refused('numClasses', 'Expected an integer in [2, 2147483647] for numClasses but received 2147483648 of type number'));
    expect(call(features, 4, 2, lab, 2, idx, idx)).toThrow(refused('options', 'Expected an object for options but received undefined'));
  });
});

describe('backend choice', () => {
  it('cpu always; auto falls back to cpu without a device; cuda explains why not', () => {
    expect(resolveBackend('cpu')).toBe('cpu');
    const status = cudaStatus();
    expect(typeof status.reason).toBe('string');
    expect(resolveBackend('auto')).toBe(status.available ? 'cuda' : 'cpu');
    if (!status.available) expect(() => resolveBackend('cuda')).toThrow(/CUDA/);
    expect(() => resolveBackend('gpu' as never)).toThrow(/one of "cpu", "cuda", "auto"/);
    expect(buildInfo().blas).toMatch(/OpenBLAS/i);
  });
});
