/**
 * L_F, the paper's feature loss: per (student layer, teacher layer) pair a learned projector (spec.projector) maps the
 * student's channels to the teacher's, the larger map is average-pooled to the smaller, MSE; averaged over the pairs,
 * × weights.feature.
 */
import { featureLoss } from '../losses/index.js';
import type { LossTerm } from './types.js';

export const FEATURE: LossTerm = {
  key: 'feature',
  title: 'MSE between projected student features and teacher features, averaged over the pairs',
  pairing: 'all',
  readsTeacherLogits: false,
  build: ({ g, spec, pairs }) => {
    const loss = featureLoss(g, pairs, { projector: spec.projector, name: 'feature_loss' });
    return spec.weights.feature === 1 ? loss : g.mulScalar(loss, spec.weights.feature, 'feature_loss_weighted');
  },
};
