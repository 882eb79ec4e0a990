/**
 * The ranking of candidate teachers by Knowledge Quality (`scoreTeachers`): each teacher's KQ summary — the mean Q of
 * the layers the selection rule `kqkd distill` uses would pick — its S, I, E parts, its size and its own accuracy on
 * held-out training images; the order; ranking.json and ranking.md. Pure functions of the scored reports: no model,
 * no data, nothing loaded.
 */

/**
 * What orders the candidates: `kq`, the KQ summary (the default); `validation-top1`, the teacher's own top-1 on the
 * held-out training images (docs/RESULTS.md §7: it predicted the best teacher across architectures, the KQ summary
 * did not).
 */
export const RANK_BY = ['kq', 'validation-top1'] as const;
export type RankBy = (typeof RANK_BY)[number];

/** One scored layer as kq.json stores it (NaN written as null). */
interface ScoredLayerLike {
  index: number;
  name: string;
  S: number | null;
  I: number | null;
  E: number | null;
  Q: number | null;
}

/** What a selection rule sees (@kqkd/distill `SelectionContext`, without the configured layers). */
export interface PickContext {
  layers: { index: number; S: number; I: number; E: number; Q: number }[];
  headStartsAfter: number;
  k: number;
}

export interface RankedTeacher {
  /** 1 = the teacher `kqkd distill` chooses. */
  rank: number;
  /** The candidate's name (its file's basename without .onnx, made unique): its folder in the output. */
  name: string;
  /** The ONNX file as given. */
  file: string;
  sha256: string;
  /** Float weights (BatchNorm running statistics not counted). */
  parameters: number;
  /** The mean Q of the picked layers (null when one of them has no Q). */
  kqSummary: number | null;
  /** The mean S, I, E of the picked layers. */
  S: number | null;
  I: number | null;
  E: number | null;
  /** The generalized-layer indices the rule picks, in depth order, and their tensor names. */
  layers: number[];
  layerNames: string[];
  /** The teacher's generalized layers (the curves' relative depth is index / (this − 1)). */
  generalizedLayers: number;
  /** Top-1 (percent) on the held-out training images. */
  validationTop1: number;
  /** kq.json of this teacher, relative to the ranking's folder. */
  kq: string;
}

export interface TeacherRanking {
  format: 'kqkd-teacher-ranking';
  version: 1;
  /** The criterion that ordered the teachers (absent in rankings written before there was a choice: `kq`). */
  rankBy: RankBy;
  /** How the teachers are ordered, in words. */
  order: string;
  selection: { rule: string; title: string; k: number };
  data: {
    name: string;
    /** Images in the training split. */
    trainImages: number;
    /** The training images before the held-out ones (and within trainLimit) that the KQ sample is drawn from. */
    kqImages: number;
    /** The class-balanced KQ sample, the same for every teacher. */
    samples: number;
    seed: number;
    /** The held-out images the teachers' top-1 is measured on: the last `images` of the training split. */
    validation: { images: number; first: number; note: string };
  };
  /** What the ranking was computed from: a re-run with the same inputs reuses it. */
  inputs: Record<string, unknown>;
  teachers: RankedTeacher[];
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);
const asNumber = (v: number | null) => (v === null ? NaN : v);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * The KQ summary of one scored teacher: the layers `pick` (a selection rule) chooses among its backbone layers (index
 * ≤ headStartsAfter, as `kqkd distill` offers them) and the mean Q, S, I, E over those layers.
 */
