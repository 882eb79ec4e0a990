/**
 * One way to open every supported dataset and stream it as normalised NCHW float batches: labels are held in
 * memory, pixels are read (or decoded) only for the batch being built.
 */
import { KqkdError, createRng, expectInteger, expectOneOf, invalidArgument, invalidArgumentText, type Rng } from '@kqkd/common';
import { augmentBatch, augments, validateAugmentSpec, type AugmentSpec } from './augment.js';
import { toFloatBatch } from './batch.js';
import { CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, openCifar } from './cifar.js';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadFashionMnist, type ImageDataset } from './fashion-mnist.js';
import { TINY_IMAGENET_MEAN, TINY_IMAGENET_STD, openTinyImageNet } from './tiny-imagenet.js';
import { openImageFolder, type OpenImageFolderOptions } from './image-folder.js';

/** The datasets whose geometry, classes and normalisation are known constants. */
export const FIXED_DATASET_NAMES = ['fashion-mnist', 'cifar10', 'cifar100', 'tiny-imagenet'] as const;
export type FixedDatasetName = (typeof FIXED_DATASET_NAMES)[number];
/** Every dataset; 'image-folder' takes its geometry, classes and normalisation from the folder it opens. */
export const DATASET_NAMES = [...FIXED_DATASET_NAMES, 'image-folder'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface Normalization {
  /** Per-channel mean of pixel/255. */
  mean: readonly number[];
  /** Per-channel standard deviation of pixel/255. */
  std: readonly number[];
}

export interface FixedDatasetInfo {
  title: string; height: number; width: number; channels: number; classes: number; normalization: Normalization;
}

/**
 * Image geometry, class count and the usual published per-channel normalisation of each fixed dataset; for
 * 'image-folder' only a title: its geometry, classes and normalisation are those of the opened `Dataset`.
 */
export const DATASETS: Readonly<{ [K in FixedDatasetName]: FixedDatasetInfo } & { 'image-folder': { title: string; fromFolder: true } }> = {
  'fashion-mnist': { title: 'Fashion-MNIST', height: 28, width: 28, channels: 1, classes: 10, normalization: { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD } },
  cifar10: { title: 'CIFAR-10', height: 32, width: 32, channels: 3, classes: 10, normalization: { mean: CIFAR10_MEAN, std: CIFAR10_STD } },
  cifar100: { title: 'CIFAR-100', height: 32, width: 32, channels: 3, classes: 100, normalization: { mean: CIFAR100_MEAN, std: CIFAR100_STD } },
  'tiny-imagenet': { title: 'Tiny ImageNet', height: 64, width: 64, channels: 3, classes: 200, normalization: { mean: TINY_IMAGENET_MEAN, std: TINY_IMAGENET_STD } },
  'image-folder': { title: 'image folder', fromFolder: true },
};

/** The usual per-channel normalisation constants of each fixed dataset, by name (an image folder's is its Dataset's). */
export const NORMALIZATION: Readonly<Record<FixedDatasetName, Normalization>> = Object.fromEntries(
  FIXED_DATASET_NAMES.map((n) => [n, DATASETS[n].normalization]),
) as Record<FixedDatasetName, Normalization>;

/** The normalisation a dataset is trained with: the published constants of a fixed dataset, an image folder's own. */
export function datasetNormalization(dataset: Pick<Dataset, 'name' | 'normalization'>): Normalization {
  return dataset.name === 'image-folder' ? dataset.normalization : NORMALIZATION[dataset.name];
}

/** A split whose labels are in memory and whose images are read on demand. */
export interface Dataset {
  name: DatasetName;
  split: 'train' | 'test';
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: number;
  classNames: readonly string[];
  labels: Uint8Array;
  /** This dataset's published normalisation constants (an image folder: its training part's mean/std of pixel/255). */
  normalization: Normalization;
  /** HWC bytes of the images at `indices`, image after image, into `out` when given. */
  readImages(indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array>;
}

export interface LoadDatasetOptions {
  /** The dataset's folder as extracted (see each reader); optional only for Fashion-MNIST (Debian's folder). */
  dir?: string;
  /**
   * For Tiny ImageNet 'test' reads val/ (the official test images have no labels). 'val' only for image-folder:
   * its val/ folder (else test/, else the held-out fraction); its 'test' prefers test/ over val/.
   */
  split: 'train' | 'test' | 'val';
  /** Tiny ImageNet only: a decoded `.npy` cache file to build once and then read from. */
  cache?: string;
  /** image-folder only (see openImageFolder): side of the square images (default 32). */
  imageSize?: number;
  /** image-folder only: 3 = RGB (default), 1 = greyscale. */
  channels?: 1 | 3;
  /** image-folder only, single-folder layout: fraction of each class held out as the test split (default 0.2). */
  testFraction?: number;
  /** image-folder only: seed of the stratified split and of the training order (default 0). */
  splitSeed?: number;
  /** image-folder only: folder of the decoded caches (default DIR/.kqkd-cache). */
  cacheDir?: string;
  /** image-folder only: skip bad files (listed in the cache folder) instead of refusing the folder. */
  skipBad?: boolean;
  /** image-folder only: the normalisation to use instead of the training part's statistics (a model's own). */
  normalization?: Normalization;
  /** image-folder only: files decoded so far while a cache is built. */
  onProgress?: OpenImageFolderOptions['onProgress'];
  /** image-folder only: notable events (bad files skipped). */
  log?: (line: string) => void;
}

const IMAGE_FOLDER_OPTIONS = ['imageSize', 'channels', 'testFraction', 'splitSeed', 'cacheDir', 'skipBad', 'normalization', 'onProgress', 'log'] as const;

/** Wraps an in-memory `ImageDataset` (HWC bytes) as a `Dataset`. */
export function datasetFromImages(images: ImageDataset, info: { name: DatasetName; split: 'train' | 'test'; normalization?: Normalization }): Dataset {
  const name = expectOneOf('name', info?.name, DATASET_NAMES);
  const split = expectOneOf('split', info.split, ['train', 'test'] as const);
  if (name === 'image-folder' && info.normalization === undefined) {
    invalidArgument('normalization', 'the image folder\'s { mean, std } (it has no published constants)', info.normalization);
  }
  const size = images.height * images.width * images.channels;
  const readImages = async (indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array> => {
    const n = indices.length;
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < n * size)) {
      invalidArgument('out', `a Uint8Array of at least ${n * size}`, out);
    }
    const dst = out ? out.subarray(0, n * size) : new Uint8Array(n * size);
    for (let b = 0; b < n; b++) {
      const idx = indices[b];
      if (!Number.isInteger(idx) || idx < 0 || idx >= images.count) {
        invalidArgumentText(`indices[${b}]`, `an integer index in [0, ${images.count})`, String(idx));
      }
      dst.set(images.images.subarray(idx * size, (idx + 1) * size), b * size);
    }
    return dst;
  };
  return {
    name, split, count: images.count, height: images.height, width: images.width, channels: images.channels,
    classes: images.classes, classNames: images.classNames, labels: images.labels,
    normalization: info.normalization ?? NORMALIZATION[name as FixedDatasetName], readImages,
  };
}

/**
 * Opens a dataset split by name. Fashion-MNIST is read whole (47 MB for train); CIFAR is indexed (labels read, every
 * file's size checked) and its records read per batch; Tiny ImageNet is indexed (files listed, labels read) and its
 * JPEGs decoded per batch, or once into `cache`.
 */
export async function loadDataset(name: DatasetName, options: LoadDatasetOptions): Promise<Dataset> {
  expectOneOf('name', name, DATASET_NAMES);
  if (name === 'image-folder') {
    if (options?.cache !== undefined) invalidArgument('cache', 'undefined for image-folder (its cache folder is imageFolder.cacheDir)', options.cache);
    if (options.dir === undefined) invalidArgument('dir', 'the image folder (DIR/<class>/* or DIR/train/<class>/* beside DIR/val/<class>/*)', options.dir);
    const o = options;
    const src = await openImageFolder({
      dir: o.dir!, split: o.split, ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}), ...(o.channels !== undefined ? { channels: o.channels } : {}),
      ...(o.testFraction !== undefined ? { testFraction: o.testFraction } : {}), ...(o.splitSeed !== undefined ? { seed: o.splitSeed } : {}),
      ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}), ...(o.skipBad !== undefined ? { skipBad: o.skipBad } : {}),
      ...(o.normalization !== undefined ? { normalization: o.normalization } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.log ? { log: o.log } : {}),
    });
    return {
      name, split: src.split, count: src.count, height: src.height, width: src.width, channels: src.channels, classes: src.classes,
      classNames: src.classNames, labels: src.labels, normalization: src.normalization, readImages: src.readImages,
    };
  }
  for (const k of IMAGE_FOLDER_OPTIONS) {
    if (options?.[k] !== undefined) invalidArgument(k, `undefined for ${name} (an image-folder option)`, options[k]);
  }
  const split = expectOneOf('split', options?.split, ['train', 'test'] as const);
  if (options.cache !== undefined && name !== 'tiny-imagenet') {
    invalidArgument('cache', `undefined for ${name} (only tiny-imagenet has a decoded cache)`, options.cache);
  }
  if (name === 'fashion-mnist') return datasetFromImages(loadFashionMnist({ dir: options.dir, split }), { name, split });
  if (options.dir === undefined) invalidArgument('dir', `the ${DATASETS[name].title} folder`, options.dir);
  const normalization = NORMALIZATION[name];
  if (name === 'cifar10' || name === 'cifar100') {
    const src = openCifar(name, { dir: options.dir, split });
    return {
      name, split, count: src.count, height: src.height, width: src.width, channels: src.channels, classes: src.classes,
      classNames: src.classNames, labels: src.labels, normalization,
      readImages: async (indices, out) => src.readImages(indices, out),
    };
  }
  const src = await openTinyImageNet({ dir: options.dir, split, cache: options.cache });
  return {
    name, split, count: src.count, height: src.height, width: src.width, channels: src.channels, classes: src.classes,
    classNames: src.classNames, labels: src.labels, normalization, readImages: src.readImages,
  };
}

