// The benchmark summary (summary.mjs), pure: the latest result of each benchmark configuration → its headline ratio,
// the goal (shared/design/BENCHMARKS.md, or the driver's decision rule where BENCHMARKS.md sets none) and whether it is
// met → summary.json's object and summary.md's table. No file or clock access here, so the test feeds it lines.

/** Table order: the drivers of tools/bench and native/bench; other files follow in name order. */
export const BENCHMARK_ORDER = [
  'geometry-cpu', 'kq-scale', 'geometry-vs-pytorch', 'score-process', 'extract', 'train-step', 'train-step-fkd', 'optimizer-step',
  'experiment-quick', 'queue-throughput',
];

const shape = (dims) => (Array.isArray(dims) ? dims.join('×') : '?');
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Per benchmark: `key` (the configuration a line measured; the latest line of each is kept) and `headline` (what its
 * ratio is, the ratio, the goal as { op, value } or null, a note).
 */
const HEADLINES = {
  'geometry-cpu': {
    key: (l) => `N=${l.sizes?.N} D=${l.sizes?.D} C=${l.sizes?.C}`,
    headline: (l) => ({
      what: 'full geometry / bare ssyrk (min)', ratio: num(l.ratio),
      // The C++ bench writes the goal into its line: 1.3 at D ≥ 4096, none below.
      goal: num(l.goal) !== null ? { op: '≤', value: l.goal } : null, note: num(l.goal) === null ? 'goal only at D ≥ 4096' : '',
    }),
  },
  'kq-scale': {
    key: (l) => `N=${l.sizes?.rows} D=${l.sizes?.dim}`,
    headline: (l) => ({ what: 'peak RSS / (N·D·4 B + 1 GiB)', ratio: num(l.ratio), goal: { op: '≤', value: 1 }, note: '' }),
  },
  'geometry-vs-pytorch': {
    key: (l) => `N=${l.sizes?.rows} D=${l.sizes?.dim} C=${l.sizes?.classes}`,
    // BENCHMARKS.md's goal (≥ 50×) is against the paper's loop-based reference, which is not available here.
    headline: (l) => ({
      what: 'PyTorch / kqkd seconds (median)', ratio: num(l.ratio), goal: null,
      note: 'goal ≥ 50× is against the paper\'s reference (not available); this peer is vectorised PyTorch',
    }),
  },
  'score-process': {
    key: (l) => `N=${l.rows} D=${l.dim} C=${l.classes}, ${l.threads} threads`,
    headline: (l) => ({
      what: 'kqkd score whole process / numpy X·Xᵀ (medians)', ratio: num(l.ratio), goal: { op: '≤', value: 1.5 },
      note: num(l.numpyWholeSeconds?.median) !== null && num(l.kqkdWholeSeconds?.median) !== null
        ? `numpy's whole process (start, np.load, product) ${l.numpyWholeSeconds.median.toFixed(2)} s vs kqkd ${l.kqkdWholeSeconds.median.toFixed(2)} s` : '',
    }),
  },
  extract: {
    key: (l) => `${l.sizes?.model} ${shape(l.sizes?.input)}, ${l.sizes?.samples} samples, batch ${l.sizes?.batch}`,
    headline: (l) => ({ what: 'PyTorch / kqkd seconds (median)', ratio: num(l.ratio), goal: { op: '≥', value: 1.5 }, note: '' }),
  },
  'train-step': {
    key: (l) => `${l.model} ${shape(l.input)}, batch ${l.batch}`,
    headline: (l) => ({
      what: 'native / PyTorch images/s', ratio: num(l.ratio?.native), goal: { op: '≥', value: 1 },
      note: num(l.ratio?.webTraining) !== null ? `web-training / PyTorch ${l.ratio.webTraining.toFixed(2)}` : '',
    }),
  },
  'train-step-fkd': {
    key: (l) => `${l.model} ${l.method}, ${l.pairs?.length ?? '?'} pairs, ${shape(l.input)}, batch ${l.batch}`,
    headline: (l) => ({ what: 'native / PyTorch images/s', ratio: num(l.ratio?.native), goal: { op: '≥', value: 1 }, note: '' }),
  },
  'optimizer-step': {
    key: (l) => `${l.sizes?.params} params`,
    // Issue 6's rule, BENCHMARKS.md sets none: keep the addon while it beats the ONNX-graph update.
    headline: (l) => ({
      what: 'ONNX graph / C++ addon seconds (median)', ratio: num(l.ratio), goal: { op: '≥', value: 1 },
      note: l.addon && l.addon !== 'built' ? `addon ${l.addon}` : 'goal: the addon stays only while faster',
    }),
  },
  'experiment-quick': {
    key: (l) => (l.smoke ? `smoke: ${(l.extraArgs ?? []).join(' ')}` : 'quick preset'),
    headline: (l) => ({
      what: 'seconds / budget', ratio: l.exitCode === 0 && num(l.seconds) !== null && num(l.limitSeconds) ? l.seconds / l.limitSeconds : null,
      // A smoke run (extra CLI arguments) is not the benchmark: it has no goal.
      goal: l.smoke ? null : { op: '≤', value: 1 },
      note: [l.smoke ? 'smoke run, not the benchmark' : '', l.exitCode !== 0 ? (l.error ?? `exit ${l.exitCode}`) : ''].filter(Boolean).join('; '),
    }),
  },
  'queue-throughput': {
    key: () => 'all setups',
    headline: (l) => {
      const setups = Array.isArray(l.setups) ? l.setups : [];
      const two = setups.find((s) => s.workers === 2 && s.threads === 1);
      const others = setups.filter((s) => s !== two && !(s.workers === 1 && s.threads === 1));
      return {
        what: 'runs/hour, 2 workers × 1 thread / 1 × 1', ratio: num(two?.speedup), goal: null,
        note: ['no goal set (the model: ≈ the cores)', ...others.map((s) => `${s.workers} × ${s.threads} threads ${num(s.speedup)?.toFixed(2) ?? '–'}`)].join('; '),
      };
    },
  },
};

