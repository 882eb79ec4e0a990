/**
 * Proves the independent float64 reference (test/reference/kq-reference.ts) right before anyone compares the native
 * engine to it: it must reproduce both golden vectors (KQ-SPEC tolerance: relative 1e-4, absolute 1e-6 near 0) and
 * small hand-computed cases.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  KqDegenerateInputError,
  jacobiSingularValues,
  poolAndFlatten,
  referenceKq,
  referenceSelectTopK,
  type KqResult,
} from './reference/kq-reference.js';
import { npyToNumbers, readNpy } from './reference/npy.js';
import {
  genConv4d,
  genDeadColumns,
  genDenseClusters,
  genLowRank,
  genManyClasses,
  genSingleSampleInP,
  genTiedLayers,
  genZeroNormRow,
} from './reference/generate.js';

const GOLDEN = process.env.KQ_GOLDEN_DIR ?? '/work/shared/golden/kq';
const REL = 1e-4;
const ABS = 1e-6;

function close(actual: number, expected: number): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  const d = Math.abs(actual - expected);
  return d <= ABS || d <= REL * Math.abs(expected);
}

function relErr(actual: number, expected: number): number {
  const d = Math.abs(actual - expected);
  return expected === 0 ? d : d / Math.abs(expected);
}

function expectClose(name: string, actual: number, expected: number): void {
  expect(close(actual, expected), `${name}: got ${actual}, expected ${expected}`).toBe(true);
}

const SCALARS = ['S', 'I', 'E', 'Q', 'K', 'PCAGID', 'SVDE'] as const;
const ARRAYS = ['AvgIntraClassDPS', 'MinIntraClassDPS', 'AvgClassNorm', 'MinInterClassDist'] as const;

for (const name of ['dense2d', 'conv4d']) {
  describe(`golden ${name}`, () => {
    const dir = join(GOLDEN, name);
    const spec = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
    const feats = readNpy(join(dir, 'features.npy'));
    let result: KqResult;

    it('inputs load as described', () => {
      expect(feats.dtype).toBe('f4');
      expect(feats.shape).toEqual(spec.inputs.features_shape);
    });

    it('reproduces every expected quantity (rel 1e-4 / abs 1e-6)', () => {
      const t0 = performance.now();
      result = referenceKq({
        features: feats.data as Float32Array,
        shape: feats.shape,
        labels: npyToNumbers(readNpy(join(dir, 'labels.npy'))),
        mainIndices: npyToNumbers(readNpy(join(dir, 'idx_main.npy'))),
        classIndices: npyToNumbers(readNpy(join(dir, 'idx_class.npy'))),
        datasetSize: spec.inputs.dataset_size,
        maxDim: spec.inputs.max_dim,
      });
      const ms = performance.now() - t0;
      const exp = spec.expected;
      const report: Record<string, number> = {};
      for (const k of SCALARS) {
        expectClose(k, result[k], exp[k]);
        report[k] = relErr(result[k], exp[k]);
      }
      expect(result.PCAGID).toBe(exp.PCAGID);
      for (const k of ARRAYS) {
        const a = result[k];
        const e = exp[k] as number[];
        expect(a.length).toBe(e.length);
        let worst = 0;
        for (let c = 0; c < e.length; c++) {
          expectClose(`${k}[${c}]`, a[c], e[c]);
          worst = Math.max(worst, relErr(a[c], e[c]));
        }
        report[k] = worst;
      }
      // SVDE is mean_c H_c (natural log): I = (1 − mean MinIntra) · SVDE / ln 5.
      const meanMinIntra = result.MinIntraClassDPS.reduce((x, y) => x + y, 0) / result.MinIntraClassDPS.length;
      expect(close(result.I, ((1 - meanMinIntra) * result.SVDE) / Math.log(5))).toBe(true);
      console.log(
        `[golden ${name}] ${ms.toFixed(0)} ms, window w=${result.entropyWindow}, W=${result.W}, ED=${JSON.stringify(result.ED)}\n` +
          `  max relative error: ${Object.entries(report).map(([k, v]) => `${k}=${v.toExponential(2)}`).join(' ')}`,
      );
    });
  });
}

describe('hand-computed cases', () => {
  // M: class 0 = (2,0,0), (0,2,0); class 1 = (3,4,0), (4,3,0).
  // P: class 0 = (10,10,10) + {(2,1,1), (−2,1,1), (0,−2,−2)}   → ZᵀZ eigenvalues 8, 12, 0  → ρ = 0.6, 0.4, ~0
  //    class 1 = (10,10,10) + {(4,1,1), (−4,1,1), (0,−2,−2)}   → ZᵀZ eigenvalues 32, 12, 0 → ρ = 8/11, 3/11, ~0
  const base = [
    [2, 0, 0], [0, 2, 0], [3, 4, 0], [4, 3, 0],
    [12, 11, 11], [8, 11, 11], [10, 8, 8],
    [14, 11, 11], [6, 11, 11], [10, 8, 8],
  ];
  const labels = [0, 0, 1, 1, 0, 0, 0, 1, 1, 1];
  const mainIndices = [0, 1, 2, 3];
  const classIndices = [4, 5, 6, 7, 8, 9];
  const datasetSize = 100;

  it('2 classes × 2 samples: S, norms, distances, E, entropy, I, Q by hand', () => {
    const r = referenceKq({ features: Float64Array.from(base.flat()), shape: [10, 3], labels, mainIndices, classIndices, datasetSize });
    // §1: class 0 block [[1,0],[0,1]]; class 1 block [[1,.96],[.96,1]]; inter |cos| = .6,.8,.8,.6.
    expect(r.AvgIntraClassDPS[0]).toBeCloseTo(0.5, 14);
    expect(r.AvgIntraClassDPS[1]).toBeCloseTo(0.98, 14);
    expect(r.MinIntraClassDPS[0]).toBeCloseTo(0, 14);
    expect(r.MinIntraClassDPS[1]).toBeCloseTo(0.96, 14);
    expect(r.AvgInterClassDPS[0][1]).toBeCloseTo(0.7, 14);
    expect(r.AvgInterClassDPS[1][0]).toBeCloseTo(0.7, 14);
    expect(r.S).toBeCloseTo((0.5 + 0.98) / 2 - 0.7, 14);
    // §2: norms 2, 2, 5, 5; distances √17, √13, √13, √17.
    expect(r.AvgClassNorm).toEqual([2, 5]);
    expect(r.MinInterClassDist[0]).toBeCloseTo(Math.sqrt(13), 14);
    expect(r.MinInterClassDist[1]).toBeCloseTo(Math.sqrt(13), 14);
    expect(r.PCAGID).toBe(3);
    const K = Math.pow(100 / Math.PI, 1 / 3);
    expect(r.K).toBeCloseTo(K, 14);
    const E = (K * 2 * Math.sqrt(13)) / 3.5;
    expect(r.E).toBeCloseTo(E, 12);
    // §3: W = 3; ED = 2, 2; w = min(4, 3) = 3 (the third, noise-level ratio is in the window but is not 0).
    expect(r.W).toBe(3);
    expect(r.singularValues[0][0]).toBeCloseTo(Math.sqrt(12), 12);
    expect(r.singularValues[0][1]).toBeCloseTo(Math.sqrt(8), 12);
    expect(r.singularValues[1][0]).toBeCloseTo(Math.sqrt(32), 12);
    expect(r.singularValues[1][1]).toBeCloseTo(Math.sqrt(12), 12);
    expect(r.spectra[0][0]).toBeCloseTo(0.6, 12);
    expect(r.spectra[1][0]).toBeCloseTo(8 / 11, 12);
    expect(r.spectra[0][2]).toBeGreaterThan(0);
    expect(r.spectra[0][2]).toBeLessThan(1e-20);
    expect(r.ED).toEqual([2, 2]);
    expect(r.entropyWindow).toBe(3);
    const h = (ps: number[]) => -ps.reduce((s, p) => s + p * Math.log(p), 0);
    const H0 = h([0.6, 0.4]);
    const H1 = h([8 / 11, 3 / 11]);
    expect(r.H[0]).toBeCloseTo(H0, 12);
    expect(r.H[1]).toBeCloseTo(H1, 12);
    expect(r.SVDE).toBeCloseTo((H0 + H1) / 2, 12);
    const I = ((1 - 0.48) * ((H0 + H1) / 2)) / Math.log(5);
    expect(r.I).toBeCloseTo(I, 12);
    expect(r.Q).toBeCloseTo(0.04 + Math.sqrt(I * E), 12);
  });

  it('a constant column within a class gives a trailing exact zero → H = 0 (guard)', () => {
    // Same as above but class 0's P rows share their third coordinate (z_0 = 1): trailing
    // max(0, L − min(m, D − z)) = 3 − 2 = 1 value is exactly 0 and lies in the window w = 3.
    const f = base.map((r) => r.slice());
    f[4][2] = 10; f[5][2] = 10; f[6][2] = 10;
    const r = referenceKq({ features: Float64Array.from(f.flat()), shape: [10, 3], labels, mainIndices, classIndices, datasetSize });
    expect(r.singularValues[0][2]).toBe(0);
    expect(r.spectra[0][2]).toBe(0);
    expect(r.entropyWindow).toBe(3);
    expect(r.H[0]).toBe(0);
    expect(r.H[1]).toBeGreaterThan(0.5);
  });

  it('a class with one sample in P: ρ row NaN, ED = 1, H = 0; padding is 0', () => {
    const r = referenceKq({
      features: Float64Array.from(base.flat()), shape: [10, 3], labels, mainIndices,
      classIndices: [4, 7, 8, 9], datasetSize,
    });
    expect(r.classCounts).toEqual([1, 3]);
    expect(Number.isNaN(r.spectra[0][0])).toBe(true);
    expect(r.spectra[0][1]).toBe(0);
    expect(r.ED[0]).toBe(1);
    expect(r.H[0]).toBe(0);
    expect(r.ED[1]).toBe(2);
    expect(r.entropyWindow).toBe(3);
    expect(Number.isFinite(r.Q)).toBe(true);
  });

  it('window w = ΣED < W excludes the padding and small ratios', () => {
    // Two classes, P has 6 rank-1 (after centring) samples each in 4-D: ED = 1 each, W = 6, w = 2.
    // With w = 2 and ρ = (1, ~0): p_2 is noise-level but non-zero → H ≈ 0 but not guarded.
    const rows: number[][] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    const lab = [0, 0, 1, 1];
    for (let i = 0; i < 6; i++) { rows.push([1 + i, 2 + 2 * i, 3 + 3 * i, 4 + 4 * i]); lab.push(0); }
    for (let i = 0; i < 6; i++) { rows.push([5 - i, 1, 2 + i, 7]); lab.push(1); }
    const r = referenceKq({
      features: Float64Array.from(rows.flat()), shape: [rows.length, 4], labels: lab,
      mainIndices: [0, 1, 2, 3], classIndices: Array.from({ length: 12 }, (_, i) => i + 4), datasetSize: 1000,
    });
    expect(r.W).toBe(6);
    expect(r.ED).toEqual([1, 1]);
    expect(r.entropyWindow).toBe(2);
    // class 1 has a constant column (1 and 7 → two constant columns): L = 4, min(6, 4 − 2) = 2 → 2 exact zeros,
    // outside the window; the second value is noise (rank 1) → non-zero.
    expect(r.singularValues[1].slice(2)).toEqual([0, 0]);
    expect(r.spectra[1][1]).toBeGreaterThan(0);
    expect(r.H[0]).toBeLessThan(1e-12);
    expect(r.H[1]).toBeLessThan(1e-12);
    expect(r.SVDE).toBeLessThan(1e-12);
  });

  it('Jacobi SVD matches known singular values', () => {
    // diag(3, 2, 1) rotated: singular values are 3, 2, 1.
    const c = Math.cos(0.3), s = Math.sin(0.3);
    const A = Float64Array.from([3 * c, -3 * s, 0, 2 * s, 2 * c, 0, 0, 0, 1, 0, 0, 0]); // 4×3
    const sv = jacobiSingularValues(A, 4, 3);
    expect(sv[0]).toBeCloseTo(3, 14);
    expect(sv[1]).toBeCloseTo(2, 14);
    expect(sv[2]).toBeCloseTo(1, 14);
    const svT = jacobiSingularValues(Float64Array.from([1, 2, 3, 4, 5, 6]), 1, 6); // 1×6 → ‖·‖
    expect(svT).toHaveLength(1);
    expect(svT[0]).toBeCloseTo(Math.sqrt(91), 14);
  });
});

describe('pooling (§0)', () => {
  it('max-pools 4-D inputs above maxDim with k = ceil(sqrt(chw/maxDim)), floor output', () => {
    // [1, 1, 5, 5] with maxDim 4: chw = 25 > 4, k = ceil(sqrt(6.25)) = 3 → output 1×1×1 (floor(5/3) = 1).
    const x = Float32Array.from({ length: 25 }, (_, i) => (i === 24 ? 100 : i % 7));
    const p = poolAndFlatten(x, [1, 1, 5, 5], 4);
    expect(p.kernel).toBe(3);
    expect(p.pooledShape).toEqual([1, 1, 1, 1]);
    expect(Array.from(p.X)).toEqual([Math.max(0, 1, 2, 5, 6, 0, 3, 4, 5)]); // rows 0–2, cols 0–2
    // [1, 2, 4, 4] with maxDim 8: chw = 32, k = ceil(2) = 2 → [1, 2, 2, 2].
    const y = Float32Array.from({ length: 32 }, (_, i) => i);
    const q = poolAndFlatten(y, [1, 2, 4, 4], 8);
    expect(q.kernel).toBe(2);
    expect(Array.from(q.X)).toEqual([5, 7, 13, 15, 21, 23, 29, 31]);
    // exactly maxDim: not pooled (strictly greater is required); 3-D / 2-D never pooled.
    expect(poolAndFlatten(y, [1, 2, 4, 4], 32).kernel).toBe(1);
    expect(poolAndFlatten(y, [1, 32], 4).kernel).toBe(1);
    expect(poolAndFlatten(y, [2, 4, 4], 4).D).toBe(16);
  });

  it('referenceKq on a pooled 4-D case equals referenceKq on the pooled 2-D features', () => {
    const c = genConv4d(11, { N: 200, ch: 4, H: 7, W: 7, C: 5, maxDim: 40 }); // chw = 196 → k = 3 → 4×2×2
    const pooled = poolAndFlatten(c.features, c.shape, 40);
    expect(pooled.D).toBe(16);
    const a = referenceKq(c);
    const b = referenceKq({ ...c, features: pooled.X, shape: [pooled.N, pooled.D], maxDim: undefined });
    expect(a.Q).toBe(b.Q);
    expect(a.D).toBe(16);
  });
});

describe('degenerate inputs (§5) throw a clear error', () => {
  const ok = () => ({
    features: Float64Array.from([1, 0, 0, 1, 1, 1, -1, 1, 2, 1, 1, 2]),
    shape: [6, 2],
    labels: [0, 0, 1, 1, 0, 1],
    mainIndices: [0, 1, 2, 3],
    classIndices: [4, 5, 0, 2],
    datasetSize: 10,
  });
  const rule = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(KqDegenerateInputError);
      return (e as KqDegenerateInputError).rule;
    }
    return 'no error';
  };

  it('the base case the refusals below start from is valid (a precondition, not a value check: those are above)', () => {
    const r = referenceKq(ok());
    expect(r.Q).toBeCloseTo(r.S + Math.sqrt(r.I * r.E), 12);
  });
  it('fewer than 2 classes', () => {
    expect(rule(() => referenceKq({ ...ok(), labels: [0, 0, 0, 0, 0, 0] }))).toBe('fewer-than-2-classes');
  });
  it('class with < 2 samples in M', () => {
    expect(rule(() => referenceKq({ ...ok(), mainIndices: [0, 1, 2] }))).toBe('class-too-small-in-main');
    // label 2 exists only outside M → class 2 has 0 samples in M
    expect(rule(() => referenceKq({ ...ok(), labels: [0, 0, 1, 1, 2, 1], classIndices: [0, 2, 4] }))).toBe('class-too-small-in-main');
  });
  it('class with no sample in P', () => {
    expect(rule(() => referenceKq({ ...ok(), classIndices: [4, 0] }))).toBe('class-empty-in-pca');
  });
  it('labels out of range', () => {
    expect(rule(() => referenceKq({ ...ok(), labels: [0, 0, 1, 1, -1, 1] }))).toBe('label-out-of-range');
    expect(rule(() => referenceKq({ ...ok(), labels: [0, 0, 1, 1, 0.5, 1] }))).toBe('label-out-of-range');
  });
  it('non-finite features', () => {
    const f = ok();
    f.features[5] = Number.NaN;
    expect(rule(() => referenceKq(f))).toBe('non-finite-feature');
    const g = ok();
    g.features[8] = Number.POSITIVE_INFINITY; // row 4, in P only
    expect(rule(() => referenceKq(g))).toBe('non-finite-feature');
  });
  it('zero-norm row in M', () => {
    const c = genZeroNormRow(5);
    expect(() => referenceKq(c)).toThrow(new RegExp(`zero-norm-row.*sample ${c.zeroRow}\\b`));
  });
});

describe('generated cases', () => {
  it('dense clusters, conv 4-D, many classes, low-rank, dead columns, single sample in P: Q = S + sqrt(I·E), and KQ does not depend on the order of the samples', () => {
    const cases = [
      genDenseClusters(1, { N: 800, D: 48 }),
      genConv4d(2),
      genManyClasses(3),
      genLowRank(4),
      genDeadColumns(5),
      genSingleSampleInP(6),
    ];
    for (const c of cases) {
      const r = referenceKq(c);
      for (const k of ['S', 'I', 'E', 'Q'] as const) expect(Number.isFinite(r[k]), `${c.description}: ${k} = ${r[k]}`).toBe(true);
      expect(r.Q, `${c.description}: the definition of Q`).toBeCloseTo(r.S + Math.sqrt(r.I * r.E), 12);
      // The same samples in another order (rows, labels and subset indices permuted together) are the same data.
      const N = c.shape[0];
      const row = c.features.length / N;
      const perm = Array.from({ length: N }, (_, i) => (i * 7919 + 13) % N); // new position i holds old sample perm[i]
      if (new Set(perm).size !== N) continue; // 7919 shares a factor with N: not a permutation
      const where = new Array<number>(N);
      perm.forEach((old, i) => { where[old] = i; });
      const features = new Float64Array(c.features.length);
      perm.forEach((old, i) => features.set(Array.from(c.features.subarray(old * row, (old + 1) * row)), i * row));
      const shuffled = referenceKq({
        ...c, features, labels: perm.map((old) => c.labels[old]),
        mainIndices: Array.from(c.mainIndices, (i) => where[i]), classIndices: Array.from(c.classIndices, (i) => where[i]),
      });
      for (const k of ['S', 'I', 'E', 'Q'] as const) {
        expect(Math.abs(shuffled[k] - r[k]) <= 1e-9 * Math.max(1, Math.abs(r[k])), `${c.description}: ${k} ${shuffled[k]} vs ${r[k]} in sample order`).toBe(true);
      }
    }
  });

  it('many classes: 100 classes, 3–6 samples each', () => {
    const c = genManyClasses(7);
    const r = referenceKq(c);
    expect(r.numClasses).toBe(100);
    expect(Math.min(...r.mainCounts)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...r.mainCounts)).toBeLessThanOrEqual(6);
    // P takes min(500, floor(N/C)) = 4 per class (3 where the class has only 3), so W = 4 and w = min(ΣED, W) = 4:
    // classes with m_c < W have padding zeros in the window → H = 0 (guard); classes with m_c = W have their
    // noise-level last (centring) value in the window, which is NOT zero → H > 0.
    expect(r.W).toBe(4);
    expect(r.entropyWindow).toBe(4);
    for (let k = 0; k < 100; k++) {
      if (r.classCounts[k] < r.W) expect(r.H[k]).toBe(0);
      else expect(r.H[k]).toBeGreaterThan(0);
    }
    expect(r.classCounts.some((m) => m === 4)).toBe(true);
    expect(r.classCounts.some((m) => m === 3)).toBe(true);
  });

  it('low-rank classes: entropy window < D and every H finite and positive', () => {
    const r = referenceKq(genLowRank(8));
    expect(r.entropyWindow).toBeLessThan(r.D);
    expect(r.H.every((h) => h > 0 && Number.isFinite(h))).toBe(true);
  });

  it('dead columns: rule (b) exact trailing zeros', () => {
    const c = genDeadColumns(9, { N: 120, D: 32, C: 6, deadPerClass: 4, deadGlobal: 3 }); // m_c = 20, D − z_c = 25
    const r = referenceKq(c);
    for (let k = 0; k < r.numClasses; k++) {
      // L = min(20, 32) = 20 ≤ D − z_c = 25 → no rule-(b) zeros; the last (centring) value is noise, not 0
      expect(r.singularValues[k]).toHaveLength(20);
      expect(r.singularValues[k][19]).toBeGreaterThan(0);
    }
    const d = genDeadColumns(9, { N: 300, D: 32, C: 6 }); // m_c = 50 > D − z_c = 25 → 7 trailing exact zeros
    const rd = referenceKq(d);
    for (let k = 0; k < rd.numClasses; k++) {
      expect(rd.singularValues[k].slice(25)).toEqual([0, 0, 0, 0, 0, 0, 0]);
      expect(rd.singularValues[k][24]).toBeGreaterThan(0);
    }
  });

  it('single sample in P: ED = 1, H = 0', () => {
    const r = referenceKq(genSingleSampleInP(10, { oneClass: 2 }));
    expect(r.classCounts[2]).toBe(1);
    expect(r.ED[2]).toBe(1);
    expect(r.H[2]).toBe(0);
  });

  it('tied layers: identical Q, ties go to the deeper layer', () => {
    const qs = genTiedLayers(12).map((c) => referenceKq(c).Q);
    expect(qs[0]).toBe(qs[2]);
    expect(qs[1]).not.toBe(qs[0]);
    expect(referenceSelectTopK([qs[0], qs[2]], 1)).toEqual([1]);
    expect(referenceSelectTopK(qs, 3)[0]).toBe(qs[0] > qs[1] ? 2 : 1);
    expect(referenceSelectTopK([1, 3, 3, 2], 2)).toEqual([2, 1]);
  });

  it('generators are deterministic', () => {
    const a = genDenseClusters(42, { N: 200, D: 16 });
    const b = genDenseClusters(42, { N: 200, D: 16 });
    expect(Array.from(a.features)).toEqual(Array.from(b.features));
    expect(a.mainIndices).toEqual(b.mainIndices);
  });
});
