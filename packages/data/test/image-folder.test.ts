/**
 * The image-folder dataset on small folders written here with sharp. Expectations are independent of the code under
 * test: pixels written into lossless PNG/WebP files (or sharp's own decode of a JPEG), hand-cropped arrays, a
 * resize+crop done by sharp's `fit: 'cover'` (another code path than `preprocessImage`'s resize then extract), and
 * float64 statistics recomputed from the written pixels.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { batches, loadDataset, openImageFolder, preprocessImage } from '../src/index.js';
import { tempDir } from './formats.js';

const made: string[] = [];
const fresh = (p: string) => { const d = tempDir(p); made.push(d); return d; };
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Deterministic pixels of image `k`: HWC bytes of a w×h×c image. */
const pixelsOf = (k: number, w: number, h: number, c: number) =>
  Uint8Array.from({ length: w * h * c }, (_, i) => (k * 37 + i * 11 + Math.floor(i / (w * c)) * 5) % 256);

async function writeImage(path: string, pixels: Uint8Array, w: number, h: number, c: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const img = sharp(Buffer.from(pixels), { raw: { width: w, height: h, channels: c as 1 | 3 } });
  const out = format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 90 }) : img.webp({ lossless: true });
  writeFileSync(path, await out.toBuffer());
}

const SIDE = 6;
/** Written pixels by relative path, for the expectations. */
type Written = Map<string, Uint8Array>;

/** DIR/train/<class>/*.png and DIR/val/<class>/*.png, classes in an unsorted creation order. */
async function splitFolder(counts: Record<string, [number, number]>): Promise<{ dir: string; written: Written }> {
  const dir = fresh('split');
  const written: Written = new Map();
  let k = 0;
  for (const [cls, [nTrain, nVal]] of Object.entries(counts)) {
    for (const [split, n] of [['train', nTrain], ['val', nVal]] as const) {
      for (let i = 0; i < n; i++) {
        const rel = `${split}/${cls}/img${i}.png`;
        const px = pixelsOf(k++, SIDE, SIDE, 3);
        await writeImage(join(dir, rel), px, SIDE, SIDE, 3);
        written.set(rel, px);
      }
    }
  }
  return { dir, written };
}

async function singleFolder(counts: Record<string, number>): Promise<{ dir: string; written: Written }> {
  const dir = fresh('single');
  const written: Written = new Map();
  let k = 0;
  for (const [cls, n] of Object.entries(counts)) {
    for (let i = 0; i < n; i++) {
      const rel = `${cls}/${String(i).padStart(3, '0')}.png`;
      const px = pixelsOf(k++, SIDE, SIDE, 3);
      await writeImage(join(dir, rel), px, SIDE, SIDE, 3);
      written.set(rel, px);
    }
  }
  return { dir, written };
}

const rel = (dir: string, file: string) => file.slice(dir.length + 1);

