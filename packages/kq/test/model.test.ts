// scoreModel on every dataset kind: a generated CIFAR-10 folder through a small CIFAR-shaped ONNX model, checked against
// scoreLayers on features computed here along an independent path (own pixel generator, toFloatBatch, one plain
// onnxruntime-node session, no streaming, no pre-pooling), and the open-Dataset option against the legacy name path
// on Fashion-MNIST.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng, KqkdError } from '@kqkd/common';
import {
  classBalancedIndices, loadDataset, toFloatBatch, CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
  type Dataset, type Normalization,
} from '@kqkd/data';
import { encodeModel, exposeOutputs, GraphBuilder, loadModel } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { MODEL_DATASETS, scoreLayers, scoreModel, type KqReport, type LayerFeatures, type ModelKqReport } from '../src/index.js';
import { idx } from '../../data/test/formats.js';

const TINY_CNN = fileURLToPath(new URL('../../../models/tiny-cnn.onnx', import.meta.url));
const FASHION = '/usr/share/datasets/fashion-mnist';

const made: string[] = [];
const fresh = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), `kqkd-kq-${prefix}-`));
  made.push(d);
  return d;
};
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

// ---------------------------------------------------------------- generated datasets (nothing downloaded)

const CIFAR_COUNT = 60;
/** Label of CIFAR record r: 6 of each class over 60 records, 5 of each over the first 50. */
const cifarLabel = (r: number) => (r * 7) % 10;
/** Pixel of record r, channel c, row y, column x: class-dependent brightness plus a record-dependent texture. */
const cifarPixel = (r: number, c: number, y: number, x: number) =>
  (cifarLabel(r) * 23 + c * 11 + ((r * 31 + y * 7 + x * 3 + c * 5 + ((x * y) % 13)) % 40)) % 256;

/** `<root>/cifar-10-batches-bin/` in the official binary format: records 0..59 over data_batch_1..5, 12 each. */
function writeCifar10(root: string): string {
  const dir = join(root, 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  const record = (r: number) => {
    const out = new Uint8Array(1 + 3072);
    out[0] = cifarLabel(r);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[1 + c * 1024 + y * 32 + x] = cifarPixel(r, c, y, x);
    return out;
  };
  const file = (records: number[]) => Buffer.concat(records.map((r) => record(r)));
  for (let f = 0; f < 5; f++) writeFileSync(join(dir, `data_batch_${f + 1}.bin`), file(Array.from({ length: 12 }, (_, i) => f * 12 + i)));
  writeFileSync(join(dir, 'test_batch.bin'), file([0, 1]));
  return root;
}

/** HWC bytes of CIFAR records 0..count−1 straight from the generator (not through the CIFAR reader). */
function cifarImages(count: number): Uint8Array {
  const out = new Uint8Array(count * 3072);
  for (let r = 0; r < count; r++) {
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) out[r * 3072 + (y * 32 + x) * 3 + c] = cifarPixel(r, c, y, x);
  }
  return out;
}

const FASHION_COUNT = 60;
const fashionLabel = (i: number) => (i * 3) % 10;
const fashionPixel = (i: number, y: number, x: number) => (fashionLabel(i) * 20 + ((i * 17 + y * 5 + x * 9 + ((x * y) % 7)) % 60)) % 256;

function fashionImages(): Uint8Array {
  const out = new Uint8Array(FASHION_COUNT * 784);
  for (let i = 0; i < FASHION_COUNT; i++) for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out[i * 784 + y * 28 + x] = fashionPixel(i, y, x);
  return out;
}

/** A Fashion-MNIST folder (uncompressed IDX) of 60 train images, 6 per class. */
function writeFashion(dir: string): string {
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([FASHION_COUNT, 28, 28], fashionImages()));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([FASHION_COUNT], Uint8Array.from({ length: FASHION_COUNT }, (_, i) => fashionLabel(i))));
  return dir;
}

/** A small CIFAR-shaped classifier: generalized layers relu1 (8×32×32), relu2 (8×16×16), flatten (8). */
function cifarModel(): Uint8Array {
  const b = new GraphBuilder({ name: 'tiny_cifar', seed: 7 });
  const x = b.input('image', ['N', 3, 32, 32]);
  const r1 = b.relu(b.conv(x, 8, { name: 'conv1' }), 'relu1');
  const r2 = b.relu(b.conv(b.maxPool(r1, 2, 2, 'pool1'), 8, { name: 'conv2' }), 'relu2');
  const f = b.flatten(b.globalAveragePool(r2, 'gap'), 1, 'flatten');
  b.output(b.gemm(f, 10, 'fc'), 'logits');
  return encodeModel(b.build());
}

// ---------------------------------------------------------------- the independent path

interface Reference {
  images: Uint8Array;
  labels: ArrayLike<number>;
  count: number;
  channels: number;
  side: number;
  classes: number;
}

