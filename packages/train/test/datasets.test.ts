/**
 * The zoo and the datasets in the training loop: small files in the official formats written here (nothing is
 * downloaded), streamed through @kqkd/data, trained with zoo models at a tiny width.
 * - CIFAR-10 (binary records) with ResNet9: exact resume (stopped after epoch 1, resumed) over the streamed batches.
 * - Tiny ImageNet (tiny-imagenet-200 folder of JPEGs, val_annotations.txt) with ViT_ETT and MobileNetV2, decoding per
 *   batch and through the optional decoded cache: the same numbers either way.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// sharp (libvips) comes with @kqkd/data, whose Tiny ImageNet reader uses it; here it only writes the test JPEGs.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '@kqkd/data';
import { evaluateModel, loadRunState, train, type RunState, type TrainOptions, type TrainProgress } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-distill-datasets-'));

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s >>> 24; };
}

/** `cifar-10-batches-bin/` with `train` records over data_batch_1..5.bin and `test` in test_batch.bin (label-coloured noise). */
function writeCifar10(dir: string, train: number, test: number): string {
  const folder = join(dir, 'cifar-10-batches-bin');
  mkdirSync(folder, { recursive: true });
  const rand = lcg(99);
  const records = (n: number, first: number) => {
    const out = new Uint8Array(n * 3073);
    for (let r = 0; r < n; r++) {
      const label = (first + r * 3) % 10;
      out[r * 3073] = label;
      for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[r * 3073 + 1 + c * 1024 + p] = (20 * ((label + c) % 10) + (rand() >> 1)) & 255;
    }
    return out;
  };
  const per = Math.ceil(train / 5);
  for (let f = 0; f < 5; f++) writeFileSync(join(folder, `data_batch_${f + 1}.bin`), records(Math.max(0, Math.min(per, train - f * per)), f * per));
  writeFileSync(join(folder, 'test_batch.bin'), records(test, 1));
  return dir;
}

