/**
 * tools/bench/summary-lib.mjs: fabricated result lines of every driver (as they write them) → the summary's rows and
 * its Markdown, row by row: the latest line of each configuration, the headline ratio each benchmark defines, its
 * goal and the verdict (met, missed, no goal, reference skipped), results from another machine flagged.
 */
import { describe, expect, it } from 'vitest';
import { summarizeResults, summaryMarkdown } from '../tools/bench/summary-lib.mjs';

const here = { cpu: 'Intel Xeon @ 2.50GHz', cores: 2, node: 'v20.19.0', platform: 'linux-x64' };
const jsonl = (...lines: object[]) => lines.map((l) => JSON.stringify({ machine: here, ...l })).join('\n') + '\n';

const files = [
  // out of order on purpose: the table follows the benchmark order
  { name: 'train-step', text: jsonl(
    { date: '2026-01-01T10:00:00.000Z', model: 'small-cnn', input: [3, 32, 32], batch: 128, ratio: { native: 1.09, webTraining: 0.36 } },
    { date: '2026-01-01T10:05:00.000Z', model: 'resnet9', input: [3, 32, 32], batch: 128, skipped: 'PyTorch reference not available' },
  ) },
  { name: 'geometry-cpu', text: jsonl(
    { date: '2026-01-01T09:00:00.000Z', sizes: { N: 5000, D: 512, C: 10 }, ratio: 3.3812, goal: null },
    { date: '2026-01-01T09:00:00.000Z', sizes: { N: 5000, D: 4096, C: 10 }, ratio: 1.2, goal: 1.3 },
    // a later run of the same configuration replaces it
    { date: '2026-01-02T09:00:00.000Z', sizes: { N: 5000, D: 4096, C: 10 }, ratio: 1.351, goal: 1.3 },
  ) + 'not json\n' },
  { name: 'kq-scale', text: jsonl({ date: '2026-01-01T08:00:00.000Z', sizes: { rows: 50000, dim: 4096 }, ratio: 0.5572, pass: true }) },
  { name: 'geometry-vs-pytorch', text: jsonl({ date: '2026-01-01T08:30:00.000Z', sizes: { rows: 5000, dim: 4096, classes: 100 }, ratio: 2.4462 }) },
  { name: 'extract', text: jsonl({ date: '2026-01-01T11:00:00.000Z', sizes: { model: 'resnet34', input: [3, 32, 32], samples: 5000, batch: 100 }, ratio: 1.4434 }) },
  { name: 'train-step-fkd', text: jsonl({
    date: '2026-01-01T12:00:00.000Z', model: 'resnet9', method: 'fkd-kq', pairs: [{}, {}, {}, {}], input: [3, 32, 32], batch: 128, ratio: { native: 0.8071 },
    machine: { cpu: 'AMD EPYC 7B13', cores: 4, node: 'v20.19.0' },
  }) },
  { name: 'optimizer-step', text: jsonl({ date: '2026-01-01T13:00:00.000Z', sizes: { params: 6570000 }, ratio: 19.554, addon: 'built' }) },
  { name: 'experiment-quick', text: jsonl(
    { date: '2026-01-01T14:00:00.000Z', smoke: false, extraArgs: [], exitCode: 0, seconds: 779.4, limitSeconds: 900 },
    { date: '2026-01-01T15:00:00.000Z', smoke: true, extraArgs: ['--epochs', '1'], exitCode: 0, seconds: 120, limitSeconds: 900 },
  ) },
  { name: 'queue-throughput', text: jsonl({
    date: '2026-01-01T16:00:00.000Z',
    setups: [{ workers: 1, threads: 1, speedup: 1 }, { workers: 2, threads: 1, speedup: 1.874 }, { workers: 1, threads: 2, speedup: 1.25 }],
  }) },
  { name: 'new-bench', text: jsonl({ date: '2026-01-01T17:00:00.000Z', ratio: 1.25 }) },
  { name: 'score-process', text: jsonl({
    date: '2026-01-01T18:00:00.000Z', rows: 5000, dim: 16384, classes: 10, threads: 2, ratio: 1.61,
    kqkdWholeSeconds: { median: 3.3 }, numpyWholeSeconds: { median: 4.2 },
  }) },
];

