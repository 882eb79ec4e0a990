import { describe, expect, it } from 'vitest';
import { kqCurvesSpec, renderChart, teachersKqSpec } from '../src/index.js';

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

describe('teachers\' Q curves', () => {
  const teacher = (name: string, n: number, picked: number[]) => ({
    teacher: name, layers: Array.from({ length: n }, (_, i) => ({ index: i, name: `l${i}`, Q: 1 + i / n, picked: picked.includes(i) })),
  });
  it('x is the relative depth index / (layers − 1) of each teacher, one line per teacher in the given order, picked layers marked', () => {
    const spec = teachersKqSpec([teacher('deep', 18, [8, 14, 15, 16]), teacher('shallow', 5, [0, 1, 2, 3])]) as unknown as {
      data: { values: { teacher: string; depth: number; layer: number; Q: number; picked: string }[] };
      encoding: { color: { scale: { domain: string[] } } };
    };
    const v = spec.data.values;
    expect(v).toHaveLength(23);
    // independent: the 5-layer teacher's layer 2 is halfway, the 18-layer one's layer 17 at the end, layer 8 at 8/17
    expect(v.find((p) => p.teacher === 'shallow' && p.layer === 2)!.depth).toBe(0.5);
    expect(v.find((p) => p.teacher === 'deep' && p.layer === 17)!.depth).toBe(1);
    expect(v.find((p) => p.teacher === 'deep' && p.layer === 8)!.depth).toBeCloseTo(8 / 17, 15);
    expect(v.filter((p) => p.picked === 'picked').map((p) => `${p.teacher}:${p.layer}`))
      .toEqual(['deep:8', 'deep:14', 'deep:15', 'deep:16', 'shallow:0', 'shallow:1', 'shallow:2', 'shallow:3']);
    expect(spec.encoding.color.scale.domain).toEqual(['deep', 'shallow']);
  });
  it('renders to SVG with every teacher\'s name and to a PNG', async () => {
    const { svg, png } = await renderChart(teachersKqSpec([teacher('resnet34-e16', 18, [16]), teacher('tiny-cnn', 5, [3])], 'ranking title'));
    for (const text of ['ranking title', 'resnet34-e16', 'tiny-cnn', 'relative depth']) expect(svg).toContain(text);
    expect(Array.from(png.slice(0, 4))).toEqual([137, 80, 78, 71]);
  });
});
