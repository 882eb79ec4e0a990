/**
 * Tiny ImageNet (tiny-imagenet-200) in its folder layout: `wnids.txt` (one WordNet id per class, in label order),
 * `words.txt` (wnid TAB names), `train/<wnid>/images/*.JPEG`, `val/images/*.JPEG` + `val/val_annotations.txt`
 * (file TAB wnid TAB box). Images are 64×64 JPEGs, some greyscale; they are decoded with sharp (libvips) only when a
 * batch asks for them, or once into an optional `.npy` cache file written in bounded chunks.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { OutputInfo } from 'sharp';

/** sharp (libvips, ~90 ms to load) loads on the first Tiny ImageNet image, not with the package. */
let sharpModule: Promise<typeof import('sharp')> | undefined;
const loadSharp = async () => (await (sharpModule ??= import('sharp'))).default;
import { KqkdError, expectInteger, expectOneOf, invalidArgument, writeFileAtomic } from '@kqkd/common';
import { npyHeader, readNpyHeader } from './npy.js';

/** Training-set per-channel statistics of pixel/255 (R, G, B), the usual published constants. */
export const TINY_IMAGENET_MEAN = [0.4802, 0.4481, 0.3975] as const;
export const TINY_IMAGENET_STD = [0.2302, 0.2265, 0.2262] as const;

const SIDE = 64;
const PIXELS = SIDE * SIDE * 3;
const FOLDER = 'tiny-imagenet-200';

export interface OpenTinyImageNetOptions {
  /** The extracted `tiny-imagenet-200/` folder or the folder that holds it. */
  dir: string;
  /** 'test' and 'val' both read `val/` (the official test images carry no labels). */
  split: 'train' | 'val' | 'test';
  /**
   * Path of a decoded cache (`.npy`, uint8 [N, 64, 64, 3], plus `<path>.json` describing what it holds). Built on
   * first use in chunks of `cacheChunk` images, reused while its description matches the folder's file list.
   */
  cache?: string;
  /** Images decoded at a time while building the cache (default 512, i.e. 6 MB of pixels). */
  cacheChunk?: number;
}

/** A Tiny ImageNet split indexed without decoding: labels and file paths in memory, pixels read per batch. */
export interface TinyImageNetSource {
  split: 'train' | 'val';
  /** The `tiny-imagenet-200` folder. */
  dir: string;
  count: number;
  height: 64;
  width: 64;
  channels: 3;
  classes: number;
  /** First name of each class in words.txt (wnid when words.txt is absent). */
  classNames: readonly string[];
  wnids: readonly string[];
  labels: Uint8Array;
  /** Image file of each index. */
  files: readonly string[];
  /** The cache file in use, if any. */
  cache?: string;
  /** HWC RGB bytes of the images at `indices`, image after image (greyscale JPEGs replicated to R=G=B). */
  readImages(indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array>;
}

function fail(file: string, expected: string, received: string, detail?: string): never {
  throw new KqkdError(`Tiny ImageNet file "${file}"`, expected, received, detail);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(path, 'a readable text file', code === 'ENOENT' ? 'nothing at that path' : code ?? 'an unreadable path',
      code === 'ENOENT' ? undefined : (err as Error).message);
  }
}

function listDir(path: string, what: string): string[] {
  try {
    return readdirSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KqkdError(`Tiny ImageNet folder "${path}"`, `an existing folder (${what})`,
      code === 'ENOENT' ? 'nothing at that path' : code ?? 'an unreadable path');
  }
}

/** Natural order: "x_2.JPEG" before "x_10.JPEG" (the official names are numbered). */
function naturalCompare(a: string, b: string): number {
  const ra = a.split(/(\d+)/);
  const rb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    if (ra[i] === rb[i]) continue;
    if (i % 2 === 1) {
      const d = Number(ra[i]) - Number(rb[i]);
      if (d !== 0) return d;
    }
    return ra[i] < rb[i] ? -1 : 1;
  }
  return ra.length - rb.length;
}

const isJpeg = (name: string) => /\.jpe?g$/i.test(name);

