/**
 * Logit-level and relational losses of the baselines (METHOD.md §4) and the detached classifier head of FKD.
 * - `kdLoss`: Hinton KD, T² · mean_n KL(softmax(t/T) ‖ softmax(s/T)); with T = 4 the factor T² is the "16" of
 *   "CE + 16·KL(T=4)". `weight` multiplies on top (default 1).
 * - `vkdLoss`: CE(student, labels) + kdLoss (T = 4).
 * - `vkdLsLoss`: the same with logit standardisation (Sun et al., CVPR 2024) as in their code: z ↦ (z − mean) /
 *   (eps + std) per row, std UNBIASED (torch.std default), eps 1e-7, applied to both student and teacher logits
 *   before the temperature; CE stays on the raw student logits.
 * - `spLoss`: similarity-preserving KD (Tung & Mori, ICCV 2019): per pair G = A·Aᵀ of flattened features [B, D],
 *   rows L2-normalised, ‖norm(G_s) − norm(G_t)‖²_F / B²; summed over pairs.
 * - `detachedHead`: the head sees a stop-gradient copy of the backbone output, so its CE never reaches the backbone.
 */
import { invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';

export const VKD_TEMPERATURE = 4;
export const LS_EPS = 1e-7;
export const SP_EPS = 1e-12;

export interface KdOptions { temperature?: number; weight?: number; standardize?: boolean; name?: string }

function rowsOf(z: Tensor): number {
  const c = z.shape[1];
  if (z.shape.length !== 2 || typeof c !== 'number') invalidArgument(`logits "${z.name}"`, 'logits [N, C] with known C', z.shape);
  return c;
}

/** Sun et al.'s `normalize`: (z − mean) / (eps + std_unbiased) per row of [N, C]. */
export function standardizeLogits(b: GraphBuilder, z: Tensor, name: string): Tensor {
  const c = rowsOf(z);
  if (c < 2) invalidArgument(`logits "${z.name}"`, 'at least 2 classes for an unbiased std', c);
  return b.scope(name, () => {
    const centered = b.sub(z, b.reduceMean(z, [1], true, 'mean'), 'centered');
    const ss = b.reduceSum(b.mul(centered, centered, 'sq'), [1], true, 'sumsq');
    const std = b.sqrt(b.mulScalar(ss, 1 / (c - 1), 'var'), 'std');
    return b.div(centered, b.addScalar(std, LS_EPS, 'std_eps'), 'z');
  });
}

/** T² · KL(softmax(t/T) ‖ softmax(s/T)) averaged over the batch, times `weight`. The teacher is detached. */
export function kdLoss(b: GraphBuilder, student: Tensor, teacher: Tensor, options: KdOptions = {}): Tensor {
  const name = options.name ?? 'kd';
  const T = options.temperature ?? VKD_TEMPERATURE;
  return b.scope(name, () => {
    let s = student;
    let t = b.detach(teacher, 'teacher.detach');
    if (options.standardize) {
      s = standardizeLogits(b, s, 'student_ls');
      t = standardizeLogits(b, t, 'teacher_ls');
    }
    const kl = b.klDivergence(s, t, { temperature: T, name: 'kl' });
    const w = options.weight ?? 1;
    return w === 1 ? b.identity(kl, 'loss') : b.mulScalar(kl, w, 'loss');
  });
}

export interface VkdOptions { temperature?: number; kdWeight?: number; ceWeight?: number; name?: string }

function ceWithKd(b: GraphBuilder, student: Tensor, teacher: Tensor, labels: Tensor, o: VkdOptions, standardize: boolean, name: string): Tensor {
  return b.scope(o.name ?? name, () => {
    const ce0 = b.softmaxCrossEntropy(student, labels, { name: 'ce' });
    const ce = (o.ceWeight ?? 1) === 1 ? ce0 : b.mulScalar(ce0, o.ceWeight!, 'ce_weighted');
    const kd = kdLoss(b, student, teacher, { temperature: o.temperature, weight: o.kdWeight, standardize, name: 'kd' });
    return b.add(ce, kd, 'loss');
  });
}

/** VKD: CE + T²·KL(T = 4) (T² = 16). */
export function vkdLoss(b: GraphBuilder, student: Tensor, teacher: Tensor, labels: Tensor, options: VkdOptions = {}): Tensor {
  return ceWithKd(b, student, teacher, labels, options, false, 'vkd');
}

/** VKD with logit standardisation (Sun et al. 2024). */
export function vkdLsLoss(b: GraphBuilder, student: Tensor, teacher: Tensor, labels: Tensor, options: VkdOptions = {}): Tensor {
  return ceWithKd(b, student, teacher, labels, options, true, 'vkd_ls');
}

export interface SpPair { student: Tensor; teacher: Tensor }

/** Row-normalised batch Gram matrix of features [B, ...] → [B, B]. */
export function normalizedGram(b: GraphBuilder, x: Tensor, name: string): Tensor {
  return b.scope(name, () => {
    const a = x.shape.length === 2 ? x : b.flatten(x, 1, 'flat');
    const g = b.matMul(a, b.transpose(a, [1, 0], 'at'), 'gram');
    const norm = b.sqrt(b.addScalar(b.reduceSum(b.mul(g, g, 'sq'), [1], true, 'sumsq'), SP_EPS, 'sumsq_eps'), 'norm');
    return b.div(g, norm, 'normalized');
  });
}

/** Σ_pairs ‖norm(G_s) − norm(G_t)‖²_F / B² (mean of the squared difference over the B×B entries). */
export function spLoss(b: GraphBuilder, pairs: readonly SpPair[], options: { weight?: number; name?: string } = {}): Tensor {
  if (pairs.length === 0) invalidArgument('spLoss pairs', 'at least one (student, teacher) pair', 0);
  return b.scope(options.name ?? 'sp', () => {
    const terms = pairs.map((p, i) => b.scope(`pair${i}`, () => {
      const gs = normalizedGram(b, p.student, 'student');
      const gt = normalizedGram(b, b.detach(p.teacher, 'teacher.detach'), 'teacher');
      return b.mse(gs, gt, 'mse');
    }));
    const total = terms.slice(1).reduce((acc, l, i) => b.add(acc, l, `sum${i + 1}`), terms[0]);
    const w = options.weight ?? 1;
    return w === 1 ? b.identity(total, 'loss') : b.mulScalar(total, w, 'loss');
  });
}

/**
 * The FKD classifier input: a stop-gradient copy of the backbone output. With `head`, returns `head(detached)`
 * (the logits); CE on them trains the head only.
 */
export function detachedHead(b: GraphBuilder, backboneOut: Tensor, head?: (x: Tensor) => Tensor, name = 'head_input'): Tensor {
  const d = b.detach(backboneOut, name);
  return head ? head(d) : d;
}
