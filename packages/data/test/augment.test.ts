/**
 * Seeded training-time augmentation (src/augment.ts) and the `augment` option of `batches`: torchvision's
 * RandomCrop(size, padding=p) then RandomHorizontalFlip(0.5) on HWC bytes, checked against hand-worked images and a
 * reference written here (pad with zeros, slice the window, reverse the columns) under a scripted Rng; the draws'
 * distribution (binomial / chi-square tolerances); determinism (the same seed and coordinates give the same batches
 * whether prefetched, resumed mid-epoch or not); the plumbing into `batches`; and the validation errors.
 */
import { describe, expect, it } from 'vitest';
import { kqkdError as thrown } from '../../../test/support/kqkd-error.js';
import { KqkdError, createRng, type Rng } from '@kqkd/common';
import {
  augmentBatch, augmentImages, augmentSeed, augments, batches, datasetFromImages, toFloatBatch, validateAugmentSpec,
  type AugmentSpec, type Batch, type Dataset, type Normalization,
} from '../src/index.js';

// ------------------------------------------------------------------ helpers

/**
 * An Rng that hands out scripted values and records its calls: nextInt(n) must be asked for the expected bound and
 * returns the next scripted integer, nextFloat the next scripted float; any other method fails the test.
 */
function scripted(ints: number[], floats: number[], bound?: number): Rng & { calls: string[]; left(): number } {
  const calls: string[] = [];
  const no = (m: string) => () => { throw new Error(`unexpected Rng.${m}()`); };
  return {
    calls,
    left: () => ints.length + floats.length,
    nextInt: (n: number) => {
      calls.push(`int(${n})`);
      if (bound !== undefined) expect(n, 'nextInt bound').toBe(bound);
      if (ints.length === 0) throw new Error('scripted ints exhausted');
      return ints.shift()!;
    },
    nextFloat: () => {
      calls.push('float');
      if (floats.length === 0) throw new Error('scripted floats exhausted');
      return floats.shift()!;
    },
    nextUint32: no('nextUint32'), nextNormal: no('nextNormal'), shuffle: no('shuffle'), sample: no('sample'), state: no('state'),
  };
}

/**
 * The reference, step by step as torchvision does it: zero-pad every side by p, slice the h×w window whose top-left
 * corner is (top, left) in the padded image, then (if `flip`) reverse the order of the columns. HWC bytes.
 */
function reference(img: Uint8Array, h: number, w: number, c: number, p: number, top: number, left: number, flip: boolean): Uint8Array {
  const H = h + 2 * p, W = w + 2 * p;
  const padded: number[][][] = Array.from({ length: H }, () => Array.from({ length: W }, () => new Array(c).fill(0)));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) padded[y + p][x + p][k] = img[(y * w + x) * c + k];
  let rows = padded.slice(top, top + h).map((row) => row.slice(left, left + w));
  if (flip) rows = rows.map((row) => row.slice().reverse());
  return Uint8Array.from(rows.flat(2));
}

/** HWC bytes from rows of pixels (each pixel an array of channel values). */
const hwc = (rows: number[][][]) => Uint8Array.from(rows.flat(2));
/** One-channel image from rows of values. */
const gray = (rows: number[][]) => Uint8Array.from(rows.flat());

function augmentOne(img: Uint8Array, g: { height: number; width: number; channels: number }, spec: AugmentSpec, ints: number[], floats: number[]) {
  const out = img.slice();
  const bound = spec.crop ? 2 * spec.crop.padding + 1 : undefined;
  const rng = scripted(ints.slice(), floats.slice(), bound);
  augmentImages(out, 1, g, spec, rng);
  expect(rng.left(), 'every scripted draw used').toBe(0);
  return { out, calls: rng.calls };
}


// ------------------------------------------------------------------ hand-worked images

const G44 = { height: 4, width: 4, channels: 1 };
const img44 = gray([
  [1, 2, 3, 4],
  [5, 6, 7, 8],
  [9, 10, 11, 12],
  [13, 14, 15, 16],
]);
// 3×3×3: pixel (y, x) is [10i + 1, 10i + 2, 10i + 3] with i = 3y + x
const G333 = { height: 3, width: 3, channels: 3 };
const px = (i: number) => [10 * i + 1, 10 * i + 2, 10 * i + 3];
const img333 = hwc([[px(0), px(1), px(2)], [px(3), px(4), px(5)], [px(6), px(7), px(8)]]);
const Z = [0, 0, 0];