function resolveRoot(dir: string): string {
  if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a folder path', dir);
  for (const candidate of [dir, join(dir, FOLDER)]) {
    if (existsSync(join(candidate, 'wnids.txt'))) return candidate;
  }
  if (!existsSync(dir)) throw new KqkdError(`Tiny ImageNet folder "${dir}"`, 'an existing folder', 'nothing at that path');
  throw new KqkdError(`Tiny ImageNet file "${join(dir, 'wnids.txt')}"`, 'an existing file',
    `nothing at that path nor at "${join(dir, FOLDER, 'wnids.txt')}"`, `pass the extracted ${FOLDER}/ folder or the folder holding it`);
}

function readWnids(root: string): string[] {
  const path = join(root, 'wnids.txt');
  const wnids = readText(path).split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (wnids.length === 0) fail(path, 'one WordNet id a line', 'no ids');
  if (wnids.length > 256) fail(path, 'at most 256 classes (labels are bytes; the real set has 200)', `${wnids.length}`);
  const seen = new Set<string>();
  wnids.forEach((w, i) => {
    if (!/^[A-Za-z0-9_-]+$/.test(w)) fail(path, 'WordNet ids such as n01443537', `${JSON.stringify(w.slice(0, 40))} on line ${i + 1}`);
    if (seen.has(w)) fail(path, 'distinct ids', `"${w}" twice (line ${i + 1})`);
    seen.add(w);
  });
  return wnids;
}

function readClassNames(root: string, wnids: string[]): string[] {
  const path = join(root, 'words.txt');
  if (!existsSync(path)) return wnids.slice();
  const names = new Map<string, string>();
  for (const line of readText(path).split(/\r?\n/)) {
    const tab = line.indexOf('\t');
    if (tab > 0) names.set(line.slice(0, tab).trim(), line.slice(tab + 1).trim());
  }
  return wnids.map((w) => {
    const words = names.get(w);
    if (words === undefined) fail(path, `a line "<wnid>\\t<names>" for every id in wnids.txt`, `none for "${w}"`);
    return words.split(',')[0].trim() || w;
  });
}

function indexTrain(root: string, wnids: string[]): { files: string[]; labels: Uint8Array } {
  const files: string[] = [];
  const labels: number[] = [];
  wnids.forEach((w, label) => {
    const folder = join(root, 'train', w, 'images');
    const names = listDir(folder, `the training images of class ${w}`).filter(isJpeg).sort(naturalCompare);
    if (names.length === 0) {
      throw new KqkdError(`Tiny ImageNet folder "${folder}"`, `.JPEG images of class ${w}`, 'no JPEG files');
    }
    for (const n of names) {
      files.push(join(folder, n));
      labels.push(label);
    }
  });
  return { files, labels: Uint8Array.from(labels) };
}

function indexVal(root: string, wnids: string[]): { files: string[]; labels: Uint8Array } {
  const annotations = join(root, 'val', 'val_annotations.txt');
  const imagesDir = join(root, 'val', 'images');
  if (!existsSync(annotations)) {
    fail(annotations, 'an existing file (the labels of val/images)', 'nothing at that path');
  }
  const present = new Set(listDir(imagesDir, 'the validation images').filter(isJpeg));
  const byWnid = new Map(wnids.map((w, i) => [w, i]));
  const entries = new Map<string, number>();
  readText(annotations).split(/\r?\n/).forEach((line, i) => {
    if (line.trim().length === 0) return;
    const fields = line.split('\t');
    if (fields.length < 2 || fields[0].trim() === '' || fields[1].trim() === '') {
      fail(annotations, 'lines "<file>\\t<wnid>[\\t<x0>\\t<y0>\\t<x1>\\t<y1>]"', `${JSON.stringify(line.slice(0, 60))} on line ${i + 1}`);
    }
    const file = fields[0].trim();
    const wnid = fields[1].trim();
    const label = byWnid.get(wnid);
    if (label === undefined) fail(annotations, 'a wnid listed in wnids.txt', `"${wnid}" for ${file} on line ${i + 1} (label out of range)`);
    if (entries.has(file)) fail(annotations, 'one line per image', `"${file}" again on line ${i + 1}`);
    if (!present.has(file)) fail(annotations, 'images that exist in val/images', `"${file}" on line ${i + 1}, which is not in ${imagesDir}`);
    entries.set(file, label);
  });
  const unlabelled = [...present].filter((f) => !entries.has(f)).sort(naturalCompare);
  if (unlabelled.length > 0) {
    fail(annotations, 'a line for every image in val/images',
      `no annotation for ${unlabelled.length} image(s): ${unlabelled.slice(0, 3).join(', ')}${unlabelled.length > 3 ? ', ...' : ''}`);
  }
  if (entries.size === 0) fail(annotations, 'at least one annotated image', 'no annotations');
  const names = [...entries.keys()].sort(naturalCompare);
  return { files: names.map((n) => join(imagesDir, n)), labels: Uint8Array.from(names.map((n) => entries.get(n)!)) };
}

