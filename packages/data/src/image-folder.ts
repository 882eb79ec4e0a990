/**
 * A folder of images, one sub-folder per class (torchvision `ImageFolder`): `DIR/train/<class>/*` beside
 * `DIR/val/<class>/*` or `DIR/test/<class>/*`, or a single `DIR/<class>/*` split into train/test by a seeded,
 * class-stratified fraction. JPEG, PNG and WebP are decoded with sharp once, into a uint8 HWC cache file per split
 * (resized so the shorter side is `imageSize`, centre-cropped to a square, RGB or greyscale); batches are then read
 * from the cache by file position, so RAM holds a batch, not the split. `preprocessImage` is the one function that
 * turns a file (or its bytes) into the model's input pixels; `kqkd predict` uses it too.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { KqkdError, createRng, expectInteger, invalidArgument, writeFileAtomic } from '@kqkd/common';

let sharpModule: Promise<typeof import('sharp')> | undefined;
const loadSharp = async () => (await (sharpModule ??= import('sharp'))).default;

/** File name endings read as images (case-insensitive). */
export const IMAGE_FOLDER_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;
/** The formats sharp must find inside them. */
const FORMATS = new Set(['jpeg', 'png', 'webp']);
/** The one resize rule: shorter side to the size, then the centre square. */
export const IMAGE_RESIZE = 'shorter-side-center-crop' as const;
export const IMAGE_FOLDER_CACHE_DIR = '.kqkd-cache';
const FORMAT = 'kqkd-image-folder-cache';
const VERSION = 1;

export interface PreprocessOptions {
  /** Output side: the shorter side is resized to it, then the centre size×size square is kept. */
  size: number;
  /** 3: RGB (a greyscale image is replicated), 1: greyscale (ITU-R 601-2 luma of RGB, as PIL's convert('L')). */
  channels: 1 | 3;
}

/** A bad input file: what `skipBad` skips (and lists), or what the error names. */
class BadImage extends Error {
  constructor(readonly file: string, readonly expected: string, readonly reason: string) {
    super(reason);
  }
}

/**
 * The model-input pixels of one image: decodes a JPEG, PNG or WebP file (path) or its bytes with sharp, resizes
 * it so that its shorter side is `size` (Lanczos-3, sharp's default), keeps the centre `size`×`size` square, drops
 * any alpha channel and returns HWC uint8 with `channels` channels. The same function builds the image-folder cache
 * and serves `kqkd predict`, so a model sees the same pixels in both.
 */
export async function preprocessImage(input: string | Uint8Array, options: PreprocessOptions): Promise<Uint8Array> {
  const size = expectInteger('size', options?.size, 1, 4096);
  const channels = options.channels;
  if (channels !== 1 && channels !== 3) invalidArgument('channels', '1 or 3', channels);
  const name = typeof input === 'string' ? input : `<${input?.byteLength} image bytes>`;
  try {
    return await decode(input, size, channels, name);
  } catch (err) {
    if (err instanceof BadImage) throw new KqkdError(`image "${err.file}"`, err.expected, err.reason);
    throw err;
  }
}

