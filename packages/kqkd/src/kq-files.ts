/**
 * The files of one scored model or feature set: `kq.json` and the per-layer curves (`kq-curves.svg` / `.png`), written
 * atomically into a folder. Shared by `score` (one source) and `scoreTeachers` (one folder per candidate).
 */
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@kqkd/common';
import { reportToJson, type KqReport } from '@kqkd/kq/layers';
import { kqCurvesSpec, writeChart } from '@kqkd/plots';

/** Writes `dir/kq.json` (the report plus `meta`, NaN as null) and `dir/kq-curves.svg|png`; returns their paths. */
export async function writeKqFiles(report: KqReport, dir: string, meta: Record<string, unknown>): Promise<{ json: string; svg: string; png: string }> {
  const folder = resolve(dir);
  const json = join(folder, 'kq.json');
  writeFileAtomic(json, reportToJson(report, { meta }));
  const chart = await writeChart(kqCurvesSpec(report.layers, `Knowledge Quality per generalized layer — ${String(meta.source)}`), join(folder, 'kq-curves'));
  return { json, svg: chart.svg, png: chart.png };
}
