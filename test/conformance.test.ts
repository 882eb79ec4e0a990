// Conformance of the production path (TS validation → native Gram engine → @kqkd/kq) against
// (1) the golden numbers of the paper's code and (2) the independent float64 reference in test/reference.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { computeLayerGeometry, cudaStatus } from '@kqkd/geometry';
import { explicitSubsets, knowledgeQuality, poolAndFlatten, scoreLayers, type KqReport } from '@kqkd/kq';
import { referenceKq, referenceSelectTopK, type KqResult } from './reference/kq-reference.js';
import {
  genConv4d, genDeadColumns, genDenseClusters, genLowRank, genManyClasses, genSingleSampleInP, genTiedLayers,
  genZeroNormRow, type KqCase,
} from './reference/generate.js';
import { npyToNumbers, readNpy } from './reference/npy.js';

const RTOL = 1e-4;
const ATOL = 1e-6;
/** The golden vectors of the paper's code (copied from the design folder's golden/kq into the repository). */
const GOLDEN = fileURLToPath(new URL('./golden/kq', import.meta.url));

function expectClose(actual: number, expected: number, what: string): void {
  if (Number.isNaN(expected)) {
    expect(actual, what).toBeNaN();
    return;
  }
  const err = Math.abs(actual - expected);
  const ok = err <= ATOL || err <= RTOL * Math.abs(expected);
  expect(ok, `${what}: got ${actual}, expected ${expected} (abs err ${err.toExponential(2)})`).toBe(true);
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expectClose(actual[i], expected[i], `${what}[${i}]`);
}

async function scoreCase(c: KqCase, extra: { zeroNormRows?: 'drop' } = {}): Promise<KqReport['layers'][number]> {
  const report = await scoreLayers(
    [{ name: 'layer', features: c.features, shape: c.shape }],
    c.labels,
    {
      datasetSize: c.datasetSize,
      subsets: explicitSubsets(c.mainIndices, c.classIndices),
      maxFeatureDim: c.maxDim,
      topK: 1,
      ...extra,
    },
  );
  return report.layers[0];
}

function compareWithReference(ours: KqReport['layers'][number], ref: KqResult): void {
  for (const k of ['S', 'I', 'E', 'Q', 'SVDE', 'K'] as const) expectClose(ours[k], ref[k], k);
  expect(ours.PCAGID).toBe(ref.PCAGID);
  expect(ours.EmbeddingDims).toEqual(ref.ED);
  expect(ours.EntropyWindow).toBe(ref.entropyWindow);
  expectAllClose(ours.AvgIntraClassDPS, ref.AvgIntraClassDPS, 'AvgIntraClassDPS');
  expectAllClose(ours.MinIntraClassDPS, ref.MinIntraClassDPS, 'MinIntraClassDPS');
  expectAllClose(ours.AvgClassNorm, ref.AvgClassNorm, 'AvgClassNorm');
  expectAllClose(ours.MinInterClassDist, ref.MinInterClassDist, 'MinInterClassDist');
  expectAllClose(ours.ClassEntropy, ref.H, 'ClassEntropy');
}

describe('golden vectors of the paper’s code (test/golden/kq)', () => {
  for (const name of ['dense2d', 'conv4d']) {
    const dir = join(GOLDEN, name);
    it(`${name}: S, I, E, Q and every per-class intermediate within 1e-4 relative (or 1e-6 absolute near 0)`, async () => {
      const spec = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      const x = readNpy(join(dir, spec.inputs.features));
      const ours = await scoreCase({
        description: name,
        features: x.data as Float32Array,
        shape: x.shape,
        labels: npyToNumbers(readNpy(join(dir, spec.inputs.labels))),
        mainIndices: npyToNumbers(readNpy(join(dir, spec.inputs.idx_main))),
        classIndices: npyToNumbers(readNpy(join(dir, spec.inputs.idx_class))),
        datasetSize: spec.inputs.dataset_size,
      });
      const e = spec.expected;
      for (const k of ['S', 'I', 'E', 'Q', 'SVDE', 'K'] as const) expectClose(ours[k], e[k], k);
      expect(ours.PCAGID).toBe(e.PCAGID);
      expectAllClose(ours.AvgIntraClassDPS, e.AvgIntraClassDPS, 'AvgIntraClassDPS');
      expectAllClose(ours.MinIntraClassDPS, e.MinIntraClassDPS, 'MinIntraClassDPS');
      expectAllClose(ours.AvgClassNorm, e.AvgClassNorm, 'AvgClassNorm');
      expectAllClose(ours.MinInterClassDist, e.MinInterClassDist, 'MinInterClassDist');
    });
  }
});

