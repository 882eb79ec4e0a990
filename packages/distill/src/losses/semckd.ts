/**
 * SemCKD (Chen et al., AAAI 2021, "Cross-Layer Distillation with Semantic Calibration"), as in their public code
 * (DefangChen/SemCKD: `SelfA`, `MLPEmbed`, `AAEmbed` in models/util.py, `SemCKDLoss` in distiller_zoo/SemCKD.py):
 * - batch similarity: each feature flattened to [B, D], G = f·fᵀ [B, B] (raw features, no normalisation);
 * - query_i = MLPEmbed_i(G_s_i), key_j = MLPEmbed_j(G_t_j): Linear(B → 2·d) → ReLU → Linear(2·d → d) → L2
 *   normalisation of each row, d = qkDim (theirs: B // 4, `input_channel = batch_size`, `factor = 4`), Linear with bias;
 * - energy[n, i, j] = q_i[n] · k_j[n] (cosine of the normalised embeddings; NO 1/√d scale, as in their `torch.bmm`),
 *   att = softmax over the teacher layers j;
 * - per pair (i, j): when the student map is spatially larger it is adaptive-average-pooled to the teacher's size
 *   BEFORE the projector, otherwise the teacher is pooled to the student's size; projector `regressor_ij` = their
 *   `AAEmbed`: 1×1 conv (C_s → 2·C_t) → BN → ReLU → 3×3 conv → BN → ReLU → 1×1 conv (→ C_t), convs without bias,
 *   i.e. the three-layer-conv `projector` with hiddenFactor 0.5;
 * - MSE_{n,i,j} = mean over C, H, W of (proj − teacher)², and loss = Σ_{n,i,j} att[n,i,j]·MSE_{n,i,j} / (B · S):
 *   their `(weight * ind_loss).sum() / (bsz * num_stu)`, i.e. summed over teacher layers (attention-weighted),
 *   averaged over the batch and over the S student layers.
 * The attention is NOT detached (their loss back-propagates into the query/key MLPs and, through G_s, into the
 * student); teacher features are detached (theirs come from a `no_grad` forward).
 * Differences: the L2 normalisation has ε = 1e-12 inside the square root (theirs divides by the bare norm, which is
 * NaN for an all-zero embedding; our Linear biases start at 0, so a row whose ReLU units are all off would hit it);
 * spatial pooling handles H and W separately with adaptive-average-pool windows (theirs assumes square maps, `(t_H, t_H)`).
 * Token features [B, T, C] are treated as [B, C, T, 1] (toChannelMap); G does not depend on the layout.
 */
