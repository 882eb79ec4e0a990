/**
 * CIFAR-10 and CIFAR-100 in their official binary format. A record is the label byte(s) followed by 3072 pixel
 * bytes in CHW order (1024 red, 1024 green, 1024 blue, rows top to bottom). Readers convert to the HWC layout of
 * `ImageDataset` once, at the read, so `toFloatBatch` and every other consumer see one layout.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KqkdError, expectOneOf, invalidArgument } from '@kqkd/common';
import type { ImageDataset } from './fashion-mnist.js';

export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;

/** CIFAR-100's fine labels, in label order (as in the binary release's fine_label_names.txt). */
export const CIFAR100_CLASSES = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle',
  'bowl', 'boy', 'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle',
  'chair', 'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur',
  'dolphin', 'elephant', 'flatfish', 'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
  'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain',
  'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree',
  'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road', 'rocket',
  'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider',
  'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger', 'tractor',
  'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm',
] as const;

/** Training-set per-channel statistics of pixel/255 (R, G, B), the usual published constants. */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465] as const;
export const CIFAR10_STD = [0.2470, 0.2435, 0.2616] as const;
export const CIFAR100_MEAN = [0.5071, 0.4865, 0.4409] as const;
export const CIFAR100_STD = [0.2673, 0.2564, 0.2762] as const;

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;

export type CifarVariant = 'cifar10' | 'cifar100';

interface Spec {
  title: string;
  folder: string;
  labelBytes: number;
  /** Which label byte is the label used (CIFAR-100: the fine one, after the coarse one). */
  labelAt: number;
  /** Range checks per label byte: [coarse, fine] for CIFAR-100. */
  labelLimits: number[];
  files: Record<'train' | 'test', string[]>;
  namesFile: string;
  classNames: readonly string[];
}

const SPECS: Record<CifarVariant, Spec> = {
  cifar10: {
    title: 'CIFAR-10', folder: 'cifar-10-batches-bin', labelBytes: 1, labelAt: 0, labelLimits: [10],
    files: { train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: ['test_batch.bin'] },
    namesFile: 'batches.meta.txt', classNames: CIFAR10_CLASSES,
  },
  cifar100: {
    title: 'CIFAR-100', folder: 'cifar-100-binary', labelBytes: 2, labelAt: 1, labelLimits: [20, 100],
    files: { train: ['train.bin'], test: ['test.bin'] },
    namesFile: 'fine_label_names.txt', classNames: CIFAR100_CLASSES,
  },
};

export interface LoadCifarOptions {
  /** The extracted folder (`cifar-10-batches-bin/`, `cifar-100-binary/`) or the folder that holds it. */
  dir: string;
  split: 'train' | 'test';
}

/** One record file: where it is and how many records it holds. */
interface RecordFile {
  path: string;
  records: number;
  /** Index of this file's first record in the split. */
  first: number;
}

/**
 * A CIFAR split indexed without holding its pixels: labels in memory (3 KB per 1000 images), images read record by
 * record on demand. `readImages` returns HWC bytes.
 */
export interface CifarSource {
  variant: CifarVariant;
  split: 'train' | 'test';
  /** The folder the files were found in. */
  dir: string;
  files: readonly { path: string; records: number }[];
  count: number;
  height: 32;
  width: 32;
  channels: 3;
  classes: number;
  classNames: readonly string[];
  /** The label used (CIFAR-100: fine). */
  labels: Uint8Array;
  /** CIFAR-100 only: the coarse (superclass) labels, 0..19. */
  coarseLabels?: Uint8Array;
  /** HWC bytes of the images at `indices`, image after image, into `out` when given (length ≥ n×3072). */
  readImages(indices: ArrayLike<number>, out?: Uint8Array): Uint8Array;
}

function fail(spec: Spec, file: string, expected: string, received: string, detail?: string): never {
  throw new KqkdError(`${spec.title} file "${file}"`, expected, received, detail);
}

/** The folder holding the split's files: `dir` itself, or `dir/<official folder name>`. */
function resolveDir(spec: Spec, dir: string, split: 'train' | 'test'): string {
  if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a folder path', dir);
  const first = spec.files[split][0];
  for (const candidate of [dir, join(dir, spec.folder)]) {
    if (existsSync(join(candidate, first))) return candidate;
  }
  if (!existsSync(dir)) {
    throw new KqkdError(`${spec.title} folder "${dir}"`, 'an existing folder', 'nothing at that path');
  }
  throw new KqkdError(`${spec.title} file "${join(dir, first)}"`, 'an existing file',
    `nothing at that path nor at "${join(dir, spec.folder, first)}"`,
    `pass the extracted ${spec.folder}/ folder (the binary version) or the folder holding it`);
}

