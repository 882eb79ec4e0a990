/**
 * The best validation epoch's model (`model-best.onnx`): a run evaluated on a validation split keeps it, written
 * whenever an epoch beats every earlier one (the earliest epoch on ties), and `evaluateModel` of that file on the
 * validation images gives exactly the accuracy the run recorded for `bestEpoch` (an independent run of the exported
 * model). A run evaluated on the test split never writes it. Exported models carry the image metadata `kqkd predict`
 * reads (class names, normalisation, input size).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFashionMnist, loadDataset, sliceDataset } from '@kqkd/data';
import { decodeModel, readImageMetadata } from '@kqkd/onnx';
import { BEST_MODEL_ONNX, evaluateModel, MODEL_ONNX, train, type TrainOptions } from '../src/index.js';
import { stripes } from '../../../test/support/stripes.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-best-model-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const dataDir = join(root, 'data');
writeFashionMnist(dataDir, 'train', stripes(320, 1));
writeFashionMnist(dataDir, 'test', stripes(60, 2));

const base = (runDir: string, validation?: number): TrainOptions => ({
  modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', dir: dataDir, ...(validation ? { validation } : {}) },
  epochs: 4, batchSize: 32, evalBatchSize: 40, optimizer: { type: 'adamw', lr: 0.02 }, schedule: 'one-cycle', seed: 3, runDir, threads: 1,
});

describe('model-best.onnx', () => {
  it('a validation run keeps its best epoch\'s model; evaluated alone it scores what the run recorded for that epoch', async () => {
    const dir = join(root, 'val');
    const written: number[] = [];
    const r = await train({ ...base(dir, 80), onProgress: (e) => { if (e.kind === 'epoch' && existsSync(join(dir, BEST_MODEL_ONNX))) written.push(e.metrics.epoch); } });
    expect(r.bestModel).toBe(BEST_MODEL_ONNX);
    const history = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; testTop1: number });
    const best = history.reduce((a, m) => (m.testTop1 > a.testTop1 ? m : a));
    expect(r.bestEpoch).toBe(best.epoch);
    const train320 = await loadDataset('fashion-mnist', { dir: dataDir, split: 'train' });
    const validation = sliceDataset(train320, 240, 320);
    const e = await evaluateModel({ model: readFileSync(join(dir, BEST_MODEL_ONNX)), dataset: validation });
    expect(e.count).toBe(80);
    expect(e.top1).toBeCloseTo(best.testTop1, 10);
    // the last epoch's model is a different file unless the last epoch was the best
    const last = await evaluateModel({ model: readFileSync(join(dir, MODEL_ONNX)), dataset: validation });
    expect(last.top1).toBeCloseTo(history[history.length - 1].testTop1, 10);
    if (best.epoch !== history.length) expect(readFileSync(join(dir, BEST_MODEL_ONNX)).equals(readFileSync(join(dir, MODEL_ONNX)))).toBe(false);
    expect(written[0]).toBe(1);
    // both files carry what a user needs to run them on images: the dataset's class names, its normalisation (the
    // training part's published Fashion-MNIST constants here) and the input geometry
    for (const f of [BEST_MODEL_ONNX, MODEL_ONNX]) {
      expect(readImageMetadata(decodeModel(readFileSync(join(dir, f)), f))).toEqual({
        classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'], normalization: { mean: [...train320.normalization.mean], std: [...train320.normalization.std] },
        imageSize: [16, 16], channels: 1, resize: 'shorter-side-center-crop',
      });
    }
  }, 240_000);

  it('a run evaluated on the test split does not write it', async () => {
    const dir = join(root, 'test');
    const r = await train({ ...base(dir), epochs: 1 });
    expect(r.bestModel).toBeUndefined();
    expect(existsSync(join(dir, BEST_MODEL_ONNX))).toBe(false);
  }, 240_000);
});
