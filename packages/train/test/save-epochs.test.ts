/**
 * `saveEpochs`: the model after each listed epoch, kept as `model-epoch-<N>.onnx` — the export `model.onnx` gets (the
 * same bytes after the last epoch, the same image metadata), written before that epoch's checkpoint, evaluated alone
 * it scores what metrics.jsonl recorded for the epoch; an interrupted and resumed run writes the same files as an
 * uninterrupted one and keeps a file a killed call had already written; the list is not part of the config hash, so a
 * run started without it resumes with it; bad lists are refused naming config.saveEpochs.
 * Data: the first 320 training and 100 test images of Debian's Fashion-MNIST.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { loadDataset, sliceDataset } from '@kqkd/data';
import { decodeModel, readImageMetadata } from '@kqkd/onnx';
import {
  backendFactory, configHash, epochModelFile, evaluateModel, loadRunState, MODEL_ONNX, parseTrainConfig, train,
  type BackendFactory, type TrainOptions, type TrainProgress,
} from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-save-epochs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const base = (runDir: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', trainLimit: 320, testLimit: 100 },
  epochs: 3, batchSize: 32, evalBatchSize: 100, optimizer: { type: 'adamw', lr: 0.01 }, schedule: 'one-cycle', seed: 3, runDir,
  backend: 'native', threads: 1, ...extra,
});

/** The training config alone (what parseTrainConfig reads): base without the call's options. */
const config = (runDir: string, extra: Partial<TrainOptions> = {}) => {
  const { threads: _t, ...c } = base(runDir, extra);
  return c;
};

const epochFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('model-epoch-')).sort();
const bytes = (dir: string, f: string) => readFileSync(join(dir, f));

