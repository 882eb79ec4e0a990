/**
 * Independent float64 reference implementation of the Knowledge Quality metric (KQ-SPEC.md), for tests only.
 *
 * Deliberately written with straightforward loops and NOT with a Gram matrix, so that it stays independent of the
 * production path:
 *   §0 max-pooling of large 4-D inputs, row-major flatten
 *   §1 absolute cosines over full class blocks (pairwise dot products of normalised rows)
 *   §2 exact Euclidean distances sqrt(Σ(x_a − x_b)²)
 *   §3 class PCA by a one-sided (Hestenes) Jacobi SVD of the centred class matrix, with the exact-zero rules
 *   §4 Q = S + sqrt(I·E)
 *   §5 degenerate inputs throw an Error naming the rule.
 *
 * SVDE (as in the golden expected.json) is mean_c H_c — the mean natural-log class entropy BEFORE the division by
 * ln 5 and the (1 − mean MinIntra) factor:  I = (1 − mean_c MinIntra_c) · SVDE / ln 5.
 */

export const DEFAULT_MAX_DIM = 262144;

export interface KqInput {
  /** Features X[N, …], C order. */
  features: Float32Array | Float64Array;
  /** Shape of `features`; shape[0] = N. */
  shape: number[];
  /** Labels y[N], integers in [0, C), C = max(y) + 1. */
  labels: ArrayLike<number>;
  /** M: indices (into 0..N-1) of the main subset. */
  mainIndices: ArrayLike<number>;
  /** P: indices (into 0..N-1) of the class-PCA subset. */
  classIndices: ArrayLike<number>;
  /** Size of the training set the features come from (not N). */
  datasetSize: number;
  /** Pooling threshold for 4-D inputs (default 262144). */
  maxDim?: number;
}

export interface KqResult {
  S: number;
  I: number;
  E: number;
  Q: number;
  /** min(|M|, D). */
  PCAGID: number;
  /** (datasetSize / π)^(1 / PCAGID). */
  K: number;
  /** mean_c H_c (natural log), i.e. I / (1 − mean MinIntra) · ln 5. */
  SVDE: number;
  numClasses: number;
  /** Feature dimension after pooling/flattening. */
  D: number;
  /** Shape after pooling (before flattening), e.g. [N, ch, H', W'] for pooled 4-D input. */
  pooledShape: number[];
  /** Pooling kernel (1 = no pooling). */
  poolKernel: number;
  AvgIntraClassDPS: number[];
  MinIntraClassDPS: number[];
  /** C×C: off-diagonal = AvgInter_{c,c'}; diagonal = AvgIntra_c (S uses only the off-diagonal entries). */
  AvgInterClassDPS: number[][];
  AvgClassNorm: number[];
  MinInterClassDist: number[];
  /** n_c = |M_c|, m_c = |P_c|. */
  mainCounts: number[];
  classCounts: number[];
  /** W = max_c m_c. */
  W: number;
  /** Singular values of the centred class matrix, sorted descending, length L_c = min(m_c, D). */
  singularValues: number[][];
  /** ρ_{c,k}, k = 1..W (zero padded; NaN for k ≤ L_c where Σ s² = 0). */
  spectra: number[][];
  ED: number[];
  /** w = min(Σ_c ED_c, W). */
  entropyWindow: number;
  H: number[];
}

