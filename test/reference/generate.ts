/**
 * Seeded generators of KQ test cases (test-only; independent of production code).
 * Every generator returns a KqCase: {features, shape, labels, mainIndices, classIndices, datasetSize[, maxDim]}.
 */
import type { KqInput } from './kq-reference.js';

export interface KqCase extends KqInput {
  features: Float32Array;
  labels: number[];
  mainIndices: number[];
  classIndices: number[];
  /** Short description of what the case exercises. */
  description: string;
}

/** mulberry32: small, fast, seeded 32-bit PRNG → uniform [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly u: () => number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.u = mulberry32(seed);
  }
  uniform(): number {
    return this.u();
  }
  int(n: number): number {
    return Math.floor(this.u() * n);
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u1 = this.u();
    while (u1 <= 1e-300) u1 = this.u();
    const u2 = this.u();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/** Labels 0..C-1 with `perClass[c]` samples each, in shuffled order. */
function makeLabels(rng: Rng, perClass: number[]): number[] {
  const labels: number[] = [];
  perClass.forEach((k, c) => {
    for (let i = 0; i < k; i++) labels.push(c);
  });
  return rng.shuffle(labels);
}

/**
 * §0 subsets: per class, a random floor(5000/C) (M) and min(500, floor(N/C)) (P) of its indices (all if fewer),
 * drawn independently. Index lists are sorted by class, then by draw order.
 */
export function drawSubsets(
  rng: Rng,
  labels: number[],
  opts: { mainPerClass?: number; pcaPerClass?: number } = {},
): { mainIndices: number[]; classIndices: number[] } {
  const C = Math.max(...labels) + 1;
  const N = labels.length;
  const byClass: number[][] = Array.from({ length: C }, () => []);
  labels.forEach((y, i) => byClass[y].push(i));
  const mainPer = opts.mainPerClass ?? Math.floor(5000 / C);
  const pcaPer = opts.pcaPerClass ?? Math.min(500, Math.floor(N / C));
  const mainIndices: number[] = [];
  const classIndices: number[] = [];
  for (const idx of byClass) {
    mainIndices.push(...rng.shuffle(idx.slice()).slice(0, mainPer));
    classIndices.push(...rng.shuffle(idx.slice()).slice(0, pcaPer));
  }
  return { mainIndices, classIndices };
}

/** Gaussian clusters: x = relu?(centre_c + B_c z), B_c a D×rank factor (rank = D → full-rank noise). */
function clusterFeatures(
  rng: Rng,
  labels: number[],
  D: number,
  opts: { rank?: number; centreScale?: number; noise?: number; relu?: boolean; offset?: number } = {},
): Float32Array {
  const C = Math.max(...labels) + 1;
  const rank = Math.min(opts.rank ?? D, D);
  const centreScale = opts.centreScale ?? 3;
  const noise = opts.noise ?? 1;
  const offset = opts.offset ?? 0;
  const centres: Float64Array[] = [];
  const factors: Float64Array[] = [];
  for (let c = 0; c < C; c++) {
    const m = new Float64Array(D);
    for (let j = 0; j < D; j++) m[j] = offset + centreScale * rng.normal();
    centres.push(m);
    const B = new Float64Array(D * rank);
    for (let i = 0; i < D * rank; i++) B[i] = (noise * rng.normal()) / Math.sqrt(rank);
    factors.push(B);
  }
  const X = new Float32Array(labels.length * D);
  const z = new Float64Array(rank);
  labels.forEach((c, i) => {
    for (let r = 0; r < rank; r++) z[r] = rng.normal();
    for (let j = 0; j < D; j++) {
      let v = centres[c][j];
      for (let r = 0; r < rank; r++) v += factors[c][j * rank + r] * z[r];
      X[i * D + j] = opts.relu && v < 0 ? 0 : v;
    }
  });
  return X;
}

/** Dense Gaussian clusters, [N, D], C classes (defaults: N = 1000, D = 32, C = 10). */
export function genDenseClusters(
  seed: number,
  opts: { N?: number; D?: number; C?: number; rank?: number; datasetSize?: number } = {},
): KqCase {
  const rng = new Rng(seed);
  const N = opts.N ?? 1000;
  const D = opts.D ?? 32;
  const C = opts.C ?? 10;
  const per = Array.from({ length: C }, (_, c) => Math.floor(N / C) + (c < N % C ? 1 : 0));
  const labels = makeLabels(rng, per);
  const features = clusterFeatures(rng, labels, D, { rank: opts.rank });
  return {
    description: `dense Gaussian clusters N=${N} D=${D} C=${C}${opts.rank ? ` rank=${opts.rank}` : ''}`,
    features,
    shape: [N, D],
    labels,
    ...drawSubsets(rng, labels),
    datasetSize: opts.datasetSize ?? 50000,
  };
}

/**
 * Conv-shaped [N, ch, H, W] ReLU features. With maxDim < ch·H·W the §0 pooling rule applies (pass the returned
 * maxDim to both implementations).
 */
export function genConv4d(
  seed: number,
  opts: { N?: number; ch?: number; H?: number; W?: number; C?: number; maxDim?: number; datasetSize?: number } = {},
): KqCase {
  const rng = new Rng(seed);
  const N = opts.N ?? 600;
  const ch = opts.ch ?? 8;
  const H = opts.H ?? 6;
  const Wd = opts.W ?? 6;
  const C = opts.C ?? 10;
  const per = Array.from({ length: C }, (_, c) => Math.floor(N / C) + (c < N % C ? 1 : 0));
  const labels = makeLabels(rng, per);
  const features = clusterFeatures(rng, labels, ch * H * Wd, { relu: true, offset: 1, rank: 12 });
  return {
    description: `conv-shaped [${N}, ${ch}, ${H}, ${Wd}] ReLU clusters, C=${C}${opts.maxDim ? `, maxDim=${opts.maxDim}` : ''}`,
    features,
    shape: [N, ch, H, Wd],
    labels,
    ...drawSubsets(rng, labels),
    datasetSize: opts.datasetSize ?? 50000,
    ...(opts.maxDim !== undefined ? { maxDim: opts.maxDim } : {}),
  };
}

