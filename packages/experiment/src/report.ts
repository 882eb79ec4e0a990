/**
 * The report layer of `kqkd experiment`: statistics over seeds, the paper's ARI and training-efficiency metrics
 * (METHOD.md §6), the Markdown report and the pictures. Everything but `writeExperimentPictures` is pure.
 */
import { basename, join } from 'node:path';
import { KqkdError, describeValue } from '@kqkd/common';
import { getSelectionRule, OURS_METHOD } from '@kqkd/distill';
import { kqCurvesSpec, lrTuningSpec, methodBarSpec, trainingCurvesSpec, writeChart } from '@kqkd/plots';
import type {
  AriResult, EfficiencyResult, ExperimentResults, MethodResult, MethodRun, Statistic,
} from './types.js';

/** Picture names (file stems in the experiment folder) written by `writeExperimentPictures`. */
export const EXPERIMENT_PICTURES = ['kq-curves', 'training-curves', 'methods', 'lr-tuning'] as const;

/**
 * Below this, a baseline's gain is treated as exactly the 0.5-point ARI threshold: means of percentages are not exact
 * in binary floating point (64.1 − 63.6 = 0.4999…), and such a baseline should count as g = 0.5.
 */
const GAIN_EPSILON = 1e-9;
const ARI_MIN_GAIN = 0.5;

/** Mean and sample standard deviation (n − 1; null for one value) of the values, kept in order. */
/** The teacher in titles: an imported model by its file name (the path is in the setup list and results.json). */
function teacherTitle(r: ExperimentResults): string {
  return r.teacher.source === 'imported' ? basename(r.teacher.model) : r.teacher.model;
}

export function statistic(values: number[]): Statistic {
  if (values.length === 0) throw new KqkdError('values', 'at least one value', describeValue(values));
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const std = n === 1 ? null : Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  return { mean, std, runs: [...values] };
}

/** `statistic` of the values, or mean NaN (no run finished). */
export function statisticOrNone(values: number[]): Statistic {
  return values.length === 0 ? { mean: NaN, std: null, runs: [] } : statistic(values);
}

/**
 * Test top-1 per epoch, mean and std over the runs. Only epochs every run has recorded are kept, so a run cut short
 * never makes a later epoch's mean one over fewer seeds.
 */
export function meanCurve(runs: MethodRun[]): MethodResult['curve'] {
  if (runs.length === 0) return [];
  const byRun = runs.map((r) => new Map(r.history.map((p) => [p.epoch, p.testTop1])));
  const epochs = [...byRun[0].keys()].filter((e) => byRun.every((m) => m.has(e))).sort((a, b) => a - b);
  return epochs.map((epoch) => {
    const s = statistic(byRun.map((m) => m.get(epoch) as number));
    return { epoch, mean: s.mean, std: s.std };
  });
}

/**
 * ARI (METHOD.md §6): with g(m) = acc(m) − acc(reference) on best-epoch mean top-1, and B the listed baselines with
 * g ≥ 0.5 points, ARI = mean over b ∈ B of g(ours) / g(b). The threshold keeps near-zero gains from blowing up the
 * ratio. Listed baselines absent from `methods` are ignored; present ones not in B are reported as `excluded`.
 */
export function computeAri(
  methods: Record<string, MethodResult>,
  options: { ours: string; reference: string; baselines: string[] },
): AriResult {
  const { ours, reference } = options;
  const present = options.baselines.filter((b) => methods[b] !== undefined);
  const ref = methods[reference];
  const gain = (key: string) => methods[key].top1Best.mean - (ref as MethodResult).top1Best.mean;
  const used = ref ? present.filter((b) => gain(b) >= ARI_MIN_GAIN - GAIN_EPSILON) : [];
  const excluded = present.filter((b) => !used.includes(b));
  const value = ref && methods[ours] && used.length > 0
    ? used.reduce((s, b) => s + gain(ours) / gain(b), 0) / used.length
    : null;
  return { value, ours, reference, baselines: used, excluded, accuracy: 'top1Best' };
}

/**
 * Training efficiency (METHOD.md §6): the fraction of its epochs `ours` (mean curve) needs to first reach the final
 * (last-epoch mean) top-1 of the best present baseline. Ties between baselines go to the first listed.
 */