async function decode(input: string | Uint8Array, size: number, channels: 1 | 3, name: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new BadImage(name, 'a readable image file', code === 'ENOENT' ? 'nothing at that path' : code ?? 'an unreadable path');
    }
  } else if (input instanceof Uint8Array) {
    bytes = input;
  } else {
    invalidArgument('input', 'an image path or its bytes (Uint8Array)', input);
  }
  const sharp = await loadSharp();
  let raw: Buffer;
  let info: { width: number; height: number; channels: number };
  try {
    const img = sharp(bytes, { failOn: 'warning' });
    const meta = await img.metadata();
    if (!meta.format || !FORMATS.has(meta.format)) {
      throw new BadImage(name, 'a JPEG, PNG or WebP image', `${meta.format ?? 'an unknown'} image data`);
    }
    const w = meta.width!;
    const h = meta.height!;
    // Shorter side to `size` (aspect kept, rounded), then the centre square.
    const rw = w <= h ? size : Math.max(size, Math.round((w * size) / h));
    const rh = w <= h ? Math.max(size, Math.round((h * size) / w)) : size;
    let pipe = img;
    if (rw !== w || rh !== h) pipe = pipe.resize(rw, rh, { fit: 'fill' });
    if (rw !== size || rh !== size) pipe = pipe.extract({ left: (rw - size) >> 1, top: (rh - size) >> 1, width: size, height: size });
    const out = await pipe.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    raw = out.data;
    info = out.info;
  } catch (err) {
    if (err instanceof BadImage) throw err;
    const reasons = [...new Set((err as Error).message.split(/\n/).map((l) => l.trim()).filter((l) => l.length > 0))];
    throw new BadImage(name, 'a decodable JPEG, PNG or WebP image', `unreadable image data (${reasons.join('; ').slice(0, 200)})`);
  }
  const c = info.channels;
  const plane = size * size;
  if (info.width !== size || info.height !== size || raw.length !== plane * c) {
    throw new BadImage(name, `an 8-bit image of ${size}×${size} after resizing`, `${info.width}×${info.height}×${c} in ${raw.length} bytes`);
  }
  const dst = new Uint8Array(plane * channels);
  if (c === 1 || c === 2) {
    for (let p = 0; p < plane; p++) {
      const v = raw[p * c];
      if (channels === 1) dst[p] = v;
      else { dst[3 * p] = v; dst[3 * p + 1] = v; dst[3 * p + 2] = v; }
    }
  } else if (c === 3 || c === 4) {
    for (let p = 0; p < plane; p++) {
      const r = raw[p * c];
      const g = raw[p * c + 1];
      const b = raw[p * c + 2];
      // PIL's convert('L'): L = R·299/1000 + G·587/1000 + B·114/1000, in its 16-bit fixed point.
      if (channels === 1) dst[p] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
      else { dst[3 * p] = r; dst[3 * p + 1] = g; dst[3 * p + 2] = b; }
    }
  } else {
    throw new BadImage(name, 'a greyscale or RGB image', `${c} channels`);
  }
  return dst;
}

export type ImageFolderSplit = 'train' | 'test' | 'val';

export interface OpenImageFolderOptions {
  dir: string;
  /** 'train'; 'test' = test/ (else val/, else the held-out fraction); 'val' = val/ (else test/, else the fraction). */
  split: ImageFolderSplit;
  /** Side of the square images (default 32). */
  imageSize?: number;
  /** 3 = RGB (default), 1 = greyscale. */
  channels?: 1 | 3;
  /** Single-folder layout: fraction of every class held out as the test split (default 0.2). */
  testFraction?: number;
  /** Seed of the stratified split and of the training split's order (default 0). */
  seed?: number;
  /** Folder of the decoded caches (default DIR/.kqkd-cache). */
  cacheDir?: string;
  /** Skip unreadable, corrupt and non-image files (listed in the cache folder) instead of refusing the folder. */
  skipBad?: boolean;
  /**
   * The normalisation to report instead of the training part's statistics (evaluating a model that carries its own):
   * a test split then does not need the training split decoded.
   */
  normalization?: { mean: readonly number[]; std: readonly number[] };
  /** Files decoded so far of `total` (only while a cache is built). */
  onProgress?: (done: number, total: number, label: string) => void;
  /** One line per notable event (skipped files). */
  log?: (line: string) => void;
}