/**
 * Decodes one image file to 64×64 RGB HWC bytes at `dst[off..off+12288)`. Greyscale (and grey+alpha) images are
 * replicated to three channels; an alpha channel is dropped.
 */
export async function decodeTinyImageNetImage(path: string, dst: Uint8Array, off = 0): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(path, 'a readable image file', code === 'ENOENT' ? 'nothing at that path' : code ?? 'an unreadable path');
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await (await loadSharp())(bytes, { failOn: 'warning' }).raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    const reasons = [...new Set((err as Error).message.split(/\n/).map((l) => l.trim()).filter((l) => l.length > 0))];
    fail(path, 'a decodable JPEG image', `unreadable image data (${reasons.join('; ').slice(0, 300)})`);
  }
  const { data, info } = decoded;
  if (info.width !== SIDE || info.height !== SIDE) fail(path, `a ${SIDE}×${SIDE} image`, `${info.width}×${info.height}`);
  const c = info.channels;
  const plane = SIDE * SIDE;
  if (c === 3) {
    dst.set(data.subarray(0, PIXELS), off);
  } else if (c === 1 || c === 2) {
    for (let p = 0; p < plane; p++) {
      const v = data[p * c];
      dst[off + 3 * p] = v;
      dst[off + 3 * p + 1] = v;
      dst[off + 3 * p + 2] = v;
    }
  } else if (c === 4) {
    for (let p = 0; p < plane; p++) {
      dst[off + 3 * p] = data[4 * p];
      dst[off + 3 * p + 1] = data[4 * p + 1];
      dst[off + 3 * p + 2] = data[4 * p + 2];
    }
  } else {
    fail(path, 'a greyscale or RGB image', `${c} channels`);
  }
}

/** Decodes `files[indices[b]]` into `dst` at image `b`, at most `concurrency` files at a time. */
async function decodeMany(files: readonly string[], indices: ArrayLike<number>, dst: Uint8Array, concurrency = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      const b = next++;
      await decodeTinyImageNetImage(files[indices[b]], dst, b * PIXELS);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, indices.length) }, worker));
}

interface CacheDescription {
  format: 'kqkd-tiny-imagenet-cache';
  version: 1;
  split: 'train' | 'val';
  count: number;
  /** sha256 of the relative file paths and labels, in index order. */
  fingerprint: string;
}

function fingerprint(root: string, files: readonly string[], labels: Uint8Array): string {
  const h = createHash('sha256');
  files.forEach((f, i) => h.update(`${f.slice(root.length)}\t${labels[i]}\n`));
  return h.digest('hex');
}

function cacheIsValid(path: string, want: CacheDescription): boolean {
  if (!existsSync(path) || !existsSync(`${path}.json`)) return false;
  try {
    const have = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as CacheDescription;
    if (have.format !== want.format || have.version !== want.version || have.split !== want.split
      || have.count !== want.count || have.fingerprint !== want.fingerprint) return false;
    const header = readNpyHeader(path);
    return header.dtype === 'uint8' && header.shape.join(',') === [want.count, SIDE, SIDE, 3].join(',')
      && statSync(path).size === header.dataOffset + want.count * PIXELS;
  } catch {
    return false;
  }
}

