import { describe, expect, it } from 'vitest';
import { confusionMatrixSpec, renderChart } from '../src/index.js';

interface Cell { true: string; predicted: string; count: number; share: number }
interface Spec {
  data: { values: Cell[] };
  encoding: { x: { field: string; sort: string[] }; y: { field: string; sort: string[] } };
  layer: { mark: { type: string }; encoding: Record<string, { field?: string }> }[];
}

describe('confusion matrix', () => {
  // true class down, predicted across: 3 classes, class "b" has no image
  const matrix = [[8, 2, 0], [0, 0, 0], [1, 3, 6]];
  const names = ['a', 'b', 'c'];

  it('one cell per (true, predicted) pair with its count and its share of the true class; rects coloured by share, counts as text', () => {
    const spec = confusionMatrixSpec(matrix, names, 'title') as unknown as Spec;
    expect(spec.data.values).toHaveLength(9);
    const cell = (t: string, p: string) => spec.data.values.find((v) => v.true === t && v.predicted === p)!;
    expect(cell('a', 'b')).toEqual({ true: 'a', predicted: 'b', count: 2, share: 0.2 });
    expect(cell('c', 'c')).toEqual({ true: 'c', predicted: 'c', count: 6, share: 0.6 });
    expect(cell('b', 'b')).toEqual({ true: 'b', predicted: 'b', count: 0, share: 0 }); // an empty row is not NaN
    expect(spec.encoding.x).toMatchObject({ field: 'predicted', sort: names });
    expect(spec.encoding.y).toMatchObject({ field: 'true', sort: names });
    expect(spec.layer.map((l) => l.mark.type)).toEqual(['rect', 'text']);
    expect(spec.layer[0].encoding.color.field).toBe('share');
    expect(spec.layer[1].encoding.text.field).toBe('count');
  });

  it('class indices when the names do not match; a matrix that is not square is refused', () => {
    const spec = confusionMatrixSpec([[1, 0], [0, 1]], ['only one']) as unknown as Spec;
    expect(spec.encoding.x.sort).toEqual(['0', '1']);
    expect(() => confusionMatrixSpec([[1, 2]], ['a'])).toThrow(/square/);
    expect(() => confusionMatrixSpec([], [])).toThrow(/square/);
  });

  it('renders to SVG (title, class names, counts) and PNG through the one rendering path', async () => {
    const { svg, png } = await renderChart(confusionMatrixSpec(matrix, ['T-shirt', 'Trouser', 'Pullover'], 'model on test: top-1 70.00 %'));
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['model on test: top-1 70.00 %', 'T-shirt', 'Pullover', 'predicted class', 'true class', '>8<', '>6<']) expect(svg).toContain(text);
    expect(Array.from(png.slice(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  });
});