/** Record size of the other variant, to explain a wrong-variant folder. */
function otherHint(spec: Spec, size: number): string | undefined {
  const other = spec.labelBytes === 1 ? SPECS.cifar100 : SPECS.cifar10;
  const otherSize = other.labelBytes + PIXELS;
  return size > 0 && size % otherSize === 0 ? `its size fits ${other.title} records of ${otherSize} bytes` : undefined;
}

function fileRecords(spec: Spec, path: string): number {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) fail(spec, path, 'a regular file', 'a folder or special file');
    size = st.size;
  } catch (err) {
    if (err instanceof KqkdError) throw err;
    fail(spec, path, 'an existing, readable file', (err as NodeJS.ErrnoException).code ?? 'an unreadable path', (err as Error).message);
  }
  const recordSize = spec.labelBytes + PIXELS;
  const what = `${recordSize}-byte records (${spec.labelBytes === 1 ? '1 label byte' : 'coarse + fine label bytes'} + ${PIXELS} pixel bytes)`;
  if (size === 0) fail(spec, path, `at least one record of ${what}`, 'an empty file');
  if (size % recordSize !== 0) {
    const whole = Math.floor(size / recordSize);
    fail(spec, path, `a whole number of ${what}`,
      `${size} bytes: ${whole} record(s) and a truncated record of ${size % recordSize} bytes`, otherHint(spec, size));
  }
  return size / recordSize;
}

function readNames(spec: Spec, dir: string): readonly string[] {
  const path = join(dir, spec.namesFile);
  if (!existsSync(path)) return spec.classNames;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(spec, path, 'a readable text file', (err as NodeJS.ErrnoException).code ?? 'an unreadable path', (err as Error).message);
  }
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  const classes = spec.labelLimits[spec.labelAt];
  if (names.length !== classes) fail(spec, path, `${classes} class names, one a line`, `${names.length}`);
  return names;
}

/** Walks all records of `file` in chunks, calling `visit(record bytes, index in split)`. */
function scan(spec: Spec, file: RecordFile, visit: (record: Uint8Array, index: number) => void): void {
  const recordSize = spec.labelBytes + PIXELS;
  const perChunk = Math.max(1, Math.floor((4 << 20) / recordSize));
  const chunk = new Uint8Array(perChunk * recordSize);
  const fd = openSync(file.path, 'r');
  try {
    for (let r = 0; r < file.records; r += perChunk) {
      const n = Math.min(perChunk, file.records - r);
      const want = n * recordSize;
      let got = 0;
      while (got < want) {
        const k = readSync(fd, chunk, got, want - got, r * recordSize + got);
        if (k === 0) fail(spec, file.path, `${file.records * recordSize} bytes`, `end of file after ${r * recordSize + got} (truncated while reading)`);
        got += k;
      }
      for (let i = 0; i < n; i++) visit(chunk.subarray(i * recordSize, (i + 1) * recordSize), file.first + r + i);
    }
  } finally {
    closeSync(fd);
  }
}

/** Copies one record's CHW pixels into HWC at `dst[off..off+3072)`. */
function chwToHwc(record: Uint8Array, pixelStart: number, dst: Uint8Array, off: number): void {
  const plane = SIDE * SIDE;
  for (let p = 0; p < plane; p++) {
    const o = off + 3 * p;
    dst[o] = record[pixelStart + p];
    dst[o + 1] = record[pixelStart + plane + p];
    dst[o + 2] = record[pixelStart + 2 * plane + p];
  }
}

function indexSplit(variant: CifarVariant, options: LoadCifarOptions): { spec: Spec; dir: string; split: 'train' | 'test'; files: RecordFile[]; count: number } {
  const spec = SPECS[variant];
  const split = expectOneOf('split', options?.split, ['train', 'test'] as const);
  const dir = resolveDir(spec, options.dir, split);
  const files: RecordFile[] = [];
  let count = 0;
  for (const name of spec.files[split]) {
    const path = join(dir, name);
    if (!existsSync(path)) {
      fail(spec, path, 'an existing file', 'nothing at that path', `${spec.title} ${split} needs ${spec.files[split].join(', ')}`);
    }
    const records = fileRecords(spec, path);
    files.push({ path, records, first: count });
    count += records;
  }
  if (count > 0xffffffff) fail(spec, dir, 'fewer than 2^32 records', String(count));
  return { spec, dir, split, files, count };
}

function checkLabels(spec: Spec, file: RecordFile, record: Uint8Array, index: number): void {
  for (let b = 0; b < spec.labelBytes; b++) {
    if (record[b] >= spec.labelLimits[b]) {
      const kind = spec.labelBytes === 1 ? 'label' : b === 0 ? 'coarse label' : 'fine label';
      fail(spec, file.path, `${kind}s 0..${spec.labelLimits[b] - 1}`,
        `${record[b]} in record ${index - file.first} (byte offset ${(index - file.first) * (spec.labelBytes + PIXELS) + b})`);
    }
  }
}

