// Shared by the benchmark drivers: machine facts, timing statistics, the JSON-lines result file.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRunRecord } from './run-record.mjs';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function machine() {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/);
    if (m) model = m[1].trim();
  } catch { /* not Linux */ }
  return { cpu: model, cores: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` };
}

export function stats(seconds) {
  const sorted = [...seconds].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: sorted[0], median, runs: seconds };
}

/**
 * Appends one result line to bench/results/<name>.jsonl (the summary's input) and writes the run's own file under
 * BENCH_RUNS_DIR (run-record.mjs: the Nx target's declared output); returns the line.
 */
export function record(name, result) {
  const line = { name, date: new Date().toISOString(), machine: machine(), ...result };
  const file = join(repoRoot, 'bench', 'results', `${name}.jsonl`);
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify(line)}\n`);
  console.error(`run record: ${writeRunRecord(name, line, line.machine)}`);
  return line;
}

/** Deterministic class-clustered float32 features: rows of class c = centre_c + noise. */
export function clusteredFeatures(rows, dim, numClasses, seed = 1) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const centres = new Float32Array(numClasses * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = next() * 2 - 1;
  const labels = new Int32Array(rows);
  const features = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const c = Math.floor(next() * numClasses);
    labels[r] = c;
    const base = r * dim;
    for (let j = 0; j < dim; j++) features[base + j] = Math.max(0, centres[c * dim + j] + (next() - 0.5));
  }
  return { features, labels };
}
