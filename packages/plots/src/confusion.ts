import type { TopLevelSpec } from 'vega-lite';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CONFIG = { font: 'DejaVu Sans', view: { stroke: '#ddd' } };

/**
 * A confusion matrix as a heatmap: true class down, predicted class across, each cell coloured by the share of its
 * true class and labelled with its count (so a small class's errors are as visible as a large one's).
 */
export function confusionMatrixSpec(matrix: readonly (readonly number[])[], classNames: readonly string[], title = 'Confusion matrix'): TopLevelSpec {
  const k = matrix.length;
  if (k === 0 || matrix.some((row) => row.length !== k)) throw new Error(`confusion matrix: expected a square matrix, got ${k} rows`);
  const names = classNames.length === k ? [...classNames] : Array.from({ length: k }, (_, i) => String(i));
  const values = matrix.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({ true: names[t], predicted: names[p], count, share: total > 0 ? count / total : 0 }));
  });
  const side = Math.max(240, Math.min(900, 36 * k));
  return {
    $schema: SCHEMA,
    title: { text: title, fontSize: 14 },
    data: { values },
    config: CONFIG,
    width: side,
    height: side,
    encoding: {
      x: { field: 'predicted', type: 'ordinal' as const, sort: names, title: 'predicted class', axis: { labelAngle: -45 } },
      y: { field: 'true', type: 'ordinal' as const, sort: names, title: 'true class' },
    },
    layer: [
      {
        mark: { type: 'rect' as const },
        encoding: {
          color: { field: 'share', type: 'quantitative' as const, title: 'row share', scale: { scheme: 'blues', domain: [0, 1] } },
        },
      },
      {
        mark: { type: 'text' as const, fontSize: k > 20 ? 7 : 10 },
        encoding: {
          text: { field: 'count', type: 'quantitative' as const },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  } as TopLevelSpec;
}
