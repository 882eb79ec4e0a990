// geometry-cpu bench runner (BENCHMARKS.md): runs build/bin/geometry_cpu_bench, appends its JSON lines to
// <repo>/bench/results/geometry-cpu.jsonl and prints a table. Extra arguments go to the binary, e.g.
//   node bench/run-geometry-cpu.mjs --dims 4096 --classes 10 --reps 3
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from '../../tools/bench/lib.mjs';
import { writeRunRecord } from '../../tools/bench/run-record.mjs';

const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(nativeDir, '..');
const binary = join(nativeDir, 'build', 'bin', 'geometry_cpu_bench');
if (!existsSync(binary)) {
  console.error(`missing ${binary}: run \`npm run build -w @kqkd/native\` first`);
  process.exit(1);
}

const run = spawnSync(binary, process.argv.slice(2), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (run.status !== 0) {
  console.error(`geometry_cpu_bench failed (exit ${run.status})`);
  process.exit(run.status ?? 1);
}

const results = run.stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l));
const outDir = join(repoRoot, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString();
appendFileSync(
  join(outDir, 'geometry-cpu.jsonl'),
  results.map((r) => JSON.stringify({ ...r, date: stamp })).join('\n') + '\n',
);

// The run's own file (the Nx target's declared output native/bench/runs/geometry-cpu/): every configuration of this run.
console.log(`run record: ${writeRunRecord('geometry-cpu', results.map((r) => ({ name: 'geometry-cpu', ...r, date: stamp })), machine())}`);

const rows = results.map((r) => ({
  N: r.sizes.N,
  D: r.sizes.D,
  C: r.sizes.C,
  threads: r.threads,
  'full min (s)': r.timings.full_min_s.toFixed(3),
  'full med (s)': r.timings.full_median_s.toFixed(3),
  'syrk min (s)': r.timings.syrk_min_s.toFixed(3),
  'syrk med (s)': r.timings.syrk_median_s.toFixed(3),
  ratio: r.ratio.toFixed(3),
  'ratio med': r.ratio_median.toFixed(3),
  goal: r.goal === null ? '-' : `<= ${r.goal}`,
  met: r.goal === null ? '-' : r.ratio <= r.goal ? 'yes' : 'NO',
}));
console.table(rows);
console.log(`appended ${results.length} line(s) to ${join(outDir, 'geometry-cpu.jsonl')}`);
