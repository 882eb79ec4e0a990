// kq-scale: the whole Gram geometry of N = 50 000 rows × D = 4096 (M = every row) on the CPU within
// peak RSS ≤ N·D·4 bytes + 1 GiB, i.e. without ever holding the N×N Gram (10 GB). See BENCHMARKS.md.
import { computeLayerGeometry, buildInfo } from '@kqkd/geometry';
import { clusteredFeatures, record, stats } from './lib.mjs';

const rows = Number(process.env.KQ_SCALE_ROWS ?? 50000);
const dim = Number(process.env.KQ_SCALE_DIM ?? 4096);
const numClasses = 10;
const threads = Number(process.env.KQ_SCALE_THREADS ?? 0);

const rssBefore = process.memoryUsage().rss;
const { features, labels } = clusteredFeatures(rows, dim, numClasses, 7);
const mainIndices = Array.from({ length: rows }, (_, i) => i);
// P: the first 500 rows of each class (KQ-SPEC §0 size), so P ⊂ M and class blocks come from the main Gram.
const seen = new Array(numClasses).fill(0);
const classIndices = [];
for (let i = 0; i < rows; i++) if (seen[labels[i]]++ < 500) classIndices.push(i);

const started = performance.now();
const g = await computeLayerGeometry({ features, rows, dim, labels, numClasses, mainIndices, classIndices }, { threads });
const seconds = (performance.now() - started) / 1000;
const peakRssBytes = process.resourceUsage().maxRSS * 1024;
const bound = rows * dim * 4 + 2 ** 30;
const gramFlop = rows * rows * dim; // syrk: N(N+1)/2 dot products of length D, 2 flop each
const line = record('kq-scale', {
  sizes: { rows, dim, classes: numClasses, main: rows, class: classIndices.length },
  threads: threads || 'all', backend: 'cpu', versions: buildInfo(),
  timings: { geometrySeconds: stats([seconds]) },
  gflops: gramFlop / seconds / 1e9,
  peakRssBytes, rssBeforeBytes: rssBefore, boundBytes: bound,
  ratio: peakRssBytes / bound,
  pass: peakRssBytes <= bound,
  classGramFromMain: g.classGramFromMain,
});
console.log(`kq-scale: N=${rows} D=${dim}: ${seconds.toFixed(1)} s (${line.gflops.toFixed(0)} GFLOP/s), ` +
  `peak RSS ${(peakRssBytes / 2 ** 30).toFixed(2)} GiB vs bound ${(bound / 2 ** 30).toFixed(2)} GiB ` +
  `(ratio ${line.ratio.toFixed(3)}) → ${line.pass ? 'PASS' : 'FAIL'}`);
if (!line.pass) process.exitCode = 1;