describe('augmentImages by hand (scripted draws: top, left, then the flip float)', () => {
  it('4×4×1, padding 1: the centre offset is the identity; the corners shift by one and fill with zeros', () => {
    const crop = { crop: { padding: 1 } };
    expect(Array.from(augmentOne(img44, G44, crop, [1, 1], []).out)).toEqual(Array.from(img44));
    expect(Array.from(augmentOne(img44, G44, crop, [0, 0], []).out)).toEqual(Array.from(gray([
      [0, 0, 0, 0],
      [0, 1, 2, 3],
      [0, 5, 6, 7],
      [0, 9, 10, 11],
    ])));
    expect(Array.from(augmentOne(img44, G44, crop, [2, 2], []).out)).toEqual(Array.from(gray([
      [6, 7, 8, 0],
      [10, 11, 12, 0],
      [14, 15, 16, 0],
      [0, 0, 0, 0],
    ])));
    // top 0 (content moves down), left 2 (content moves left): top and left are not swapped
    expect(Array.from(augmentOne(img44, G44, crop, [0, 2], []).out)).toEqual(Array.from(gray([
      [0, 0, 0, 0],
      [2, 3, 4, 0],
      [6, 7, 8, 0],
      [10, 11, 12, 0],
    ])));
  });

  it('4×4×1, padding 1, offset (2, 0) then flipped', () => {
    const { out, calls } = augmentOne(img44, G44, { crop: { padding: 1 }, flip: true }, [2, 0], [0.3]);
    // crop (2, 0): [[0,5,6,7],[0,9,10,11],[0,13,14,15],[0,0,0,0]], then each row reversed
    expect(Array.from(out)).toEqual(Array.from(gray([
      [7, 6, 5, 0],
      [11, 10, 9, 0],
      [15, 14, 13, 0],
      [0, 0, 0, 0],
    ])));
    expect(calls).toEqual(['int(3)', 'int(3)', 'float']);
  });

  it('3×3×3 HWC: a flip reverses whole pixels (channels stay in order, the middle column stays)', () => {
    const { out, calls } = augmentOne(img333, G333, { flip: true }, [], [0.1]);
    expect(Array.from(out)).toEqual(Array.from(hwc([[px(2), px(1), px(0)], [px(5), px(4), px(3)], [px(8), px(7), px(6)]])));
    expect(calls).toEqual(['float']); // no crop, no nextInt
  });

  it('3×3×3 HWC, padding 1, offset (0, 1) = one row down, with and without the flip', () => {
    const down = hwc([[Z, Z, Z], [px(0), px(1), px(2)], [px(3), px(4), px(5)]]);
    expect(Array.from(augmentOne(img333, G333, { crop: { padding: 1 }, flip: true }, [0, 1], [0.75]).out)).toEqual(Array.from(down));
    expect(Array.from(augmentOne(img333, G333, { crop: { padding: 1 }, flip: true }, [0, 1], [0.25]).out))
      .toEqual(Array.from(hwc([[Z, Z, Z], [px(2), px(1), px(0)], [px(5), px(4), px(3)]])));
    // offset (2, 0): one row up, one column right
    expect(Array.from(augmentOne(img333, G333, { crop: { padding: 1 } }, [2, 0], []).out))
      .toEqual(Array.from(hwc([[Z, px(3), px(4)], [Z, px(6), px(7)], [Z, Z, Z]])));
  });

  it('the flip threshold is rand < 0.5 (torchvision): 0.4999 flips, 0.5 does not', () => {
    const flipped = Array.from(reference(img44, 4, 4, 1, 0, 0, 0, true));
    expect(Array.from(augmentOne(img44, G44, { flip: true }, [], [0.4999]).out)).toEqual(flipped);
    expect(Array.from(augmentOne(img44, G44, { flip: true }, [], [0.5]).out)).toEqual(Array.from(img44));
    expect(Array.from(augmentOne(img44, G44, { flip: true }, [], [0]).out)).toEqual(flipped);
  });

  it('padding ≥ the image size: the extreme offsets give an all-zero image', () => {
    expect(Array.from(augmentOne(img333, G333, { crop: { padding: 3 } }, [0, 0], []).out)).toEqual(new Array(27).fill(0));
    expect(Array.from(augmentOne(img333, G333, { crop: { padding: 4 } }, [8, 4], []).out)).toEqual(new Array(27).fill(0));
    // and the centre offset of a large padding is still the identity
    expect(Array.from(augmentOne(img333, G333, { crop: { padding: 4 } }, [4, 4], []).out)).toEqual(Array.from(img333));
  });

  it('no crop and no flip ({}, { flip: false }): nothing drawn, nothing changed', () => {
    for (const spec of [{}, { flip: false }]) {
      const { out, calls } = augmentOne(img333, G333, spec, [], []);
      expect(Array.from(out)).toEqual(Array.from(img333));
      expect(calls).toEqual([]);
    }
  });
});

