// score-process: `kqkd score` on one 5000 × 16384 float32 layer (features + labels as .npy, 10 classes), WHOLE
// process — start-up, reading the files, validation, the geometry, kq.json and both pictures — vs ONE bare
// `X @ X.T` in numpy on the same matrix and threads (the BLAS floor: the geometry's dominant product), timed inside
// Python around the product only. Both run as child processes in one run, alternating. ratio = kqkd whole process /
// numpy product, medians (goal ≤ 1.5). Also recorded: numpy's own whole process (interpreter start + np.load + product).
// Env: SCORE_ROWS (5000), SCORE_DIM (16384), SCORE_THREADS (2), BENCH_REPS (3).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '@kqkd/data';
import { clusteredFeatures, record, repoRoot, stats } from './lib.mjs';

const python = process.env.KQKD_PYTHON ?? '/usr/bin/python3';
const rows = Number(process.env.SCORE_ROWS ?? 5000);
const dim = Number(process.env.SCORE_DIM ?? 16384);
const threads = Number(process.env.SCORE_THREADS ?? 2);
const reps = Number(process.env.BENCH_REPS ?? 3);
const classes = 10;

const dir = mkdtempSync(join(tmpdir(), 'kqkd-score-bench-'));
const features = join(dir, 'features.npy');
const labelsFile = join(dir, 'labels.npy');
const { features: x, labels } = clusteredFeatures(rows, dim, classes, 3);
writeNpy(features, x, [rows, dim]);
writeNpy(labelsFile, BigInt64Array.from(labels, (v) => BigInt(v)), [rows]);

const numpyScript = `
import time, sys
t0 = time.perf_counter()
import numpy as np
x = np.load(sys.argv[1])
t1 = time.perf_counter()
g = x @ x.T
t2 = time.perf_counter()
print(t2 - t1, np.__version__)
`;
const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
const kqkd = join(repoRoot, 'packages', 'cli', 'bin', 'kqkd.js');
const wall = (f) => { const t = process.hrtime.bigint(); const r = f(); return { s: Number(process.hrtime.bigint() - t) / 1e9, r }; };

let numpyOk = true;
try {
  execFileSync(python, ['-c', 'import numpy'], { stdio: 'ignore' });
} catch {
  numpyOk = false;
}
let numpyVersion = null;
const product = [];
const numpyWhole = [];
const kqkdWhole = [];
try {
  for (let r = 0; r < reps + 1; r++) {
    const np = numpyOk ? wall(() => execFileSync(python, ['-c', numpyScript, features], { env, encoding: 'utf8' })) : null;
    const out = join(dir, `out${r}`);
    const kq = wall(() => execFileSync(process.execPath, [kqkd, 'score', '--features', features, '--labels', labelsFile,
      '--dataset-size', String(rows * 10), '--threads', String(threads), '--out', out, '--quiet'], { env, encoding: 'utf8' }));
    if (r === 0) continue; // warm-up: page cache, first-run compilation
    kqkdWhole.push(kq.s);
    if (!np) continue;
    const [seconds, version] = np.r.trim().split(/\s+/);
    numpyVersion = version;
    product.push(Number(seconds));
    numpyWhole.push(np.s);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const k = stats(kqkdWhole);
const result = { rows, dim, classes, threads, reps, versions: { node: process.version, numpy: numpyVersion }, kqkdWholeSeconds: k, goal: 1.5 };
if (!numpyOk) {
  result.skipped = `numpy reference not available (${python} cannot import numpy); run: npm run setup-torch -w @kqkd/bench`;
  console.log(JSON.stringify(record('score-process', result)));
  process.exit(0);
}
const p = stats(product);
Object.assign(result, { numpyProductSeconds: p, numpyWholeSeconds: stats(numpyWhole), ratio: k.median / p.median });
console.log(JSON.stringify(record('score-process', result)));
console.log(`\nkqkd score whole process ${k.median.toFixed(2)} s (median of ${reps}) vs numpy X·Xᵀ ${p.median.toFixed(2)} s ` +
  `(numpy whole process ${stats(numpyWhole).median.toFixed(2)} s): ratio ${result.ratio.toFixed(2)} (goal ≤ 1.5)`);