/**
 * scoreLayers on raw (unpooled) features of `layers` for the class-balanced sample of `samples` at `seed`, computed in
 * one onnxruntime-node run over the whole sample, inputs normalised with toFloatBatch.
 */
async function reference(model: Uint8Array, layers: string[], data: Reference, normalization: Normalization,
  opts: { samples: number; seed: number; maxFeatureDim?: number; topK?: number }): Promise<KqReport> {
  const perClass = Math.floor(opts.samples / data.classes);
  const indices = classBalancedIndices(data.labels, perClass, createRng(opts.seed), data.classes);
  const input = toFloatBatch({ images: data.images, count: data.count, height: data.side, width: data.side, channels: data.channels },
    indices, normalization);
  const proto = loadModel(model);
  const session = await createInferenceSession(encodeModel(exposeOutputs(proto, layers)));
  let out;
  try {
    out = await session.run({ [session.inputNames[0]]: input }, layers);
  } finally {
    await session.release();
  }
  const features: LayerFeatures[] = layers.map((name, index) => ({ name, index, features: out[name].data, shape: out[name].shape }));
  return scoreLayers(features, Int32Array.from(indices, (i) => data.labels[i]),
    { datasetSize: data.count, seed: opts.seed, topK: opts.topK, maxFeatureDim: opts.maxFeatureDim });
}

const sieq = (r: KqReport) => r.layers.map((l) => ({ name: l.name, index: l.index, dim: l.dim, S: l.S, I: l.I, E: l.E, Q: l.Q }));
/** A report without its timings (which differ run to run). */
const timeless = (r: ModelKqReport) => ({ ...r, layers: r.layers.map(({ seconds: _s, ...l }) => l) });

// ---------------------------------------------------------------- tests

describe('scoreModel on CIFAR-10 (generated folder, CIFAR-shaped ONNX model)', () => {
  const root = writeCifar10(fresh('cifar'));
  const model = cifarModel();
  const modelPath = join(fresh('model'), 'tiny-cifar.onnx');
  writeFileSync(modelPath, model);
  const LAYERS = ['relu1', 'relu2', 'flatten'];

  it('lists every dataset of @kqkd/data', () => {
    expect([...MODEL_DATASETS]).toEqual(['fashion-mnist', 'cifar10', 'cifar100', 'tiny-imagenet', 'image-folder']);
  });

  it('by name with dataDir: S/I/E/Q equal scoreLayers on independently computed features (pooling included)', async () => {
    const stages = new Set<string>();
    const report = await scoreModel({
      model: modelPath, dataset: 'cifar10', dataDir: root, samples: 40, batchSize: 7, seed: 5, topK: 2,
      maxFeatureDim: 4096, workDir: join(fresh('work'), 'features'), onProgress: (e) => stages.add(e.stage),
    });
    const ref = await reference(model, LAYERS,
      { images: cifarImages(CIFAR_COUNT), labels: Array.from({ length: CIFAR_COUNT }, (_, r) => cifarLabel(r)), count: CIFAR_COUNT, channels: 3, side: 32, classes: 10 },
      { mean: CIFAR10_MEAN, std: CIFAR10_STD }, { samples: 40, seed: 5, maxFeatureDim: 4096, topK: 2 });
    expect(report.layers.map((l) => l.name)).toEqual(LAYERS);
    expect(sieq(report)).toEqual(sieq(ref));
    for (const l of report.layers) for (const k of ['S', 'I', 'E', 'Q'] as const) expect(Number.isFinite(l[k]), `${l.name}.${k}`).toBe(true);
    // relu1 is 8×32×32 = 8192 > 4096 values: max-pooled with k = ceil(sqrt(2)) = 2 in both paths.
    expect(report.layers[0]).toMatchObject({ sampleShape: [8, 32, 32], poolingKernel: 2, dim: 2048 });
    expect(report.selected).toEqual(ref.selected);
    expect(report).toMatchObject({ datasetSize: 60, samples: 40, numClasses: 10 });
    expect(report.model).toMatchObject({
      path: modelPath, sha256: createHash('sha256').update(model).digest('hex'), input: 'image', inputShape: [40, 3, 32, 32],
    });
    expect(report.dataset).toEqual({
      name: 'cifar10', split: 'train', size: 60, samples: 40, sampleSeed: 5, dir: root,
      normalization: { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] },
    });
    expect([...stages]).toEqual(['extracting features', 'scoring layers']);
  });

  it('an open Dataset limited to its first 50 samples, the model as bytes, explicit normalisation and layers', async () => {
    const full = await loadDataset('cifar10', { dir: root, split: 'train' });
    const limited: Dataset = { ...full, count: 50, labels: full.labels.subarray(0, 50) };
    const normalization = { mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.3] };
    const workDir = join(fresh('work'), 'features');
    const report = await scoreModel({
      model, dataset: limited, normalization, layers: ['relu2', 'flatten'], samples: 40, batchSize: 16, seed: 2, topK: 1,
      workDir,
    });
    const ref = await reference(model, ['relu2', 'flatten'],
      { images: cifarImages(50), labels: Array.from({ length: 50 }, (_, r) => cifarLabel(r)), count: 50, channels: 3, side: 32, classes: 10 },
      normalization, { samples: 40, seed: 2, topK: 1 });
    expect(sieq(report)).toEqual(sieq(ref));
    expect(report.datasetSize).toBe(50);
    expect(report.model.path).toBeNull();
    expect(report.model.sha256).toBe(createHash('sha256').update(model).digest('hex'));
    expect(report.dataset).toEqual({ name: 'cifar10', split: 'train', size: 50, samples: 40, sampleSeed: 2, dir: null, normalization });
    expect(existsSync(workDir)).toBe(false);
  });

  it('clear errors: dataDir missing or misplaced, unknown dataset, input shape, too many samples, unreadable model', async () => {
    const workDir = join(fresh('work'), 'features');
    const fails = async (options: Partial<Parameters<typeof scoreModel>[0]>) => {
      const err = await scoreModel({ model: modelPath, dataset: 'cifar10', dataDir: root, workDir, ...options }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(KqkdError);
      return (err as Error).message;
    };
    expect(await fails({ dataDir: undefined })).toMatch(/Expected the CIFAR-10 folder .*--data-dir DIR\) for dataDir but received nothing/);
    expect(await fails({ dataset: 'cifar100', dataDir: undefined })).toMatch(/CIFAR-100 folder .* for dataDir/);
    expect(await fails({ dataset: 'tiny-imagenet', dataDir: undefined })).toMatch(/Tiny ImageNet folder .* for dataDir/);
    expect(await fails({ dataset: 'mnist' as never })).toMatch(/one of "fashion-mnist", "cifar10", "cifar100", "tiny-imagenet", "image-folder" for dataset/);
    const open = await loadDataset('cifar10', { dir: root, split: 'train' });
    expect(await fails({ dataset: open })).toMatch(/nothing with an open Dataset .* for dataDir/);
    expect(await fails({ dataset: { name: 'cifar10' } as never, dataDir: undefined })).toMatch(/for dataset but received/);
    expect(await fails({ model: TINY_CNN })).toMatch(/input of shape \[N, 3, 32, 32\] for cifar10 .*\[N, 1, 28, 28\]/);
    // 5 images per class in the first 50: 80 samples would need 8 per class.
    expect(await fails({ dataset: { ...open, count: 50, labels: open.labels.subarray(0, 50) }, dataDir: undefined, samples: 80 }))
      .toMatch(/at most 50 \(class \d of cifar10 train has 5 images in 50\) for samples but received 80/);
    expect(await fails({ model: join(root, 'missing.onnx') })).toMatch(/readable \.onnx file for model/);
  });
});