const FALLBACK = { key: () => 'latest', headline: (l) => ({ what: 'ratio', ratio: num(l.ratio), goal: null, note: 'no headline defined for this benchmark' }) };

/** "yes" / "no" / "n/a" (no goal) / "skipped" (the reference could not run) / "–" (no ratio). */
function verdict(h, line) {
  if (line.skipped) return 'skipped';
  if (h.goal === null) return 'n/a';
  if (h.ratio === null) return '–';
  return (h.goal.op === '≤' ? h.ratio <= h.goal.value : h.ratio >= h.goal.value) ? 'yes' : 'no';
}

/**
 * The summary of result files: `files` = [{ name: 'train-step', text: <the .jsonl> }], `machine` and `date` of the
 * summary itself. Keeps, per benchmark, the latest line of each configuration (the lines are appended in time order).
 */
export function summarizeResults(files, { machine, date }) {
  const known = (n) => (BENCHMARK_ORDER.includes(n) ? BENCHMARK_ORDER.indexOf(n) : BENCHMARK_ORDER.length);
  const sorted = [...files].sort((a, b) => known(a.name) - known(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rows = [];
  const unparsable = {};
  for (const { name, text } of sorted) {
    const def = HEADLINES[name] ?? FALLBACK;
    const latest = new Map(); // first-seen order of the configurations, latest line of each
    for (const raw of text.split('\n')) {
      if (!raw.trim()) continue;
      let line;
      try {
        line = JSON.parse(raw);
      } catch {
        unparsable[name] = (unparsable[name] ?? 0) + 1;
        continue;
      }
      latest.set(def.key(line), line);
    }
    for (const [config, line] of latest) {
      const h = def.headline(line);
      const other = line.machine && machine && (line.machine.cpu !== machine.cpu || line.machine.cores !== machine.cores);
      const note = [h.note, line.skipped ? `skipped: ${line.skipped}` : '',
        other ? `measured on ${line.machine.cpu}, ${line.machine.cores} cores` : ''].filter(Boolean).join('; ');
      rows.push({
        benchmark: name, config, headline: h.what, ratio: h.ratio, goal: h.goal, met: verdict(h, line),
        date: typeof line.date === 'string' ? line.date : null, note,
      });
    }
  }
  return { date, machine, rows, unparsableLines: unparsable };
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** summary.md: the machine, then one table row per benchmark configuration. */
export function summaryMarkdown(summary) {
  const m = summary.machine;
  const lines = [
    '# Benchmark summary',
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node} — ${summary.date}. The latest result of each benchmark configuration ` +
      '(bench/results/*.jsonl); ratios as each driver defines them (tools/bench/README.md).',
    '',
    '| benchmark | configuration | headline | ratio | goal | met | measured | note |',
    '|---|---|---|---:|---|---|---|---|',
    ...summary.rows.map((r) => `| ${cell(r.benchmark)} | ${cell(r.config)} | ${cell(r.headline)} | ${r.ratio === null ? '–' : r.ratio.toFixed(2)} | ` +
      `${r.goal ? `${r.goal.op} ${r.goal.value}` : '–'} | ${r.met} | ${r.date ? r.date.slice(0, 16).replace('T', ' ') : '–'} | ${cell(r.note)} |`),
  ];
  if (summary.rows.length === 0) lines.push('', 'No results yet: run `npx nx run-many -t bench`.');
  const bad = Object.entries(summary.unparsableLines);
  if (bad.length > 0) lines.push('', `Unparsable lines skipped: ${bad.map(([n, c]) => `${n}.jsonl ${c}`).join(', ')}.`);
  return `${lines.join('\n')}\n`;
}
