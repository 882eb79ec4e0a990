import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng } from '@kqkd/common';
import { FASHION_MNIST_DIR, FASHION_MNIST_MEAN, FASHION_MNIST_STD, classBalancedIndices, loadFashionMnist, toFloatBatch } from '../src/index.js';

const present = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

describe.skipIf(!present)('the Debian Fashion-MNIST files', () => {
  it('train: 60000 images of 28×28, 6000 per class', () => {
    const ds = loadFashionMnist({ split: 'train' });
    expect(ds).toMatchObject({ count: 60000, height: 28, width: 28, channels: 1, classes: 10 });
    expect(ds.images.length).toBe(60000 * 784);
    const histogram = new Array(10).fill(0);
    for (const l of ds.labels) histogram[l]++;
    expect(histogram).toEqual(new Array(10).fill(6000));
    // The published normalisation constants are the training-set statistics.
    const sample = classBalancedIndices(ds.labels, 500, createRng(0));
    const { data } = toFloatBatch(ds, sample, { mean: [0], std: [1] });
    const mean = data.reduce((s, v) => s + v, 0) / data.length;
    const std = Math.sqrt(data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length);
    expect(mean).toBeCloseTo(FASHION_MNIST_MEAN[0], 1);
    expect(std).toBeCloseTo(FASHION_MNIST_STD[0], 1);
  });

  it('test: 10000 images, 1000 per class', () => {
    const ds = loadFashionMnist({ split: 'test' });
    expect(ds.count).toBe(10000);
    const histogram = new Array(10).fill(0);
    for (const l of ds.labels) histogram[l]++;
    expect(histogram).toEqual(new Array(10).fill(1000));
  });
});
