import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@kqkd/common';
import {
  CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, DATASETS, FASHION_MNIST_MEAN, FASHION_MNIST_STD, NORMALIZATION,
  TINY_IMAGENET_MEAN, TINY_IMAGENET_STD, batches, datasetFromImages, loadCifar10, loadDataset, readAllImages,
  shuffledIndices, type Batch, type Dataset,
} from '../src/index.js';
import { cifarPixel, idx, tempDir, writeCifar10, writeCifar100, writeTinyImageNet } from './formats.js';

const made: string[] = [];
const fresh = (p: string) => { const d = tempDir(p); made.push(d); return d; };
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** A Dataset wrapper recording every readImages call. */
function spied(ds: Dataset): { ds: Dataset; reads: number[][] } {
  const reads: number[][] = [];
  return { reads, ds: { ...ds, readImages: (indices, out) => { reads.push(Array.from(indices)); return ds.readImages(indices, out); } } };
}

describe('normalisation constants', () => {
  it('are the usual published per-channel values', () => {
    expect(NORMALIZATION['fashion-mnist']).toEqual({ mean: [0.2860], std: [0.3530] });
    expect(NORMALIZATION.cifar10).toEqual({ mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616] });
    expect(NORMALIZATION.cifar100).toEqual({ mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] });
    expect(NORMALIZATION['tiny-imagenet']).toEqual({ mean: [0.4802, 0.4481, 0.3975], std: [0.2302, 0.2265, 0.2262] });
    expect([CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, TINY_IMAGENET_MEAN, TINY_IMAGENET_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD])
      .toEqual([NORMALIZATION.cifar10.mean, NORMALIZATION.cifar10.std, NORMALIZATION.cifar100.mean, NORMALIZATION.cifar100.std,
        NORMALIZATION['tiny-imagenet'].mean, NORMALIZATION['tiny-imagenet'].std, NORMALIZATION['fashion-mnist'].mean, NORMALIZATION['fashion-mnist'].std]);
    expect(DATASETS['tiny-imagenet']).toMatchObject({ height: 64, width: 64, channels: 3, classes: 200 });
    expect(DATASETS.cifar100).toMatchObject({ height: 32, width: 32, channels: 3, classes: 100 });
    expect(DATASETS['fashion-mnist']).toMatchObject({ height: 28, width: 28, channels: 1, classes: 10 });
  });
});