export interface ImageFolderSource {
  dir: string;
  split: 'train' | 'test';
  /** Where the images came from: a split folder, or the held-out fraction of a single folder. */
  folder: string;
  layout: 'split-folders' | 'single-folder';
  count: number;
  height: number;
  width: number;
  channels: 1 | 3;
  classes: number;
  classNames: string[];
  labels: Uint8Array;
  /** Absolute paths of the images, in index order. */
  files: string[];
  /** Per-channel mean/std of pixel/255 of the training part (or the `normalization` option). */
  normalization: { mean: number[]; std: number[] };
  /** The cache file and its manifest. */
  cache: string;
  manifest: string;
  /** Images decoded while opening (0 when the cache was reused). */
  decoded: number;
  /** Files skipped as bad (skipBad), with why; the list is in `badList`. */
  skipped: { file: string; reason: string }[];
  badList?: string;
  readImages(indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array>;
}

interface Candidate { path: string; rel: string; size: number; mtimeMs: number; label: number }

interface Manifest {
  format: typeof FORMAT;
  version: number;
  layout: 'split-folders' | 'single-folder';
  split: 'train' | 'test';
  folder: string;
  testFraction: number | null;
  seed: number;
  imageSize: number;
  channels: 1 | 3;
  resize: typeof IMAGE_RESIZE;
  classNames: string[];
  /** Every candidate file, in cache order; `bad` ones are not in the cache. */
  files: { path: string; size: number; mtimeMs: number; label: number; bad?: string }[];
  count: number;
  bytes: number;
  /** Training part only: per-channel mean/std of pixel/255 (population std), in float64. */
  normalization: { mean: number[]; std: number[] } | null;
}

const isDir = (p: string) => { try { return statSync(p).isDirectory(); } catch { return false; } };
const isImageName = (n: string) => IMAGE_FOLDER_EXTENSIONS.some((e) => n.toLowerCase().endsWith(e));
/** Code-point order, the same on every platform and locale. */
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function listDir(path: string, what: string): import('node:fs').Dirent[] {
  try {
    return readdirSync(path, { withFileTypes: true });
  } catch (err) {
    throw new KqkdError(`image folder "${path}"`, `a readable folder (${what})`, (err as NodeJS.ErrnoException).code ?? 'an unreadable path');
  }
}

/** Class folders of `root`: sorted sub-folder names, hidden ones (the cache) left out. */
function classFolders(root: string, cacheDir: string): string[] {
  return listDir(root, 'one sub-folder per class').filter((e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && isDir(join(root, e.name)))))
    .map((e) => e.name).filter((n) => resolve(root, n) !== cacheDir).sort(byName);
}

interface Listing { files: Candidate[]; bad: { file: string; expected: string; reason: string }[] }

/** Every file of every class folder under `root` (hidden files left out), sorted by class then name. */
function listClasses(root: string, classNames: readonly string[], dir: string, split: string): Listing {
  const files: Candidate[] = [];
  const bad: Listing['bad'] = [];
  classNames.forEach((cls, label) => {
    const folder = join(root, cls);
    const entries = listDir(folder, `the images of class "${cls}"`).filter((e) => !e.name.startsWith('.')).map((e) => e.name).sort(byName);
    let images = 0;
    for (const name of entries) {
      const path = join(folder, name);
      let st;
      try {
        st = statSync(path);
      } catch (err) {
        bad.push({ file: path, expected: 'a readable image file', reason: (err as NodeJS.ErrnoException).code ?? 'an unreadable path' });
        continue;
      }
      if (!st.isFile()) {
        bad.push({ file: path, expected: `image files in class folder "${cls}"`, reason: 'a folder' });
        continue;
      }
      if (!isImageName(name)) {
        bad.push({ file: path, expected: `an image file (${IMAGE_FOLDER_EXTENSIONS.join(', ')})`, reason: 'a non-image file' });
        continue;
      }
      images++;
      files.push({ path, rel: relative(dir, path).split(sep).join('/'), size: st.size, mtimeMs: st.mtimeMs, label });
    }
    if (images === 0) {
      throw new KqkdError(`class folder "${folder}"`, `at least one ${IMAGE_FOLDER_EXTENSIONS.join('/')} image (every class of the ${split} split needs images)`,
        entries.length === 0 ? 'an empty folder' : `no image files among ${entries.length} entries`);
    }
  });
  return { files, bad };
}

interface Plan {
  layout: 'split-folders' | 'single-folder';
  folder: string;
  split: 'train' | 'test';
  classNames: string[];
  listing: Listing;
  testFraction: number | null;
}

