/** Similarity-preserving KD (Tung & Mori): normalised batch Gram matrices of the last feature map (the deepest pair), × γ. */
import { spLoss } from '../losses/index.js';
import type { LossTerm } from './types.js';

export const SP: LossTerm = {
  key: 'sp',
  title: 'similarity-preserving loss on the deepest pair\'s batch Gram matrices',
  pairing: 'deepest',
  readsTeacherLogits: false,
  build: ({ g, spec, pairs }) => spLoss(g, pairs, { weight: spec.weights.sp, name: 'sp' }),
};
