// experiment-quick: wall time of `kqkd experiment --preset quick` end to end (teacher training, teacher cache, KQ
// layer selection, every method × seed, report and pictures) as a child process of the built CLI, against the
// 15-minute budget of this 2-core machine (shared/design/BENCHMARKS.md). Records the seconds, whether they fit, the
// top-1 (best epoch, mean over seeds) of every method and the teacher's top-1 from the run's results.json.
// Env: BENCH_EXPERIMENT_ARGS (extra CLI arguments appended, e.g. "--epochs 1 --seeds 1 --methods ce,fkd-kq" for a smoke
// run; such a run is recorded with its arguments and is not the benchmark), BENCH_EXPERIMENT_OUT (experiment folder;
// default a fresh temporary folder, removed after a successful run unless BENCH_KEEP=1, kept after a failed one).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { record, repoRoot } from './lib.mjs';

const LIMIT_SECONDS = 900;
const cli = join(repoRoot, 'packages', 'cli', 'bin', 'kqkd.js'); // the `kqkd` bin of packages/cli/package.json
if (!existsSync(join(repoRoot, 'packages', 'cli', 'dist', 'main.js'))) {
  console.error('packages/cli is not built: run `npx nx run-many -t build` first');
  process.exit(1);
}
const extra = (process.env.BENCH_EXPERIMENT_ARGS ?? '').split(/\s+/).filter(Boolean);
const out = process.env.BENCH_EXPERIMENT_OUT ?? mkdtempSync(join(tmpdir(), 'kqkd-experiment-quick-'));
const args = [cli, 'experiment', '--preset', 'quick', '--out', out, ...extra];

const loadBefore = loadavg();
const t0 = performance.now();
const code = await new Promise((resolvePromise, reject) => {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('error', reject);
  child.on('exit', (c, signal) => resolvePromise(c ?? (signal ? `signal ${signal}` : 1)));
});
const seconds = (performance.now() - t0) / 1000;

const result = {
  command: `kqkd ${args.slice(1).join(' ')}`, extraArgs: extra, smoke: extra.length > 0, exitCode: code,
  seconds, limitSeconds: LIMIT_SECONDS, withinLimit: code === 0 && seconds <= LIMIT_SECONDS,
  loadAverage: { before: loadBefore, after: loadavg() },
};
const resultsFile = join(out, 'results.json');
if (code === 0 && existsSync(resultsFile)) {
  const r = JSON.parse(readFileSync(resultsFile, 'utf8'));
  result.methods = Object.fromEntries(Object.entries(r.methods).map(([key, m]) => [key, m.top1Best.mean]));
  result.teacherTop1 = r.teacher.top1;
  result.ari = r.ari?.value ?? null;
  result.experimentSeconds = r.seconds;
  result.dataset = r.dataset;
} else {
  result.error = code === 0 ? `no ${resultsFile}` : `kqkd experiment exited with ${code}`;
}
console.log(JSON.stringify(record('experiment-quick', result)));
if (!process.env.BENCH_EXPERIMENT_OUT && process.env.BENCH_KEEP !== '1' && code === 0) rmSync(out, { recursive: true, force: true });
else console.log(`experiment folder kept: ${out}${code === 0 ? '' : ' (failed run; re-running on it with BENCH_EXPERIMENT_OUT resumes)'}`);

const f = (v) => (typeof v === 'number' ? v.toFixed(2) : '–');
const keys = Object.keys(result.methods ?? {});
console.log(`\n| run | seconds | limit | within | teacher top-1 | ${keys.map((k) => `${k} top-1`).join(' | ')} |`);
console.log(`|---|---|---|---|---|${keys.map(() => '---|').join('')}`);
console.log(`| quick${extra.length ? ` ${extra.join(' ')}` : ''} | ${seconds.toFixed(0)} | ${LIMIT_SECONDS} | ${result.withinLimit ? 'yes' : 'no'} | ` +
  `${f(result.teacherTop1)} | ${keys.map((k) => f(result.methods[k])).join(' | ')} |`);
if (code !== 0) process.exitCode = 1;
