// geometry-vs-pytorch: whole KQ of one layer (S, I, E, Q) by kqkd vs a vectorized PyTorch CPU implementation
// (kq_torch.py) on the same inputs, same thread count, in one run; ratio = PyTorch median / kqkd median.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '@kqkd/data';
import { buildInfo } from '@kqkd/geometry';
import { drawSubsets, scoreLayers } from '@kqkd/kq';
import { clusteredFeatures, record, stats } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.KQKD_PYTHON ?? '/usr/bin/python3';
const reps = Number(process.env.BENCH_REPS ?? 3);
const threads = cpus().length;
const configs = [
  { rows: 5000, dim: 512, classes: 10 },
  { rows: 5000, dim: 4096, classes: 10 },
  { rows: 5000, dim: 4096, classes: 100 },
];

let torchOk = true;
try {
  execFileSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore' });
} catch {
  torchOk = false;
}

const work = mkdtempSync(join(tmpdir(), 'kqkd-bench-'));
try {
  for (const cfg of configs) {
    const { features, labels } = clusteredFeatures(cfg.rows, cfg.dim, cfg.classes, 11);
    const subsets = drawSubsets(labels, 0);
    const ours = [];
    let report;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      report = await scoreLayers([{ name: 'layer', features, shape: [cfg.rows, cfg.dim] }], labels,
        { datasetSize: 50000, subsets, topK: 1, threads });
      ours.push((performance.now() - t) / 1000);
    }
    const q = report.layers[0];
    const result = {
      sizes: cfg, threads, backend: 'cpu', versions: { kqkd: buildInfo() },
      timings: { kqkdSeconds: stats(ours) },
      kqkd: { S: q.S, I: q.I, E: q.E, Q: q.Q },
    };
    if (!torchOk) {
      result.skipped = `PyTorch reference not available (${python} cannot import torch); run: npm run setup-torch -w @kqkd/bench`;
    } else {
      const f = (n) => join(work, n);
      writeNpy(f('x.npy'), features, [cfg.rows, cfg.dim]);
      writeNpy(f('y.npy'), BigInt64Array.from(labels, BigInt), [cfg.rows]);
      writeNpy(f('m.npy'), BigInt64Array.from(subsets.mainIndices, BigInt), [subsets.mainIndices.length]);
      writeNpy(f('p.npy'), BigInt64Array.from(subsets.classIndices, BigInt), [subsets.classIndices.length]);
      const out = execFileSync(python, [join(here, 'kq_torch.py'), f('x.npy'), f('y.npy'), f('m.npy'), f('p.npy'),
        '50000', String(reps), String(threads)], { encoding: 'utf8' });
      const torch = JSON.parse(out.trim().split('\n').pop());
      result.versions.torch = torch.torch;
      result.timings.pytorchSeconds = stats(torch.seconds);
      result.pytorch = { S: torch.S, I: torch.I, E: torch.E, Q: torch.Q };
      result.maxRelDiffQ = Math.abs(torch.Q - q.Q) / Math.abs(torch.Q);
      result.ratio = result.timings.pytorchSeconds.median / result.timings.kqkdSeconds.median;
    }
    record('geometry-vs-pytorch', result);
    console.log(`geometry-vs-pytorch N=${cfg.rows} D=${cfg.dim} C=${cfg.classes}: kqkd median ` +
      `${result.timings.kqkdSeconds.median.toFixed(3)} s` + (result.ratio
        ? `, PyTorch median ${result.timings.pytorchSeconds.median.toFixed(3)} s → ${result.ratio.toFixed(2)}× faster (Q rel diff ${result.maxRelDiffQ.toExponential(1)})`
        : ` — reference skipped: ${result.skipped}`));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
