/**
 * ONNX Runtime profiles summed per op type and per node: a hand-written trace (test/fixtures/ort-profile.json: one
 * warm-up run and two more, totals worked out by hand in the comments below), then `benchTrainStep` with `profile` on
 * a real native step.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { benchTrainStep, createWebTrainingBackend, summarizeOrtProfile } from '../src/index.js';

const fixture = readFileSync(join(__dirname, 'fixtures', 'ort-profile.json'), 'utf8');
const close = (v: number) => expect.closeTo(v, 9);

describe('summarizeOrtProfile (hand-written trace)', () => {
  it('the last two runs: warm-up, fence markers and events without op_name left out', () => {
    // run 1: conv1 300, relu1 50, conv2 200, gemm 100 µs; run 2: 400, 70, 250, 130 → 1500 µs over 2 steps.
    const s = summarizeOrtProfile(fixture, { lastRuns: 2 });
    expect(s.steps).toBe(2);
    expect(s.runsInTrace).toBe(3);
    expect(s.nodeMsPerStep).toEqual(close(0.75));
    expect(s.runMsPerStep).toEqual(close(1.0)); // (900 + 1100) / 2 µs
    expect(s.byOp).toEqual([
      { op: 'Conv', calls: 4, ms: close(1.15), msPerStep: close(0.575), share: close(1150 / 1500) },
      { op: 'Gemm', calls: 2, ms: close(0.23), msPerStep: close(0.115), share: close(230 / 1500) },
      { op: 'Relu', calls: 2, ms: close(0.12), msPerStep: close(0.06), share: close(120 / 1500) },
    ]);
    expect(s.topNodes).toEqual([
      { name: 'conv1', op: 'Conv', ms: close(0.7), msPerStep: close(0.35), share: close(700 / 1500) },
      { name: 'conv2', op: 'Conv', ms: close(0.45), msPerStep: close(0.225), share: close(450 / 1500) },
      { name: 'gemm', op: 'Gemm', ms: close(0.23), msPerStep: close(0.115), share: close(230 / 1500) },
      { name: 'relu1', op: 'Relu', ms: close(0.12), msPerStep: close(0.06), share: close(120 / 1500) },
    ]);
  });

  it('every run by default (warm-up conv1 500, relu1 100 µs added), parsed events or { traceEvents } alike', () => {
    for (const trace of [fixture, JSON.parse(fixture), { traceEvents: JSON.parse(fixture) }]) {
      const s = summarizeOrtProfile(trace, { topNodes: 1 });
      expect(s.steps).toBe(3);
      expect(s.nodeMsPerStep).toEqual(close(2.1 / 3));
      expect(s.runMsPerStep).toEqual(close(1.0));
      expect(s.byOp.map((o) => [o.op, o.calls, o.ms])).toEqual([['Conv', 5, close(1.65)], ['Gemm', 2, close(0.23)], ['Relu', 3, close(0.22)]]);
      expect(s.topNodes).toEqual([{ name: 'conv1', op: 'Conv', ms: close(1.2), msPerStep: close(0.4), share: close(1200 / 2100) }]);
    }
  });

  it('ties in name order; errors name the argument', () => {
    const run = { cat: 'Session', name: 'model_run', ts: 0, dur: 10 };
    const node = (name: string, op: string) => ({ cat: 'Node', name: `${name}_kernel_time`, ts: 1, dur: 2, args: { op_name: op } });
    const s = summarizeOrtProfile([run, node('b', 'Relu'), node('a', 'Add')]);
    expect(s.byOp.map((o) => o.op)).toEqual(['Add', 'Relu']);
    expect(s.topNodes.map((n) => n.name)).toEqual(['a', 'b']);
    const argument = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(KqkdError);
        return (err as KqkdError).argument;
      }
      return 'no error';
    };
    expect(argument(() => summarizeOrtProfile('{'))).toBe('profile');
    expect(argument(() => summarizeOrtProfile({ events: [] }))).toBe('profile');
    expect(argument(() => summarizeOrtProfile([node('a', 'Add')]))).toBe('profile'); // no model_run
    expect(argument(() => summarizeOrtProfile(fixture, { lastRuns: 4 }))).toBe('lastRuns');
  });
});

describe('benchTrainStep with profile (native backend)', () => {
  const o = { model: 'small-cnn', input: [1, 16, 16], classes: 10, batch: 8, steps: 2, backend: 'native' as const };
  const profileDirs = () => readdirSync(tmpdir()).filter((f) => f.startsWith('kqkd-profile-'));

  it('byOp shares add up to 1 and include Conv; the temporary trace is removed', async () => {
    const before = new Set(profileDirs());
    const r = await benchTrainStep({ ...o, threads: 1, profile: true });
    const p = r.profile!;
    expect(p.file).toBeNull();
    expect(p.steps).toBe(2);
    expect(p.runsInTrace).toBe(4); // two warm-up steps + two timed
    expect(p.byOp.reduce((a, x) => a + x.share, 0)).toBeCloseTo(1, 6);
    expect(p.byOp.map((x) => x.op)).toContain('Conv');
    expect(p.nodeMsPerStep).toBeGreaterThan(0);
    expect(p.topNodes.length).toBeGreaterThan(0);
    for (const list of [p.byOp, p.topNodes]) for (let i = 1; i < list.length; i++) expect(list[i].ms).toBeLessThanOrEqual(list[i - 1].ms);
    expect(profileDirs().filter((d) => !before.has(d))).toEqual([]);
    expect((await benchTrainStep({ ...o, steps: 1, warmupSteps: 0 })).profile).toBeNull();
  }, 120_000);

  it('a folder keeps the trace; the web-training backend is refused naming profile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kqkd-profile-test-'));
    try {
      const r = await benchTrainStep({ ...o, steps: 1, warmupSteps: 0, threads: 1, profile: join(dir, 'traces') });
      expect(r.profile!.file!.startsWith(join(dir, 'traces', 'small-cnn-train-step'))).toBe(true);
      expect(existsSync(r.profile!.file!)).toBe(true);
      expect(r.profile!.steps).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await expect(benchTrainStep({ ...o, backend: 'web-training', profile: true })).rejects.toMatchObject({ name: 'KqkdError', argument: 'profile' });
    await expect(createWebTrainingBackend({
      modelSpec: { name: 'small-cnn' }, classes: 10, inputShape: [1, 16, 16], batchSize: 8, evalBatchSize: 8, seed: 0,
      optimizer: { type: 'adamw', lr: 1e-3, weightDecay: 0.01 }, schedule: { kind: 'constant', lr: 1e-3 }, profilePrefix: join(tmpdir(), 'never'),
    })).rejects.toMatchObject({ name: 'KqkdError', argument: 'profilePrefix' });
  }, 120_000);
});
