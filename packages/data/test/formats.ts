/** Writers of tiny files in each dataset format, for tests (nothing is downloaded). */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kqkd-data-${prefix}-`));
}

/** The test pixel of record `r` (global index in the split), channel `c`, row `y`, column `x`. */
export const cifarPixel = (r: number, c: number, y: number, x: number): number => (r * 7 + c * 85 + y * 3 + x * 5) % 256;

/** CIFAR records: label bytes then 3072 CHW pixel bytes given by `cifarPixel(first + i, ...)`. */
export function cifarRecords(labels: number[][], first = 0): Uint8Array {
  const labelBytes = labels[0]?.length ?? 1;
  const size = labelBytes + 3072;
  const out = new Uint8Array(labels.length * size);
  labels.forEach((ls, i) => {
    const o = i * size;
    ls.forEach((l, k) => { out[o + k] = l; });
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) out[o + labelBytes + c * 1024 + y * 32 + x] = cifarPixel(first + i, c, y, x);
      }
    }
  });
  return out;
}

/**
 * `<root>/cifar-10-batches-bin/` with data_batch_1..5 holding 2,1,1,1,2 records (labels `train`), test_batch.bin
 * (labels `test`) and batches.meta.txt. Returns the root.
 */
export function writeCifar10(root: string, train = [3, 9, 0, 1, 2, 5, 7], test = [4, 6]): string {
  const dir = join(root, 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  const perFile = [2, 1, 1, 1, train.length - 5];
  let first = 0;
  perFile.forEach((n, f) => {
    writeFileSync(join(dir, `data_batch_${f + 1}.bin`), cifarRecords(train.slice(first, first + n).map((l) => [l]), first));
    first += n;
  });
  writeFileSync(join(dir, 'test_batch.bin'), cifarRecords(test.map((l) => [l])));
  writeFileSync(join(dir, 'batches.meta.txt'), `${['plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'].join('\n')}\n\n`);
  return root;
}

/** `<root>/cifar-100-binary/` with train.bin / test.bin ([coarse, fine] labels) and fine_label_names.txt. */
export function writeCifar100(root: string, train: number[][], test: number[][], names?: string[]): string {
  const dir = join(root, 'cifar-100-binary');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.bin'), cifarRecords(train));
  writeFileSync(join(dir, 'test.bin'), cifarRecords(test));
  if (names) writeFileSync(join(dir, 'fine_label_names.txt'), `${names.join('\n')}\n`);
  return root;
}

export type Rgb = [number, number, number];

/** A 64×64 RGB image whose quadrants (32×32, aligned to JPEG blocks) are `q[0]` TL, `q[1]` TR, `q[2]` BL, `q[3]` BR. */
export function quadrants(q: [Rgb, Rgb, Rgb, Rgb], side = 64): Buffer {
  const half = side / 2;
  const out = Buffer.alloc(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const colour = q[(y < half ? 0 : 2) + (x < half ? 0 : 1)];
      out.set(colour, (y * side + x) * 3);
    }
  }
  return out;
}

export async function writeJpeg(path: string, rgb: Buffer, side = 64): Promise<void> {
  await sharp(rgb, { raw: { width: side, height: side, channels: 3 } })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toFile(path);
}

/** A single-channel (greyscale) JPEG, left half `left`, right half `right`. */
export async function writeGreyJpeg(path: string, left: number, right: number, side = 64): Promise<void> {
  const grey = Buffer.alloc(side * side);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) grey[y * side + x] = x < side / 2 ? left : right;
  await sharp(grey, { raw: { width: side, height: side, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 100 }).toFile(path);
}

export const TINY_WNIDS = ['n01443537', 'n01629819', 'n01641577'];

/** Quadrant colours of train image `i` of class `c`, and of val image `i`. */
export const trainColours = (c: number, i: number): [Rgb, Rgb, Rgb, Rgb] =>
  [[200, 30 * c, 40 * i], [10, 120, 250], [60 + 40 * c, 200, 20], [128, 128, 40 + 50 * i]];
export const valColours = (i: number): [Rgb, Rgb, Rgb, Rgb] => [[20 * i, 220, 100], [250, 10, 10], [10, 250, 10], [10, 10, 250]];

/**
 * `<root>/tiny-imagenet-200/`: 3 classes, 2 train images each (class 1's image 1 greyscale: left 40, right 220),
 * 3 val images val_0 (class 2), val_1 (class 0), val_2 (class 1), with words.txt and val_annotations.txt.
 */
export async function writeTinyImageNet(root: string): Promise<string> {
  const dir = join(root, 'tiny-imagenet-200');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'wnids.txt'), `${TINY_WNIDS.join('\n')}\n`);
  writeFileSync(join(dir, 'words.txt'), [
    'n00001740\tentity', 'n01443537\tgoldfish, Carassius auratus', 'n01629819\tEuropean fire salamander, Salamandra salamandra',
    'n01641577\tbullfrog, Rana catesbeiana', 'n09999999\tunused',
  ].join('\n'));
  for (const [c, w] of TINY_WNIDS.entries()) {
    const images = join(dir, 'train', w, 'images');
    mkdirSync(images, { recursive: true });
    writeFileSync(join(dir, 'train', w, `${w}_boxes.txt`), '');
    for (let i = 0; i < 2; i++) {
      const path = join(images, `${w}_${i}.JPEG`);
      if (c === 1 && i === 1) await writeGreyJpeg(path, 40, 220);
      else await writeJpeg(path, quadrants(trainColours(c, i)));
    }
  }
  const val = join(dir, 'val', 'images');
  mkdirSync(val, { recursive: true });
  for (let i = 0; i < 3; i++) await writeJpeg(join(val, `val_${i}.JPEG`), quadrants(valColours(i)));
  writeFileSync(join(dir, 'val', 'val_annotations.txt'),
    `val_0.JPEG\t${TINY_WNIDS[2]}\t0\t32\t44\t62\nval_1.JPEG\t${TINY_WNIDS[0]}\t52\t37\t61\t63\nval_2.JPEG\t${TINY_WNIDS[1]}\t4\t0\t60\t55\n`);
  return root;
}

/** An IDX file: uint8 data with `dims`. */
export function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = 0x08;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