describe('augmentImages = the reference at every offset (non-square and multi-channel geometries)', () => {
  for (const [h, w, c, p] of [[4, 4, 1, 1], [3, 3, 3, 2], [2, 5, 2, 1], [5, 3, 1, 2], [3, 3, 3, 4], [1, 1, 3, 1]] as const) {
    it(`${h}×${w}×${c}, padding ${p}`, () => {
      const img = Uint8Array.from({ length: h * w * c }, (_, i) => i + 1);
      const g = { height: h, width: w, channels: c };
      for (let top = 0; top <= 2 * p; top++) for (let left = 0; left <= 2 * p; left++) for (const flip of [false, true]) {
        const { out, calls } = augmentOne(img, g, { crop: { padding: p }, flip: true }, [top, left], [flip ? 0.25 : 0.75]);
        expect(Array.from(out), `(${top}, ${left}) flip ${flip}`).toEqual(Array.from(reference(img, h, w, c, p, top, left, flip)));
        expect(calls).toEqual([`int(${2 * p + 1})`, `int(${2 * p + 1})`, 'float']);
      }
    });
  }

  it('a batch draws per image in order (top, left, flip; top, left, flip; …) and touches nothing past count images', () => {
    const size = 2 * 5 * 2;
    const imgs = Uint8Array.from({ length: 4 * size }, (_, i) => (i * 7 + 3) % 256);
    const g = { height: 2, width: 5, channels: 2 };
    const draws = [[0, 2, 0.9], [2, 0, 0.1], [1, 1, 0.2]] as const;
    const rng = scripted(draws.flatMap((d) => [d[0], d[1]]), draws.map((d) => d[2]), 3);
    const out = imgs.slice();
    augmentImages(out, 3, g, { crop: { padding: 1 }, flip: true }, rng);
    expect(rng.calls).toEqual(['int(3)', 'int(3)', 'float', 'int(3)', 'int(3)', 'float', 'int(3)', 'int(3)', 'float']);
    draws.forEach(([top, left, f], n) => {
      const want = reference(imgs.subarray(n * size, (n + 1) * size), 2, 5, 2, 1, top, left, f < 0.5);
      expect(Array.from(out.subarray(n * size, (n + 1) * size)), `image ${n}`).toEqual(Array.from(want));
    });
    expect(Array.from(out.subarray(3 * size)), 'the 4th image (beyond count) is untouched').toEqual(Array.from(imgs.subarray(3 * size)));
  });

  it('too few bytes for count images is a KqkdError naming images', () => {
    expect(thrown(() => augmentImages(new Uint8Array(15), 1, G44, { flip: true }, createRng(1))).argument).toBe('images');
    expect(thrown(() => augmentImages(new Uint8Array(16), 2, G44, { flip: true }, createRng(1))).argument).toBe('images');
  });
});

// ------------------------------------------------------------------ statistics

/**
 * Wilson–Hilferty approximation of the chi-square quantile with `df` degrees of freedom at standard-normal quantile z
 * (z = 5: a false alarm probability of about 3e-7).
 */
const chi2Quantile = (df: number, z = 5) => df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;