/** Finds the layout and the split's candidate files (no decoding); refuses a malformed folder. */
function plan(dir: string, requested: ImageFolderSplit, testFraction: number, seed: number, cacheDir: string, skipBad: boolean): Plan {
  const split: 'train' | 'test' = requested === 'train' ? 'train' : 'test';
  const trainDir = join(dir, 'train');
  const evalNames = requested === 'val' ? ['val', 'test'] : ['test', 'val'];
  const evalFolder = evalNames.map((n) => join(dir, n)).find(isDir);
  const check = (root: string, listing: Listing) => {
    if (listing.bad.length > 0 && !skipBad) {
      const b = listing.bad[0];
      throw new KqkdError(`image folder "${root}"`, b.expected, `${b.reason}: "${b.file}"`,
        listing.bad.length > 1 ? `${listing.bad.length} such files; pass skipBad / --skip-bad to skip and list them` : 'pass skipBad / --skip-bad to skip and list it');
    }
  };
  if (isDir(trainDir)) {
    if (evalFolder === undefined) {
      throw new KqkdError(`image folder "${dir}"`, 'a val/ or test/ folder beside train/ (DIR/train/<class>/*, DIR/val/<class>/*), or one folder per class',
        'train/ alone');
    }
    const trainClasses = classFolders(trainDir, cacheDir);
    const evalClasses = classFolders(evalFolder, cacheDir);
    if (trainClasses.length === 0) throw new KqkdError(`image folder "${trainDir}"`, 'one sub-folder per class', 'no sub-folders');
    const missing = trainClasses.filter((c) => !evalClasses.includes(c));
    const extra = evalClasses.filter((c) => !trainClasses.includes(c));
    if (missing.length > 0 || extra.length > 0) {
      throw new KqkdError(`image folder "${evalFolder}"`, `the same class folders as "${trainDir}" (${trainClasses.length} classes)`,
        [missing.length > 0 ? `class${missing.length > 1 ? 'es' : ''} ${missing.map((c) => `"${c}"`).join(', ')} missing` : '',
          extra.length > 0 ? `class${extra.length > 1 ? 'es' : ''} ${extra.map((c) => `"${c}"`).join(', ')} not in train/` : ''].filter(Boolean).join(', '));
    }
    checkClassCount(trainDir, trainClasses);
    const root = split === 'train' ? trainDir : evalFolder;
    const listing = listClasses(root, trainClasses, dir, split);
    check(root, listing);
    return { layout: 'split-folders', folder: root, split, classNames: trainClasses, listing, testFraction: null };
  }
  const classNames = classFolders(dir, cacheDir);
  if (classNames.length === 0) {
    throw new KqkdError(`image folder "${dir}"`, 'one sub-folder per class (DIR/<class>/*) or DIR/train/<class>/* beside DIR/val/<class>/*', 'no sub-folders');
  }
  checkClassCount(dir, classNames);
  const all = listClasses(dir, classNames, dir, 'whole');
  check(dir, all);
  // Stratified: each class's files (sorted) shuffled with one seeded generator, class after class; the first
  // round(n·f) (at least 1, at most n − 1) go to test.
  const rng = createRng(seed);
  const files: Candidate[] = [];
  for (let label = 0; label < classNames.length; label++) {
    const mine = all.files.filter((f) => f.label === label);
    if (mine.length < 2) {
      throw new KqkdError(`class folder "${join(dir, classNames[label])}"`, 'at least 2 images (one for each split of the held-out fraction)', `${mine.length}`);
    }
    const order = rng.shuffle(mine.map((_, i) => i));
    const nTest = Math.min(mine.length - 1, Math.max(1, Math.round(mine.length * testFraction)));
    const chosen = new Set(order.slice(0, nTest));
    mine.forEach((f, i) => { if (chosen.has(i) === (split === 'test')) files.push(f); });
  }
  // Non-image files belong to no split: each split lists them (skipBad).
  return { layout: 'single-folder', folder: dir, split, classNames, listing: { files, bad: all.bad }, testFraction };
}

function checkClassCount(root: string, classNames: string[]): void {
  if (classNames.length > 256) throw new KqkdError(`image folder "${root}"`, 'at most 256 classes (labels are bytes)', `${classNames.length} class folders`);
  if (classNames.length < 2) throw new KqkdError(`image folder "${root}"`, 'at least 2 class folders', `${classNames.length} (${classNames.join(', ') || 'none'})`);
}

function cacheName(split: 'train' | 'test', size: number, channels: number): string {
  return `${split}-${size}x${size}x${channels}`;
}

