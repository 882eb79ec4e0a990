import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KqkdError, expectOneOf, invalidArgument, writeFileAtomic } from '@kqkd/common';
import { encodeIdx, readIdx } from './idx.js';

/** Where the Debian package `dataset-fashion-mnist` installs the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

/** Training-set statistics of pixel/255, the usual normalisation constants for Fashion-MNIST. */
export const FASHION_MNIST_MEAN = [0.2860] as const;
export const FASHION_MNIST_STD = [0.3530] as const;

/** An image classification set held as bytes: images N×H×W×C (HWC per image), one label per image. */
export interface ImageDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: number;
  classNames: readonly string[];
}

export interface LoadFashionMnistOptions {
  /** Folder holding `train-images-idx3-ubyte[.gz]` etc.; default the Debian package's folder. */
  dir?: string;
  split: 'train' | 'test';
}

function locate(dir: string, stem: string): string {
  for (const name of [`${stem}.gz`, stem]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new KqkdError(`Fashion-MNIST file "${join(dir, `${stem}[.gz]`)}"`, 'an existing file',
    'nothing at that path', `install the Debian package dataset-fashion-mnist or pass dir`);
}

export function loadFashionMnist(options: LoadFashionMnistOptions): ImageDataset {
  const split = expectOneOf('split', options?.split, ['train', 'test'] as const);
  const dir = options.dir ?? FASHION_MNIST_DIR;
  if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a folder path', dir);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesPath = locate(dir, `${prefix}-images-idx3-ubyte`);
  const labelsPath = locate(dir, `${prefix}-labels-idx1-ubyte`);
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (!(images.data instanceof Uint8Array) || images.dims.length !== 3) {
    throw new KqkdError(`IDX file "${imagesPath}"`, 'uint8 images with dims [N, H, W]',
      `${images.data.constructor.name} with dims [${images.dims.join(', ')}]`);
  }
  if (!(labels.data instanceof Uint8Array) || labels.dims.length !== 1) {
    throw new KqkdError(`IDX file "${labelsPath}"`, 'uint8 labels with dims [N]',
      `${labels.data.constructor.name} with dims [${labels.dims.join(', ')}]`);
  }
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new KqkdError(`IDX file "${labelsPath}"`, `${count} labels (one per image in ${imagesPath})`, `${labels.dims[0]}`);
  }
  const bad = labels.data.findIndex((l) => l >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) throw new KqkdError(`IDX file "${labelsPath}"`, 'labels 0..9', `${labels.data[bad]} at index ${bad}`);
  return {
    images: images.data, labels: labels.data, count, height, width, channels: 1,
    classes: FASHION_MNIST_CLASSES.length, classNames: FASHION_MNIST_CLASSES,
  };
}

/**
 * Writes an image set in Fashion-MNIST's layout (`train-…` or `t10k-images-idx3-ubyte` and the labels), uncompressed:
 * a subset or any grayscale set then loads with `dataset.dir` like the original.
 */
export function writeFashionMnist(dir: string, split: 'train' | 'test', set: Pick<ImageDataset, 'images' | 'labels' | 'count' | 'height' | 'width' | 'channels'>): void {
  expectOneOf('split', split, ['train', 'test'] as const);
  if (set.channels !== 1) invalidArgument('set.channels', '1 (Fashion-MNIST files hold grayscale images)', set.channels);
  const prefix = split === 'train' ? 'train' : 't10k';
  writeFileAtomic(join(dir, `${prefix}-images-idx3-ubyte`), encodeIdx({ dims: [set.count, set.height, set.width], data: set.images.subarray(0, set.count * set.height * set.width) }));
  writeFileAtomic(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx({ dims: [set.count], data: set.labels.subarray(0, set.count) }));
}