describe('native engine agrees with the float64 reference on generated data', () => {
  const cases: [string, () => KqCase][] = [
    ['dense clusters', () => genDenseClusters(1, { N: 1200, D: 48, C: 10 })],
    ['dense, P independent of M (P ⊄ M)', () => genDenseClusters(2, { N: 2000, D: 24, C: 4 })],
    ['conv-shaped [N, ch, H, W]', () => genConv4d(3)],
    ['conv-shaped with §0 max-pooling (threshold lowered to 40)', () => genConv4d(4, { ch: 4, H: 9, W: 9, maxDim: 40 })],
    ['100 classes with 3–6 samples', () => genManyClasses(5)],
    ['a class with one sample in P', () => genSingleSampleInP(6)],
    ['constant (dead) columns: exact-zero rule (b)', () => genDeadColumns(7)],
    ['low-rank classes (window < W)', () => genLowRank(8)],
  ];
  for (const [label, make] of cases) {
    it(label, async () => {
      const c = make();
      compareWithReference(await scoreCase(c), referenceKq(c));
    });
  }

  it('low-rank classes, one with a single sample in P: its NaN ratios give H = 0 while the others stay > 0', async () => {
    const c = genLowRank(16);
    let kept = false;
    const classIndices = c.classIndices.filter((i) => c.labels[i] !== 2 || (!kept && (kept = true)));
    const ref = referenceKq({ ...c, classIndices });
    expect(ref.H[2]).toBe(0);
    expect(ref.H.filter((h) => h > 0)).toHaveLength(ref.H.length - 1);
    compareWithReference(await scoreCase({ ...c, classIndices }), ref);
  });

  it('a tiled Gram (tiles of 64 rows) gives the untiled numbers', async () => {
    const c = genDenseClusters(9, { N: 700, D: 40, C: 7 });
    const input = {
      features: c.features, rows: c.shape[0], dim: c.shape[1], labels: c.labels,
      mainIndices: c.mainIndices, classIndices: c.classIndices,
    };
    const whole = knowledgeQuality(await computeLayerGeometry(input), c.datasetSize);
    const tiled = knowledgeQuality(await computeLayerGeometry(input, { tileRows: 64 }), c.datasetSize);
    for (const k of ['S', 'I', 'E', 'Q'] as const) expectClose(tiled[k], whole[k], k);
    expectAllClose(tiled.MinInterClassDist, whole.MinInterClassDist, 'MinInterClassDist');
  });

  it('zero-norm rows in M: an error naming the row by default, dropped on request', async () => {
    const c = genZeroNormRow(10);
    await expect(scoreCase(c)).rejects.toThrow(new RegExp(`no zero-norm row .* all-zero row ${c.zeroRow} `));
    await expect(scoreCase(c)).rejects.toBeInstanceOf(KqkdError);
    const dropped = await scoreCase(c, { zeroNormRows: 'drop' });
    expect(dropped.droppedZeroNormRows).toBe(1);
    const ref = referenceKq({ ...c, mainIndices: c.mainIndices.filter((i) => i !== c.zeroRow) });
    compareWithReference(dropped, ref);
  });

  it('top-k selection: ties in Q go to the deeper layer, as the reference selects', async () => {
    const layers = genTiedLayers(11);
    const report = await scoreLayers(
      layers.map((l, i) => ({ name: `layer${i}`, index: i, features: l.features, shape: l.shape })),
      layers[0].labels,
      { datasetSize: layers[0].datasetSize, subsets: explicitSubsets(layers[0].mainIndices, layers[0].classIndices), topK: 1 },
    );
    const q = report.layers.map((l) => l.Q);
    expect(q[0]).toBe(q[2]);
    expect(report.selected).toEqual(referenceSelectTopK(layers.map((l) => referenceKq(l).Q), 1));
    expect(report.selected).toEqual(q[1] > q[0] ? [1] : [2]);
  });
});