/** Error thrown for the degenerate inputs of KQ-SPEC §5. `rule` is a stable identifier. */
export class KqDegenerateInputError extends Error {
  constructor(
    public readonly rule:
      | 'fewer-than-2-classes'
      | 'class-too-small-in-main'
      | 'class-empty-in-pca'
      | 'label-out-of-range'
      | 'non-finite-feature'
      | 'zero-norm-row'
      | 'bad-index'
      | 'bad-shape',
    message: string,
  ) {
    super(`KQ degenerate input [${rule}]: ${message}`);
    this.name = 'KqDegenerateInputError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// §0 pooling + flatten

/**
 * Returns the [N, D] float64 matrix after the §0 pooling rule: a 4-D [N, ch, H, W] input with ch·H·W > maxDim
 * (strictly) is max-pooled with kernel = stride = k = ceil(sqrt(ch·H·W / maxDim)), no padding, floor output size.
 * Other ranks are only flattened (row-major).
 */
export function poolAndFlatten(
  features: Float32Array | Float64Array,
  shape: number[],
  maxDim: number = DEFAULT_MAX_DIM,
): { X: Float64Array; N: number; D: number; pooledShape: number[]; kernel: number } {
  if (shape.length < 1) throw new KqDegenerateInputError('bad-shape', 'shape must have rank ≥ 1');
  const N = shape[0];
  const total = shape.reduce((a, b) => a * b, 1);
  if (total !== features.length) {
    throw new KqDegenerateInputError('bad-shape', `shape ${JSON.stringify(shape)} does not match ${features.length} values`);
  }
  if (shape.length === 4) {
    const [, ch, H, Wd] = shape;
    const chw = ch * H * Wd;
    if (chw > maxDim) {
      const k = Math.ceil(Math.sqrt(chw / maxDim));
      const Ho = Math.floor(H / k);
      const Wo = Math.floor(Wd / k);
      const D = ch * Ho * Wo;
      const X = new Float64Array(N * D);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < ch; c++) {
          const inBase = (n * ch + c) * H * Wd;
          const outBase = n * D + c * Ho * Wo;
          for (let i = 0; i < Ho; i++) {
            for (let j = 0; j < Wo; j++) {
              let m = -Infinity;
              for (let di = 0; di < k; di++) {
                const row = inBase + (i * k + di) * Wd + j * k;
                for (let dj = 0; dj < k; dj++) {
                  const v = features[row + dj];
                  // NaN propagates (like torch max_pool2d) so the non-finite check still sees it.
                  if (v > m || Number.isNaN(v)) m = v;
                  if (Number.isNaN(m)) break;
                }
              }
              X[outBase + i * Wo + j] = m;
            }
          }
        }
      }
      return { X, N, D, pooledShape: [N, ch, Ho, Wo], kernel: k };
    }
  }
  const D = N === 0 ? 0 : total / N;
  return { X: Float64Array.from(features), N, D, pooledShape: shape.slice(), kernel: 1 };
}

// ---------------------------------------------------------------------------------------------------------------
// §3 one-sided Jacobi SVD

/**
 * Singular values (descending) of an r×c matrix given row-major, by one-sided Jacobi (Hestenes) rotations on the
 * columns of A (if c ≤ r) or of Aᵀ (otherwise). Returns min(r, c) values.
 */
export function jacobiSingularValues(A: Float64Array, rows: number, cols: number): number[] {
  // Work on n vectors of length len, stored contiguously (vector j at j*len).
  const transpose = cols > rows;
  const n = transpose ? rows : cols;
  const len = transpose ? cols : rows;
  const V = new Float64Array(n * len);
  if (transpose) {
    // vectors = rows of A
    V.set(A.subarray(0, rows * cols));
  } else {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) V[j * len + i] = A[i * cols + j];
  }
  const eps = 1e-15;
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = 0;
    for (let p = 0; p < n - 1; p++) {
      const op = p * len;
      for (let q = p + 1; q < n; q++) {
        const oq = q * len;
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < len; i++) {
          const a = V[op + i], b = V[oq + i];
          alpha += a * a;
          beta += b * b;
          gamma += a * b;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated++;
        const zeta = (beta - alpha) / (2 * gamma);
        const sgn = zeta >= 0 ? 1 : -1;
        const az = Math.abs(zeta);
        const t = az > 1e150 ? sgn / (2 * az) : sgn / (az + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < len; i++) {
          const a = V[op + i], b = V[oq + i];
          V[op + i] = cs * a - sn * b;
          V[oq + i] = sn * a + cs * b;
        }
      }
    }
    if (rotated === 0) break;
  }
  const s: number[] = [];
  for (let j = 0; j < n; j++) {
    let ss = 0;
    for (let i = 0; i < len; i++) ss += V[j * len + i] * V[j * len + i];
    s.push(Math.sqrt(ss));
  }
  s.sort((a, b) => b - a);
  return s;
}

// ---------------------------------------------------------------------------------------------------------------

function checkIndex(kind: string, idx: number, N: number): void {
  if (!Number.isInteger(idx) || idx < 0 || idx >= N) {
    throw new KqDegenerateInputError('bad-index', `${kind} index ${idx} is not an integer in [0, ${N})`);
  }
}

