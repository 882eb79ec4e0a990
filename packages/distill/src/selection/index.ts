export { getSelectionRule, selectTeacherLayers, SELECTION_RULE_KEYS, DEFAULT_SELECTION_RULE } from './registry.js';
export { evenlySpread } from './fixed.js';
export { topKBy } from './metric.js';
export type { ScoredLayer, SelectionContext, SelectionRule } from './types.js';
