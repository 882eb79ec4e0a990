import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '@kqkd/common';

/** Renders a vega-lite spec headlessly: SVG text from vega's renderer, PNG by rasterising that SVG. */
export async function renderChart(spec: TopLevelSpec, options: { scale?: number } = {}): Promise<{ svg: string; png: Uint8Array }> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      fitTo: { mode: 'zoom', value: options.scale ?? 2 },
      background: 'white',
      font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    }).render().asPng();
    return { svg, png };
  } finally {
    view.finalize();
  }
}

/** Writes `<basePath>.svg` and `<basePath>.png`; returns both paths. */
export async function writeChart(spec: TopLevelSpec, basePath: string): Promise<{ svg: string; png: string }> {
  const { svg, png } = await renderChart(spec);
  writeFileAtomic(`${basePath}.svg`, svg);
  writeFileAtomic(`${basePath}.png`, png);
  return { svg: `${basePath}.svg`, png: `${basePath}.png` };
}
