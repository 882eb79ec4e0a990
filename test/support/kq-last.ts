/**
 * The selection rule kq-last written out again for tests, from a stored kq.json: the last generalized layer before the
 * teacher's Flatten plus the top-(k−1) by Q of the layers before it (ties to the deeper layer), in depth order; and the
 * KQ summary of a teacher, the mean Q of those layers.
 */
export interface StoredKq {
  layers: { index: number; name: string; S: number; I: number; E: number; Q: number }[];
  model: { headStartsAfter: number };
  dataset: { size: number; samples: number; sampleSeed: number };
}

export function kqLast(kq: StoredKq, k: number): number[] {
  const blocks = kq.layers.filter((l) => l.index < kq.model.headStartsAfter);
  const last = blocks[blocks.length - 1];
  const rest = blocks.slice(0, -1).sort((a, b) => b.Q - a.Q || b.index - a.index).slice(0, k - 1).map((l) => l.index);
  return [...rest, last.index].sort((a, b) => a - b);
}

/** The mean of `metric` over the kq-last layers. */
export function kqLastMean(kq: StoredKq, k: number, metric: 'S' | 'I' | 'E' | 'Q' = 'Q'): number {
  const picked = kqLast(kq, k).map((i) => kq.layers.find((l) => l.index === i)!);
  return picked.reduce((s, l) => s + l[metric], 0) / picked.length;
}
