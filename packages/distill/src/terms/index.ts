export { getTerm, TERM_KEYS } from './registry.js';
export type { LossTerm, TermContext, PredictorContext, GraphPair } from './types.js';
