/**
 * The tiny image set of the experiment tests: `count` 16×16 grayscale images of 10 classes, class c = a bright column
 * c + 3 and a bright row 12 − c over seeded noise (learnable in a few epochs by a ResNet at 1/16 width).
 */
import type { ImageDataset } from '@kqkd/data';

export const STRIPES_SIDE = 16;

export function stripes(count: number, seed: number): ImageDataset {
  const side = STRIPES_SIDE;
  let s = seed >>> 0;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s >>> 24; };
  const images = new Uint8Array(count * side * side);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const c = (n * 7 + (rand() & 1)) % 10;
    labels[n] = c;
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) images[(n * side + y) * side + x] = Math.min(255, (x === c + 3 || y === 12 - c ? 170 : 20) + (rand() >> 2));
  }
  return { images, labels, count, height: side, width: side, channels: 1, classes: 10, classNames: [...'0123456789'] };
}
