import type { TopLevelSpec } from 'vega-lite';

export interface KqCurvePoint {
  index: number;
  name: string;
  S: number;
  I: number;
  E: number;
  Q: number;
  selected: boolean;
}

const METRICS = ['Q', 'S', 'I', 'E'] as const;
const TITLES: Record<(typeof METRICS)[number], string> = {
  Q: 'Q = S + sqrt(I·E)  (knowledge quality)',
  S: 'S  (separation)',
  I: 'I  (information)',
  E: 'E  (efficiency)',
};

/**
 * The paper's figure of a teacher: one panel per metric against the generalized-layer index, with the
 * selected layers drawn as filled red points so the extraction → compression transition is visible.
 */
export function kqCurvesSpec(layers: KqCurvePoint[], title = 'Knowledge Quality per generalized layer'): TopLevelSpec {
  const values = layers.flatMap((l) =>
    METRICS.map((m) => ({
      layer: l.index,
      name: l.name,
      metric: m,
      value: Number.isFinite(l[m]) ? l[m] : null,
      selected: l.selected ? 'selected' : 'not selected',
    })),
  );
  const panel = (metric: (typeof METRICS)[number]) => ({
    title: { text: TITLES[metric], fontSize: 12 },
    width: 300,
    height: 150,
    transform: [{ filter: `datum.metric === '${metric}'` }],
    encoding: {
      x: { field: 'layer', type: 'quantitative' as const, title: 'generalized layer', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative' as const, title: metric, scale: { zero: false } },
    },
    layer: [
      { mark: { type: 'line' as const, color: '#4c78a8' } },
      {
        mark: { type: 'point' as const, filled: true, size: 60 },
        encoding: {
          color: {
            field: 'selected', type: 'nominal' as const, title: null,
            scale: { domain: ['selected', 'not selected'], range: ['#e45756', '#9ecae9'] },
          },
          tooltip: [{ field: 'name' }, { field: 'layer' }, { field: 'value', format: '.4f' }],
        },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: 14 },
    data: { values },
    config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } },
    vconcat: [
      { hconcat: [panel('Q'), panel('S')] },
      { hconcat: [panel('I'), panel('E')] },
    ],
  } as TopLevelSpec;
}
