/** What a layer-selection rule sees and returns. */

/** One teacher layer with its Knowledge Quality terms (NaN where undefined). */
export interface ScoredLayer {
  index: number;
  S: number;
  I: number;
  E: number;
  Q: number;
}

export interface SelectionContext {
  /** The teacher's backbone layers (index ≤ its Flatten / token average), in depth order, with their scores. */
  layers: readonly ScoredLayer[];
  /** Index of the teacher's Flatten / token-average layer: the last backbone layer; the head follows it. */
  headStartsAfter: number;
  /** How many teacher layers to pick (= the student layers distilled). */
  k: number;
  /** Layers configured for this teacher: the paper's evenly spread baseline layers and the paper's fixed choice. */
  configured?: { baseline?: readonly number[]; paper?: readonly number[] };
}

export interface SelectionRule {
  key: string;
  /** One line for reports and docs. */
  title: string;
  /** k teacher layer indices in depth order. */
  select(ctx: SelectionContext): number[];
}
