/** Suggestions for a name that is not there: the closest candidates by edit distance. */
function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Up to `k` names closest to `name` (edit distance, substring matches first). */
export function closestNames(name: string, candidates: Iterable<string>, k = 3): string[] {
  const lower = name.toLowerCase();
  return [...candidates]
    .map((c) => ({ c, d: levenshtein(lower, c.toLowerCase()) - (c.toLowerCase().includes(lower) ? 100 : 0) }))
    .sort((x, y) => x.d - y.d || (x.c < y.c ? -1 : 1))
    .slice(0, k)
    .map((x) => x.c);
}