function sameSources(a: Manifest['files'], b: readonly Candidate[]): boolean {
  return a.length === b.length && a.every((f, i) => f.path === b[i].rel && f.size === b[i].size && f.mtimeMs === b[i].mtimeMs && f.label === b[i].label);
}

function readManifest(path: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

/** Opens (building or reusing its cache) one split of an image folder. */
/** The options of `openImageFolder` checked, with their defaults. */
function checkOpenOptions(options: OpenImageFolderOptions) {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) invalidArgument('dir', 'the image folder (DIR/<class>/* or DIR/train/<class>/*)', options?.dir);
  const dir = resolve(options.dir);
  if (!existsSync(dir)) throw new KqkdError(`image folder "${dir}"`, 'an existing folder', 'nothing at that path');
  if (!isDir(dir)) throw new KqkdError(`image folder "${dir}"`, 'a folder', 'a file');
  const requested = options.split;
  if (requested !== 'train' && requested !== 'test' && requested !== 'val') invalidArgument('split', '"train", "test" or "val"', requested);
  const size = expectInteger('imageSize', options.imageSize ?? 32, 1, 4096);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) invalidArgument('channels', '1 or 3', channels);
  const testFraction = options.testFraction ?? 0.2;
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1)) invalidArgument('testFraction', 'a number > 0 and < 1', testFraction);
  const seed = expectInteger('seed', options.seed ?? 0, 0, 0xffffffff);
  if (options.cacheDir !== undefined && (typeof options.cacheDir !== 'string' || options.cacheDir.length === 0)) invalidArgument('cacheDir', 'a folder path', options.cacheDir);
  const cacheDir = resolve(options.cacheDir ?? join(dir, IMAGE_FOLDER_CACHE_DIR));
  const skipBad = options.skipBad ?? false;
  if (typeof skipBad !== 'boolean') invalidArgument('skipBad', 'true or false', skipBad);
  const given = options.normalization;
  if (given !== undefined) checkNormalization(given, channels);
  return { dir, requested, size, channels: channels as 1 | 3, testFraction, seed, cacheDir, skipBad, given };
}

/** `readImages` of an opened folder: images by index, read from the decoded cache file (checked against its size). */
function imageReader(cache: string, count: number, imageBytes: number) {
  return async (indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array> => {
    const n = indices.length;
    for (let b = 0; b < n; b++) {
      const idx = indices[b];
      if (!Number.isInteger(idx) || idx < 0 || idx >= count) invalidArgument(`indices[${b}]`, `an integer index in [0, ${count})`, idx);
    }
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < n * imageBytes)) invalidArgument('out', `a Uint8Array of at least ${n * imageBytes}`, out);
    const dst = out ? out.subarray(0, n * imageBytes) : new Uint8Array(n * imageBytes);
    const fd = openSync(cache, 'r');
    try {
      const have = fstatSync(fd).size;
      if (have !== count * imageBytes) throw new KqkdError(`image-folder cache "${cache}"`, `${count * imageBytes} bytes`, `${have} bytes (the cache changed; open the folder again)`);
      for (let b = 0; b < n; b++) {
        const pos = indices[b] * imageBytes;
        let got = 0;
        while (got < imageBytes) {
          const k = readSync(fd, dst, b * imageBytes + got, imageBytes - got, pos + got);
          if (k === 0) throw new KqkdError(`image-folder cache "${cache}"`, `${count * imageBytes} bytes`, `end of file at ${pos + got}`);
          got += k;
        }
      }
    } finally {
      closeSync(fd);
    }
    return dst;
  };
}