/**
 * The images [start, end) of `dataset` as a dataset of their own (index i is the original start + i): a held-out
 * validation split cut from the end of the training split, or a prefix. Nothing is copied.
 */
export function sliceDataset(dataset: Dataset, start: number, end: number): Dataset {
  expectInteger('start', start, 0, dataset.count);
  expectInteger('end', end, start + 1, dataset.count);
  if (start === 0 && end === dataset.count) return dataset;
  return {
    ...dataset, count: end - start, labels: dataset.labels.subarray(start, end),
    readImages: (indices, out) => dataset.readImages(Array.from(indices, (i) => {
      if (!Number.isInteger(i) || i < 0 || i >= end - start) invalidArgumentText('index', `an integer index in [0, ${end - start})`, String(i));
      return i + start;
    }), out),
  };
}

/** Reads a whole split into memory as an `ImageDataset` (for code that wants all images at once). */
export async function readAllImages(dataset: Dataset, chunk = 1024): Promise<ImageDataset> {
  expectInteger('chunk', chunk, 1);
  const size = dataset.height * dataset.width * dataset.channels;
  const images = new Uint8Array(dataset.count * size);
  for (let start = 0; start < dataset.count; start += chunk) {
    const n = Math.min(chunk, dataset.count - start);
    await dataset.readImages(Array.from({ length: n }, (_, i) => start + i), images.subarray(start * size, (start + n) * size));
  }
  return {
    images, labels: dataset.labels, count: dataset.count, height: dataset.height, width: dataset.width,
    channels: dataset.channels, classes: dataset.classes, classNames: dataset.classNames,
  };
}

