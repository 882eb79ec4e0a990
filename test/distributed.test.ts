/**
 * An experiment spread over worker processes on a real Redis (`redis-server`, started here on a free port):
 * - a coordinator (`kqkd experiment --queue`) and worker processes; one worker is killed with SIGKILL in the middle of
 *   a run, another is stopped with SIGTERM in the middle of a run (it hands its job back, exit 0), a third finishes
 *   everything: results.json equals the same experiment run locally (same seeds, one thread), the killed and the
 *   stopped runs were resumed from their checkpoints;
 * - a second coordinator on the same folder is refused while the first runs;
 * - a run that diverges fails its job at once (no retries) and the coordinator reports it (exit 1);
 * - a learning-rate sweep (a tuning block) spread over two workers chooses the rates a local sweep chooses, and the
 *   results equal the local ones;
 * - a worker asked to stop (SIGTERM) while its Redis is away stops within seconds;
 * - a worker whose Redis goes away stops after --redis-wait with an error naming Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFashionMnist } from '@kqkd/data';
import { freePort } from './support/redis-server.js';
import { stripes } from './support/stripes.js';

const repo = resolve(__dirname, '..');
const bin = join(repo, 'packages', 'cli', 'bin', 'kqkd.js');
const root = mkdtempSync(join(tmpdir(), 'kqkd-distributed-'));
const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });

interface Proc {
  child: ChildProcess;
  /** stdout + stderr so far */
  out(): string;
  /** Resolves when the output matches (after `from` characters), with the match. */
  waitFor(re: RegExp, from?: number, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, args: string[]): Proc {
  const child = spawn(command, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  const waiters: (() => void)[] = [];
  const on = (d: Buffer) => {
    out += d;
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', on);
  child.stderr!.on('data', on);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => {
    res({ code, signal });
    for (const w of [...waiters]) w();
  }));
  return {
    child, out: () => out, exited,
    waitFor: (re, from = 0, ms = 240_000) => new Promise((res, rej) => {
      const timer = setTimeout(() => { done(); rej(new Error(`timed out waiting for ${re} in:\n${out}`)); }, ms);
      const check = () => {
        const m = out.slice(from).match(re);
        if (m) { done(); res(m); } else if (child.exitCode !== null || child.signalCode !== null) { done(); rej(new Error(`exited waiting for ${re}:\n${out}`)); }
      };
      const done = () => { clearTimeout(timer); waiters.splice(waiters.indexOf(check), 1); };
      waiters.push(check);
      check();
    }),
  };
}
const kqkd = (args: string[]) => start(process.execPath, [bin, ...args]);


async function startRedis(port: number): Promise<Proc> {
  const redis = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  redis.child.on('error', (err) => { throw new Error(`redis-server could not start (${err.message}); tools/setup.sh installs it`); });
  await redis.waitFor(/Ready to accept connections/, 0, 30_000);
  return redis;
}

/** A Fashion-MNIST-format folder of the stripes images (test/support/stripes.ts): 240 training, 100 test. */
function writeDataset(dir: string): void {
  for (const [split, count, seed] of [['train', 240, 1], ['test', 100, 2]] as const) writeFashionMnist(dir, split, stripes(count, seed));
}

const dataDir = mkdtempSync(join(root, 'data-'));
writeDataset(dataDir);
const training = { epochs: 3, batchSize: 32, evalBatchSize: 50, optimizer: { type: 'adamw', lr: 0.01 }, schedule: 'one-cycle' };
const experimentFile = join(root, 'experiment.json');
writeFileSync(experimentFile, JSON.stringify({
  version: 1, dataset: { name: 'fashion-mnist', dir: dataDir },
  teacher: { model: { name: 'resnet34', width: 0.0625 }, training: { ...training, epochs: 2 } },
  student: { model: { name: 'resnet9', width: 0.0625 } },
  methods: ['ce', 'fkd-kq'], seeds: 2, seed0: 5, training, kq: { samples: 40, seed: 0 },
}));

/** results.json without what depends on the clock. */
function stableResults(dir: string) {
  const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  delete r.seconds;
  for (const m of Object.values(r.methods) as { runs: { seconds?: number }[] }[]) for (const run of m.runs) delete run.seconds;
  return r;
}