export async function openImageFolder(options: OpenImageFolderOptions): Promise<ImageFolderSource> {
  const { dir, requested, size, channels, testFraction, seed, cacheDir, skipBad, given } = checkOpenOptions(options);

  const p = plan(dir, requested, testFraction, seed, cacheDir, skipBad);
  // The training split in a seeded order (a held-out `validation` tail is then a sample of every class); test in file order.
  const candidates = p.split === 'train' ? createRng(seed ^ 0x5eed).shuffle(p.listing.files.slice()) : p.listing.files;
  const base = join(cacheDir, cacheName(p.split, size, channels));
  const cache = `${base}.u8`;
  const manifestPath = `${base}.json`;
  const badList = `${base}.bad.txt`;
  const imageBytes = size * size * channels;
  let m = readManifest(manifestPath);
  const valid = m !== null && m.format === FORMAT && m.version === VERSION && m.layout === p.layout && m.split === p.split
    && m.folder === relative(dir, p.folder) && m.testFraction === p.testFraction && m.seed === seed && m.imageSize === size && m.channels === channels
    && m.classNames.join('\n') === p.classNames.join('\n') && sameSources(m.files, candidates)
    && existsSync(cache) && statSync(cache).size === m.count * imageBytes && m.bytes === m.count * imageBytes;
  let decoded = 0;
  if (!valid) {
    m = await build({ dir, cacheDir, cache, manifestPath, badList, plan: p, candidates, size, channels, seed, skipBad, onProgress: options.onProgress });
    decoded = candidates.length;
  }
  const man = m!;
  const badFiles = man.files.filter((f) => f.bad !== undefined);
  if (badFiles.length > 0 && !skipBad) {
    throw new KqkdError(`image "${join(dir, badFiles[0].path)}"`, 'a decodable JPEG, PNG or WebP image', badFiles[0].bad!,
      `${badFiles.length} bad file(s) listed in ${badList}; pass skipBad / --skip-bad to skip them`);
  }
  const nonImages = p.listing.bad.map((b) => ({ file: b.file, reason: `${b.reason} (expected ${b.expected})` }));
  const skipped = [...nonImages, ...badFiles.map((f) => ({ file: join(dir, f.path), reason: f.bad! }))];
  if (skipped.length > 0) {
    writeFileAtomic(badList, `${skipped.map((s) => `${s.file}\t${s.reason}`).join('\n')}\n`);
    options.log?.(`image folder ${p.split}: skipped ${skipped.length} bad file(s), listed in ${badList}`);
  }
  const good = man.files.filter((f) => f.bad === undefined);
  const files = good.map((f) => join(dir, f.path));
  const labels = Uint8Array.from(good, (f) => f.label);
  for (let c = 0; c < p.classNames.length; c++) {
    if (!labels.includes(c)) {
      throw new KqkdError(`class folder "${join(p.folder, p.classNames[c])}"`, `at least one readable image in the ${p.split} split`, 'none (all skipped as bad)');
    }
  }
  let normalization: { mean: number[]; std: number[] };
  if (given) normalization = { mean: [...given.mean], std: [...given.std] };
  else if (p.split === 'train') normalization = man.normalization!;
  else normalization = (await openImageFolder({ ...options, split: 'train', normalization: undefined })).normalization;
  const count = files.length;
  const readImages = imageReader(cache, count, imageBytes);
  return {
    dir, split: p.split, folder: p.folder, layout: p.layout, count, height: size, width: size, channels, classes: p.classNames.length,
    classNames: p.classNames, labels, files, normalization, cache, manifest: manifestPath, decoded, skipped,
    ...(skipped.length > 0 ? { badList } : {}), readImages,
  };
}

function checkNormalization(n: { mean: readonly number[]; std: readonly number[] }, channels: number): void {
  if (!n || !Array.isArray(n.mean) || !Array.isArray(n.std) || n.mean.length !== channels || n.std.length !== channels
    || !n.mean.every(Number.isFinite) || !n.std.every((s) => Number.isFinite(s) && s > 0)) {
    invalidArgument('normalization', `{ mean, std } with ${channels} finite values each (std > 0)`, n);
  }
}

interface BuildArgs {
  dir: string; cacheDir: string; cache: string; manifestPath: string; badList: string; plan: Plan; candidates: readonly Candidate[];
  size: number; channels: 1 | 3; seed: number; skipBad: boolean; onProgress?: OpenImageFolderOptions['onProgress'];
}

/** A chunk of candidates decoded a few files at once (8): each an image's bytes, or why it is a bad image. */
async function decodeChunk(part: readonly Candidate[], a: BuildArgs, onDone: () => void): Promise<(Uint8Array | BadImage)[]> {
  const results: (Uint8Array | BadImage)[] = new Array(part.length);
  let next = 0;
  const worker = async () => {
    while (next < part.length) {
      const i = next++;
      try {
        results[i] = await decode(part[i].path, a.size, a.channels, part[i].path);
      } catch (err) {
        if (!(err instanceof BadImage)) throw err;
        results[i] = err;
      }
      onDone();
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, part.length) }, worker));
  return results;
}

