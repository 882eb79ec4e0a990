/**
 * Cross-entropy with the labels on the student's logits. Where its gradient goes is the method's `head` setting
 * (the whole student, or only the classifier behind a stop-gradient for feature-exclusive training).
 */
import type { LossTerm } from './types.js';

export const CROSS_ENTROPY: LossTerm = {
  key: 'ce',
  title: 'cross-entropy on the student\'s logits',
  pairing: 'none',
  readsTeacherLogits: false,
  build: ({ g, logits, labels, headDetached }) => g.softmaxCrossEntropy(logits, labels, { name: headDetached ? 'ce_head' : 'ce' }),
};
