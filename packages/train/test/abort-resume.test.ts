/**
 * A run stopped by an AbortSignal in the middle of an epoch: the call rejects, the checkpoint holds the progress
 * inside the epoch (`partialEpoch`), and calling `train` again finishes the run bit-identical to an uninterrupted one
 * (parameters, BN statistics, optimizer moments, step, metrics except wall-clock fields) — also with augmentation
 * (whose draws depend on the batch's position in the epoch) and with gradient accumulation (the stop waits for an
 * optimizer-step boundary).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRunState, train, type EpochMetrics, type RunState, type TrainOptions } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-abort-'));

const base = (runDir: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', trainLimit: 320, testLimit: 100 },
  epochs: 3, batchSize: 32, evalBatchSize: 100, optimizer: { type: 'adamw', lr: 0.01 }, schedule: 'one-cycle', seed: 3, runDir,
  backend: 'native', threads: 1, ...extra,
});

/** Every number of a run state that does not depend on the wall clock. */
function comparable(s: RunState) {
  const strip = (m: EpochMetrics) => ({ ...m, seconds: 0, imagesPerSecond: 0 });
  return {
    epoch: s.epoch, step: s.step, rngState: s.rngState, configHash: s.configHash, history: s.history.map(strip),
    trainable: s.trainable.map((t) => [t.name, Array.from(t.data)]),
    frozen: s.frozen.map((t) => [t.name, Array.from(t.data)]),
    moments: s.moments.map((m) => [m.paramName, m.momentums.map((x) => Array.from(x.data))]),
  };
}

const cases: [string, Partial<TrainOptions>, number][] = [
  ['plain', {}, 4],
  ['augmented (crop + flip)', { augment: { crop: { padding: 2 }, flip: true } }, 6],
  ['2 accumulated micro-batches per step', { accumulationSteps: 2 }, 3],
];

describe('AbortSignal: stop inside an epoch, resume exactly', () => {
  for (const [name, extra, stopAtBatch] of cases) {
    it(`${name}: stopped at micro-batch ${stopAtBatch} of epoch 2, resumed = uninterrupted, bit for bit`, async () => {
      const whole = join(root, `${name}-whole`), split = join(root, `${name}-split`);
      await train(base(whole, extra));

      const controller = new AbortController();
      const events: string[] = [];
      await expect(train({
        ...base(split, extra), signal: controller.signal,
        onProgress: (e) => {
          if (e.kind === 'batch' && e.epoch === 2 && e.batch === stopAtBatch) controller.abort();
          if (e.kind === 'stopped') events.push(`stopped ${e.epoch}:${e.batch}/${e.batches}`);
        },
      })).rejects.toThrow();
      const partial = loadRunState(split)!;
      expect(partial.epoch).toBe(1);
      const A = extra.accumulationSteps ?? 1;
      // the stop happens after the first optimizer-step boundary at or after the abort
      const stoppedAt = Math.ceil(stopAtBatch / A) * A;
      expect(partial.partialEpoch?.batches).toBe(stoppedAt);
      expect(events).toEqual([`stopped 2:${stoppedAt}/10`]);
      expect(partial.step).toBe(10 / A + stoppedAt / A);

      const resumed: string[] = [];
      const r = await train({ ...base(split, extra), onProgress: (e) => { if (e.kind === 'start') resumed.push(`${e.fromEpoch}`); } });
      expect(r.completedEpochs).toBe(3);
      expect(resumed).toEqual(['1']);
      const a = loadRunState(split)!, b = loadRunState(whole)!;
      expect(a.partialEpoch).toBeUndefined();
      expect(comparable(a)).toEqual(comparable(b));
    }, 180_000);
  }

  it('an already aborted signal stops before the first batch, and the folder resumes from scratch', async () => {
    const dir = join(root, 'pre-aborted');
    const controller = new AbortController();
    controller.abort(new Error('stop now'));
    await expect(train({ ...base(dir), signal: controller.signal })).rejects.toThrow('stop now');
    const r = await train(base(dir));
    expect(r.completedEpochs).toBe(3);
  }, 180_000);
});
