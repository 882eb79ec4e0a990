import type { LayerGeometry } from '@kqkd/geometry';

/** KQ-SPEC §3: a class's embedding dimension covers 95% of its explained variance. */
export const VARIANCE_THRESHOLD = 0.95;
const LN5 = Math.log(5);

/** S, I, E, Q of one layer plus every intermediate that KQ-SPEC names, for reports and debugging. */
export interface KnowledgeQuality {
  S: number;
  I: number;
  E: number;
  Q: number;
  /** Mean class entropy of the explained-variance ratios (the reference's "SVDE"): I = (1 − mean MinIntra) · SVDE / ln 5. */
  SVDE: number;
  PCAGID: number;
  K: number;
  AvgIntraClassDPS: number[];
  MinIntraClassDPS: number[];
  AvgInterClassDPS: number;
  AvgClassNorm: number[];
  MinInterClassDist: number[];
  EmbeddingDims: number[];
  EntropyWindow: number;
  ClassEntropy: number[];
}

/**
 * Explained-variance ratios of one class, zero-padded to W (KQ-SPEC §3). NaN for k ≤ L_c when the
 * class has no variance (one sample, or identical rows), exactly as the reference's 0/0.
 */
export function varianceRatios(spectrum: Float64Array, width: number): Float64Array {
  const rho = new Float64Array(width);
  let total = 0;
  for (const v of spectrum) total += v;
  for (let k = 0; k < spectrum.length && k < width; k++) rho[k] = spectrum[k] / total;
  return rho;
}

/** ED_c: smallest prefix reaching 95%, capped at W − 1; stops at a NaN prefix (one-sample class → 1). */
export function embeddingDim(rho: Float64Array, width: number): number {
  let ed = 0;
  let prefix = 0;
  // `prefix < threshold` is false for NaN, which is how the reference stops on degenerate classes.
  while (prefix < VARIANCE_THRESHOLD && ed < width - 1) {
    prefix += rho[ed];
    ed++;
  }
  return ed;
}

/** H_c over the window; 0 when the window holds an exact zero or NaN (the reference's float32 guard). */
export function windowEntropy(rho: Float64Array, window: number): number {
  if (window === 0) return 0;
  let total = 0;
  for (let k = 0; k < window; k++) {
    if (rho[k] === 0 || Number.isNaN(rho[k])) return 0;
    total += rho[k];
  }
  let h = 0;
  for (let k = 0; k < window; k++) {
    const p = rho[k] / total;
    h -= p * Math.log(p);
  }
  return h;
}

const mean = (xs: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
};

/** Turns one layer's geometry into S, I, E, Q (KQ-SPEC §1–§4). */
export function knowledgeQuality(g: LayerGeometry, datasetSize: number): KnowledgeQuality {
  const C = g.numClasses;
  const avgIntra: number[] = [];
  const minIntra: number[] = [];
  let interSum = 0;
  for (let c = 0; c < C; c++) {
    avgIntra.push(g.dpsAvg[c * C + c]);
    minIntra.push(g.dpsMin[c * C + c]);
    for (let d = 0; d < C; d++) if (d !== c) interSum += g.dpsAvg[c * C + d];
  }
  const avgInter = interSum / (C * (C - 1));
  const S = mean(avgIntra) - avgInter;

  const K = Math.pow(datasetSize / Math.PI, 1 / g.pcagid);
  const avgNorm = Array.from(g.normAvg);
  const minInterDist = Array.from(g.minInterDist);
  const E = (K * 2 * mean(minInterDist)) / mean(avgNorm);

  let width = 0;
  for (let c = 0; c < C; c++) width = Math.max(width, g.pcaClassCount[c]);
  const rhos = g.spectrum.map((s) => varianceRatios(s, width));
  const dims = rhos.map((rho) => embeddingDim(rho, width));
  const window = Math.min(dims.reduce((a, b) => a + b, 0), width);
  const entropies = rhos.map((rho) => windowEntropy(rho, window));
  const SVDE = mean(entropies);
  const I = ((1 - mean(minIntra)) * SVDE) / LN5;

  return {
    S, I, E, Q: S + Math.sqrt(I * E), SVDE, PCAGID: g.pcagid, K,
    AvgIntraClassDPS: avgIntra, MinIntraClassDPS: minIntra, AvgInterClassDPS: avgInter,
    AvgClassNorm: avgNorm, MinInterClassDist: minInterDist,
    EmbeddingDims: dims, EntropyWindow: window, ClassEntropy: entropies,
  };
}
