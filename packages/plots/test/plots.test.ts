import { describe, expect, it } from 'vitest';
import { kqCurvesSpec, renderChart } from '../src/index.js';

describe('KQ curves', () => {
  const layers = Array.from({ length: 6 }, (_, i) => ({ index: i, name: `layer${i}`, S: i / 10, I: 1, E: 2, Q: i / 10 + Math.sqrt(2), selected: i >= 2 && i < 6 }));
  it('one point per layer and metric, selected layers marked', () => {
    const spec = kqCurvesSpec(layers) as unknown as { data: { values: { metric: string; selected: string; value: number }[] } };
    expect(spec.data.values).toHaveLength(24);
    expect(spec.data.values.filter((v) => v.selected === 'selected')).toHaveLength(16);
    expect(spec.data.values.find((v) => v.metric === 'S' && v.value === 0.5)).toBeDefined();
  });
  it('renders to SVG with the panel titles and to a PNG', async () => {
    const { svg, png } = await renderChart(kqCurvesSpec(layers, 'test title'));
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['test title', '(separation)', '(information)', 'generalized layer']) expect(svg).toContain(text);
    expect(Array.from(png.slice(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(png.byteLength).toBeGreaterThan(10_000);
  });
});
