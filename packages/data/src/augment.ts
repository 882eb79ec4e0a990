/**
 * Seeded training-time augmentation on HWC bytes, before normalisation, as torchvision does it:
 * `RandomCrop(size, padding=p)` (zero-pad every side by p, take a size×size window at a uniform offset in [0, 2p]²)
 * followed by `RandomHorizontalFlip(0.5)`.
 *
 * Determinism: the draws of a batch come from `augmentSeed(seed, ...coordinates)` (the run seed, the epoch, the
 * batch's position), never from a shared stream, so prefetching, resuming after a crash or reading batches out of
 * order cannot change which image gets which crop.
 */
import { createRng, expectInteger, invalidArgument, type Rng } from '@kqkd/common';

export interface AugmentSpec {
  /** Random crop of the original size from the image zero-padded by `padding` pixels on each side. */
  crop?: { padding: number };
  /** Random horizontal flip with probability 0.5. */
  flip?: boolean;
}

/** A uint32 seed from integer coordinates (splitmix-style mixing: neighbouring coordinates give unrelated seeds). */
export function augmentSeed(...coordinates: number[]): number {
  let h = 0x2545f491;
  for (const c of coordinates) {
    if (!Number.isInteger(c) || c < 0) invalidArgument('augmentSeed coordinate', 'a non-negative integer', c);
    h = Math.imul(h ^ (c >>> 0), 0x9e3779b1) >>> 0;
    h = Math.imul(h ^ Math.floor(c / 4294967296), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}

/** Checks a spec; throws naming `arg`. */
export function validateAugmentSpec(spec: AugmentSpec, arg = 'augment'): AugmentSpec {
  if (!spec || typeof spec !== 'object') invalidArgument(arg, 'an augmentation spec { crop?: { padding }, flip? }', spec);
  if (spec.crop !== undefined) expectInteger(`${arg}.crop.padding`, spec.crop?.padding, 1, 64);
  if (spec.flip !== undefined && typeof spec.flip !== 'boolean') invalidArgument(`${arg}.flip`, 'true or false', spec.flip);
  return spec;
}

/** True when the spec changes anything. */
export function augments(spec: AugmentSpec | undefined): boolean {
  return spec !== undefined && (spec.crop !== undefined || spec.flip === true);
}

/**
 * Augments `count` HWC images of `height`×`width`×`channels` bytes in place, drawing from `rng` per image in a fixed
 * order (crop offsets first, then the flip).
 */
export function augmentImages(images: Uint8Array, count: number, geometry: { height: number; width: number; channels: number },
  spec: AugmentSpec, rng: Rng): void {
  const { height: h, width: w, channels: c } = geometry;
  const size = h * w * c;
  if (!(images instanceof Uint8Array) || images.length < count * size) invalidArgument('images', `at least ${count * size} bytes`, images?.length);
  const p = spec.crop?.padding ?? 0;
  const scratch = new Uint8Array(size);
  for (let n = 0; n < count; n++) {
    const img = images.subarray(n * size, (n + 1) * size);
    if (p > 0) {
      // Window origin in padded coordinates (top, left) ∈ [0, 2p]²; pixel (y, x) of the crop is (y + top − p, x + left − p)
      // of the original, zero outside it.
      const top = rng.nextInt(2 * p + 1);
      const left = rng.nextInt(2 * p + 1);
      const dy = top - p;
      const dx = left - p;
      scratch.fill(0);
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        if (sy < 0 || sy >= h) continue;
        const x0 = Math.max(0, -dx);
        const x1 = Math.min(w, w - dx);
        if (x1 > x0) scratch.set(img.subarray((sy * w + x0 + dx) * c, (sy * w + x1 + dx) * c), (y * w + x0) * c);
      }
      img.set(scratch);
    }
    if (spec.flip && rng.nextFloat() < 0.5) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w >> 1; x++) {
          const a = (y * w + x) * c;
          const b = (y * w + (w - 1 - x)) * c;
          for (let k = 0; k < c; k++) {
            const t = img[a + k];
            img[a + k] = img[b + k];
            img[b + k] = t;
          }
        }
      }
    }
  }
}

/** `augmentImages` with the generator of `augmentSeed(seed, ...coordinates)`. */
export function augmentBatch(images: Uint8Array, count: number, geometry: { height: number; width: number; channels: number },
  spec: AugmentSpec, seed: number, ...coordinates: number[]): void {
  augmentImages(images, count, geometry, spec, createRng(augmentSeed(seed, ...coordinates)));
}