/** Decodes every image of the split into `path` (temp file + rename), `chunk` images at a time. */
async function buildCache(path: string, root: string, split: 'train' | 'val', files: readonly string[], labels: Uint8Array, chunk: number): Promise<void> {
  const header = npyHeader('uint8', [files.length, SIDE, SIDE, 3]);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (err) {
    throw new KqkdError(`Tiny ImageNet cache "${path}"`, 'a writable location', (err as NodeJS.ErrnoException).code ?? 'an unwritable path', (err as Error).message);
  }
  try {
    writeSync(fd, header);
    const buf = new Uint8Array(chunk * PIXELS);
    for (let start = 0; start < files.length; start += chunk) {
      const n = Math.min(chunk, files.length - start);
      const indices = Array.from({ length: n }, (_, i) => start + i);
      await decodeMany(files, indices, buf);
      let written = 0;
      while (written < n * PIXELS) written += writeSync(fd, buf, written, n * PIXELS - written);
    }
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  const description: CacheDescription = {
    format: 'kqkd-tiny-imagenet-cache', version: 1, split, count: files.length, fingerprint: fingerprint(root, files, labels),
  };
  writeFileAtomic(`${path}.json`, `${JSON.stringify(description, null, 2)}\n`);
}

function cacheReader(path: string, count: number): (indices: ArrayLike<number>, dst: Uint8Array) => void {
  const { dataOffset } = readNpyHeader(path);
  return (indices, dst) => {
    const fd = openSync(path, 'r');
    try {
      if (fstatSync(fd).size !== dataOffset + count * PIXELS) {
        fail(path, `${dataOffset + count * PIXELS} bytes (cache of ${count} images)`, `${fstatSync(fd).size} bytes (the cache changed)`);
      }
      for (let b = 0; b < indices.length; b++) {
        const pos = dataOffset + indices[b] * PIXELS;
        let got = 0;
        while (got < PIXELS) {
          const k = readSync(fd, dst, b * PIXELS + got, PIXELS - got, pos + got);
          if (k === 0) fail(path, `${dataOffset + count * PIXELS} bytes`, `end of file at ${pos + got} (truncated)`);
          got += k;
        }
      }
    } finally {
      closeSync(fd);
    }
  };
}

/**
 * Indexes a Tiny ImageNet split (lists files, reads labels; decodes nothing unless `cache` names a cache to build).
 * Class order is wnids.txt's order. Train images are ordered by class, then file name (natural order); val images
 * by file name.
 */
export async function openTinyImageNet(options: OpenTinyImageNetOptions): Promise<TinyImageNetSource> {
  const requested = expectOneOf('split', options?.split, ['train', 'val', 'test'] as const);
  const split = requested === 'train' ? 'train' : 'val';
  const root = resolveRoot(options.dir);
  const wnids = readWnids(root);
  const classNames = readClassNames(root, wnids);
  const { files, labels } = split === 'train' ? indexTrain(root, wnids) : indexVal(root, wnids);
  const count = files.length;
  let fromCache: ((indices: ArrayLike<number>, dst: Uint8Array) => void) | undefined;
  if (options.cache !== undefined) {
    if (typeof options.cache !== 'string' || options.cache.length === 0) invalidArgument('cache', 'a file path', options.cache);
    const chunk = expectInteger('cacheChunk', options.cacheChunk ?? 512, 1);
    const want: CacheDescription = {
      format: 'kqkd-tiny-imagenet-cache', version: 1, split, count, fingerprint: fingerprint(root, files, labels),
    };
    if (!cacheIsValid(options.cache, want)) await buildCache(options.cache, root, split, files, labels, chunk);
    fromCache = cacheReader(options.cache, count);
  }
  const readImages = async (indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array> => {
    const n = indices.length;
    for (let b = 0; b < n; b++) {
      const idx = indices[b];
      if (!Number.isInteger(idx) || idx < 0 || idx >= count) invalidArgument(`indices[${b}]`, `an integer index in [0, ${count})`, idx);
    }
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < n * PIXELS)) {
      invalidArgument('out', `a Uint8Array of at least ${n * PIXELS}`, out);
    }
    const dst = out ? out.subarray(0, n * PIXELS) : new Uint8Array(n * PIXELS);
    if (fromCache) fromCache(indices, dst);
    else await decodeMany(files, indices, dst);
    return dst;
  };
  return {
    split, dir: root, count, height: SIDE, width: SIDE, channels: 3, classes: wnids.length, classNames, wnids, labels,
    files, ...(options.cache !== undefined ? { cache: options.cache } : {}), readImages,
  };
}
