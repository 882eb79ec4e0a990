// Exact resume of @kqkd/train's training loop: a run interrupted after an epoch (cleanly, or by SIGKILL in the
// middle of the next epoch) and resumed gives bit-identical parameters, BN statistics, optimizer moments and metrics
// to an uninterrupted run with the same seed. Tiny model and data so the whole file runs in seconds.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunFailedError } from '@kqkd/common';
import {
  checkpointPath, decodeRunState, encodeRunState, loadRunState, train,
  type RunState, type TrainBackend, type TrainOptions, type TrainProgress,
} from '@kqkd/train';

const root = mkdtempSync(join(tmpdir(), 'kqkd-train-resume-'));
const repo = resolve(__dirname, '..');
const base = (runDir: string): TrainOptions => ({
  modelSpec: { name: 'small-cnn', widths: [4, 8] },
  dataset: { name: 'fashion-mnist', trainLimit: 200, testLimit: 150 },
  epochs: 3, batchSize: 32, evalBatchSize: 64,
  optimizer: { type: 'adamw', lr: 0.01 }, schedule: 'one-cycle', seed: 7, runDir,
});

/** Metrics without the wall-clock fields (the only ones a rerun may change). */
const stable = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => { const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l); return rest; });

function expectSameState(a: RunState, b: RunState): void {
  expect(b.epoch).toBe(a.epoch);
  expect(b.step).toBe(a.step);
  expect(b.rngState).toEqual(a.rngState);
  const bytes = (s: RunState) => [...s.trainable, ...s.frozen, ...s.moments.flatMap((m) => m.momentums.map((t) => ({ ...t, name: `${m.paramName}/${t.name}` })))]
    .map((t) => [t.name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')]);
  expect(bytes(b)).toEqual(bytes(a));
}

/** Trains `o` in a child process that SIGKILLs itself at micro-batch 3 of epoch 2; resolves once it died so. */
async function trainUntilKilled(o: TrainOptions): Promise<void> {
  const script = `
    import { train } from '@kqkd/train';
    const o = JSON.parse(process.argv[1]);
    await train({ ...o, onProgress: (e) => { if (e.kind === 'batch' && e.epoch === 2 && e.batch === 3) process.kill(process.pid, 'SIGKILL'); } });
    process.stdout.write('finished without being killed');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(o)], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const signal = await new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
  expect(signal, out).toBe('SIGKILL');
}

describe('train: exact resume', () => {
  const full = join(root, 'full');
  let fullState: RunState;

  it('an uninterrupted run writes a checkpoint per epoch and metrics', async () => {
    const r = await train(base(full));
    expect(r.completedEpochs).toBe(3);
    expect(r.droppedPerEpoch).toBe(200 - 6 * 32);
    fullState = loadRunState(full)!;
    expect(fullState.epoch).toBe(3);
    expect(fullState.step).toBe(18);
    expect(stable(full)).toHaveLength(3);
    // BN statistics moved away from their initial values (they are written back every step)
    const mean = fullState.frozen.find((t) => t.name.endsWith('running_mean'))!;
    expect(Array.from(mean.data).some((v) => v !== 0)).toBe(true);
  });

  it('stopped cleanly after epoch 1 and resumed: bit-identical', async () => {
    const dir = join(root, 'clean');
    const partial = await train({ ...base(dir), stopAfterEpochs: 1 });
    expect(partial.partial).toBe(true);
    expect(loadRunState(dir)!.epoch).toBe(1);
    const events: TrainProgress[] = [];
    await train({ ...base(dir), onProgress: (e) => { if (e.kind === 'start') events.push(e); } });
    expect(events[0]).toMatchObject({ kind: 'start', fromEpoch: 1, resumed: true });
    expectSameState(fullState, loadRunState(dir)!);
    expect(stable(dir)).toEqual(stable(full));
  });

  it('killed with SIGKILL in the middle of epoch 2 and resumed: bit-identical', async () => {
    const dir = join(root, 'killed');
    await trainUntilKilled(base(dir));
    expect(loadRunState(dir)!.epoch).toBe(1);
    expect(existsSync(join(dir, 'model.onnx'))).toBe(false);
    await train(base(dir));
    expectSameState(fullState, loadRunState(dir)!);
    expect(stable(dir)).toEqual(stable(full));
  });

  it('with accumulationSteps = 2: killed with SIGKILL between the micro-batches of an optimizer step, resumed: bit-identical', async () => {
    const acc = (runDir: string): TrainOptions => ({ ...base(runDir), batchSize: 16, accumulationSteps: 2 });
    const accFull = join(root, 'acc-full');
    await train(acc(accFull));
    const want = loadRunState(accFull)!;
    expect(want.step).toBe(18); // ⌊200 / (2·16)⌋ = 6 optimizer steps (12 micro-batches of 16) per epoch
    const dir = join(root, 'acc-killed');
    // micro-batch 3 of epoch 2 = the first half of optimizer step 8: the kill lands inside an accumulated step
    await trainUntilKilled(acc(dir));
    expect(loadRunState(dir)!).toMatchObject({ epoch: 1, step: 6 });
    await train(acc(dir));
    expectSameState(want, loadRunState(dir)!);
    expect(stable(dir)).toEqual(stable(accFull));
    // not the same run as batch 16 without accumulation (the test can fail)
    expect(want.trainable.some((t, i) => !Buffer.from(t.data.buffer).equals(Buffer.from(fullState.trainable[i].data.buffer)))).toBe(true);
  });

  it('a finished run is not recomputed', async () => {
    const events: TrainProgress[] = [];
    const before = readFileSync(checkpointPath(full));
    const r = await train({ ...base(full), onProgress: (e) => events.push(e) });
    // Not recomputed: no batch, no epoch, no evaluation event, and the checkpoint untouched (no wall-clock bound:
    // tests must pass on a slow, busy machine).
    expect(events.map((e) => e.kind)).toEqual(['done']);
    expect(events[0]).toMatchObject({ recomputed: false });
    expect(readFileSync(checkpointPath(full)).equals(before)).toBe(true);
    expect(r.top1Last).toBe(fullState.history[2].testTop1);
  });

  it('a folder holding a run with other settings is refused', async () => {
    await expect(train({ ...base(full), seed: 8 })).rejects.toThrow(/which holds train outputs of config .* pass --force/);
  });

  it('checkpoint round trip is bit-exact', () => {
    const bytes = new Uint8Array(readFileSync(checkpointPath(full)));
    const s = decodeRunState(bytes, 'ck');
    expect(Buffer.from(encodeRunState(s)).equals(Buffer.from(bytes))).toBe(true);
    expect(s.history).toEqual(fullState.history);
  });
});

describe('train: NaN loss', () => {
  it('stops with an error naming the step, epoch and batch; the last checkpoint stays intact', async () => {
    const dir = join(root, 'nan');
    let calls = 0;
    const fake = async (): Promise<TrainBackend> => ({
      batchSize: 32,
      step: async () => (++calls === 9 ? Number.NaN : 1),
      evalLogits: async (_x: Float32Array, n: number) => new Float32Array(n * 10),
      state: async () => ({ trainable: [{ name: 'w', dims: [1], data: new Float32Array([calls]) }], frozen: [], moments: [], step: calls }),
      exportInference: async () => new Uint8Array([1]),
      release: async () => {},
    });
    const err = await train({ ...base(dir), createBackend: fake }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect((err as Error).message).toMatch(/Expected a finite number for training loss at step 9 \(epoch 2, batch 3 of 6\) but received NaN/);
    expect(loadRunState(dir)!.epoch).toBe(1);
    // results.json says the run failed, where and why; metrics.jsonl keeps the epoch it completed
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(results.failed).toMatchObject({ epoch: 2, step: 9, loss: 'NaN' });
    expect(results.failed.reason).toContain('diverged');
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('a finite loss that blows up (> 100 × the mean of the first batches) is divergence too', async () => {
    const dir = join(root, 'blowup');
    let calls = 0;
    const fake = async (): Promise<TrainBackend> => ({
      batchSize: 32,
      step: async () => (++calls === 10 ? 3.5e11 : 2),
      evalLogits: async (_x: Float32Array, n: number) => new Float32Array(n * 10),
      state: async () => ({ trainable: [{ name: 'w', dims: [1], data: new Float32Array([calls]) }], frozen: [], moments: [], step: calls }),
      exportInference: async () => new Uint8Array([1]),
      release: async () => {},
    });
    await expect(train({ ...base(dir), createBackend: fake })).rejects.toThrow(
      /Expected a loss below 100 × the mean of the run's first 5 batches, 2\.000 for training loss at step 10 \(epoch 2, batch 4 of 6\) but received 350000000000/);
    expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).failed.loss).toBe(3.5e11);
  });
});