/**
 * 5×5 image with pixel (y, x) = 5y + x + 1, padding 2: the crop's centre pixel is the original (top, left), so it names
 * the offset; pixel (2, 1) tells a flip (it is the original (top, left ± 1), or 0 at the border, depending on it).
 */
function decode(out: Uint8Array): { top: number; left: number; flipped: boolean } {
  const centre = out[2 * 5 + 2] - 1;
  const top = Math.floor(centre / 5), left = centre % 5;
  const leftNeighbour = out[2 * 5 + 1];
  const unflipped = left - 1 >= 0 ? 5 * top + (left - 1) + 1 : 0;
  const flipped = left + 1 <= 4 ? 5 * top + (left + 1) + 1 : 0;
  expect(leftNeighbour === unflipped || leftNeighbour === flipped, `pixel (2, 1) = ${leftNeighbour}`).toBe(true);
  return { top, left, flipped: leftNeighbour === flipped };
}

function expectUniformDraws(what: string, draws: { top: number; left: number; flipped: boolean }[]) {
  const n = draws.length;
  // every (top, left) in [0, 4]² and each flip: 50 cells of probability 1/50 each
  const counts = new Array(50).fill(0);
  for (const d of draws) counts[(d.top * 5 + d.left) * 2 + (d.flipped ? 1 : 0)]++;
  const e = n / 50;
  for (let i = 0; i < 50; i++) {
    expect(Math.abs(counts[i] - e), `${what}: cell ${i} (offset ${Math.floor(i / 10)}, ${Math.floor(i / 2) % 5}, flip ${i % 2})`)
      .toBeLessThan(5 * Math.sqrt(n * (1 / 50) * (49 / 50)));
  }
  const chi2 = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  expect(chi2, `${what}: chi-square over 50 cells`).toBeLessThan(chi2Quantile(49));
  // marginals: each of the 5 top and 5 left offsets 1/5 of the time, flips 1/2
  for (const key of ['top', 'left'] as const) {
    for (let v = 0; v < 5; v++) {
      const k = draws.filter((d) => d[key] === v).length;
      expect(Math.abs(k - n / 5), `${what}: ${key} = ${v}`).toBeLessThan(5 * Math.sqrt(n * 0.2 * 0.8));
    }
  }
  const flips = draws.filter((d) => d.flipped).length;
  expect(Math.abs(flips - n / 2), `${what}: ${flips} flips of ${n}`).toBeLessThan(5 * Math.sqrt(n / 4));
}

describe('the draws: every crop offset in [0, 2p]² equally often, flips half the time, independently', () => {
  const img = Uint8Array.from({ length: 25 }, (_, i) => i + 1);
  const g = { height: 5, width: 5, channels: 1 };
  const spec = { crop: { padding: 2 }, flip: true };

  it('within one batch (one generator, 10000 images)', () => {
    const n = 10000;
    const imgs = new Uint8Array(25 * n);
    for (let i = 0; i < n; i++) imgs.set(img, 25 * i);
    augmentBatch(imgs, n, g, spec, 21, 0, 0);
    expectUniformDraws('one batch', Array.from({ length: n }, (_, i) => decode(imgs.subarray(25 * i, 25 * (i + 1)))));
  });

  it('across batches (one image per seed coordinate, 10000 coordinates)', () => {
    const draws = [];
    for (let t = 0; t < 10000; t++) {
      const a = img.slice();
      augmentBatch(a, 1, g, spec, 11, 3, t);
      draws.push(decode(a));
    }
    expectUniformDraws('across batches', draws);
  });
});

// ------------------------------------------------------------------ seeds

