import type { KqReport } from './score.js';

/** JSON with NaN/±Infinity written as null (KQ-SPEC reports never contain non-JSON numbers). */
export function reportToJson(report: KqReport, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ ...report, ...extra }, (_key, value) => {
    if (typeof value === 'number' && !Number.isFinite(value)) return null;
    if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
    return value;
  }, 2)}\n`;
}

const fmt = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : 'NaN');

/** Fixed-width per-layer table: index, name, shape, S, I, E, Q, rank, selected. */
export function reportToTable(report: KqReport): string {
  const header = ['layer', 'name', 'shape', 'S', 'I', 'E', 'Q', 'rank', 'selected'];
  const rows = report.layers.map((l) => [
    String(l.index),
    l.name,
    l.sampleShape.join('x') + (l.poolingKernel > 1 ? ` (pool ${l.poolingKernel})` : ''),
    fmt(l.S), fmt(l.I), fmt(l.E), fmt(l.Q),
    String(l.rank),
    l.selected ? '*' : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = new Set([0, 3, 4, 5, 6, 7]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), sep, ...rows.map(line)].join('\n') + '\n' +
    `selected (top-${report.topK} by Q, ties to the deeper layer): ${report.selected.join(', ')}\n`;
}