/**
 * A seeded permutation of `source` (0..source−1 for a count): the same seed gives the same order on every platform.
 * For one order per epoch pass the same `Rng` each epoch, or a seed derived from (seed, epoch).
 */
export function shuffledIndices(source: number | ArrayLike<number>, rng: Rng | number): number[] {
  const items = typeof source === 'number'
    ? Array.from({ length: expectInteger('count', source, 0) }, (_, i) => i)
    : source && typeof source.length === 'number' ? Array.from(source) : invalidArgument('source', 'a count or an index array', source);
  const r = typeof rng === 'number' ? createRng(expectInteger('seed', rng, 0, 0xffffffff)) : rng;
  if (!r || typeof r.shuffle !== 'function') invalidArgument('rng', 'an Rng from createRng or a uint32 seed', rng);
  return r.shuffle(items);
}

export interface BatchesOptions {
  /** Which images, in which order (default all, in file order); use `shuffledIndices` for a seeded order. */
  indices?: ArrayLike<number>;
  batchSize: number;
  /** 'dataset' (default): the dataset's published constants; 'none': pixel/255; or explicit per-channel values. */
  normalization?: 'dataset' | 'none' | Normalization;
  /** Leave out a last, smaller batch (default false). */
  dropLast?: boolean;
  /** Read the next batch while the caller works on this one (default true; at most two batches are held). */
  prefetch?: boolean;
  /**
   * Seeded augmentation of the pixels before normalisation (training only): batch k is augmented with the draws of
   * `augmentSeed(seed, ...coordinates, firstBatch + k)`, so the result depends on neither prefetching nor resuming
   * (a resumed epoch passes the batches still to do with `firstBatch` = the batches already done).
   */
  augment?: { spec: AugmentSpec; seed: number; coordinates?: readonly number[]; firstBatch?: number };
}