import { expectInteger, invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { PROJECTOR_INIT, alignSpatial, projector, toChannelMap } from './feature.js';

export const SEMCKD_NORM_EPS = 1e-12;

export interface SemCkdOptions {
  /** The (static) batch size B: the width of the similarity rows the query/key MLPs read. */
  batchSize: number;
  /** Query/key embedding width d. Default max(1, floor(B / 4)) (their `factor = 4`). */
  qkDim?: number;
  /** Scope of every parameter. Default "semckd". */
  name?: string;
}

/** Their MLPEmbed: Linear(B → 2d) → ReLU → Linear(2d → d) → row L2 normalisation. */
function mlpEmbed(b: GraphBuilder, g: Tensor, d: number, name: string): Tensor {
  return b.scope(name, () => {
    const h = b.relu(b.gemm(g, 2 * d, 'linear1', PROJECTOR_INIT), 'relu');
    const o = b.gemm(h, d, 'linear2', PROJECTOR_INIT);
    const norm = b.sqrt(b.addScalar(b.reduceSum(b.mul(o, o, 'sq'), [1], true, 'sumsq'), SEMCKD_NORM_EPS, 'sumsq_eps'), 'norm');
    return b.div(o, norm, 'l2norm');
  });
}

/** Batch similarity G = f·fᵀ of a channel map flattened to [B, D]. */
function batchSimilarity(b: GraphBuilder, x: Tensor, batch: number, name: string): Tensor {
  return b.scope(name, () => {
    const dims = x.shape.slice(1);
    const D = dims.every((v) => typeof v === 'number') ? (dims as number[]).reduce((p, v) => p * v, 1) : -1;
    const f = b.reshape(x, [batch, D], 'flat');
    return b.matMul(f, b.transpose(f, [1, 0], 'flat_t'), 'gram');
  });
}

/** SemCKD loss over S student and T teacher features (all pairs, attention-weighted). */
export function semckdLoss(b: GraphBuilder, students: readonly Tensor[], teachers: readonly Tensor[], options: SemCkdOptions): Tensor {
  if (!Array.isArray(students) || students.length === 0) invalidArgument('semckdLoss students', 'at least one student feature', students?.length);
  if (!Array.isArray(teachers) || teachers.length === 0) invalidArgument('semckdLoss teachers', 'at least one teacher feature', teachers?.length);
  const B = expectInteger('semckdLoss batchSize', options?.batchSize, 1);
  const d = expectInteger('semckdLoss qkDim', options.qkDim ?? Math.max(1, Math.floor(B / 4)), 1);
  for (const x of [...students, ...teachers]) {
    if (typeof x.shape[0] === 'number' && x.shape[0] !== B) invalidArgument(`semckdLoss feature "${x.name}"`, `batch ${B} (options.batchSize)`, x.shape);
  }
  const S = students.length;
  const T = teachers.length;
  return b.scope(options.name ?? 'semckd', () => {
    const sMaps = students.map((s, i) => toChannelMap(b, s, `student${i}`));
    const tMaps = teachers.map((t, j) => toChannelMap(b, b.detach(t, `teacher${j}.detach`), `teacher${j}`));

    // ---- attention over teacher layers, per sample and student layer
    const q = sMaps.map((s, i) => b.reshape(mlpEmbed(b, batchSimilarity(b, s, B, `student${i}.sim`), d, `query${i}`), [B, 1, d], `query${i}.row`));
    const k = tMaps.map((t, j) => b.reshape(mlpEmbed(b, batchSimilarity(b, t, B, `teacher${j}.sim`), d, `key${j}`), [B, 1, d], `key${j}.row`));
    const Q = S === 1 ? q[0] : b.concat(q, 1, 'queries'); // [B, S, d]
    const K = T === 1 ? k[0] : b.concat(k, 1, 'keys'); // [B, T, d]
    const energy = b.matMul(Q, b.transpose(K, [0, 2, 1], 'keys_t'), 'energy'); // [B, S, T]
    const att = b.softmax(energy, -1, 'attention');

    // ---- per-sample MSE of every (student, teacher) pair
    const rows = sMaps.map((s, i) => {
      const cols = tMaps.map((t, j) => b.scope(`pair${i}_${j}`, () => {
        const tc = t.shape[1];
        if (typeof tc !== 'number') invalidArgument(`teacher feature "${teachers[j].name}"`, 'a known channel count', teachers[j].shape);
        const [sa, ta] = alignSpatial(b, s, t, 'align');
        const p = projector(b, sa, tc, 'three-layer-conv', { name: 'proj', hiddenFactor: 0.5 });
        const diff = b.sub(p, ta, 'diff');
        const mse = b.reduceMean(b.mul(diff, diff, 'sq'), [1, 2, 3], false, 'per_sample');
        return b.reshape(mse, [B, 1, 1], 'mse');
      }));
      return T === 1 ? cols[0] : b.concat(cols, 2, `mse_row${i}`); // [B, 1, T]
    });
    const mse = S === 1 ? rows[0] : b.concat(rows, 1, 'mse_all'); // [B, S, T]
    const weighted = b.reduceSum(b.mul(att, mse, 'weighted'), undefined, false, 'weighted_sum');
    return b.mulScalar(weighted, 1 / (B * S), 'loss');
  });
}