/** Many classes with few samples each (default 100 classes × 3–6 samples, D = 24). */
export function genManyClasses(seed: number, opts: { C?: number; D?: number; minPer?: number; maxPer?: number } = {}): KqCase {
  const rng = new Rng(seed);
  const C = opts.C ?? 100;
  const D = opts.D ?? 24;
  const lo = opts.minPer ?? 3;
  const hi = opts.maxPer ?? 6;
  const per = Array.from({ length: C }, () => lo + rng.int(hi - lo + 1));
  const labels = makeLabels(rng, per);
  const features = clusterFeatures(rng, labels, D);
  return {
    description: `${C} classes × ${lo}–${hi} samples, D=${D}`,
    features,
    shape: [labels.length, D],
    labels,
    ...drawSubsets(rng, labels),
    datasetSize: 50000,
  };
}

/** Valid case where class `oneClass` has exactly one sample in P (its ρ row is NaN → ED = 1, H = 0). */
export function genSingleSampleInP(seed: number, opts: { oneClass?: number } = {}): KqCase {
  const base = genDenseClusters(seed, { N: 400, D: 16, C: 5 });
  const oneClass = opts.oneClass ?? 2;
  let kept = false;
  const classIndices = base.classIndices.filter((i) => {
    if (base.labels[i] !== oneClass) return true;
    if (kept) return false;
    kept = true;
    return true;
  });
  return { ...base, classIndices, description: `class ${oneClass} has exactly one sample in P` };
}

/**
 * ReLU-dead columns: `deadPerClass` columns are all-zero within each class (different columns per class) plus
 * `deadGlobal` columns that are zero everywhere. With D − z_c < m_c rule (b) of §3 applies.
 */
export function genDeadColumns(
  seed: number,
  opts: { N?: number; D?: number; C?: number; deadPerClass?: number; deadGlobal?: number } = {},
): KqCase {
  const rng = new Rng(seed);
  const N = opts.N ?? 600;
  const D = opts.D ?? 32;
  const C = opts.C ?? 6;
  const deadPerClass = opts.deadPerClass ?? 4;
  const deadGlobal = opts.deadGlobal ?? 3;
  const per = Array.from({ length: C }, () => Math.floor(N / C));
  const labels = makeLabels(rng, per);
  const features = clusterFeatures(rng, labels, D, { offset: 4 });
  const dead: Set<number>[] = [];
  for (let c = 0; c < C; c++) {
    const s = new Set<number>();
    for (let j = 0; j < deadGlobal; j++) s.add(j);
    const cols = rng.shuffle(Array.from({ length: D - deadGlobal }, (_, j) => j + deadGlobal));
    cols.slice(0, deadPerClass).forEach((j) => s.add(j));
    dead.push(s);
  }
  labels.forEach((c, i) => {
    for (const j of dead[c]) features[i * D + j] = 0;
  });
  return {
    description: `constant (all-zero) columns within classes: ${deadGlobal} global + ${deadPerClass} per class`,
    features,
    shape: [labels.length, D],
    labels,
    ...drawSubsets(rng, labels),
    datasetSize: 60000,
  };
}

/** Low-rank classes (rank r ≪ D) so the entropy window Σ ED_c < W and every H_c is finite. */
export function genLowRank(seed: number, opts: { N?: number; D?: number; C?: number; rank?: number } = {}): KqCase {
  const c = genDenseClusters(seed, { N: opts.N ?? 1500, D: opts.D ?? 96, C: opts.C ?? 10, rank: opts.rank ?? 3 });
  return { ...c, description: `low-rank classes: ${c.description}` };
}

/** A valid dense case with sample `row` (a member of M) set to all zeros → zero-norm-row error. */
export function genZeroNormRow(seed: number): KqCase & { zeroRow: number } {
  const base = genDenseClusters(seed, { N: 300, D: 16, C: 3 });
  const zeroRow = base.mainIndices[Math.floor(base.mainIndices.length / 2)];
  const features = base.features.slice();
  features.fill(0, zeroRow * 16, zeroRow * 16 + 16);
  return { ...base, features, zeroRow, description: `sample ${zeroRow} in M has zero norm` };
}

/**
 * Three "layers" of one model sharing M and P: layers 0 and 2 have identical features (exact tie in Q), layer 1
 * differs. With ties toward the deeper layer, a top-1 selection among {0, 2} must pick 2.
 */
export function genTiedLayers(seed: number): KqCase[] {
  const a = genDenseClusters(seed, { N: 600, D: 24, C: 6 });
  const b = genDenseClusters(seed + 1, { N: 600, D: 24, C: 6 });
  const shared = { labels: a.labels, mainIndices: a.mainIndices, classIndices: a.classIndices, datasetSize: a.datasetSize };
  return [
    { ...a, ...shared, features: a.features.slice(), description: 'layer 0 (tied with layer 2)' },
    { ...b, ...shared, features: b.features, description: 'layer 1' },
    { ...a, ...shared, features: a.features.slice(), description: 'layer 2 (tied with layer 0)' },
  ];
}