describe('augmentSeed and augments', () => {
  it('a uint32, a pure function of the coordinates, order-sensitive, different for neighbouring coordinates', () => {
    const s = augmentSeed(7, 1, 2);
    expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
    expect(augmentSeed(7, 1, 2)).toBe(s);
    expect(augmentSeed(7, 2, 1)).not.toBe(s);
    expect(augmentSeed(7, 1)).not.toBe(s);
    expect(augmentSeed(7, 1, 2, 0)).not.toBe(s);
    // the high bits of a coordinate count too
    expect(augmentSeed(7, 1)).not.toBe(augmentSeed(7, 2 ** 32 + 1));
    // a grid of (seed, epoch, batch): all distinct
    const seen = new Set<number>();
    for (let a = 0; a < 4; a++) for (let e = 0; e < 32; e++) for (let b = 0; b < 64; b++) seen.add(augmentSeed(a, e, b));
    expect(seen.size).toBe(4 * 32 * 64);
  });

  it('augmentBatch = augmentImages with createRng(augmentSeed(seed, ...coordinates))', () => {
    const imgs = Uint8Array.from({ length: 6 * 48 }, (_, i) => (i * 13) % 256);
    const g = { height: 4, width: 4, channels: 3 };
    const a = imgs.slice(), b = imgs.slice();
    augmentBatch(a, 6, g, { crop: { padding: 1 }, flip: true }, 5, 2, 9);
    augmentImages(b, 6, g, { crop: { padding: 1 }, flip: true }, createRng(augmentSeed(5, 2, 9)));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(imgs));
  });

  it('bad coordinates are a KqkdError', () => {
    for (const c of [-1, 1.5, Number.NaN]) expect(thrown(() => augmentSeed(1, c)).argument).toBe('augmentSeed coordinate');
  });

  it('augments: only a crop or flip: true change anything', () => {
    expect(augments(undefined)).toBe(false);
    expect(augments({})).toBe(false);
    expect(augments({ flip: false })).toBe(false);
    expect(augments({ flip: true })).toBe(true);
    expect(augments({ crop: { padding: 2 } })).toBe(true);
    expect(augments({ crop: { padding: 2 }, flip: false })).toBe(true);
  });
});

// ------------------------------------------------------------------ batches({ augment })

