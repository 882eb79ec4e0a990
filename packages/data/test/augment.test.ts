/**
 * Seeded training-time augmentation (src/augment.ts) and the `augment` option of `batches`: random crop from the
 * zero-padded image and horizontal flip, against a reference written here (pad, slice the window, reverse columns);
 * the draws' distribution; determinism (the same seed and coordinates give the same batches whether prefetched,
 * resumed mid-epoch or not); and the validation errors.
 */
import { describe, expect, it } from 'vitest';
import { createRng, type Rng } from '@kqkd/common';
import { augmentBatch, augmentImages, augmentSeed, augments, batches, datasetFromImages, toFloatBatch, validateAugmentSpec } from '../src/index.js';

/** An Rng whose nextInt / nextFloat return scripted values (the draw order is part of the contract). */
function scripted(ints: number[], floats: number[]): Rng {
  const base = createRng(0);
  return { ...base, nextInt: () => ints.shift()!, nextFloat: () => floats.shift()! };
}

/** Reference crop of one HWC image: pad by p with zeros, take the window at (top, left), optionally mirror. */
function reference(img: Uint8Array, h: number, w: number, c: number, p: number, top: number, left: number, flip: boolean): Uint8Array {
  const padded = (y: number, x: number, k: number) => {
    const sy = y - p, sx = x - p;
    return sy < 0 || sy >= h || sx < 0 || sx >= w ? 0 : img[(sy * w + sx) * c + k];
  };
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
    const xx = flip ? w - 1 - x : x;
    out[(y * w + x) * c + k] = padded(y + top, xx + left, k);
  }
  return out;
}

describe('augmentImages', () => {
  it('4×4×1 and 3×3×3 images: every crop offset, with and without flip, = the reference', () => {
    for (const [h, w, c, p] of [[4, 4, 1, 1], [3, 3, 3, 2], [4, 4, 1, 2]] as const) {
      const img = Uint8Array.from({ length: h * w * c }, (_, i) => i + 1);
      for (let top = 0; top <= 2 * p; top++) for (let left = 0; left <= 2 * p; left++) for (const flip of [false, true]) {
        const got = img.slice();
        augmentImages(got, 1, { height: h, width: w, channels: c }, { crop: { padding: p }, flip: true }, scripted([top, left], [flip ? 0.25 : 0.75]));
        expect(Array.from(got), `${h}×${w}×${c} p${p} at (${top}, ${left}) flip ${flip}`).toEqual(Array.from(reference(img, h, w, c, p, top, left, flip)));
      }
    }
  });

  it('flip only / crop only / nothing; a batch of several images draws per image in order', () => {
    const img = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const flipOnly = img.slice();
    augmentImages(flipOnly, 1, { height: 4, width: 4, channels: 1 }, { flip: true }, scripted([], [0.1]));
    expect(Array.from(flipOnly)).toEqual(Array.from(reference(img, 4, 4, 1, 0, 0, 0, true)));
    const two = new Uint8Array([...img, ...img]);
    augmentImages(two, 2, { height: 4, width: 4, channels: 1 }, { crop: { padding: 1 } }, scripted([0, 2, 2, 0], []));
    expect(Array.from(two.subarray(0, 16))).toEqual(Array.from(reference(img, 4, 4, 1, 1, 0, 2, false)));
    expect(Array.from(two.subarray(16))).toEqual(Array.from(reference(img, 4, 4, 1, 1, 2, 0, false)));
    expect(augments(undefined)).toBe(false);
    expect(augments({ flip: false })).toBe(false);
    expect(augments({ crop: { padding: 2 } })).toBe(true);
  });

  it('the draws: every crop offset in [0, 2p]² equally often, flips half the time (binomial tolerances)', () => {
    const n = 20000;
    const img = Uint8Array.from({ length: 25 }, (_, i) => i + 1); // 5×5: the pixel landing at the centre names the offset
    const counts = new Map<number, number>();
    let flips = 0;
    for (let t = 0; t < n; t++) {
      const a = img.slice();
      augmentBatch(a, 1, { height: 5, width: 5, channels: 1 }, { crop: { padding: 2 } }, 11, t);
      counts.set(a[12], (counts.get(a[12]) ?? 0) + 1); // with p = 2 the centre stays inside the image: 25 offsets, 25 pixels
      const pair = Uint8Array.of(1, 2);
      augmentBatch(pair, 1, { height: 1, width: 2, channels: 1 }, { flip: true }, 12, t);
      if (pair[0] === 2) flips++;
    }
    expect(counts.size).toBe(25);
    for (const x of counts.values()) expect(Math.abs(x - n / 25)).toBeLessThan(5 * Math.sqrt((n * 24) / 625));
    expect(Math.abs(flips - n / 2)).toBeLessThan(5 * Math.sqrt(n / 4));
  });
});

describe('batches({ augment })', () => {
  const images = Uint8Array.from({ length: 40 * 6 * 6 }, (_, i) => (i * 37) % 251);
  const ds = datasetFromImages({ images, labels: Uint8Array.from({ length: 40 }, (_, i) => i % 10), count: 40, height: 6, width: 6, channels: 1, classes: 10, classNames: [] }, { name: 'fashion-mnist', split: 'train' });
  const spec = { crop: { padding: 2 }, flip: true };
  const collect = async (o: { prefetch?: boolean; indices?: number[]; seed?: number; epoch?: number; firstBatch?: number }) => {
    const out: number[][] = [];
    for await (const b of batches(ds, {
      batchSize: 8, normalization: 'none', prefetch: o.prefetch, ...(o.indices ? { indices: o.indices } : {}),
      augment: { spec, seed: o.seed ?? 5, coordinates: [o.epoch ?? 1], firstBatch: o.firstBatch ?? 0 },
    })) out.push(Array.from(b.data));
    return out;
  };

  it('the same seed and coordinates give the same batches, prefetched or not; another epoch or seed others', async () => {
    const a = await collect({ prefetch: true });
    expect(await collect({ prefetch: false })).toEqual(a);
    expect(await collect({ epoch: 2 })).not.toEqual(a);
    expect(await collect({ seed: 6 })).not.toEqual(a);
  });

  it('batch k is the same when the batches before it are skipped (a resumed epoch passes firstBatch)', async () => {
    const order = Array.from({ length: 40 }, (_, i) => (i * 7) % 40);
    const full = await collect({ indices: order });
    const resumed = await collect({ indices: order.slice(16), firstBatch: 2 });
    expect(resumed).toEqual(full.slice(2));
  });

  it('without augment the batches are the plain normalised images', async () => {
    const got: number[] = [];
    for await (const b of batches(ds, { batchSize: 40, normalization: 'none' })) got.push(...b.data);
    const want = toFloatBatch({ images, count: 40, height: 6, width: 6, channels: 1 }, Array.from({ length: 40 }, (_, i) => i), { mean: [0], std: [1] });
    expect(got).toEqual(Array.from(want.data));
  });

  it('validation names the option', async () => {
    expect(() => validateAugmentSpec({ crop: { padding: 0 } })).toThrow(/augment\.crop\.padding/);
    expect(() => validateAugmentSpec({ flip: 'yes' as never })).toThrow(/augment\.flip/);
    await expect(collect({ firstBatch: -1 })).rejects.toThrow(/augment\.firstBatch/);
    expect(() => augmentSeed(1.5)).toThrow(/augmentSeed coordinate/);
  });
});
