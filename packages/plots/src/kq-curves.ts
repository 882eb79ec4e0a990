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

/** One candidate teacher's Q per generalized layer, and whether the selection rule picks the layer. */
export interface TeacherQCurve {
  teacher: string;
  layers: { index: number; name: string; Q: number; picked: boolean }[];
}

/**
 * Several teachers' Q curves on one axis of relative depth (layer index / (layers − 1): 0 = the first generalized
 * layer, 1 = the last), so teachers of different depths compare; one line per teacher, in the given order (the
 * ranking's), the layers the selection rule picks drawn as large points.
 */
export function teachersKqSpec(curves: TeacherQCurve[], title = 'Knowledge Quality of the candidate teachers'): TopLevelSpec {
  const values = curves.flatMap((c) => c.layers.map((l) => ({
    teacher: c.teacher,
    depth: c.layers.length > 1 ? l.index / (c.layers.length - 1) : 0,
    layer: l.index,
    name: l.name,
    Q: Number.isFinite(l.Q) ? l.Q : null,
    picked: l.picked ? 'picked' : 'not picked',
  })));
  const color = { field: 'teacher', type: 'nominal' as const, title: 'teacher', scale: { domain: curves.map((c) => c.teacher) }, legend: { labelLimit: 400 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'large points: the layers the selection rule picks', fontSize: 14 },
    data: { values },
    config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } },
    width: 520,
    height: 280,
    encoding: {
      x: { field: 'depth', type: 'quantitative' as const, title: 'relative depth (layer index / (layers − 1))', scale: { domain: [0, 1] } },
      y: { field: 'Q', type: 'quantitative' as const, title: 'Q = S + sqrt(I·E)', scale: { zero: false } },
      color,
    },
    layer: [
      { mark: { type: 'line' as const } },
      {
        mark: { type: 'point' as const, filled: true },
        encoding: {
          size: { condition: { test: "datum.picked === 'picked'", value: 90 }, value: 15 },
          tooltip: [{ field: 'teacher' }, { field: 'name' }, { field: 'layer' }, { field: 'Q', format: '.4f' }],
        },
      },
    ],
  } as TopLevelSpec;
}