/**
 * Indexes a CIFAR split for on-demand reading: checks every file's size, reads and range-checks every label (one
 * pass over the files in 4 MB chunks), holds no pixels.
 */
export function openCifar(variant: CifarVariant, options: LoadCifarOptions): CifarSource {
  expectOneOf('variant', variant, ['cifar10', 'cifar100'] as const);
  const { spec, dir, split, files, count } = indexSplit(variant, options);
  const classNames = readNames(spec, dir);
  const labels = new Uint8Array(count);
  const coarse = spec.labelBytes === 2 ? new Uint8Array(count) : undefined;
  for (const file of files) {
    scan(spec, file, (record, i) => {
      checkLabels(spec, file, record, i);
      labels[i] = record[spec.labelAt];
      if (coarse) coarse[i] = record[0];
    });
  }
  const recordSize = spec.labelBytes + PIXELS;
  const record = new Uint8Array(recordSize);
  const readImages = (indices: ArrayLike<number>, out?: Uint8Array): Uint8Array => {
    const n = indices.length;
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < n * PIXELS)) {
      invalidArgument('out', `a Uint8Array of at least ${n * PIXELS}`, out);
    }
    const dst = out ? out.subarray(0, n * PIXELS) : new Uint8Array(n * PIXELS);
    // Group by file so each file is opened once per call.
    const order = Array.from({ length: n }, (_, b) => b);
    for (let b = 0; b < n; b++) {
      const idx = indices[b];
      if (!Number.isInteger(idx) || idx < 0 || idx >= count) {
        invalidArgument(`indices[${b}]`, `an integer index in [0, ${count})`, idx);
      }
    }
    const fileOf = (idx: number) => {
      let f = files.length - 1;
      while (files[f].first > idx) f--;
      return f;
    };
    order.sort((a, b) => indices[a] - indices[b]);
    let current = -1;
    let fd = -1;
    try {
      for (const b of order) {
        const idx = indices[b];
        const f = fileOf(idx);
        if (f !== current) {
          if (fd >= 0) closeSync(fd);
          fd = -1;
          try {
            fd = openSync(files[f].path, 'r');
          } catch (err) {
            fail(spec, files[f].path, 'a readable file', (err as NodeJS.ErrnoException).code ?? 'an unreadable path', (err as Error).message);
          }
          if (fstatSync(fd).size !== files[f].records * recordSize) {
            fail(spec, files[f].path, `${files[f].records * recordSize} bytes (its size when indexed)`, `${fstatSync(fd).size} bytes (the file changed)`);
          }
          current = f;
        }
        const pos = (idx - files[f].first) * recordSize;
        let got = 0;
        while (got < recordSize) {
          const k = readSync(fd, record, got, recordSize - got, pos + got);
          if (k === 0) fail(spec, files[f].path, `${files[f].records * recordSize} bytes`, `end of file at ${pos + got} (truncated)`);
          got += k;
        }
        chwToHwc(record, spec.labelBytes, dst, b * PIXELS);
      }
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    return dst;
  };
  return {
    variant, split, dir, files: files.map(({ path, records }) => ({ path, records })), count,
    height: SIDE, width: SIDE, channels: 3, classes: classNames.length, classNames, labels,
    ...(coarse ? { coarseLabels: coarse } : {}), readImages,
  };
}

function loadCifar(variant: CifarVariant, options: LoadCifarOptions): ImageDataset & { coarseLabels?: Uint8Array } {
  const { spec, dir, files, count } = indexSplit(variant, options);
  const classNames = readNames(spec, dir);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  const coarse = spec.labelBytes === 2 ? new Uint8Array(count) : undefined;
  for (const file of files) {
    scan(spec, file, (record, i) => {
      checkLabels(spec, file, record, i);
      labels[i] = record[spec.labelAt];
      if (coarse) coarse[i] = record[0];
      chwToHwc(record, spec.labelBytes, images, i * PIXELS);
    });
  }
  return {
    images, labels, count, height: SIDE, width: SIDE, channels: 3, classes: classNames.length, classNames,
    ...(coarse ? { coarseLabels: coarse } : {}),
  };
}

/**
 * CIFAR-10 (`data_batch_1..5.bin` for train, `test_batch.bin` for test) fully in memory, pixels converted from the
 * file's CHW to HWC. Class names from `batches.meta.txt` when present, else the official list.
 */
export function loadCifar10(options: LoadCifarOptions): ImageDataset {
  return loadCifar('cifar10', options);
}

/**
 * CIFAR-100 (`train.bin` / `test.bin`) fully in memory with the FINE labels (0..99; `coarseLabels` 0..19 alongside),
 * pixels converted from CHW to HWC. Class names from `fine_label_names.txt` when present, else the official list.
 */
export function loadCifar100(options: LoadCifarOptions): ImageDataset & { coarseLabels: Uint8Array } {
  return loadCifar('cifar100', options) as ImageDataset & { coarseLabels: Uint8Array };
}