export function computeEfficiency(
  methods: Record<string, MethodResult>,
  options: { ours: string; baselines: string[] },
): EfficiencyResult {
  const curve = methods[options.ours]?.curve ?? [];
  let best: string | null = null;
  for (const b of options.baselines) {
    if (methods[b] && (best === null || methods[b].top1Last.mean > methods[best].top1Last.mean)) best = b;
  }
  const target = best === null ? null : methods[best].top1Last.mean;
  const reached = target === null ? undefined : curve.find((p) => p.mean >= target);
  const epochsToReach = reached ? reached.epoch : null;
  const value = epochsToReach === null || curve.length === 0 ? null : epochsToReach / curve.length;
  return { value, ours: options.ours, bestBaseline: best, target, epochsToReach, epochs: curve.length };
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown

const fixed = (v: number | null, digits = 2) => (v === null || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const meanStd = (s: Statistic) => `${fixed(s.mean)} ± ${fixed(s.std)}`;
const layerList = (layers: number[] | null) => (layers === null || layers.length === 0 ? '—' : layers.join(', '));
const count = (n: number | null) => (n === null ? '—' : n.toLocaleString('en-US'));
/** Table cells must not break the Markdown table. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? '---:' : ':---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
}

function picture(results: ExperimentResults, name: string, alt: string): string[] {
  const p = results.pictures[name];
  return p ? [`![${alt}](${p.png})`, ''] : [];
}

function setupSection(r: ExperimentResults): string[] {
  const { dataset, teacher, student } = r;
  const ratio = teacher.parameters && student.parameters
    ? ` — the teacher has ${(teacher.parameters / student.parameters).toFixed(2)}× the student's parameters`
    : '';
  const teacherBest = teacher.top1Best === null ? '' : ` (best epoch ${fixed(teacher.top1Best)} %)`;
  const split = dataset.evaluatedOn === 'validation' ? 'validation' : 'test';
  return [
    '## Setup', '',
    `- Dataset: ${dataset.name} — ${count(dataset.trainCount)} training / ${count(dataset.testCount)} ${split} images, ${dataset.classes} classes`,
    `- Teacher: ${teacher.model} (${teacher.source}), ${split} top-1 ${fixed(teacher.top1)} %${teacherBest}, ${count(teacher.parameters)} parameters`,
    `- Student: ${student.model}, ${count(student.parameters)} parameters${ratio}`,
    `- Distilled layers (Ours): teacher ${layerList(r.selectedTeacherLayers)} (rule \`${r.selectionRule}\`) → student ${layerList(r.studentLayers)}`,
    `- Peak learning rates: ${lrPolicyText(r)}`,
    '',
  ];
}

function lrPolicyText(r: ExperimentResults): string {
  if (r.tuning) return 'chosen per method by this experiment\'s tuning on the validation split (section Learning-rate tuning; per method below)';
  if (r.lrPolicy === 'tuned') return `policy \`tuned\`: a per-method table chosen by an earlier tuning on a validation split${r.lrSource ? ` (${r.lrSource})` : ''}; per method below`;
  return `policy \`${r.lrPolicy}\` (per method below)`;
}

function tuningSection(r: ExperimentResults): string[] {
  const t = r.tuning;
  if (!t) return [];
  const methods = Object.entries(r.methods).filter(([, m]) => m.tuning);
  const rows = t.grid.map((lr) => [String(lr), ...methods.map(([, m]) => {
    const p = m.tuning!.grid.find((g) => g.lr === lr);
    if (!p) return '—';
    const value = p.validation.runs.length ? meanStd(p.validation) : '—';
    const failed = p.failed ? ` (${p.failed} failed)` : '';
    return m.tuning!.lr === lr ? `**${value}** ✓${failed}` : `${value}${failed}`;
  })]);
  return [
    '## Learning-rate tuning', '',
    `Rule, fixed before any result: for each method, ${t.rule}. Every method was trained at every rate of the grid with ` +
      `seed${t.seeds.length > 1 ? 's' : ''} ${t.seeds.join(', ')} on the training part and scored on ${count(t.validationImages)} held-out ` +
      'training images (the validation split); the final runs at the chosen rate are reported on the test split above. ' +
      'Cells: validation top-1 at the last epoch, mean ± std over the tuning seeds; ✓ = chosen.',
    '',
    ...table(['peak LR', ...methods.map(([k]) => `\`${k}\``)], rows, ['r', ...methods.map(() => 'r' as const)]),
    '',
    `Compute spent on tuning: ${t.runs} runs, ${fixed(t.runSeconds, 0)} s of training summed over runs (${fixed(t.wallSeconds, 0)} s wall in this process; runs finished earlier count 0 wall seconds).`,
    '',
    ...picture(r, 'lr-tuning', 'Validation top-1 against the peak learning rate per method'),
  ];
}

function kqSection(r: ExperimentResults): string[] {
  const rows = r.kq.layers.map((l) => [
    String(l.index), l.name, l.shape.join('×'),
    // KQ values are small and close together; 2 decimals would hide the differences that decide the selection.
    fixed(l.S, 4), fixed(l.I, 4), fixed(l.E, 4), fixed(l.Q, 4),
    l.selected ? '✓' : '',
  ]);
  return [
    '## Knowledge Quality of the teacher\'s generalized layers', '',
    `Computed on ${count(r.kq.samples)} class-balanced training samples; ✓ marks the ${r.kq.topK} layers Ours distils (rule \`${r.selectionRule}\`).`, '',
    ...table(['layer', 'name', 'shape', 'S', 'I', 'E', 'Q', 'selected'], rows, ['r', 'l', 'l', 'r', 'r', 'r', 'r', 'l']), '',
    ...picture(r, 'kq-curves', 'S, I, E and Q per generalized layer of the teacher'),
    '### Teacher layers by selection rule', '',
    ...table(
      ['rule', 'what it picks', 'teacher layers'],
      Object.entries(r.layerSelections).map(([rule, layers]) => [`\`${rule}\`${rule === r.selectionRule ? ' (Ours)' : ''}`, getSelectionRule(rule).title, layerList(layers)]),
      ['l', 'l', 'l'],
    ),
    '',
  ];
}

function methodsSection(r: ExperimentResults): string[] {
  // The teacher first, so the students read against it (an imported teacher is evaluated once, as given).
  const t = r.teacher;
  const teacherRow = [
    'teacher', teacherTitle(r), '—', '—', fixed(t.top1Best ?? t.top1), fixed(t.top1), '—', '—',
  ];
  const rows = [teacherRow, ...Object.entries(r.methods).map(([key, m]) => [
    `\`${key}\``, m.title, layerList(m.teacherLayers), `${m.peakLr} (${m.lrSource})`,
    meanStd(m.top1Best), meanStd(m.top1Last), m.runs.some((r) => r.failed) ? `${m.runs.filter((r) => !r.failed).length} (${m.runs.filter((r) => r.failed).length} failed)` : String(m.runs.length),
    fixed(m.runs.length ? m.runs.reduce((s, run) => s + (run.seconds ?? 0), 0) / m.runs.length : null),
  ])];
  return [
    '## Methods', '',
    ...table(
      ['method', 'title', 'teacher layers', 'peak LR', 'top-1 best epoch (%)', 'top-1 last epoch (%)', 'runs', 'seconds / run'],
      rows, ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    ...picture(r, 'methods', 'Best-epoch and last-epoch test top-1 per method'),
    ...picture(r, 'training-curves', 'Test top-1 per epoch, mean over runs'),
  ];
}

function ariSection(r: ExperimentResults): string[] {
  const a = r.ari;
  const excluded = a.excluded.length ? `; left out (g < 0.5): ${a.excluded.map((b) => `\`${b}\``).join(', ')}` : '';
  return [
    '## Average relative improvement (ARI)', '',
    `ARI of \`${a.ours}\` = **${fixed(a.value)}**. With g(m) = acc(m) − acc(\`${a.reference}\`) on best-epoch mean top-1, ` +
      'and B the baselines with g ≥ 0.5 points, ARI = mean over b in B of g(ours) / g(b); above 1 means ours gains more ' +
      'over the reference than the baselines do on average.',
    '',
    `Baselines used: ${a.baselines.length ? a.baselines.map((b) => `\`${b}\``).join(', ') : 'none'}${excluded}.`,
    '',
  ];
}

function efficiencySection(r: ExperimentResults): string[] {
  const e = r.efficiency;
  const outcome = e.value === null
    ? (e.bestBaseline === null ? 'no baseline to compare with' : `never reached in ${e.epochs} epochs`)
    : `reached at epoch ${e.epochsToReach} of ${e.epochs}`;
  return [
    '## Training efficiency', '',
    `Training efficiency of \`${e.ours}\` = **${fixed(e.value)}** (${outcome}): the fraction of its epochs that ours ` +
      '(mean curve over runs) needs to first reach the best baseline\'s final accuracy' +
      (e.bestBaseline === null ? '.' : `, here \`${e.bestBaseline}\` at ${fixed(e.target)} % (last-epoch mean).`) +
      ' Lower is better.',
    '',
  ];
}

/**
 * The compute of the runs the report summarises — each run's own training seconds (kept in its run state, so a re-run
 * that only reads finished runs back reports what they cost when they ran), summed over every method's runs — and
 * the wall time of the process that wrote the report, named as such. Tuning runs are counted in their own section.
 */
export function computeLine(results: ExperimentResults): string {
  const runs = Object.values(results.methods).flatMap((m) => m.runs);
  const compute = runs.reduce((s, r) => s + (r.seconds ?? 0), 0);
  return `${fixed(compute)} s of training summed over the ${runs.length} runs (each run's own seconds) · ` +
    `${fixed(results.seconds)} s wall time of the process that wrote this report`;
}

/** The experiment's human-readable report (`results.md`); picture links are relative to the experiment folder. */
export function renderResultsMarkdown(results: ExperimentResults): string {
  const lines = [
    `# kqkd experiment: ${results.student.model} from ${teacherTitle(results)} on ${results.dataset.name}`, '',
    `Preset: ${results.preset ?? 'none'} · config hash \`${results.configHash}\` · ${computeLine(results)}`, '',
    '**Best epoch** = a run\'s highest test top-1 over its epochs; **last epoch** = its test top-1 after the final ' +
      'epoch. Both are in percent, mean ± sample std (n − 1) over the runs; "—" where there is one run.',
    '',
    ...setupSection(results),
    ...kqSection(results),
    ...methodsSection(results),
    ...tuningSection(results),
    ...ariSection(results),
    ...efficiencySection(results),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Pictures

/** Plot labels: the method keys (titles are sentences that axes would cut); the paper's method marked "(ours)". */
function methodLabels(methods: Record<string, MethodResult>): Record<string, string> {
  return Object.fromEntries(Object.keys(methods).map((key) => [key, key === OURS_METHOD ? `${key} (ours)` : key]));
}

/**
 * Writes the experiment's pictures into `dir` (each as .svg and .png): `kq-curves` (the teacher's per-layer S, I, E, Q,
 * selected layers marked), `training-curves` and `methods`. Returns their paths relative to `dir`.
 */
export async function writeExperimentPictures(
  results: ExperimentResults,
  dir: string,
): Promise<Record<string, { svg: string; png: string }>> {
  const labels = methodLabels(results.methods);
  const methods = Object.entries(results.methods);
  const specs = {
    'kq-curves': kqCurvesSpec(
      // kqCurvesSpec draws non-finite values as gaps; results.json stores them as null.
      results.kq.layers.map((l) => ({
        index: l.index, name: l.name, selected: l.selected,
        S: l.S ?? NaN, I: l.I ?? NaN, E: l.E ?? NaN, Q: l.Q ?? NaN,
      })),
      `Knowledge Quality per generalized layer — ${teacherTitle(results)} on ${results.dataset.name}`,
    ),
    'training-curves': trainingCurvesSpec(
      methods.flatMap(([key, m]) => m.curve.map((p) => ({ method: labels[key], epoch: p.epoch, mean: p.mean, std: p.std }))),
      `Test top-1 per epoch (mean ± std over runs) — ${results.student.model} on ${results.dataset.name}`,
    ),
    methods: methodBarSpec(
      methods.map(([key, m]) => ({
        method: labels[key], best: m.top1Best.mean, bestStd: m.top1Best.std, last: m.top1Last.mean, lastStd: m.top1Last.std,
      })),
      `Test top-1 per method, best vs last epoch — ${results.student.model} on ${results.dataset.name}`,
    ),
  };
  if (results.tuning) {
    (specs as Record<string, unknown>)['lr-tuning'] = lrTuningSpec(
      methods.filter(([, m]) => m.tuning).flatMap(([key, m]) => m.tuning!.grid.map((p) => ({
        method: labels[key], lr: p.lr, mean: p.failed > 0 || p.validation.runs.length === 0 ? NaN : p.validation.mean, std: p.validation.std, chosen: p.lr === m.tuning!.lr,
      }))),
      `Validation top-1 (last epoch) against peak LR — ${results.student.model} on ${results.dataset.name}`,
    );
  }
  const out: Record<string, { svg: string; png: string }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    await writeChart(spec, join(dir, name));
    out[name] = { svg: `${name}.svg`, png: `${name}.png` };
  }
  return out;
}