describe('batches({ augment })', () => {
  // 5×7×3 images (non-square, three channels), 30 of them
  const H = 5, W = 7, C = 3, N = 30, SIZE = H * W * C;
  const images = Uint8Array.from({ length: N * SIZE }, (_, i) => (i * 37 + 11) % 251);
  const pristine = images.slice();
  const ds: Dataset = datasetFromImages(
    { images, labels: Uint8Array.from({ length: N }, (_, i) => i % 10), count: N, height: H, width: W, channels: C, classes: 10, classNames: [] },
    { name: 'cifar10', split: 'train' },
  );
  const spec: AugmentSpec = { crop: { padding: 2 }, flip: true };
  const order = Array.from({ length: N }, (_, i) => (i * 7) % N);

  async function collect(o: {
    prefetch?: boolean; indices?: number[]; seed?: number; coordinates?: number[]; firstBatch?: number; batchSize?: number;
    spec?: AugmentSpec; augment?: false; normalization?: 'dataset' | 'none';
  }): Promise<Batch[]> {
    const out: Batch[] = [];
    for await (const b of batches(ds, {
      batchSize: o.batchSize ?? 8, normalization: o.normalization ?? 'none', prefetch: o.prefetch, indices: o.indices ?? order,
      ...(o.augment === false ? {} : { augment: { spec: o.spec ?? spec, seed: o.seed ?? 5, coordinates: o.coordinates ?? [1], firstBatch: o.firstBatch ?? 0 } }),
    })) out.push(b);
    return out;
  }
  const data = (bs: Batch[]) => bs.map((b) => Array.from(b.data));

  /** Independent expectation: batch k = the reference crop/flip of each image with the draws of createRng(augmentSeed(seed, ...coords, k)), then /255 − mean over std, NCHW. */
  function expected(indices: number[], batchSize: number, seed: number, coords: number[], first: number, norm: Normalization, p: number) {
    const out: number[][] = [];
    for (let k = 0; k * batchSize < indices.length; k++) {
      const idx = indices.slice(k * batchSize, (k + 1) * batchSize);
      const rng = createRng(augmentSeed(seed, ...coords, first + k));
      const batch: number[] = new Array(idx.length * SIZE);
      idx.forEach((i, b) => {
        const top = rng.nextInt(2 * p + 1), left = rng.nextInt(2 * p + 1), flip = rng.nextFloat() < 0.5;
        const img = reference(pristine.subarray(i * SIZE, (i + 1) * SIZE), H, W, C, p, top, left, flip);
        for (let ch = 0; ch < C; ch++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
          batch[((b * C + ch) * H + y) * W + x] = Math.fround(img[(y * W + x) * C + ch] * (1 / (255 * norm.std[ch])) - norm.mean[ch] / norm.std[ch]);
        }
      });
      out.push(batch);
    }
    return out;
  }

  it('batch k is the reference augmentation with augmentSeed(seed, ...coordinates, firstBatch + k), a short last batch included', async () => {
    const none = { mean: [0, 0, 0], std: [1, 1, 1] };
    const got = await collect({ batchSize: 8 }); // 30 = 8 + 8 + 8 + 6
    expect(got.map((b) => b.shape)).toEqual([[8, 3, 5, 7], [8, 3, 5, 7], [8, 3, 5, 7], [6, 3, 5, 7]]);
    expect(got.flatMap((b) => b.indices)).toEqual(order);
    expect(got.flatMap((b) => Array.from(b.labels))).toEqual(order.map((i) => i % 10));
    const want = expected(order, 8, 5, [1], 0, none, 2);
    got.forEach((b, k) => expect(Array.from(b.data), `batch ${k}`).toEqual(want[k]));
    // dataset normalisation, other coordinates, a first batch of 3
    const cifar = ds.normalization;
    const got2 = await collect({ batchSize: 8, normalization: 'dataset', coordinates: [4, 2], firstBatch: 3 });
    const want2 = expected(order, 8, 5, [4, 2], 3, { mean: cifar.mean, std: cifar.std }, 2);
    got2.forEach((b, k) => {
      // the library computes (x/255 − m)/s as x·(1/(255 s)) − m/s in float32; the reference the same in float64 then rounds
      b.data.forEach((v, i) => expect(Math.abs(v - want2[k][i]), `batch ${k}[${i}]`).toBeLessThan(1e-5));
    });
    // at least one image of the epoch was changed, and the dataset's own bytes never are
    expect(data(got)).not.toEqual(data(await collect({ augment: false })));
    expect(Array.from(images)).toEqual(Array.from(pristine));
  });

  it('the same seed and coordinates give the same batches, prefetched or not; another epoch, seed or coordinate list others', async () => {
    const a = data(await collect({ prefetch: true }));
    expect(data(await collect({ prefetch: false }))).toEqual(a);
    expect(data(await collect({ prefetch: true }))).toEqual(a);
    for (const other of [{ coordinates: [2] }, { seed: 6 }, { coordinates: [] }, { coordinates: [1, 0] }]) {
      const b = data(await collect(other));
      // every batch differs (each has 8 or 6 images with 25 · 2 possible outcomes each)
      b.forEach((batch, k) => expect(batch, `${JSON.stringify(other)} batch ${k}`).not.toEqual(a[k]));
    }
  });

  it('batch k is the same whether the batches before it were read or not (a resumed epoch passes firstBatch)', async () => {
    const full = data(await collect({}));
    for (const done of [1, 2, 3]) {
      const resumed = data(await collect({ indices: order.slice(8 * done), firstBatch: done }));
      expect(resumed, `resumed after ${done} batches`).toEqual(full.slice(done));
      expect(data(await collect({ indices: order.slice(8 * done), firstBatch: done, prefetch: false }))).toEqual(full.slice(done));
    }
    // stopping early does not change the batches that were read
    const early: number[][] = [];
    for await (const b of batches(ds, { batchSize: 8, normalization: 'none', indices: order, augment: { spec, seed: 5, coordinates: [1] } })) {
      early.push(Array.from(b.data));
      if (early.length === 2) break;
    }
    expect(early).toEqual(full.slice(0, 2));
  });

  it('without augment (or with a spec that changes nothing) the batches are the plain normalised images', async () => {
    for (const normalization of ['none', 'dataset'] as const) {
      const norm = normalization === 'none' ? { mean: [0, 0, 0], std: [1, 1, 1] } : ds.normalization;
      const want = toFloatBatch({ images: pristine, count: N, height: H, width: W, channels: C }, order, norm);
      const plain = (await collect({ augment: false, normalization, batchSize: 30 }));
      expect(plain).toHaveLength(1);
      expect(Array.from(plain[0].data)).toEqual(Array.from(want.data));
      for (const s of [{}, { flip: false }]) {
        const got = await collect({ spec: s, normalization, batchSize: 30 });
        expect(Array.from(got[0].data), `${normalization} ${JSON.stringify(s)}`).toEqual(Array.from(want.data));
      }
    }
  });

  it('flip only: every image is its original or its mirror', async () => {
    const got = await collect({ spec: { flip: true }, batchSize: 30 });
    const none = { mean: [0, 0, 0], std: [1, 1, 1] };
    let flipped = 0;
    order.forEach((i, b) => {
      const src = pristine.subarray(i * SIZE, (i + 1) * SIZE);
      const asIs = Array.from(toFloatBatch({ images: reference(src, H, W, C, 0, 0, 0, false), count: 1, height: H, width: W, channels: C }, [0], none).data);
      const mirror = Array.from(toFloatBatch({ images: reference(src, H, W, C, 0, 0, 0, true), count: 1, height: H, width: W, channels: C }, [0], none).data);
      const mine = Array.from(got[0].data.subarray(b * SIZE, (b + 1) * SIZE));
      expect(mine.join() === asIs.join() || mine.join() === mirror.join(), `image ${b}`).toBe(true);
      if (mine.join() === mirror.join()) flipped++;
    });
    // 30 fair coins: P(0 or 30 flips) = 2^-29
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(30);
  });
});

