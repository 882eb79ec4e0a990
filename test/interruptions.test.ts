/**
 * Interruptions of the real command in a child process: SIGTERM and SIGINT during training stop it at the next step
 * with a checkpoint (exit codes 143 and 130) and the same command resumes to the result of an uninterrupted run; an
 * experiment killed with SIGKILL at several points (teacher, Knowledge Quality, cache, student runs) and run again
 * each time ends with the same results.json as one never killed.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kqkd, repo } from './support/kqkd-process.js';
import { describe, expect, it } from 'vitest';
import { createRng } from '@kqkd/common';
import { loadRunState, type RunState } from '@kqkd/train';

const root = mkdtempSync(join(tmpdir(), 'kqkd-interrupt-'));

/** Runs the command; `interrupt(child, output)` is called on every chunk of its output until it returns true. */

const TRAIN = (out: string) => ['train', '--model', 'small-cnn', '--widths', '4,8', '--epochs', '3', '--train-limit', '640', '--test-limit', '100',
  '--batch-size', '32', '--threads', '1', '--out', out];
const tensors = (s: RunState) => [...s.trainable, ...s.frozen, ...s.moments.flatMap((m) => m.momentums)].map((t) => Array.from(t.data));
const stable = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => { const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l); return rest; });

describe('SIGTERM / SIGINT during kqkd train', () => {
  const whole = join(root, 'whole');

  for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${sig}: exit ${code} after writing a checkpoint; the same command resumes to the uninterrupted result`, async () => {
      if (!existsSync(join(whole, 'results.json'))) expect((await kqkd(TRAIN(whole))).code).toBe(0);
      const dir = join(root, sig);
      // the progress line of a batch of epoch 2 (one line a second in logs; the first comes at once)
      const r = await kqkd(TRAIN(dir), (child, out) => {
        if (!/epoch 2\/3/.test(out)) return false;
        child.kill(sig);
        return true;
      });
      expect(r.code, r.out).toBe(code);
      expect(r.out).toMatch(new RegExp(`${sig}: stopping at the next step`));
      expect(r.out).toMatch(/stopped with a checkpoint; run the same command to resume/);
      const stopped = loadRunState(dir)!;
      expect(stopped.epoch === 1 || stopped.epoch === 2, `stopped at epoch ${stopped.epoch}`).toBe(true);
      expect(existsSync(join(dir, '.kqkd.lock'))).toBe(false); // the lock is released on the way out
      const again = await kqkd(TRAIN(dir));
      expect(again.code, again.out).toBe(0);
      // Progress after a resume inside an epoch counts from the resumed batch: done ≤ total, sane seconds and ETA
      // (it printed "15/0 … (1796483698.2 s, ETA -1796483698.2 s)" before).
      const bars = [...again.out.matchAll(/^epoch (\d)\/3 (\d+)\/(\d+) .*\((\d+\.\d) s, ETA (\S+) s\)$/gm)];
      expect(bars.length, again.out).toBeGreaterThan(0);
      for (const [line, , done, total, secs, eta] of bars) {
        expect(Number(total), line).toBe(20);
        expect(Number(done), line).toBeLessThanOrEqual(20);
        expect(Number(secs), line).toBeLessThan(600);
        expect(eta === '?' || (Number(eta) >= 0 && Number(eta) < 600), line).toBe(true);
      }
      expect(tensors(loadRunState(dir)!)).toEqual(tensors(loadRunState(whole)!));
      expect(stable(dir)).toEqual(stable(whole));
    }, 300_000);
  }
});

describe('SIGKILL at random points of an experiment', () => {
  const config = {
    version: 1,
    dataset: { name: 'fashion-mnist', trainLimit: 256, testLimit: 100 },
    teacher: { model: { name: 'resnet34', width: 0.0625 }, training: { epochs: 1, batchSize: 32, optimizer: { type: 'adamw', lr: 0.01 } } },
    student: { model: { name: 'resnet9', width: 0.0625 }, layers: [1, 2, 3, 4] },
    methods: ['ce', 'fkd-kq'], seeds: 1,
    training: { epochs: 2, batchSize: 32, optimizer: { type: 'adamw', lr: 0.01 } },
    kq: { samples: 40 },
  };
  const file = join(root, 'experiment.json');
  writeFileSync(file, JSON.stringify(config));
  const run = (out: string, kill?: (out: string) => boolean) => kqkd(['experiment', '--config', file, '--threads', '1', '--out', out],
    kill ? (child, o) => { if (!kill(o)) return false; child.kill('SIGKILL'); return true; } : undefined);
  /** results.json without what depends on the wall clock. */
  const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'), (k, v) => (k === 'seconds' ? 0 : v));

  it('killed at the teacher, at KQ, at the cache and in a student run, then run again each time: the same results.json', async () => {
    const clean = join(root, 'clean');
    expect((await run(clean)).code).toBe(0);
    const dir = join(root, 'killed');
    // kill points: a stage line of the experiment's output, each after a seeded extra number of output chunks
    const rng = createRng(5);
    const stages = [/\[teacher\]/, /\[kq\]/, /\[teacher cache\]/, /run 1\/2 ce seed 0 epoch 1/, /run 2\/2 fkd-kq seed 0 epoch 2/];
    let kills = 0;
    for (const stage of stages) {
      let seen = 0;
      const extra = rng.nextInt(3);
      const r = await run(dir, (o) => stage.test(o) && seen++ >= extra);
      if (r.signal === 'SIGKILL') kills++;
      else expect(r.code, r.out).toBe(0); // the stage was already done (resumed past it): the run finished
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    const last = await run(dir);
    expect(last.code, last.out).toBe(0);
    expect(results(dir)).toEqual(results(clean));
  }, 600_000);
});