/** `tiny-imagenet-200/` with `classes` wnids, `perClass` train JPEGs each, `val` annotated val JPEGs (one greyscale). */
async function writeTinyImageNet(dir: string, classes: number, perClass: number, val: number): Promise<string> {
  const folder = join(dir, 'tiny-imagenet-200');
  const wnids = Array.from({ length: classes }, (_, c) => `n0${String(1000000 + c * 7919).padStart(7, '0')}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'wnids.txt'), `${wnids.join('\n')}\n`);
  writeFileSync(join(folder, 'words.txt'), wnids.map((w, c) => `${w}\tclass ${c}`).join('\n'));
  const rand = lcg(5);
  const image = (label: number) => {
    const px = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (40 * ((label + (i % 3)) % 6) + (rand() >> 2)) & 255;
    return px;
  };
  const jpeg = (path: string, px: Buffer) => sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
  for (const [c, w] of wnids.entries()) {
    const images = join(folder, 'train', w, 'images');
    mkdirSync(images, { recursive: true });
    for (let i = 0; i < perClass; i++) await jpeg(join(images, `${w}_${i}.JPEG`), image(c));
  }
  mkdirSync(join(folder, 'val', 'images'), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < val; i++) {
    const c = (i * 5) % classes;
    const path = join(folder, 'val', 'images', `val_${i}.JPEG`);
    if (i === 1) {
      const grey = Buffer.alloc(64 * 64, 90 + 20 * c);
      await sharp(grey, { raw: { width: 64, height: 64, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 90 }).toFile(path);
    } else {
      await jpeg(path, image(c));
    }
    lines.push(`val_${i}.JPEG\t${wnids[c]}\t0\t0\t63\t63`);
  }
  writeFileSync(join(folder, 'val', 'val_annotations.txt'), `${lines.join('\n')}\n`);
  return dir;
}

function expectSameState(a: RunState, b: RunState): void {
  expect(b.step).toBe(a.step);
  expect(b.rngState).toEqual(a.rngState);
  const bytes = (s: RunState) => [...s.trainable, ...s.frozen, ...s.moments.flatMap((m) => m.momentums.map((t) => ({ ...t, name: `${m.paramName}/${t.name}` })))]
    .map((t) => [t.name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')]);
  expect(bytes(b)).toEqual(bytes(a));
}

const stable = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => { const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l); return rest; });

describe('CIFAR-10 folder + resnet9 (streamed batches)', () => {
  const data = writeCifar10(join(root, 'cifar'), 100, 40);
  const base = (runDir: string): TrainOptions => ({
    modelSpec: { name: 'resnet9', width: 0.0625 }, dataset: { name: 'cifar10', dir: data, trainLimit: 80 },
    epochs: 2, batchSize: 16, evalBatchSize: 32, optimizer: { type: 'adamw', lr: 0.01 }, seed: 4, runDir,
  });

  it('trains on the dataset\'s geometry and classes; stopped after epoch 1 and resumed = uninterrupted, bit for bit', async () => {
    const full = join(root, 'cifar-full');
    const starts: TrainProgress[] = [];
    const r = await train({ ...base(full), onProgress: (e) => { if (e.kind === 'start') starts.push(e); } });
    expect(starts[0]).toMatchObject({ trainCount: 80, testCount: 40, stepsPerEpoch: 5, droppedPerEpoch: 0 });
    expect(r.completedEpochs).toBe(2);
    const results = JSON.parse(readFileSync(join(full, 'results.json'), 'utf8'));
    expect(results.input).toEqual({ name: 'input', shape: ['N', 3, 32, 32], classes: 10,
      normalization: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] } });
    expect(existsSync(join(full, 'model.onnx'))).toBe(true);
    const want = loadRunState(full)!;
    // ResNet9 at width 1/16: conv1 has round(64/16) = 4 output channels, 3 input channels, 3×3
    expect(want.trainable.find((t) => t.name === 'conv1.weight')?.dims).toEqual([4, 3, 3, 3]);

    const dir = join(root, 'cifar-resumed');
    expect((await train({ ...base(dir), stopAfterEpochs: 1 })).partial).toBe(true);
    await train(base(dir));
    expectSameState(want, loadRunState(dir)!);
    expect(stable(dir)).toEqual(stable(full));
  }, 60_000);
});

describe('Tiny ImageNet folder (JPEGs) + small ViT / MobileNetV2', () => {
  let data: string;
  const base = (runDir: string, name: 'vit_ett' | 'mobilenetv2', extra: Partial<TrainOptions['dataset']> = {}): TrainOptions => ({
    modelSpec: { name, width: name === 'vit_ett' ? 1 / 12 : 0.125 }, dataset: { name: 'tiny-imagenet', dir: data, ...extra },
    epochs: 1, batchSize: 8, evalBatchSize: 16, optimizer: { type: 'adamw', lr: 0.005 }, seed: 2, runDir,
  });

  it('vit_ett: decodes per batch, 64×64×3 input, classes from wnids.txt; the decoded cache gives the same run', async () => {
    data = await writeTinyImageNet(join(root, 'tiny'), 4, 8, 12);
    const perBatch = join(root, 'tiny-vit');
    const r = await train(base(perBatch, 'vit_ett'));
    expect(r.completedEpochs).toBe(1);
    const results = JSON.parse(readFileSync(join(perBatch, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ trainCount: 32, testCount: 12, modelName: 'vit_ett', dataset: 'tiny-imagenet' });
    expect(results.input).toMatchObject({ shape: ['N', 3, 64, 64], classes: 4, normalization: { mean: [0.4802, 0.4481, 0.3975] } });
    expect(existsSync(join(perBatch, 'model.onnx'))).toBe(true);

    const cacheDir = join(root, 'tiny-cache');
    const cached = join(root, 'tiny-vit-cached');
    await train(base(cached, 'vit_ett', { cacheDir }));
    expect(existsSync(join(cacheDir, 'tiny-imagenet-train.npy'))).toBe(true);
    expect(existsSync(join(cacheDir, 'tiny-imagenet-test.npy'))).toBe(true);
    // the cache folder is not part of the config hash, and the numbers are the same
    expect(loadRunState(cached)!.configHash).toBe(loadRunState(perBatch)!.configHash);
    expectSameState(loadRunState(perBatch)!, loadRunState(cached)!);
    expect(stable(cached)).toEqual(stable(perBatch));
  }, 60_000);

  it('mobilenetv2 at width 0.125 trains and exports: the exported model, run alone, reproduces the run\'s test top-1', async () => {
    const dir = join(root, 'tiny-mnv2');
    const r = await train(base(dir, 'mobilenetv2'));
    expect(r.completedEpochs).toBe(1);
    // The inference export (BatchNorm with its running statistics, no training graph) through onnxruntime-node on the
    // 12 test JPEGs: the same predictions as the training backend's own evaluation of the last epoch.
    const test = await loadDataset('tiny-imagenet', { dir: data, split: 'test' });
    const e = await evaluateModel({ model: readFileSync(join(dir, 'model.onnx')), dataset: test, threads: 1 });
    expect(e.count).toBe(12);
    expect(e.top1).toBe(r.top1Last);
    expect(loadRunState(dir)!.history[0].testCorrect).toBe(e.correct);
  }, 60_000);
});