/** Adds one image's pixel/255 values and their squares to the per-channel sums (channels-last bytes). */
function addChannelSums(r: Uint8Array, channels: number, sum: Float64Array, sumSq: Float64Array): void {
  for (let p = 0; p < r.length; p += channels) {
    for (let c = 0; c < channels; c++) {
      const v = r[p + c] / 255;
      sum[c] += v;
      sumSq[c] += v * v;
    }
  }
}

/** Mean and population std of pixel/255 over n pixels; a constant channel gets 1 (no scaling) rather than a division by 0. */
function normalizationOf(sum: Float64Array, sumSq: Float64Array, n: number): { mean: number[]; std: number[] } {
  const mean = Array.from(sum, (s) => s / n);
  const std = Array.from(sumSq, (s, c) => Math.sqrt(Math.max(0, s / n - mean[c] * mean[c]))).map((s) => (s > 1e-12 ? s : 1));
  return { mean, std };
}

/** Decodes every candidate (a chunk at a time, a few files at once) into a temp file renamed onto the cache; then the manifest. */
async function build(a: BuildArgs): Promise<Manifest> {
  try {
    mkdirSync(a.cacheDir, { recursive: true });
  } catch (err) {
    throw new KqkdError('cacheDir', 'a folder kqkd can create and write', `"${a.cacheDir}" (${(err as NodeJS.ErrnoException).code ?? 'unwritable'})`);
  }
  rmSync(a.manifestPath, { force: true }); // a crash from here on leaves no manifest, so the cache is rebuilt
  const imageBytes = a.size * a.size * a.channels;
  const total = a.candidates.length;
  const label = `decoding ${a.plan.split} images`;
  a.onProgress?.(0, total, label);
  const tmp = `${a.cache}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  const sum = new Float64Array(a.channels);
  const sumSq = new Float64Array(a.channels);
  const entries: Manifest['files'] = [];
  let count = 0;
  let done = 0;
  try {
    const CHUNK = 64;
    for (let start = 0; start < total; start += CHUNK) {
      const part = a.candidates.slice(start, start + CHUNK);
      const results = await decodeChunk(part, a, () => a.onProgress?.(++done, total, label));
      for (let i = 0; i < part.length; i++) {
        const r = results[i];
        const f = part[i];
        if (r instanceof BadImage) {
          if (!a.skipBad) throw new KqkdError(`image "${f.path}"`, r.expected, r.reason, 'pass skipBad / --skip-bad to skip and list bad files');
          entries.push({ path: f.rel, size: f.size, mtimeMs: f.mtimeMs, label: f.label, bad: r.reason });
          continue;
        }
        if (a.plan.split === 'train') addChannelSums(r, a.channels, sum, sumSq);
        let written = 0;
        while (written < r.length) written += writeSync(fd, r, written, r.length - written);
        entries.push({ path: f.rel, size: f.size, mtimeMs: f.mtimeMs, label: f.label });
        count++;
      }
    }
    closeSync(fd);
    renameSync(tmp, a.cache);
  } catch (err) {
    try { closeSync(fd); } catch { /* closed already */ }
    rmSync(tmp, { force: true });
    throw err;
  }
  const normalization: Manifest['normalization'] = a.plan.split === 'train' ? normalizationOf(sum, sumSq, count * a.size * a.size) : null;
  const manifest: Manifest = {
    format: FORMAT, version: VERSION, layout: a.plan.layout, split: a.plan.split, folder: relative(a.dir, a.plan.folder),
    testFraction: a.plan.testFraction, seed: a.seed, imageSize: a.size, channels: a.channels, resize: IMAGE_RESIZE,
    classNames: a.plan.classNames, files: entries, count, bytes: count * imageBytes, normalization,
  };
  writeFileAtomic(a.manifestPath, `${JSON.stringify(manifest)}\n`);
  return manifest;
}
