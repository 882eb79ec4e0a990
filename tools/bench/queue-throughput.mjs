// queue-throughput: student runs per hour through `kqkd experiment --queue` + `kqkd worker` processes on this machine,
// for 1 worker × 1 thread, 2 workers × 1 thread and 1 worker × 2 threads (docs/distributed.md's throughput model).
// Each setup queues the same 8 runs (ce and fkd-kq × 4 seeds, ResNet9 ×0.5 students, 2 epochs on 3000 Fashion-MNIST
// images, an imported teacher trained once first) under its own seeds, on a redis-server started on a free port.
// Measured: from the workers' start to the coordinator's end (the teacher, KQ and cache are prepared before).
// Env: BENCH_QUEUE_RUNS_PER_METHOD (seeds per method, default 4), BENCH_KEEP=1 keeps the folder.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { record, repoRoot } from './lib.mjs';

const cli = join(repoRoot, 'packages', 'cli', 'bin', 'kqkd.js');
if (!existsSync(join(repoRoot, 'packages', 'cli', 'dist', 'main.js'))) {
  console.error('packages/cli is not built: run `npx nx run-many -t build` first');
  process.exit(1);
}
const seeds = Number(process.env.BENCH_QUEUE_RUNS_PER_METHOD ?? 4);
const root = mkdtempSync(join(tmpdir(), 'kqkd-queue-throughput-'));

function run(cmd, args, o = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  let out = '';
  child.stdout.on('data', (d) => { out += d; if (o.echo) process.stdout.write(d); });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((res) => child.on('exit', (code, signal) => res(code ?? signal)));
  const waitFor = (re) => new Promise((res, rej) => {
    const t = setInterval(() => {
      if (re.test(out)) { clearInterval(t); res(); }
      if (child.exitCode !== null) { clearInterval(t); rej(new Error(`${args.join(' ')} exited:\n${out}`)); }
    }, 100);
  });
  return { child, exited, waitFor, out: () => out };
}
const kqkd = (args, o) => run(process.execPath, [cli, ...args], o);

const port = await new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const redis = run('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
await redis.waitFor(/Ready to accept connections/);
const queue = `redis://127.0.0.1:${port}`;

try {
  // The teacher all setups import (trained once, not measured).
  const teacherDir = join(root, 'teacher');
  const t = kqkd(['train', '--model', 'resnet34', '--width', '0.125', '--data', 'fashion-mnist', '--train-limit', '3000', '--test-limit', '1000',
    '--epochs', '1', '--batch-size', '64', '--optimizer', 'adamw', '--lr', '0.01', '--threads', '2', '--quiet', '--out', teacherDir]);
  if (await t.exited !== 0) throw new Error(t.out());

  const setups = [{ workers: 1, threads: 1 }, { workers: 2, threads: 1 }, { workers: 1, threads: 2 }];
  const results = [];
  for (const [i, s] of setups.entries()) {
    const file = join(root, `experiment-${i}.json`);
    writeFileSync(file, JSON.stringify({
      version: 1, dataset: { name: 'fashion-mnist', trainLimit: 3000, testLimit: 1000 }, teacher: { onnx: join(teacherDir, 'model.onnx') },
      student: { model: { name: 'resnet9', width: 0.5 } }, methods: ['ce', 'fkd-kq'], seeds, seed0: 100 * (i + 1),
      training: { epochs: 2, batchSize: 64, optimizer: { type: 'adamw', lr: 0.01 } }, kq: { samples: 200 },
    }));
    const coordinator = kqkd(['experiment', '--config', file, '--out', join(root, `exp-${i}`), '--threads', '2', '--queue', queue]);
    await coordinator.waitFor(/\[queue\] \d+ runs: \d+ queued/);
    const t0 = performance.now();
    const workers = Array.from({ length: s.workers }, (_, w) => kqkd(['worker', '--queue', queue, '--threads', String(s.threads), '--name', `w${w}`]));
    const code = await coordinator.exited;
    const seconds = (performance.now() - t0) / 1000;
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    if (code !== 0) throw new Error(`coordinator exited with ${code}:\n${coordinator.out()}`);
    const jobs = 2 * seeds;
    const r = { ...s, jobs, seconds, jobsPerHour: (jobs / seconds) * 3600 };
    console.log(JSON.stringify(r));
    results.push(r);
  }
  const base = results[0].jobsPerHour;
  console.log(JSON.stringify(record('queue-throughput', {
    job: `ResNet9 ×0.5 student, 2 epochs on 3000 Fashion-MNIST images (ce and fkd-kq × ${seeds} seeds)`,
    setups: results.map((r) => ({ ...r, speedup: r.jobsPerHour / base })), loadAverage: loadavg(),
  })));
} finally {
  redis.child.kill('SIGKILL');
  if (process.env.BENCH_KEEP !== '1') rmSync(root, { recursive: true, force: true });
}