let port: number;
let redis: Proc;
let queue: string;
beforeAll(async () => {
  port = await freePort();
  redis = await startRedis(port);
  queue = `redis://127.0.0.1:${port}`;
}, 60_000);

describe('kqkd experiment --queue with kqkd worker processes', () => {
  const local = join(root, 'local');
  const queued = join(root, 'queued');
  const worker = (name: string, extra: string[] = []) => kqkd(['worker', '--queue', queue, '--threads', '1', '--lock-seconds', '4', '--name', name, ...extra]);

  it('one worker SIGKILLed and one SIGTERMed mid-run: the runs resume elsewhere and results.json equals a local run', async () => {
    const reference = kqkd(['experiment', '--config', experimentFile, '--out', local, '--threads', '1', '--quiet']);
    const coordinator = kqkd(['experiment', '--config', experimentFile, '--out', queued, '--threads', '1', '--queue', queue]);
    await coordinator.waitFor(/\[queue\] 4 runs: 4 queued/);

    // A second coordinator on the same folder is refused, and writes nothing.
    const second = kqkd(['experiment', '--config', experimentFile, '--out', queued, '--threads', '1', '--queue', queue]);
    const refused = await second.exited;
    expect(refused.code, second.out()).toBe(2);
    expect(second.out()).toMatch(/a folder no other kqkd process is using for --out but received ".*queued", locked by pid \d+/);

    const a = worker('A');
    const b = worker('B');
    // A: killed right after the first epoch of its first run, in the middle of that run.
    const [, killedRun] = await a.waitFor(/(\S+ seed \d+) \[[^\]]+\] epoch 1\//);
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    // B: stopped (SIGTERM) in the middle of the run it is on after that.
    const from = b.out().length;
    const [, stoppedRun] = await b.waitFor(/(\S+ seed \d+) \[[^\]]+\] epoch 1\//, from);
    b.child.kill('SIGTERM');
    const bExit = await b.exited;
    expect(bExit.code, b.out()).toBe(0);
    expect(b.out()).toMatch(new RegExp(`${stoppedRun.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[[^\\]]+\\] handed back`));
    expect(b.out()).toMatch(/worker B stopped: \d+ runs finished, 0 failed, 1 handed back/);

    // D does the rest, the killed run once its lock (4 s) has expired.
    const d = worker('D');
    const done = await coordinator.exited;
    expect(done.code, coordinator.out()).toBe(0);
    expect(coordinator.out()).toMatch(/\[queue\] 4\/4 done, 0 running, 0 waiting, 0 failed/);
    d.child.kill('SIGTERM');
    expect((await d.exited).code, d.out()).toBe(0);
    expect(d.out()).toMatch(new RegExp(`${killedRun.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[[^\\]]+\\] resumed: at epoch [12]`));
    expect(d.out()).toMatch(new RegExp(`${stoppedRun.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[[^\\]]+\\] resumed: at epoch 1`));

    expect((await reference.exited).code, reference.out()).toBe(0);
    expect(stableResults(queued)).toEqual(stableResults(local));
  }, 600_000);

  it('a run that diverges fails its job once (no retries) and the coordinator reports it with exit 1', async () => {
    const file = join(root, 'diverging.json');
    writeFileSync(file, JSON.stringify({
      version: 1, dataset: { name: 'fashion-mnist', dir: dataDir }, teacher: { model: { name: 'resnet34', width: 0.0625 }, training: { ...training, epochs: 1 } },
      student: { model: { name: 'small-cnn', widths: [4, 8] } }, methods: ['ce'], seeds: 1,
      training: { epochs: 2, batchSize: 32, optimizer: { type: 'sgd', lr: 10 }, schedule: 'constant' }, kq: { samples: 40 }, distill: { k: 2 },
    }));
    const out = join(root, 'diverging');
    const coordinator = kqkd(['experiment', '--config', file, '--out', out, '--threads', '1', '--queue', queue, '--attempts', '3']);
    const w = worker('E');
    const r = await coordinator.exited;
    expect(r.code, coordinator.out()).toBe(1);
    expect(coordinator.out()).toMatch(/1 failed: ce seed 0/);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.methods.ce.runs[0].failed).toMatch(/diverged/);
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    expect(w.out().match(/ce seed 0 \[[^\]]+\] failed/g)).toHaveLength(1);
    expect(w.out()).not.toMatch(/retry/);
    expect(w.out()).toMatch(/worker E stopped: 0 runs finished, 1 failed, 0 handed back/);
  }, 300_000);

  it('a learning-rate sweep on the queue (two workers) makes the choice a local sweep makes, with the same results', async () => {
    const file = join(root, 'tuned.json');
    writeFileSync(file, JSON.stringify({
      version: 1, dataset: { name: 'fashion-mnist', dir: dataDir, validation: 60 },
      teacher: { model: { name: 'resnet34', width: 0.0625 }, training: { ...training, epochs: 2 } },
      student: { model: { name: 'resnet9', width: 0.0625 } }, methods: ['ce', 'fkd-kq'], seeds: 1, seed0: 2,
      training: { ...training, epochs: 2 }, kq: { samples: 40 }, tuning: { lr: [0.03, 0.001], seeds: 2 },
    }));
    const local = join(root, 'tuned-local');
    const queued = join(root, 'tuned-queued');
    const reference = kqkd(['experiment', '--config', file, '--out', local, '--threads', '1', '--parallel', '1', '--quiet']);
    const coordinator = kqkd(['experiment', '--config', file, '--out', queued, '--threads', '1', '--queue', queue]);
    const workers = [worker('G'), worker('H')];
    const done = await coordinator.exited;
    expect(done.code, coordinator.out()).toBe(0);
    expect(coordinator.out()).toMatch(/\[tuning\] 8 runs on the queue, scored on 60 validation images/);
    expect(coordinator.out()).toMatch(/\[queue\] 8\/8 done, 0 running, 0 waiting, 0 failed/);
    expect(coordinator.out()).toMatch(/\[tuned\] ce (0\.001|0\.03), fkd-kq (0\.001|0\.03)/);
    expect(coordinator.out()).toMatch(/\[queue\] 2\/2 done, 0 running, 0 waiting, 0 failed/);
    for (const w of workers) {
      w.child.kill('SIGTERM');
      expect((await w.exited).code, w.out()).toBe(0);
    }
    // both workers trained tuning runs, named by their rate
    for (const w of workers) expect(w.out()).toMatch(/seed \d at lr 0\.0(01|3) \(tuning\) \[[^\]]+\] finished/);
    expect((await reference.exited).code, reference.out()).toBe(0);
    const tuned = (dir: string) => {
      const r = stableResults(dir);
      delete r.tuning.runSeconds;
      delete r.tuning.wallSeconds;
      for (const m of Object.values(r.methods) as { tuning: { seconds?: number } }[]) delete m.tuning.seconds;
      return r;
    };
    const q = tuned(queued);
    expect(q).toEqual(tuned(local));
    expect(q.tuning.runs).toBe(8);
    for (const m of Object.values(q.methods) as { peakLr: number; lrSource: string; tuning: { lr: number } }[]) {
      expect([m.peakLr, m.lrSource]).toEqual([m.tuning.lr, 'tuning']);
    }
  }, 600_000);

  it('SIGTERM while a worker waits for a Redis that went away: it stops within seconds, not after --redis-wait', async () => {
    const sparePort = await freePort();
    const spare = await startRedis(sparePort);
    const w = kqkd(['worker', '--queue', `redis://127.0.0.1:${sparePort}`, '--threads', '1', '--name', 'S', '--redis-wait', '300']);
    await w.waitFor(/waiting for runs/);
    spare.child.kill('SIGKILL');
    await sleep(1500);
    const t0 = performance.now();
    w.child.kill('SIGTERM');
    const r = await w.exited;
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code, w.out()).toBe(0);
    expect(seconds, w.out()).toBeLessThan(20);
  }, 120_000);

  it('a worker whose Redis goes away stops after --redis-wait with an error naming Redis (exit 1)', async () => {
    const w = worker('F', ['--redis-wait', '3']);
    await w.waitFor(/waiting for runs/);
    redis.child.kill('SIGKILL');
    const r = await w.exited;
    expect(r.code, w.out()).toBe(1);
    expect(w.out()).toMatch(new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} reachable .* no connection for \\d+ s`));
  }, 120_000);
});
