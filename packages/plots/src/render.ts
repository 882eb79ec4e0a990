import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '@kqkd/common';

/**
 * vega, vega-lite and resvg take about half a second to load: they load on the first picture, so commands that draw
 * none (and the API's importers) start without them.
 */
let renderers: Promise<{ vega: typeof import('vega'); compile: typeof import('vega-lite').compile; Resvg: typeof import('@resvg/resvg-js').Resvg }> | undefined;
const loadRenderers = () => (renderers ??= Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')])
  .then(([vega, vegaLite, resvg]) => ({ vega, compile: vegaLite.compile, Resvg: resvg.Resvg })));

/**
 * Starts loading the renderers now (they load on the main thread, ~0.3 s): a command that will draw after a long
 * native computation calls this first, so the loading overlaps the computation instead of following it. Errors
 * surface at the first render.
 */
export function preloadRenderers(): void {
  loadRenderers().catch(() => {});
}

/** Renders a vega-lite spec headlessly: SVG text from vega's renderer, PNG by rasterising that SVG. */
export async function renderChart(spec: TopLevelSpec, options: { scale?: number } = {}): Promise<{ svg: string; png: Uint8Array }> {
  const { vega, compile, Resvg } = await loadRenderers();
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