/** The native backend, recording the checkpoint's epoch in `runDir` each time a model is exported. */
function recordingExports(runDir: string, at: number[]): BackendFactory {
  return async (o) => {
    const b = await backendFactory('native')(o);
    return new Proxy(b, {
      get(t, k) {
        if (k === 'exportInference') return async () => { at.push(loadRunState(runDir)?.epoch ?? 0); return t.exportInference(); };
        const v = Reflect.get(t, k, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  };
}

const whole = join(root, 'whole');
/** The checkpoint's epoch at each export of the uninterrupted run (model-epoch files, then model.onnx). */
const exportsAt: number[] = [];
let wholeHash = '';

describe('saveEpochs [3, 1] of 3 epochs (an uninterrupted run)', () => {
  beforeAll(async () => {
    wholeHash = (await train({ ...base(whole, { saveEpochs: [3, 1] }), createBackend: recordingExports(whole, exportsAt) })).configHash;
  }, 300_000);

  it('writes exactly the listed epochs\' models', () => {
    expect(epochFiles(whole)).toEqual([epochModelFile(1), epochModelFile(3)]);
  });

  it('each before its epoch\'s checkpoint', () => {
    // model-epoch-1 exported while the checkpoint still held epoch 0, model-epoch-3 at 2; then model.onnx at 3
    expect(exportsAt).toEqual([0, 2, 3]);
  });

  it('the last epoch\'s file is model.onnx, byte for byte', () => {
    expect(bytes(whole, epochModelFile(3)).equals(bytes(whole, MODEL_ONNX))).toBe(true);
  });

  it('model-epoch-1.onnx evaluated alone scores the epoch-1 test top-1 metrics.jsonl recorded', async () => {
    const history = readFileSync(join(whole, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; testTop1: number; testCorrect: number });
    const test100 = sliceDataset(await loadDataset('fashion-mnist', { split: 'test' }), 0, 100);
    const e1 = await evaluateModel({ model: bytes(whole, epochModelFile(1)), dataset: test100, threads: 1 });
    expect(e1.count).toBe(100);
    expect(e1.correct).toBe(history[0].testCorrect);
    expect(e1.top1).toBeCloseTo(history[0].testTop1, 10);
    expect(bytes(whole, epochModelFile(1)).equals(bytes(whole, MODEL_ONNX))).toBe(false);
  }, 60_000);

  it('with model.onnx\'s image metadata (class names, normalisation, input)', () => {
    const meta = (f: string) => readImageMetadata(decodeModel(bytes(whole, f), f));
    expect(meta(MODEL_ONNX)?.classNames).toHaveLength(10);
    for (const e of [1, 3]) expect(meta(epochModelFile(e))).toEqual(meta(MODEL_ONNX));
  });

  it('recorded in results.json (sorted), not in the config hash: the hash of the same training without the list', () => {
    const results = JSON.parse(readFileSync(join(whole, 'results.json'), 'utf8'));
    expect(results.config.saveEpochs).toEqual([1, 3]);
    expect(wholeHash).toBe(configHash(parseTrainConfig(config(whole))));
  });
});

describe('saveEpochs: resumed runs and refusals', () => {
  it('interrupted after epoch 1 and resumed: both files, byte-identical to the uninterrupted run\'s', async () => {
    const split = join(root, 'split');
    const first = await train(base(split, { saveEpochs: [1, 3], stopAfterEpochs: 1 }));
    expect(first.partial).toBe(true);
    expect(epochFiles(split)).toEqual([epochModelFile(1)]);
    await train(base(split, { saveEpochs: [1, 3] }));
    expect(epochFiles(split)).toEqual([epochModelFile(1), epochModelFile(3)]);
    for (const f of [epochModelFile(1), epochModelFile(3), MODEL_ONNX]) expect(bytes(split, f).equals(bytes(whole, f)), f).toBe(true);
  }, 300_000);

  it('killed between an epoch\'s model and its checkpoint: the resumed run redoes the epoch and keeps the file', async () => {
    const dir = join(root, 'killed');
    const saved = join(root, 'killed-checkpoint-1');
    await train(base(dir, { saveEpochs: [2, 3], stopAfterEpochs: 1 }));
    cpSync(join(dir, 'checkpoint'), saved, { recursive: true });
    await train(base(dir, { saveEpochs: [2, 3], stopAfterEpochs: 1 }));
    expect(epochFiles(dir)).toEqual([epochModelFile(2)]);
    // the kill: epoch 2's model is on disk, its checkpoint is not
    rmSync(join(dir, 'checkpoint'), { recursive: true });
    cpSync(saved, join(dir, 'checkpoint'), { recursive: true });
    expect(loadRunState(dir)?.epoch).toBe(1);
    const before = statSync(join(dir, epochModelFile(2)));
    const epochs: number[] = [];
    await train(base(dir, { saveEpochs: [2, 3], onProgress: (e) => { if (e.kind === 'epoch') epochs.push(e.metrics.epoch); } }));
    expect(epochs).toEqual([2, 3]);
    const after = statSync(join(dir, epochModelFile(2)));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(epochFiles(dir)).toEqual([epochModelFile(2), epochModelFile(3)]);
    for (const f of [epochModelFile(3), MODEL_ONNX]) expect(bytes(dir, f).equals(bytes(whole, f)), f).toBe(true);
    const history = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { testCorrect: number });
    const test100 = sliceDataset(await loadDataset('fashion-mnist', { split: 'test' }), 0, 100);
    expect((await evaluateModel({ model: bytes(dir, epochModelFile(2)), dataset: test100, threads: 1 })).correct).toBe(history[1].testCorrect);
  }, 300_000);

  it('not part of the config hash: a run started without it resumes with it, saying which epochs it is already past', async () => {
    const dir = join(root, 'added');
    await train(base(dir, { stopAfterEpochs: 1 }));
    const notices: string[] = [];
    const r = await train(base(dir, { saveEpochs: [1, 3], onProgress: (e: TrainProgress) => { if (e.kind === 'notice') notices.push(e.message); } }));
    expect(r.completedEpochs).toBe(3);
    expect(notices.filter((n) => n.includes('model-epoch-'))).toEqual([expect.stringMatching(/^model-epoch-1\.onnx cannot be written: the run resumes after epoch 1/)]);
    expect(epochFiles(dir)).toEqual([epochModelFile(3)]);
    expect(bytes(dir, epochModelFile(3)).equals(bytes(whole, epochModelFile(3)))).toBe(true);
  }, 300_000);

  it('refuses a list that is not distinct epochs from 1 to epochs, naming config.saveEpochs, what it expects and what came', async () => {
    const items = 'a list of epochs, each an integer ≥ 1';
    const range = 'a list of distinct epochs, each an integer from 1 to epochs (3)';
    const cases: [unknown, string, string][] = [
      [[0], items, '[0] (item 1: 0)'],
      [[1, 2.5], items, '[1,2.5] (item 2: 2.5)'],
      [[1, '3'], items, '[1,"3"] (item 2: "3")'],
      ['1,3', items, '"1,3"'],
      [[2, 4], range, '[2,4] (4 > 3)'],
      [[1, 3, 1], range, '[1,3,1] (1 twice)'],
    ];
    for (const [saveEpochs, expected, received] of cases) {
      let err: unknown;
      try {
        parseTrainConfig({ ...config(join(root, 'never')), saveEpochs });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(saveEpochs)).toBeInstanceOf(KqkdError);
      expect({ argument: (err as KqkdError).argument, expected: (err as KqkdError).expected, received: (err as KqkdError).received })
        .toEqual({ argument: 'config.saveEpochs', expected, received });
    }
    // train() refuses before it takes the folder
    const dir = join(root, 'refused');
    await expect(train(base(dir, { saveEpochs: [3, 5] }))).rejects.toThrow(`Expected ${range} for config.saveEpochs but received [3,5] (5 > 3)`);
    expect(existsSync(dir)).toBe(false);
    // an empty list keeps nothing
    expect(parseTrainConfig({ ...config(dir), saveEpochs: [] }).saveEpochs).toEqual([]);
  });
});
