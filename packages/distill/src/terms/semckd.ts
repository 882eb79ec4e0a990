/**
 * SemCKD (Chen et al. 2021) as its public code trains it: every student layer attends to every teacher layer
 * (attention from batch similarities), × β = weights.semckd.
 */
import type { Tensor } from '@kqkd/onnx';
import { semckdLoss } from '../losses/index.js';
import type { LossTerm } from './types.js';

const distinct = (ts: readonly Tensor[]) => [...new Map(ts.map((t) => [t.name, t])).values()];

export const SEMCKD: LossTerm = {
  key: 'semckd',
  title: 'attention-weighted cross-layer feature matching (every student layer against every teacher layer)',
  pairing: 'all',
  readsTeacherLogits: false,
  build: ({ g, spec, pairs, batchSize }) => {
    const loss = semckdLoss(g, distinct(pairs.map((p) => p.student)), distinct(pairs.map((p) => p.teacher)), { batchSize, name: 'semckd' });
    return spec.weights.semckd === 1 ? loss : g.mulScalar(loss, spec.weights.semckd, 'semckd_weighted');
  },
};
