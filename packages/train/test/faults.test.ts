/**
 * Faults during a run: the disk fills up or fails while a checkpoint or results.json is written (injected into
 * @kqkd/common's atomic write), and a checkpoint damaged after it was written. Each ends in a clear error naming the
 * file, keeps what was there before, and the run resumes to the same result as an uninterrupted one.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { injectWriteFault, KqkdError } from '@kqkd/common';
import { readCheckpoint, writeCheckpoint } from '@kqkd/autodiff';
import { checkpointPath, loadRunState, train, type RunState, type TrainOptions } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-faults-'));
const base = (runDir: string): TrainOptions => ({
  modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', trainLimit: 192, testLimit: 64 },
  epochs: 3, batchSize: 32, evalBatchSize: 64, optimizer: { type: 'adamw', lr: 0.01 }, seed: 2, runDir, backend: 'native', threads: 1,
});
const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });
/** Zeroes 64 bytes in the middle of a file (inside a checkpoint's tensors). */
function zeroMiddle(path: string): void {
  const bytes = readFileSync(path);
  bytes.fill(0, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 64);
  writeFileSync(path, bytes);
}
const tensors = (s: RunState) => [...s.trainable, ...s.frozen].map((t) => [t.name, Array.from(t.data)]);

afterEach(() => injectWriteFault(undefined));

describe('write faults', () => {
  const whole = join(root, 'whole');

  for (const [code, words] of [['ENOSPC', 'no space left on the device'], ['EIO', 'an input/output error of the device']] as const) {
    it(`${code} while the checkpoint of epoch 2 is written: a clear error, the checkpoint of epoch 1 kept, the run resumes exactly`, async () => {
      await train(base(whole));
      const dir = join(root, `checkpoint-${code}`);
      let checkpoints = 0;
      injectWriteFault((path) => (path.endsWith('checkpoint.ortckpt') && ++checkpoints === 2 ? errno(code) : undefined));
      const err = await train(base(dir)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KqkdError);
      expect((err as Error).message).toMatch(new RegExp(`for file ".*checkpoint\\.ortckpt" but received ${words}`));
      expect(loadRunState(dir)!.epoch).toBe(1); // the previous checkpoint, intact and verified
      injectWriteFault(undefined);
      const r = await train(base(dir));
      expect(r.completedEpochs).toBe(3);
      expect(tensors(loadRunState(dir)!)).toEqual(tensors(loadRunState(whole)!));
    }, 300_000);
  }

  it('EIO while results.json is written: a clear error; running again writes it, nothing recomputed', async () => {
    const dir = join(root, 'results-EIO');
    injectWriteFault((path) => (path.endsWith('results.json') ? errno('EIO') : undefined));
    await expect(train(base(dir))).rejects.toThrow(/for file ".*results\.json" but received an input\/output error of the device/);
    injectWriteFault(undefined);
    const events: string[] = [];
    const r = await train({ ...base(dir), onProgress: (e) => { if (e.kind === 'epoch') events.push('epoch'); } });
    expect(events).toEqual([]); // the three epochs were checkpointed before the failing write
    expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).top1Last).toBe(r.top1Last);
  }, 300_000);
});

describe('a damaged checkpoint', () => {
  it('bytes zeroed inside its tensors: refused on resume, naming the file and how to restart', async () => {
    const dir = join(root, 'zeroed');
    await train({ ...base(dir), stopAfterEpochs: 1 });
    zeroMiddle(checkpointPath(dir));
    const err = await train(base(dir)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KqkdError);
    expect((err as Error).message).toMatch(/for checkpoint ".*checkpoint\.ortckpt" but received a file with sha256 [0-9a-f]{16}…, changed or damaged since/);
    expect((err as Error).message).toMatch(/delete .*checkpoint to restart the run from its first epoch/);
    // as the message says: without the checkpoint folder the run starts over and finishes
    rmSync(join(dir, 'checkpoint'), { recursive: true });
    expect((await train(base(dir))).completedEpochs).toBe(3);
  }, 300_000);
});

describe('a checkpoint whose manifest is gone', () => {
  const whole = join(root, 'whole-2');
  const stopped = async (name: string) => {
    const dir = join(root, name);
    await train({ ...base(dir), stopAfterEpochs: 1 });
    rmSync(join(dir, 'checkpoint', 'manifest.json'));
    return dir;
  };

  it('alone: the digest inside the checkpoint verifies it, and the run resumes to the uninterrupted result', async () => {
    await train(base(whole));
    const dir = await stopped('manifest-gone');
    expect((await train(base(dir))).completedEpochs).toBe(3);
    expect(tensors(loadRunState(dir)!)).toEqual(tensors(loadRunState(whole)!));
  }, 300_000);

  it('and the bytes changed: refused on resume (the digest inside no longer matches), not resumed silently', async () => {
    const dir = await stopped('manifest-gone-changed');
    zeroMiddle(checkpointPath(dir));
    const err = await train(base(dir)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KqkdError);
    expect((err as Error).message).toMatch(/Expected the content kqkd wrote \(its digest is recorded inside the checkpoint\) for checkpoint ".*checkpoint\.ortckpt" but received tensors or run state that no longer match it, changed or damaged since/);
    expect(existsSync(join(dir, 'model.onnx'))).toBe(false);
  }, 300_000);

  it('with no record left (a checkpoint without digest, its manifest gone): refused with the way out; --force trusts it', async () => {
    const dir = await stopped('no-record');
    const path = checkpointPath(dir);
    // A checkpoint as kqkd wrote them before the digest: the same content without it
    const ck = readCheckpoint(readFileSync(path));
    writeFileSync(path, writeCheckpoint({ ...ck, properties: { ...ck.properties!, strings: ck.properties!.strings.filter((p) => p.name !== 'kqkd.digest') } }));
    const err = await train(base(dir)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KqkdError);
    expect((err as Error).message).toMatch(/Expected a checkpoint kqkd can verify .* but received one with neither \(its manifest is gone\).*pass --force \(force: true\) to trust it as it is, or delete .*checkpoint to restart/);
    expect((await train({ ...base(dir), force: true })).completedEpochs).toBe(3);
    expect(tensors(loadRunState(dir)!)).toEqual(tensors(loadRunState(whole)!));
  }, 300_000);
});