export interface Batch {
  /** NCHW, (pixel/255 − mean[c]) / std[c]. */
  data: Float32Array;
  shape: [number, number, number, number];
  labels: Uint8Array;
  /** Dataset indices of the batch's images. */
  indices: number[];
}

/**
 * Normalised NCHW float batches of `dataset` at `indices`: only the current batch (and, with `prefetch`, the next)
 * is ever read or decoded. Each batch has fresh arrays, safe to keep.
 */
export async function* batches(dataset: Dataset, options: BatchesOptions): AsyncGenerator<Batch> {
  if (!dataset || typeof dataset.readImages !== 'function') invalidArgument('dataset', 'a Dataset from loadDataset or datasetFromImages', dataset);
  const batchSize = expectInteger('batchSize', options?.batchSize, 1);
  const norm = options.normalization ?? 'dataset';
  let normalization: Normalization;
  if (norm === 'dataset') normalization = dataset.normalization;
  else if (norm === 'none') normalization = { mean: new Array(dataset.channels).fill(0), std: new Array(dataset.channels).fill(1) };
  else if (norm && typeof norm === 'object' && Array.isArray(norm.mean) && Array.isArray(norm.std)) normalization = norm;
  else invalidArgument('normalization', '"dataset", "none" or { mean, std }', norm);
  const all = options.indices ?? Array.from({ length: dataset.count }, (_, i) => i);
  if (!all || typeof all.length !== 'number') invalidArgument('indices', 'an array of dataset indices', all);
  const order = Array.from(all);
  order.forEach((idx, b) => {
    if (!Number.isInteger(idx) || idx < 0 || idx >= dataset.count) {
      invalidArgumentText(`indices[${b}]`, `an integer index in [0, ${dataset.count})`, String(idx));
    }
  });
  // Checks mean/std against the channel count before any read.
  toFloatBatch({ images: new Uint8Array(0), count: 0, height: dataset.height, width: dataset.width, channels: dataset.channels }, [], normalization);
  const total = options.dropLast ? order.length - (order.length % batchSize) : order.length;
  const size = dataset.height * dataset.width * dataset.channels;
  const read = (start: number) => {
    const idx = order.slice(start, Math.min(start + batchSize, total));
    const p = dataset.readImages(idx).then((bytes) => ({ idx, bytes }));
    p.catch(() => {}); // a prefetch the caller never reaches (it stopped early) must not be an unhandled rejection
    return p;
  };
  const prefetch = options.prefetch ?? true;
  const aug = options.augment;
  if (aug !== undefined) {
    validateAugmentSpec(aug?.spec, 'augment.spec');
    expectInteger('augment.seed', aug.seed, 0, 0xffffffff);
    expectInteger('augment.firstBatch', aug.firstBatch ?? 0, 0);
  }
  const geometry = { height: dataset.height, width: dataset.width, channels: dataset.channels };
  let pending = total > 0 ? read(0) : undefined;
  for (let start = 0; start < total; start += batchSize) {
    const { idx, bytes } = await pending!;
    const hasNext = start + batchSize < total;
    pending = prefetch && hasNext ? read(start + batchSize) : undefined;
    if (!(bytes instanceof Uint8Array) || bytes.length !== idx.length * size) {
      throw new KqkdError('dataset.readImages', `${idx.length * size} bytes for ${idx.length} images`, String(bytes?.length));
    }
    if (aug && augments(aug.spec)) augmentBatch(bytes, idx.length, geometry, aug.spec, aug.seed, ...(aug.coordinates ?? []), (aug.firstBatch ?? 0) + start / batchSize);
    const { data, shape } = toFloatBatch(
      { images: bytes, count: idx.length, height: dataset.height, width: dataset.width, channels: dataset.channels },
      idx.map((_, b) => b), normalization,
    );
    yield { data, shape, labels: Uint8Array.from(idx, (i) => dataset.labels[i]), indices: idx };
    if (!prefetch && hasNext) pending = read(start + batchSize);
  }
}
