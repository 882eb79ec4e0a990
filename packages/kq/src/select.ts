import { expectInteger } from '@kqkd/common';

export interface Scored {
  index: number;
  Q: number;
}

/**
 * The k layers with the highest Q; ties go to the deeper layer (METHOD.md §2). Returns layer indices in
 * depth order. Layers whose Q is not a number are never selected.
 */
export function selectTopK<T extends Scored>(layers: readonly T[], k: number): number[] {
  expectInteger('topK', k, 0);
  const ranked = layers
    .filter((l) => Number.isFinite(l.Q))
    .slice()
    .sort((a, b) => (b.Q !== a.Q ? b.Q - a.Q : b.index - a.index));
  return ranked.slice(0, k).map((l) => l.index).sort((a, b) => a - b);
}
