import { describe, expect, it } from 'vitest';
import { methodBarSpec, renderChart, trainingCurvesSpec } from '../src/index.js';

type Values<T> = { data: { values: T[] } };
const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

describe('training curves', () => {
  const series = [
    ...[1, 2, 3].map((epoch) => ({ method: 'method-alpha', epoch, mean: 60 + epoch, std: 0.5 })),
    ...[1, 2, 3].map((epoch) => ({ method: 'method-beta', epoch, mean: 58 + epoch, std: null })),
  ];
  it('one value per point, with a ±std band only where the std is known', () => {
    const spec = trainingCurvesSpec(series) as unknown as Values<{ method: string; epoch: number; mean: number; lo: number | null; hi: number | null }>;
    expect(spec.data.values).toHaveLength(6);
    expect(spec.data.values.find((v) => v.method === 'method-alpha' && v.epoch === 2)).toMatchObject({ mean: 62, lo: 61.5, hi: 62.5 });
    expect(spec.data.values.filter((v) => v.method === 'method-beta').every((v) => v.lo === null && v.hi === null)).toBe(true);
  });
  it('renders to SVG with its title, axis and legend, and to a PNG', async () => {
    const { svg, png } = await renderChart(trainingCurvesSpec(series, 'curves title'));
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['curves title', 'epoch', 'test top-1 (%)', 'method-alpha', 'method-beta']) expect(svg).toContain(text);
    expect(Array.from(png.slice(0, 8))).toEqual(PNG_SIGNATURE);
  });
});

describe('method bars', () => {
  const rows = [
    { method: 'CE', best: 70.2, bestStd: 0.3, last: 69.8, lastStd: 0.4 },
    { method: 'Ours', best: 73.1, bestStd: null, last: 72.9, lastStd: 0.2 },
  ];
  it('a best-epoch and a last-epoch bar per method, error-bar ends from the std', () => {
    const spec = methodBarSpec(rows) as unknown as Values<{ method: string; accuracy: string; mean: number; lo: number | null; hi: number | null }>;
    expect(spec.data.values).toHaveLength(4);
    const ceLast = spec.data.values.find((v) => v.method === 'CE' && v.accuracy === 'last epoch');
    expect(ceLast?.mean).toBe(69.8);
    expect(ceLast?.lo).toBeCloseTo(69.4, 12);
    expect(ceLast?.hi).toBeCloseTo(70.2, 12);
    expect(spec.data.values.find((v) => v.method === 'Ours' && v.accuracy === 'best epoch')).toMatchObject({ lo: null, hi: null });
  });
  it('zooms the y axis to the data: error-bar ends 69.4 … 73.1, span 3.7, margin 0.5 (10% of the span is 0.37)', () => {
    const spec = methodBarSpec(rows) as unknown as { layer: { encoding: { y: { scale: { domain: number[]; zero: boolean } } } }[] };
    const [lo, hi] = spec.layer[0].encoding.y.scale.domain;
    expect(lo).toBeCloseTo(68.9, 12);
    expect(hi).toBeCloseTo(73.6, 12);
    expect(spec.layer[0].encoding.y.scale.zero).toBe(false);
  });
  it('renders to SVG with its title, methods and legend, and to a PNG', async () => {
    const { svg, png } = await renderChart(methodBarSpec(rows, 'bars title'));
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['bars title', 'CE', 'Ours', 'best epoch', 'last epoch']) expect(svg).toContain(text);
    expect(Array.from(png.slice(0, 8))).toEqual(PNG_SIGNATURE);
  });
});