describe('bad input gets a clear error naming the argument', () => {
  const base = () => genDenseClusters(12, { N: 200, D: 8, C: 4 });
  const input = (c: KqCase) => ({
    features: c.features, rows: c.shape[0], dim: c.shape[1], labels: c.labels,
    mainIndices: c.mainIndices, classIndices: c.classIndices,
  });
  const rejects = async (value: object, argument: string, pattern: RegExp) => {
    const err = await computeLayerGeometry(value as never).then(() => null, (e: unknown) => e);
    expect(err, 'should reject').toBeInstanceOf(KqkdError);
    expect((err as KqkdError).argument).toBe(argument);
    expect((err as Error).message).toMatch(pattern);
  };

  it('NaN and Inf features name the row and column', async () => {
    const c = base();
    const f = c.features.slice();
    f[5 * 8 + 3] = Number.NaN;
    await rejects({ ...input(c), features: f }, 'features', /finite values .* NaN at row 5, column 3/);
    f[5 * 8 + 3] = Number.POSITIVE_INFINITY;
    await rejects({ ...input(c), features: f }, 'features', /Infinity at row 5, column 3/);
  });
  it('labels out of range, and fewer than 2 classes', async () => {
    const c = base();
    await rejects({ ...input(c), labels: c.labels.map((l, i) => (i === 7 ? -1 : l)) }, 'labels', /-1 at row 7/);
    await rejects({ ...input(c), labels: c.labels, numClasses: 3 }, 'labels', /labels in \[0, 3\)/);
    await rejects({ ...input(c), labels: c.labels.map(() => 0) }, 'labels', /at least 2 classes/);
  });
  it('N mismatch between features and labels', async () => {
    const c = base();
    await rejects({ ...input(c), labels: c.labels.slice(1) }, 'labels', /200 labels .* 199 labels/);
    await rejects({ ...input(c), rows: 199 }, 'features', /199 × 8 = 1592 values/);
  });
  it('wrong dtype and empty input', async () => {
    const c = base();
    await rejects({ ...input(c), features: Float64Array.from(c.features) }, 'features', /Float32Array .* Float64Array\(1600\)/);
    await rejects({ ...input(c), features: new Float32Array(0), rows: 0 }, 'rows', /integer >= 1 .* 0 of type number/);
    await rejects({ ...input(c), mainIndices: [] }, 'mainIndices', /at least one row index/);
  });
  it('subset rules of KQ-SPEC §5: a class with < 2 samples in M, a class missing from P, bad indices', async () => {
    const c = base();
    const oneOfClass0 = c.mainIndices.filter((i) => c.labels[i] !== 0).concat(c.mainIndices.find((i) => c.labels[i] === 0)!);
    await rejects({ ...input(c), mainIndices: oneOfClass0 }, 'mainIndices', /at least 2 samples .* 1 sample\(s\) of class 0/);
    await rejects({ ...input(c), classIndices: c.classIndices.filter((i) => c.labels[i] !== 3) }, 'classIndices', /no sample of class 3/);
    await rejects({ ...input(c), mainIndices: [...c.mainIndices, 200] }, 'mainIndices', /\[0, 200\) .* 200 at position/);
    await rejects({ ...input(c), mainIndices: [...c.mainIndices, c.mainIndices[0]] }, 'mainIndices', /distinct/);
  });
  it('an unknown backend is refused naming options.backend', async () => {
    await expect(computeLayerGeometry(input(base()), { backend: 'tpu' as never })).rejects.toThrow(/one of "cpu", "cuda", "auto" for options.backend/);
  });
  it.runIf(!cudaStatus().available)(`CUDA where there is none (${cudaStatus().reason || 'a device was found: this case needs a machine without one'}): refused; auto falls back to the CPU`, async () => {
    const c = base();
    {
      const err = await computeLayerGeometry(input(c), { backend: 'cuda' }).then(() => null, (e: unknown) => e);
      expect((err as KqkdError).argument).toBe('options.backend');
      expect((err as Error).message).toMatch(/CUDA/);
      // 'auto' falls back to the CPU and says so in the result.
      expect((await computeLayerGeometry(input(c), { backend: 'auto' })).backend).toBe('cpu');
    }
  });
});

describe('CPU and CUDA backends agree', () => {
  const status = cudaStatus();
  // Runs only where a CUDA device is usable (the GPU machine); here it is reported as skipped, never as passed.
  it.runIf(status.available)(`geometry on both backends within 1e-4 relative (${status.reason || 'device found'})`, async () => {
    for (const c of [genDenseClusters(13, { N: 1500, D: 64, C: 10 }), genManyClasses(14), genDeadColumns(15)]) {
      const { data, dim } = poolAndFlatten(c.features, c.shape);
      const input = { features: data, rows: c.shape[0], dim, labels: c.labels, mainIndices: c.mainIndices, classIndices: c.classIndices };
      const cpu = await computeLayerGeometry(input, { backend: 'cpu' });
      const gpu = await computeLayerGeometry(input, { backend: 'cuda' });
      for (const key of ['dpsAvg', 'dpsMin', 'dpsMax', 'normAvg', 'minInterDist', 'avgIntraDist'] as const) {
        expectAllClose(gpu[key], cpu[key], key);
      }
      const qc = knowledgeQuality(cpu, c.datasetSize);
      const qg = knowledgeQuality(gpu, c.datasetSize);
      for (const k of ['S', 'I', 'E', 'Q'] as const) expectClose(qg[k], qc[k], k);
    }
  });
});