describe('benchmark summary (tools/bench/summary-lib.mjs)', () => {
  const summary = summarizeResults(files, { machine: here, date: '2026-01-03T00:00:00.000Z' });

  it('rows: the latest line of each configuration, its ratio, goal and verdict', () => {
    expect(summary.rows.map((r) => [r.benchmark, r.config, r.ratio, r.goal, r.met])).toEqual([
      ['geometry-cpu', 'N=5000 D=512 C=10', 3.3812, null, 'n/a'],
      ['geometry-cpu', 'N=5000 D=4096 C=10', 1.351, { op: '≤', value: 1.3 }, 'no'],
      ['kq-scale', 'N=50000 D=4096', 0.5572, { op: '≤', value: 1 }, 'yes'],
      ['geometry-vs-pytorch', 'N=5000 D=4096 C=100', 2.4462, null, 'n/a'],
      ['score-process', 'N=5000 D=16384 C=10, 2 threads', 1.61, { op: '≤', value: 1.5 }, 'no'],
      ['extract', 'resnet34 3×32×32, 5000 samples, batch 100', 1.4434, { op: '≥', value: 1.5 }, 'no'],
      ['train-step', 'small-cnn 3×32×32, batch 128', 1.09, { op: '≥', value: 1 }, 'yes'],
      ['train-step', 'resnet9 3×32×32, batch 128', null, { op: '≥', value: 1 }, 'skipped'],
      ['train-step-fkd', 'resnet9 fkd-kq, 4 pairs, 3×32×32, batch 128', 0.8071, { op: '≥', value: 1 }, 'no'],
      ['optimizer-step', '6570000 params', 19.554, { op: '≥', value: 1 }, 'yes'],
      ['experiment-quick', 'quick preset', 779.4 / 900, { op: '≤', value: 1 }, 'yes'],
      ['experiment-quick', 'smoke: --epochs 1', 120 / 900, null, 'n/a'],
      ['queue-throughput', 'all setups', 1.874, null, 'n/a'],
      ['new-bench', 'latest', 1.25, null, 'n/a'],
    ]);
    expect(summary.unparsableLines).toEqual({ 'geometry-cpu': 1 });
  });

  it('markdown: the machine, then one exact row per configuration', () => {
    const md = summaryMarkdown(summary).split('\n');
    expect(md.slice(0, 6)).toEqual([
      '# Benchmark summary',
      '',
      'Machine: Intel Xeon @ 2.50GHz, 2 cores, Node v20.19.0 — 2026-01-03T00:00:00.000Z. The latest result of each benchmark ' +
        'configuration (bench/results/*.jsonl); ratios as each driver defines them (tools/bench/README.md).',
      '',
      '| benchmark | configuration | headline | ratio | goal | met | measured | note |',
      '|---|---|---|---:|---|---|---|---|',
    ]);
    expect(md.slice(6)).toEqual([
      '| geometry-cpu | N=5000 D=512 C=10 | full geometry / bare ssyrk (min) | 3.38 | – | n/a | 2026-01-01 09:00 | goal only at D ≥ 4096 |',
      '| geometry-cpu | N=5000 D=4096 C=10 | full geometry / bare ssyrk (min) | 1.35 | ≤ 1.3 | no | 2026-01-02 09:00 |  |',
      '| kq-scale | N=50000 D=4096 | peak RSS / (N·D·4 B + 1 GiB) | 0.56 | ≤ 1 | yes | 2026-01-01 08:00 |  |',
      '| geometry-vs-pytorch | N=5000 D=4096 C=100 | PyTorch / kqkd seconds (median) | 2.45 | – | n/a | 2026-01-01 08:30 | ' +
        'goal ≥ 50× is against the paper\'s reference (not available); this peer is vectorised PyTorch |',
      '| score-process | N=5000 D=16384 C=10, 2 threads | kqkd score whole process / numpy X·Xᵀ (medians) | 1.61 | ≤ 1.5 | no | ' +
        '2026-01-01 18:00 | numpy\'s whole process (start, np.load, product) 4.20 s vs kqkd 3.30 s |',
      '| extract | resnet34 3×32×32, 5000 samples, batch 100 | PyTorch / kqkd seconds (median) | 1.44 | ≥ 1.5 | no | 2026-01-01 11:00 |  |',
      '| train-step | small-cnn 3×32×32, batch 128 | native / PyTorch images/s | 1.09 | ≥ 1 | yes | 2026-01-01 10:00 | web-training / PyTorch 0.36 |',
      '| train-step | resnet9 3×32×32, batch 128 | native / PyTorch images/s | – | ≥ 1 | skipped | 2026-01-01 10:05 | skipped: PyTorch reference not available |',
      '| train-step-fkd | resnet9 fkd-kq, 4 pairs, 3×32×32, batch 128 | native / PyTorch images/s | 0.81 | ≥ 1 | no | 2026-01-01 12:00 | ' +
        'measured on AMD EPYC 7B13, 4 cores |',
      '| optimizer-step | 6570000 params | ONNX graph / C++ addon seconds (median) | 19.55 | ≥ 1 | yes | 2026-01-01 13:00 | goal: the addon stays only while faster |',
      '| experiment-quick | quick preset | seconds / budget | 0.87 | ≤ 1 | yes | 2026-01-01 14:00 |  |',
      '| experiment-quick | smoke: --epochs 1 | seconds / budget | 0.13 | – | n/a | 2026-01-01 15:00 | smoke run, not the benchmark |',
      '| queue-throughput | all setups | runs/hour, 2 workers × 1 thread / 1 × 1 | 1.87 | – | n/a | 2026-01-01 16:00 | ' +
        'no goal set (the model: ≈ the cores); 1 × 2 threads 1.25 |',
      '| new-bench | latest | ratio | 1.25 | – | n/a | 2026-01-01 17:00 | no headline defined for this benchmark |',
      '',
      'Unparsable lines skipped: geometry-cpu.jsonl 1.',
      '',
    ]);
  });

  it('no results: the table head and how to make some', () => {
    const md = summaryMarkdown(summarizeResults([], { machine: here, date: 'd' }));
    expect(md.endsWith('|---|---|---|---:|---|---|---|---|\n\nNo results yet: run `npx nx run-many -t bench`.\n')).toBe(true);
  });
});