describe('scoreModel on Fashion-MNIST: an open Dataset gives exactly what the name gives (legacy path)', () => {
  it('generated folder: name == Dataset == independent path with the Fashion-MNIST constants', async () => {
    const dir = writeFashion(fresh('fashion'));
    const common = { model: TINY_CNN, samples: 30, batchSize: 8, seed: 3, topK: 2 } as const;
    const byName = await scoreModel({ ...common, dataset: 'fashion-mnist', dataDir: dir, workDir: join(fresh('work'), 'f') });
    const byDataset = await scoreModel({
      ...common, dataset: await loadDataset('fashion-mnist', { dir, split: 'train' }), workDir: join(fresh('work'), 'f'),
    });
    expect(timeless(byDataset)).toEqual({ ...timeless(byName), dataset: { ...byName.dataset, dir: null } });
    const ref = await reference(readFileSync(TINY_CNN), ['relu1', 'block1.relu', 'relu3', 'relu4', 'flatten'],
      { images: fashionImages(), labels: Array.from({ length: FASHION_COUNT }, (_, i) => fashionLabel(i)), count: FASHION_COUNT, channels: 1, side: 28, classes: 10 },
      { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD }, { samples: 30, seed: 3, topK: 2 });
    expect(sieq(byName)).toEqual(sieq(ref));
    expect(byName.dataset).toMatchObject({ name: 'fashion-mnist', size: 60, dir, normalization: { mean: [0.286], std: [0.353] } });
  });

  it.runIf(existsSync(FASHION))('Debian Fashion-MNIST: name (default folder) == open Dataset', async () => {
    const common = { model: TINY_CNN, samples: 200, seed: 1, topK: 4 } as const;
    const byName = await scoreModel({ ...common, dataset: 'fashion-mnist', workDir: join(fresh('work'), 'f') });
    const byDataset = await scoreModel({
      ...common, dataset: await loadDataset('fashion-mnist', { split: 'train' }), workDir: join(fresh('work'), 'f'),
    });
    expect(byName.dataset).toMatchObject({ name: 'fashion-mnist', split: 'train', size: 60000, samples: 200, dir: FASHION });
    expect(timeless(byDataset)).toEqual({ ...timeless(byName), dataset: { ...byName.dataset, dir: null } });
  }, 60_000);
});