describe('preprocessImage (independent references: written pixels, hand crops, sharp cover)', () => {
  it('a PNG written from known pixels round-trips exactly at its own size (RGB and greyscale)', async () => {
    const dir = fresh('px');
    const rgb = pixelsOf(1, 8, 8, 3);
    await writeImage(join(dir, 'rgb.png'), rgb, 8, 8, 3);
    expect(Array.from(await preprocessImage(join(dir, 'rgb.png'), { size: 8, channels: 3 }))).toEqual(Array.from(rgb));
    const grey = pixelsOf(2, 8, 8, 1);
    await writeImage(join(dir, 'grey.png'), grey, 8, 8, 1);
    expect(Array.from(await preprocessImage(readFileSync(join(dir, 'grey.png')), { size: 8, channels: 1 }))).toEqual(Array.from(grey));
    // grey → RGB replicates the channel
    const rep = await preprocessImage(join(dir, 'grey.png'), { size: 8, channels: 3 });
    expect(Array.from(rep)).toEqual(Array.from(grey).flatMap((v) => [v, v, v]));
    // RGB → grey: ITU-R 601-2 luma (PIL convert('L')), within 1 for PIL's fixed-point rounding
    const luma = await preprocessImage(join(dir, 'rgb.png'), { size: 8, channels: 1 });
    const want = Array.from({ length: 64 }, (_, p) => 0.299 * rgb[3 * p] + 0.587 * rgb[3 * p + 1] + 0.114 * rgb[3 * p + 2]);
    want.forEach((v, p) => expect(Math.abs(luma[p] - v)).toBeLessThanOrEqual(0.5 + 1e-9));
  });

  it('a 4×2 and a 2×6 image at size 2 keep the centre square, by hand (no resize needed)', async () => {
    const dir = fresh('crop');
    // 4 wide × 2 tall, greyscale: row y, column x = 10·y + x
    const wide = Uint8Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
    await writeImage(join(dir, 'wide.png'), wide, 4, 2, 1);
    expect(Array.from(await preprocessImage(join(dir, 'wide.png'), { size: 2, channels: 1 }))).toEqual([1, 2, 11, 12]);
    // 2 wide × 6 tall: rows 2 and 3 are kept
    const tall = Uint8Array.from({ length: 12 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
    await writeImage(join(dir, 'tall.png'), tall, 2, 6, 1);
    expect(Array.from(await preprocessImage(join(dir, 'tall.png'), { size: 2, channels: 1 }))).toEqual([20, 21, 30, 31]);
  });

  it('resize + centre crop of a non-square image equals sharp\'s fit "cover" pipeline (integer aspect)', async () => {
    const dir = fresh('cover');
    for (const [w, h] of [[40, 24], [24, 40], [64, 48]]) {
      const px = pixelsOf(w, w, h, 3);
      const path = join(dir, `${w}x${h}.png`);
      await writeImage(path, px, w, h, 3);
      const ref = await sharp(path).resize(12, 12, { fit: 'cover', position: 'centre' }).raw().toBuffer();
      const got = await preprocessImage(path, { size: 12, channels: 3 });
      expect(got.length).toBe(12 * 12 * 3);
      expect(Array.from(got)).toEqual(Array.from(ref));
    }
  });

  it('33×20 at size 12: the longer side goes to round(33·12/20) = 20, then columns 4..15 are kept (crop done here by indexing)', async () => {
    const dir = fresh('odd');
    const px = pixelsOf(5, 33, 20, 3);
    const path = join(dir, 'odd.png');
    await writeImage(path, px, 33, 20, 3);
    const resized = await sharp(path).resize(20, 12, { fit: 'fill' }).raw().toBuffer();
    const want: number[] = [];
    for (let y = 0; y < 12; y++) for (let x = 4; x < 16; x++) for (let c = 0; c < 3; c++) want.push(resized[(y * 20 + x) * 3 + c]);
    expect(Array.from(await preprocessImage(path, { size: 12, channels: 3 }))).toEqual(want);
  });

  it('JPEG decodes as sharp decodes it; lossless WebP round-trips exactly; a GIF is refused by name', async () => {
    const dir = fresh('fmt');
    const px = pixelsOf(3, 16, 16, 3);
    await writeImage(join(dir, 'a.jpg'), px, 16, 16, 3, 'jpeg');
    await writeImage(join(dir, 'a.webp'), px, 16, 16, 3, 'webp');
    const ref = await sharp(join(dir, 'a.jpg')).raw().toBuffer();
    expect(Array.from(await preprocessImage(join(dir, 'a.jpg'), { size: 16, channels: 3 }))).toEqual(Array.from(ref));
    expect(Array.from(await preprocessImage(join(dir, 'a.webp'), { size: 16, channels: 3 }))).toEqual(Array.from(px));
    writeFileSync(join(dir, 'a.gif'), await sharp(Buffer.from(px), { raw: { width: 16, height: 16, channels: 3 } }).gif().toBuffer());
    await expect(preprocessImage(join(dir, 'a.gif'), { size: 16, channels: 3 })).rejects.toThrow(/JPEG, PNG or WebP image for image ".*a\.gif" but received gif image data/);
  });
});

describe('openImageFolder', () => {
  it('train/ + val/: labels follow the sorted folder names, every image holds its file\'s pixels', async () => {
    const { dir, written } = await splitFolder({ dog: [3, 2], cat: [2, 1], ant: [4, 2] });
    const train = await openImageFolder({ dir, split: 'train', imageSize: SIDE });
    expect(train.classNames).toEqual(['ant', 'cat', 'dog']);
    expect(train.count).toBe(9);
    expect([...train.files].map((f) => rel(dir, f)).sort()).toEqual([...written.keys()].filter((k) => k.startsWith('train/')).sort());
    const bytes = await train.readImages(Array.from({ length: train.count }, (_, i) => i));
    train.files.forEach((f, i) => {
      const r = rel(dir, f);
      expect(train.labels[i]).toBe(['ant', 'cat', 'dog'].indexOf(r.split('/')[1]));
      expect(Array.from(bytes.subarray(i * SIDE * SIDE * 3, (i + 1) * SIDE * SIDE * 3))).toEqual(Array.from(written.get(r)!));
    });
    const val = await openImageFolder({ dir, split: 'val', imageSize: SIDE });
    expect(val.split).toBe('test');
    expect(val.files.map((f) => rel(dir, f))).toEqual(['val/ant/img0.png', 'val/ant/img1.png', 'val/cat/img0.png', 'val/dog/img0.png', 'val/dog/img1.png']);
    expect(Array.from(val.labels)).toEqual([0, 0, 1, 2, 2]);
    // the test split reports the TRAINING part's statistics
    expect(val.normalization).toEqual(train.normalization);
  });

  it('mean/std of pixel/255 on the training part equal a float64 two-pass computation over the written pixels', async () => {
    const { dir, written } = await splitFolder({ a: [3, 1], b: [2, 1] });
    const train = await openImageFolder({ dir, split: 'train', imageSize: SIDE });
    const mean = [0, 0, 0];
    const sq = [0, 0, 0];
    let n = 0;
    const trainPx = [...written].filter(([k]) => k.startsWith('train/')).map(([, v]) => v);
    for (const px of trainPx) for (let p = 0; p < px.length; p += 3) { for (let c = 0; c < 3; c++) mean[c] += px[p + c] / 255; n++; }
    for (let c = 0; c < 3; c++) mean[c] /= n;
    for (const px of trainPx) for (let p = 0; p < px.length; p += 3) for (let c = 0; c < 3; c++) sq[c] += (px[p + c] / 255 - mean[c]) ** 2;
    const std = sq.map((s) => Math.sqrt(s / n));
    train.normalization.mean.forEach((v, c) => expect(v).toBeCloseTo(mean[c], 12));
    train.normalization.std.forEach((v, c) => expect(v).toBeCloseTo(std[c], 12));
    const manifest = JSON.parse(readFileSync(train.manifest, 'utf8'));
    expect(manifest.normalization).toEqual(train.normalization);
    // and loadDataset's batches normalise with them
    const ds = await loadDataset('image-folder', { dir, split: 'train', imageSize: SIDE });
    const first = (await batches(ds, { batchSize: 1 }).next()).value!;
    const px0 = written.get(rel(dir, train.files[0]))!;
    expect(first.data[0]).toBeCloseTo((px0[0] / 255 - mean[0]) / std[0], 5);
    expect(first.data[SIDE * SIDE + 1]).toBeCloseTo((px0[4] / 255 - mean[1]) / std[1], 5); // channel 1 of pixel 1
  });

  it('a single folder is split per class by a seeded fraction: balanced, disjoint, repeatable', async () => {
    const { dir, written } = await singleFolder({ b: 10, a: 20, c: 5 });
    const tr = await openImageFolder({ dir, split: 'train', imageSize: SIDE, testFraction: 0.2 });
    const te = await openImageFolder({ dir, split: 'test', imageSize: SIDE, testFraction: 0.2 });
    expect(tr.classNames).toEqual(['a', 'b', 'c']);
    const per = (labels: Uint8Array) => [0, 1, 2].map((c) => labels.filter((l) => l === c).length);
    expect(per(te.labels)).toEqual([4, 2, 1]); // round(20·0.2), round(10·0.2), round(5·0.2)
    expect(per(tr.labels)).toEqual([16, 8, 4]);
    const trainFiles = new Set(tr.files.map((f) => rel(dir, f)));
    const testFiles = te.files.map((f) => rel(dir, f));
    expect(testFiles.some((f) => trainFiles.has(f))).toBe(false);
    expect([...trainFiles, ...testFiles].sort()).toEqual([...written.keys()].sort());
    // same seed, another cache folder: the same split; another seed: another split
    const again = await openImageFolder({ dir, split: 'test', imageSize: SIDE, testFraction: 0.2, cacheDir: fresh('c2') });
    expect(again.files).toEqual(te.files);
    const other = await openImageFolder({ dir, split: 'test', imageSize: SIDE, testFraction: 0.2, seed: 7, cacheDir: fresh('c3') });
    expect(per(other.labels)).toEqual([4, 2, 1]);
    expect(other.files).not.toEqual(te.files);
  });

  it('refuses a corrupt image, an empty class, a class missing from a split and a non-image file, naming each', async () => {
    const corrupt = await splitFolder({ a: [2, 1], b: [2, 1] });
    writeFileSync(join(corrupt.dir, 'train/b/img1.png'), Buffer.from('not a png at all'));
    await expect(openImageFolder({ dir: corrupt.dir, split: 'train', imageSize: SIDE }))
      .rejects.toThrow(/Expected a decodable JPEG, PNG or WebP image for image ".*train\/b\/img1\.png" but received unreadable image data/);

    const empty = await splitFolder({ a: [2, 1], b: [2, 1] });
    mkdirSync(join(empty.dir, 'train/c'));
    mkdirSync(join(empty.dir, 'val/c'));
    writeFileSync(join(empty.dir, 'val/c/x.png'), readFileSync(join(empty.dir, 'val/a/img0.png')));
    await expect(openImageFolder({ dir: empty.dir, split: 'train', imageSize: SIDE }))
      .rejects.toThrow(/for class folder ".*train\/c" but received an empty folder/);

    const missing = await splitFolder({ a: [2, 1], b: [2, 1], c: [2, 0] });
    await expect(openImageFolder({ dir: missing.dir, split: 'train', imageSize: SIDE }))
      .rejects.toThrow(/Expected the same class folders as ".*train" \(3 classes\) for image folder ".*val" but received class "c" missing/);

    const text = await splitFolder({ a: [2, 1], b: [2, 1] });
    writeFileSync(join(text.dir, 'train/a/notes.txt'), 'hello');
    await expect(openImageFolder({ dir: text.dir, split: 'train', imageSize: SIDE }))
      .rejects.toThrow(/Expected an image file \(\.jpg, \.jpeg, \.png, \.webp\) for image folder ".*train" but received a non-image file: ".*train\/a\/notes\.txt"/);
  });

  it('skipBad skips the bad files, lists them with their reasons in the cache folder, and keeps the rest', async () => {
    const { dir, written } = await splitFolder({ a: [3, 1], b: [2, 1] });
    writeFileSync(join(dir, 'train/a/img1.png'), Buffer.from('garbage'));
    writeFileSync(join(dir, 'train/b/readme.txt'), 'hello');
    const lines: string[] = [];
    const tr = await openImageFolder({ dir, split: 'train', imageSize: SIDE, skipBad: true, log: (l) => lines.push(l) });
    expect(tr.count).toBe(4);
    expect(tr.files.map((f) => rel(dir, f)).sort()).toEqual(['train/a/img0.png', 'train/a/img2.png', 'train/b/img0.png', 'train/b/img1.png']);
    const bytes = await tr.readImages(Array.from({ length: 4 }, (_, i) => i));
    tr.files.forEach((f, i) => expect(Array.from(bytes.subarray(i * 108, (i + 1) * 108))).toEqual(Array.from(written.get(rel(dir, f))!)));
    const list = readFileSync(tr.badList!, 'utf8').trim().split('\n').map((l) => l.split('\t'));
    expect(tr.badList!.startsWith(join(dir, '.kqkd-cache'))).toBe(true);
    expect(list.map(([f]) => rel(dir, f)).sort()).toEqual(['train/a/img1.png', 'train/b/readme.txt']);
    expect(list.find(([f]) => f.endsWith('img1.png'))![1]).toMatch(/^unreadable image data/);
    expect(list.find(([f]) => f.endsWith('readme.txt'))![1]).toMatch(/^a non-image file/);
    expect(lines).toEqual([`image folder train: skipped 2 bad file(s), listed in ${tr.badList}`]);
    // reopened without skipBad the same folder is refused (from the manifest, without decoding again)
    await expect(openImageFolder({ dir, split: 'train', imageSize: SIDE })).rejects.toThrow(/non-image file: ".*readme\.txt"/);
  });

  it('reuses the cache (nothing decoded, file untouched) and rebuilds it when a file or the image size changes', async () => {
    const { dir } = await splitFolder({ a: [2, 1], b: [2, 1] });
    const first = await openImageFolder({ dir, split: 'train', imageSize: SIDE });
    expect(first.decoded).toBe(4);
    const mtime = statSync(first.cache).mtimeMs;
    const again = await openImageFolder({ dir, split: 'train', imageSize: SIDE });
    expect(again.decoded).toBe(0);
    expect(statSync(again.cache).mtimeMs).toBe(mtime);
    // one file rewritten with other pixels (same size in bytes is not assumed; its mtime is set apart)
    const path = join(dir, 'train/b/img0.png');
    const newPx = pixelsOf(99, SIDE, SIDE, 3);
    await writeImage(path, newPx, SIDE, SIDE, 3);
    utimesSync(path, new Date(2001, 1, 1), new Date(2001, 1, 1));
    const changed = await openImageFolder({ dir, split: 'train', imageSize: SIDE });
    expect(changed.decoded).toBe(4);
    const i = changed.files.indexOf(path);
    expect(Array.from(await changed.readImages([i]))).toEqual(Array.from(newPx));
    // another image size: another cache, decoded
    const smaller = await openImageFolder({ dir, split: 'train', imageSize: 3 });
    expect(smaller.decoded).toBe(4);
    expect(smaller.cache).not.toBe(changed.cache);
    expect(statSync(smaller.cache).size).toBe(4 * 3 * 3 * 3);
  });

  it('a test split with a given normalisation does not decode the training split', async () => {
    const { dir } = await splitFolder({ a: [2, 1], b: [2, 1] });
    const te = await openImageFolder({ dir, split: 'test', imageSize: SIDE, normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } });
    expect(te.normalization).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    expect(existsSync(join(dir, '.kqkd-cache', `train-${SIDE}x${SIDE}x3.u8`))).toBe(false);
    await expect(loadDataset('cifar10', { dir, split: 'train', imageSize: 8 })).rejects.toThrow(/for imageSize but received 8/);
  });
});