export function referenceKq(input: KqInput): KqResult {
  const maxDim = input.maxDim ?? DEFAULT_MAX_DIM;
  const { X, N, D, pooledShape, kernel } = poolAndFlatten(input.features, input.shape, maxDim);
  const labels = input.labels;
  if (labels.length !== N) {
    throw new KqDegenerateInputError('bad-shape', `labels has ${labels.length} entries, features has N = ${N}`);
  }

  // ---- labels / classes
  let maxLabel = -Infinity;
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0) {
      throw new KqDegenerateInputError('label-out-of-range', `label ${y} of sample ${i} is outside [0, C)`);
    }
    if (y > maxLabel) maxLabel = y;
  }
  const C = N === 0 ? 0 : maxLabel + 1;
  if (C < 2) throw new KqDegenerateInputError('fewer-than-2-classes', `C = ${C}; at least 2 classes are needed`);

  const M = Array.from(input.mainIndices);
  const P = Array.from(input.classIndices);
  for (const i of M) checkIndex('main (M)', i, N);
  for (const i of P) checkIndex('class-PCA (P)', i, N);

  // ---- non-finite features (rows used by M or P)
  const used = new Set<number>([...M, ...P]);
  for (const i of [...used].sort((a, b) => a - b)) {
    for (let j = 0; j < D; j++) {
      if (!Number.isFinite(X[i * D + j])) {
        throw new KqDegenerateInputError('non-finite-feature', `sample ${i} has a non-finite feature (${X[i * D + j]}) at flat position ${j}`);
      }
    }
  }

  // ---- group M and P by class (stable order)
  const Mc: number[][] = Array.from({ length: C }, () => []);
  const Pc: number[][] = Array.from({ length: C }, () => []);
  for (const i of M) Mc[labels[i]].push(i);
  for (const i of P) Pc[labels[i]].push(i);
  for (let c = 0; c < C; c++) {
    if (Mc[c].length < 2) {
      throw new KqDegenerateInputError('class-too-small-in-main', `class ${c} has ${Mc[c].length} sample(s) in M; at least 2 are needed`);
    }
  }
  for (let c = 0; c < C; c++) {
    if (Pc[c].length === 0) throw new KqDegenerateInputError('class-empty-in-pca', `class ${c} has no sample in P`);
  }

  // ---- §1/§2 on M: contiguous raw rows (grouped by class) and normalised rows
  const order = Mc.flat();
  const nM = order.length;
  const cls = new Int32Array(nM);
  const Xm = new Float64Array(nM * D);
  const Um = new Float64Array(nM * D);
  const norms = new Float64Array(nM);
  {
    let r = 0;
    for (let c = 0; c < C; c++) {
      for (const i of Mc[c]) {
        cls[r] = c;
        let ss = 0;
        for (let j = 0; j < D; j++) {
          const v = X[i * D + j];
          Xm[r * D + j] = v;
          ss += v * v;
        }
        const nr = Math.sqrt(ss);
        if (nr === 0) throw new KqDegenerateInputError('zero-norm-row', `sample ${i} (class ${c}) in M has zero norm`);
        norms[r] = nr;
        for (let j = 0; j < D; j++) Um[r * D + j] = Xm[r * D + j] / nr;
        r++;
      }
    }
  }

  const blockSum = new Float64Array(C * C);
  const intraMin = new Float64Array(C).fill(Infinity);
  const minD2 = new Float64Array(C).fill(Infinity);
  for (let a = 0; a < nM; a++) {
    const ca = cls[a];
    const oa = a * D;
    for (let b = a; b < nM; b++) {
      const cb = cls[b];
      const ob = b * D;
      let dot = 0;
      for (let j = 0; j < D; j++) dot += Um[oa + j] * Um[ob + j];
      const g = Math.abs(dot);
      if (ca === cb) {
        blockSum[ca * C + ca] += a === b ? g : 2 * g;
        if (g < intraMin[ca]) intraMin[ca] = g;
      } else {
        blockSum[ca * C + cb] += g;
        blockSum[cb * C + ca] += g;
        let d2 = 0;
        for (let j = 0; j < D; j++) {
          const diff = Xm[oa + j] - Xm[ob + j];
          d2 += diff * diff;
        }
        if (d2 < minD2[ca]) minD2[ca] = d2;
        if (d2 < minD2[cb]) minD2[cb] = d2;
      }
    }
  }

  const n = Mc.map((l) => l.length);
  const AvgIntra: number[] = [];
  const AvgInter: number[][] = [];
  const AvgNorm: number[] = [];
  const MinInterDist: number[] = [];
  let offset = 0;
  for (let c = 0; c < C; c++) {
    AvgIntra.push(blockSum[c * C + c] / (n[c] * n[c]));
    const row: number[] = [];
    for (let c2 = 0; c2 < C; c2++) row.push(blockSum[c * C + c2] / (n[c] * n[c2]));
    AvgInter.push(row);
    let s = 0;
    for (let r = offset; r < offset + n[c]; r++) s += norms[r];
    AvgNorm.push(s / n[c]);
    offset += n[c];
    MinInterDist.push(Math.sqrt(minD2[c]));
  }
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  let interSum = 0;
  for (let c = 0; c < C; c++) for (let c2 = 0; c2 < C; c2++) if (c !== c2) interSum += AvgInter[c][c2];
  const S = mean(AvgIntra) - interSum / (C * (C - 1));
  const MinIntra = Array.from(intraMin);

  const PCAGID = Math.min(nM, D);
  const K = Math.pow(input.datasetSize / Math.PI, 1 / PCAGID);
  const E = (K * 2 * mean(MinInterDist)) / mean(AvgNorm);

  // ---- §3 class PCA on P
  const m = Pc.map((l) => l.length);
  const W = Math.max(...m);
  const singularValues: number[][] = [];
  const spectra: number[][] = [];
  for (let c = 0; c < C; c++) {
    const rows = Pc[c];
    const mc = rows.length;
    const L = Math.min(mc, D);
    // Columns that are identically zero after centring = features constant within the class (checked on the raw
    // values, so rounding in the mean cannot turn them into noise).
    const keep: number[] = [];
    for (let j = 0; j < D; j++) {
      const v0 = X[rows[0] * D + j];
      let constant = true;
      for (let r = 1; r < mc && constant; r++) if (X[rows[r] * D + j] !== v0) constant = false;
      if (!constant) keep.push(j);
    }
    const Dk = keep.length;
    const Z = new Float64Array(mc * Dk);
    for (let t = 0; t < Dk; t++) {
      const j = keep[t];
      let s = 0;
      for (let r = 0; r < mc; r++) s += X[rows[r] * D + j];
      const mu = s / mc;
      for (let r = 0; r < mc; r++) Z[r * Dk + t] = X[rows[r] * D + j] - mu;
    }
    const sv = Dk > 0 ? jacobiSingularValues(Z, mc, Dk) : []; // min(mc, Dk) values
    // Rule (b): values beyond min(m_c, D − z_c) are exactly 0. Everything else is NOT zero: a value that the SVD
    // returns as exactly 0 (rank deficiency, e.g. the last value of a centred m_c ≤ D matrix) is rounding noise in
    // the reference, so replace it by a negligible positive value.
    const sMax = sv.length > 0 ? sv[0] : 0;
    const s: number[] = [];
    for (let k = 0; k < L; k++) {
      if (k < sv.length) {
        s.push(sv[k] > 0 || sMax === 0 ? sv[k] : sMax * 1e-30);
      } else {
        s.push(0);
      }
    }
    singularValues.push(s);
    let ss = 0;
    for (const v of s) ss += v * v;
    const rho: number[] = [];
    for (let k = 0; k < W; k++) rho.push(k < L ? (s[k] * s[k]) / ss : 0); // 0/0 = NaN when Σ s² = 0
    spectra.push(rho);
  }

  const ED: number[] = [];
  for (let c = 0; c < C; c++) {
    let ed = 0;
    let cum = 0; // Σ_{k ≤ ed} ρ
    while (cum < 0.95 && ed < W - 1) {
      cum += spectra[c][ed];
      ed++;
    }
    ED.push(ed);
  }
  const w = Math.min(ED.reduce((a, b) => a + b, 0), W);
  const H: number[] = [];
  for (let c = 0; c < C; c++) {
    if (w === 0) {
      H.push(0);
      continue;
    }
    let tot = 0;
    for (let k = 0; k < w; k++) tot += spectra[c][k];
    let h = 0;
    let guard = false;
    for (let k = 0; k < w; k++) {
      const p = spectra[c][k] / tot;
      if (p === 0 || Number.isNaN(p)) {
        guard = true;
        break;
      }
      h -= p * Math.log(p);
    }
    H.push(guard ? 0 : h);
  }
  const SVDE = mean(H);
  const I = ((1 - mean(MinIntra)) * SVDE) / Math.log(5);
  const Q = S + Math.sqrt(I * E);

  return {
    S, I, E, Q, PCAGID, K, SVDE,
    numClasses: C,
    D,
    pooledShape,
    poolKernel: kernel,
    AvgIntraClassDPS: AvgIntra,
    MinIntraClassDPS: MinIntra,
    AvgInterClassDPS: AvgInter,
    AvgClassNorm: AvgNorm,
    MinInterClassDist: MinInterDist,
    mainCounts: n,
    classCounts: m,
    W,
    singularValues,
    spectra,
    ED,
    entropyWindow: w,
    H,
  };
}

/**
 * Reference top-k layer selection (§4): the k layers with the highest Q, ties toward the deeper layer (higher
 * index). Returns layer indices in selection order (best first).
 */
export function referenceSelectTopK(Q: number[], k: number): number[] {
  const idx = Q.map((_, i) => i);
  idx.sort((a, b) => (Q[b] !== Q[a] ? Q[b] - Q[a] : b - a));
  return idx.slice(0, Math.max(0, Math.min(k, Q.length)));
}