describe('shuffledIndices', () => {
  it('is a seeded permutation, the same for the same seed', () => {
    const a = shuffledIndices(50, 7);
    expect(a.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(shuffledIndices(50, 7)).toEqual(a);
    expect(shuffledIndices(50, 8)).not.toEqual(a);
    expect(shuffledIndices(50, createRng(7))).toEqual(a);
    // One Rng across epochs: a new order each epoch, reproducible from the seed.
    const rng = createRng(3);
    const e0 = shuffledIndices(20, rng);
    const e1 = shuffledIndices(20, rng);
    expect(e1).not.toEqual(e0);
    const again = createRng(3);
    expect([shuffledIndices(20, again), shuffledIndices(20, again)]).toEqual([e0, e1]);
    const subset = [10, 20, 30, 40];
    expect(shuffledIndices(subset, 1).sort((x, y) => x - y)).toEqual(subset);
    expect(subset).toEqual([10, 20, 30, 40]); // input untouched
    expect(shuffledIndices(0, 1)).toEqual([]);
    expect(() => shuffledIndices(-1, 1)).toThrow(/count/);
    expect(() => shuffledIndices(3, 1.5)).toThrow(/seed/);
  });
});

describe('loadDataset + batches', () => {
  let c10 = '';
  let c100 = '';
  let tin = '';
  let fm = '';
  beforeAll(async () => {
    c10 = writeCifar10(fresh('reg-c10'));
    c100 = writeCifar100(fresh('reg-c100'), [[1, 11], [2, 22], [3, 33]], [[4, 44]]);
    tin = await writeTinyImageNet(fresh('reg-tin'));
    fm = fresh('reg-fm');
    const pixels = Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => (i * 13) % 256);
    writeFileSync(join(fm, 't10k-images-idx3-ubyte'), idx([3, 28, 28], pixels));
    writeFileSync(join(fm, 't10k-labels-idx1-ubyte'), idx([3], Uint8Array.from([9, 0, 4])));
  });

  it('cifar10: shuffled NCHW batches normalised with the CIFAR-10 constants', async () => {
    const ds = await loadDataset('cifar10', { dir: c10, split: 'train' });
    expect(ds).toMatchObject({ name: 'cifar10', split: 'train', count: 7, channels: 3, classes: 10, normalization: NORMALIZATION.cifar10 });
    const order = shuffledIndices(ds.count, 42);
    const got = await collect(batches(ds, { indices: order, batchSize: 3 }));
    expect(got.map((b) => b.shape)).toEqual([[3, 3, 32, 32], [3, 3, 32, 32], [1, 3, 32, 32]]);
    expect(got.flatMap((b) => b.indices)).toEqual(order);
    const train = [3, 9, 0, 1, 2, 5, 7];
    for (const b of got) {
      expect(Array.from(b.labels)).toEqual(b.indices.map((i) => train[i]));
      b.indices.forEach((r, n) => {
        for (const [c, y, x] of [[0, 0, 0], [1, 7, 3], [2, 31, 31]]) {
          const want = (cifarPixel(r, c, y, x) / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c];
          expect(b.data[((n * 3 + c) * 32 + y) * 32 + x]).toBeCloseTo(want, 5);
        }
      });
    }
    const dropped = await collect(batches(ds, { indices: order, batchSize: 3, dropLast: true }));
    expect(dropped).toHaveLength(2);
  });

  it('the streamed batches equal toFloatBatch on the eagerly loaded set', async () => {
    const ds = await loadDataset('cifar10', { dir: c10, split: 'train' });
    const eager = datasetFromImages(loadCifar10({ dir: c10, split: 'train' }), { name: 'cifar10', split: 'train' });
    const a = await collect(batches(ds, { batchSize: 4, normalization: 'none' }));
    const b = await collect(batches(eager, { batchSize: 4, normalization: 'none' }));
    expect(a.map((x) => x.data)).toEqual(b.map((x) => x.data));
    expect(a[0].data[0]).toBeCloseTo(cifarPixel(0, 0, 0, 0) / 255, 6);
    const all = await readAllImages(ds, 3);
    expect(all.images).toEqual(loadCifar10({ dir: c10, split: 'train' }).images);
  });

  it('cifar100: fine labels and explicit normalisation', async () => {
    const ds = await loadDataset('cifar100', { dir: c100, split: 'train' });
    expect(ds.classes).toBe(100);
    const [b] = await collect(batches(ds, { indices: [2, 0], batchSize: 8, normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] } }));
    expect(Array.from(b.labels)).toEqual([33, 11]);
    expect(b.data[(0 * 3 + 1) * 1024 + 5 * 32 + 6]).toBeCloseTo((cifarPixel(2, 1, 5, 6) / 255 - 0.5) / 0.5, 5);
    expect(b.data[(1 * 3 + 2) * 1024 + 31 * 32 + 0]).toBeCloseTo(cifarPixel(0, 2, 31, 0) / 255 - 0.5, 5);
  });

  it('tiny-imagenet: "test" is val/, batches decode only what they hold', async () => {
    const val = await loadDataset('tiny-imagenet', { dir: tin, split: 'test' });
    expect(val).toMatchObject({ count: 3, height: 64, width: 64, channels: 3, classes: 3 });
    expect(Array.from(val.labels)).toEqual([2, 0, 1]);
    const train = await loadDataset('tiny-imagenet', { dir: tin, split: 'train' });
    const { ds, reads } = spied(train);
    const got = await collect(batches(ds, { batchSize: 4, indices: [5, 3, 1], normalization: 'none' }));
    expect(reads).toEqual([[5, 3, 1]]);
    expect(got[0].shape).toEqual([3, 3, 64, 64]);
    expect(Array.from(got[0].labels)).toEqual([2, 1, 0]);
    // Image 1 of the batch is the greyscale one: its three planes are equal, left half ≈ 40/255.
    const plane = 64 * 64;
    const img = got[0].data.subarray(3 * plane, 6 * plane);
    expect(img.subarray(0, plane)).toEqual(img.subarray(plane, 2 * plane));
    expect(img.subarray(0, plane)).toEqual(img.subarray(2 * plane));
    expect(Math.abs(img[10 * 64 + 10] * 255 - 40)).toBeLessThanOrEqual(2);
    const cached = await loadDataset('tiny-imagenet', { dir: tin, split: 'train', cache: join(tin, 'cache.npy') });
    const viaCache = await collect(batches(cached, { batchSize: 4, indices: [5, 3, 1], normalization: 'dataset' }));
    const direct = await collect(batches(train, { batchSize: 4, indices: [5, 3, 1] }));
    expect(viaCache[0].data).toEqual(direct[0].data);
  });

  it('fashion-mnist through the registry', async () => {
    const ds = await loadDataset('fashion-mnist', { dir: fm, split: 'test' });
    expect(ds).toMatchObject({ count: 3, channels: 1, height: 28, width: 28, normalization: NORMALIZATION['fashion-mnist'] });
    const [b] = await collect(batches(ds, { indices: [2], batchSize: 2 }));
    expect(b.shape).toEqual([1, 1, 28, 28]);
    expect(Array.from(b.labels)).toEqual([4]);
    expect(b.data[100]).toBeCloseTo(((((2 * 784 + 100) * 13) % 256) / 255 - 0.2860) / 0.3530, 5);
  });

  it('reads one batch ahead at most (none without prefetch), and stopping early is clean', async () => {
    const base = await loadDataset('cifar10', { dir: c10, split: 'train' });
    const { ds, reads } = spied(base);
    const it1 = batches(ds, { batchSize: 2 })[Symbol.asyncIterator]();
    await it1.next();
    expect(reads).toEqual([[0, 1], [2, 3]]);
    await it1.return(undefined);
    const lazy = spied(base);
    const it2 = batches(lazy.ds, { batchSize: 2, prefetch: false })[Symbol.asyncIterator]();
    await it2.next();
    expect(lazy.reads).toEqual([[0, 1]]);
    await it2.next();
    expect(lazy.reads).toEqual([[0, 1], [2, 3]]);
    // A prefetch that fails after the caller stopped raises nothing unhandled.
    let calls = 0;
    const failing: Dataset = { ...base, readImages: async (i, o) => { if (++calls > 1) throw new Error('boom'); return base.readImages(i, o); } };
    for await (const _ of batches(failing, { batchSize: 2 })) break;
    const failingNow = batches(failing, { batchSize: 2 });
    calls = 1;
    await expect(failingNow.next()).rejects.toThrow('boom');
  });

  it('argument errors', async () => {
    const ds = await loadDataset('cifar10', { dir: c10, split: 'test' });
    await expect(batches(ds, { batchSize: 0 }).next()).rejects.toThrow(/batchSize/);
    await expect(batches(ds, { batchSize: 1, indices: [2] }).next()).rejects.toThrow(/index in \[0, 2\) for indices\[0\] but received 2/);
    await expect(batches(ds, { batchSize: 1, normalization: { mean: [0], std: [1] } }).next()).rejects.toThrow(/3 value\(s\), one per channel for mean/);
    await expect(batches(ds, { batchSize: 1, normalization: 'imagenet' as 'none' }).next()).rejects.toThrow(/"dataset", "none" or \{ mean, std \} for normalization/);
    await expect(loadDataset('mnist' as 'cifar10', { dir: c10, split: 'test' })).rejects.toThrow(/"fashion-mnist", "cifar10", "cifar100", "tiny-imagenet", "image-folder" for name/);
    await expect(loadDataset('cifar10', { split: 'test' })).rejects.toThrow(/CIFAR-10 folder for dir/);
    await expect(loadDataset('cifar10', { dir: c10, split: 'val' as 'test' })).rejects.toThrow(/split/);
    await expect(loadDataset('cifar10', { dir: c10, split: 'test', cache: 'x.npy' })).rejects.toThrow(/only tiny-imagenet/);
    expect(await collect(batches(ds, { batchSize: 4, indices: [] }))).toEqual([]);
  });
});
