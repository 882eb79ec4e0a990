// One JSON file per benchmark run (issue 23): the Nx `bench` targets declare `{projectRoot}/bench/runs` as their
// output, and every driver writes `<BENCH_RUNS_DIR>/<name>/<date>.json` there (besides appending its line to
// bench/results/<name>.jsonl, which the summary reads): the result line, the machine, the versions (Node, the kqkd
// workspace, onnxruntime-node, OpenBLAS where the line has it), and per configuration the headline ratio, the goal and
// the verdict as the summary computes them (summary-lib.mjs). BENCH_RUNS_DIR is relative to the working directory
// (the target's project root); unset, the files go to tools/bench/bench/runs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeResults } from './summary-lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(createRequire(join(repoRoot, 'package.json')).resolve(`${pkg}/package.json`), 'utf8')).version;
  } catch {
    return null;
  }
}

/** The versions a result depends on. */
export function versions() {
  return {
    node: process.version,
    kqkd: JSON.parse(readFileSync(join(repoRoot, 'packages', 'kqkd', 'package.json'), 'utf8')).version,
    'onnxruntime-node': versionOf('onnxruntime-node'),
  };
}

/** Writes the run file of one result line (or several lines of one run) and returns its path. */
export function writeRunRecord(name, lines, machine) {
  const list = Array.isArray(lines) ? lines : [lines];
  const date = list[0]?.date ?? new Date().toISOString();
  const rows = summarizeResults([{ name, text: list.map((l) => JSON.stringify(l)).join('\n') }], { machine, date }).rows;
  const verdicts = rows.map((r) => ({ config: r.config, headline: r.headline, ratio: r.ratio, goal: r.goal, verdict: r.met, note: r.note }));
  const dir = resolve(process.env.BENCH_RUNS_DIR ?? join(here, 'bench', 'runs'), name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ name, date, machine, versions: { ...versions(), ...(list[0]?.versions ?? {}) }, verdicts, results: list }, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.json'), readFileSync(file));
  return file;
}