export function kqSummary(layers: readonly ScoredLayerLike[], headStartsAfter: number, k: number, pick: (ctx: PickContext) => number[]):
  Pick<RankedTeacher, 'kqSummary' | 'S' | 'I' | 'E' | 'layers' | 'layerNames'> {
  const candidates = layers.filter((l) => l.index <= headStartsAfter)
    .map((l) => ({ index: l.index, S: asNumber(l.S), I: asNumber(l.I), E: asNumber(l.E), Q: asNumber(l.Q) }));
  const picked = pick({ layers: candidates, headStartsAfter, k });
  const of = picked.map((i) => candidates.find((l) => l.index === i)!);
  return {
    kqSummary: finiteOrNull(mean(of.map((l) => l.Q))),
    S: finiteOrNull(mean(of.map((l) => l.S))), I: finiteOrNull(mean(of.map((l) => l.I))), E: finiteOrNull(mean(of.map((l) => l.E))),
    layers: picked, layerNames: picked.map((i) => layers.find((l) => l.index === i)!.name),
  };
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const bySummary = (a: Omit<RankedTeacher, 'rank'>, b: Omit<RankedTeacher, 'rank'>) => (b.kqSummary ?? -Infinity) - (a.kqSummary ?? -Infinity) || 0;
const byTop1 = (a: Omit<RankedTeacher, 'rank'>, b: Omit<RankedTeacher, 'rank'>) => b.validationTop1 - a.validationTop1;

/**
 * The order under `kq`: KQ summary descending (a teacher without one last), ties by the teacher's validation top-1
 * (higher first), then by name (code-unit order), so the ranking is a function of the scores alone.
 */
export function compareTeachers(a: Omit<RankedTeacher, 'rank'>, b: Omit<RankedTeacher, 'rank'>): number {
  return bySummary(a, b) || byTop1(a, b) || byName(a, b);
}

/** The order under `validation-top1`: validation top-1 descending, ties by KQ summary (higher first, none last), then by name. */
export function compareTeachersByTop1(a: Omit<RankedTeacher, 'rank'>, b: Omit<RankedTeacher, 'rank'>): number {
  return byTop1(a, b) || bySummary(a, b) || byName(a, b);
}

export function rankTeachers(teachers: readonly Omit<RankedTeacher, 'rank'>[], rankBy: RankBy = 'kq'): RankedTeacher[] {
  return [...teachers].sort(rankBy === 'kq' ? compareTeachers : compareTeachersByTop1).map((t, i) => ({ rank: i + 1, ...t }));
}

/** The criterion in words, for titles and reasons. */
export function rankByTitle(rankBy: RankBy): string {
  return rankBy === 'kq' ? 'the KQ summary' : 'validation top-1';
}

/** ranking.json's `order`: the criterion and the tie rules, in words. */
export function orderText(rankBy: RankBy, rule: string, k: number): string {
  const summary = `the KQ summary, the mean Q of the layers rule "${rule}" picks (k = ${k})`;
  return rankBy === 'kq'
    ? `Ranked by ${summary}, highest first; ties by the teacher's validation top-1, then by name.`
    : `Ranked by validation top-1, the teacher's own top-1 on the held-out training images, highest first; ties by ${summary}, then by name.`;
}

/** ranking.json: stable key order and no timings or output paths, so the same inputs give the same bytes. */
export function rankingToJson(r: TeacherRanking): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

const num = (v: number | null, digits = 4) => (v === null ? '—' : v.toFixed(digits));
const count = (v: number) => v.toLocaleString('en-US');

/** The ranking as a Markdown table (ranking.md, and the teacher-choice section of kqkd distill's report). */
export function rankingTableMarkdown(r: TeacherRanking): string[] {
  return [
    `| rank | teacher | KQ summary (mean Q) | mean S | mean I | mean E | layers (${r.selection.rule}) | parameters | validation top-1 |`,
    '|---:|---|---:|---:|---:|---:|---|---:|---:|',
    ...r.teachers.map((t) => `| ${t.rank} | ${t.name} | ${num(t.kqSummary)} | ${num(t.S)} | ${num(t.I)} | ${num(t.E)} | ${t.layers.join(', ')} | ` +
      `${count(t.parameters)} | ${t.validationTop1.toFixed(2)} % |`),
  ];
}

/** ranking.md: what was compared, the table, the picture. */
export function rankingMarkdown(r: TeacherRanking): string {
  const d = r.data;
  return [
    `# Teacher ranking by ${r.rankBy === 'validation-top1' ? 'validation top-1' : 'Knowledge Quality'} on ${d.name}`,
    '',
    `${r.order} KQ sample: ${d.samples} class-balanced training images (seed ${d.seed}), the same images for every teacher, drawn ` +
      `from the first ${count(d.kqImages)} of the ${count(d.trainImages)} training images.`,
    '',
    ...rankingTableMarkdown(r),
    '',
    `- Layers: rule \`${r.selection.rule}\` (${r.selection.title}), k = ${r.selection.k}, over each teacher's layers up to its Flatten.`,
    `- Validation top-1: ${d.validation.note}`,
    '- Each teacher\'s per-layer S, I, E, Q: `<teacher>/kq.json` and `<teacher>/kq-curves.png`.',
    '',
    '![Q per relative depth](teachers-kq.png)',
    '',
  ].join('\n');
}

/** A fixed-width table for the terminal. */
export function rankingToTable(r: TeacherRanking): string {
  const header = ['rank', 'teacher', 'KQ summary', 'S', 'I', 'E', 'layers', 'parameters', 'val top-1'];
  const rows = r.teachers.map((t) => [String(t.rank), t.name, num(t.kqSummary), num(t.S), num(t.I), num(t.E), t.layers.join(','),
    String(t.parameters), `${t.validationTop1.toFixed(2)} %`]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const text = new Set([1, 6]);
  const line = (cells: string[]) => cells.map((c, i) => (text.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n' +
    `ranked by: ${r.rankBy ?? 'kq'}. ${r.order}\nvalidation top-1: ${r.data.validation.note}\n`;
}