// ------------------------------------------------------------------ validation

describe('validation names the argument', () => {
  it('validateAugmentSpec: augment.crop.padding (integer 1–64), augment.flip (boolean), augment (an object)', () => {
    for (const padding of [0, 65, -1, 1.5, Number.NaN, '2', undefined]) {
      const e = thrown(() => validateAugmentSpec({ crop: { padding } } as never));
      expect(e.argument, `padding ${String(padding)}`).toBe('augment.crop.padding');
    }
    expect(thrown(() => validateAugmentSpec({ crop: null } as never)).argument).toBe('augment.crop.padding');
    for (const flip of ['yes', 1, null]) expect(thrown(() => validateAugmentSpec({ flip } as never)).argument).toBe('augment.flip');
    for (const spec of [null, undefined, 3]) expect(thrown(() => validateAugmentSpec(spec as never)).argument).toBe('augment');
    expect(thrown(() => validateAugmentSpec({ flip: 'no' } as never, 'train.augment')).argument).toBe('train.augment.flip');
    // the edges are accepted, and the spec comes back as given
    const ok = { crop: { padding: 64 }, flip: false };
    expect(validateAugmentSpec(ok)).toBe(ok);
    expect(validateAugmentSpec({ crop: { padding: 1 } })).toEqual({ crop: { padding: 1 } });
    expect(validateAugmentSpec({})).toEqual({});
  });

  it('batches: augment.spec.*, augment.seed (uint32), augment.firstBatch (integer ≥ 0)', async () => {
    const ds = datasetFromImages({ images: new Uint8Array(4 * 16), labels: new Uint8Array(4), count: 4, height: 4, width: 4, channels: 1, classes: 10, classNames: [] },
      { name: 'fashion-mnist', split: 'train' });
    const first = async (augment: unknown) => {
      const it = batches(ds, { batchSize: 2, augment: augment as never });
      try {
        await it.next();
      } catch (e) {
        expect(e).toBeInstanceOf(KqkdError);
        return (e as KqkdError).argument;
      }
      return 'nothing thrown';
    };
    expect(await first({ spec: { crop: { padding: 0 } }, seed: 1 })).toBe('augment.spec.crop.padding');
    expect(await first({ spec: { flip: 'yes' }, seed: 1 })).toBe('augment.spec.flip');
    expect(await first({ seed: 1 })).toBe('augment.spec');
    for (const seed of [-1, 2 ** 32, 1.5, undefined]) expect(await first({ spec: { flip: true }, seed }), `seed ${seed}`).toBe('augment.seed');
    expect(await first({ spec: { flip: true }, seed: 1, firstBatch: -1 })).toBe('augment.firstBatch');
    expect(await first({ spec: { flip: true }, seed: 1, firstBatch: 0.5 })).toBe('augment.firstBatch');
    expect(await first({ spec: { flip: true }, seed: 2 ** 32 - 1, firstBatch: 0 })).toBe('nothing thrown');
  });
});
