// encodeIdx is the inverse of parseIdx for every IDX element type; writeFashionMnist writes a folder loadFashionMnist reads back.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, loadFashionMnist, parseIdx, writeFashionMnist } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-idx-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('encodeIdx', () => {
  it('writes the header byte by byte as the format says (uint8, 2×3)', () => {
    const bytes = encodeIdx({ dims: [2, 3], data: Uint8Array.from([1, 2, 3, 4, 5, 255]) });
    expect(Array.from(bytes)).toEqual([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255]);
  });
  it('round-trips every element type through parseIdx', () => {
    const cases = [
      Int8Array.from([-128, 0, 127]), Int16Array.from([-32768, 1, 32767]), Int32Array.from([-(2 ** 31), 7, 2 ** 31 - 1]),
      Float32Array.from([-1.5, 0, 3.25]), Float64Array.from([Math.PI, -0, 1e300]), Uint8Array.from([0, 128, 255]),
    ];
    for (const data of cases) {
      const back = parseIdx(encodeIdx({ dims: [3], data }), 'mem');
      expect(back.dims).toEqual([3]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    }
  });
  it('refuses a data length that does not match the dims, and an unsupported array', () => {
    expect(() => encodeIdx({ dims: [2, 2], data: new Uint8Array(3) })).toThrow(/4 values for dims \[2, 2\] for idx.data but received 3/);
    expect(() => encodeIdx({ dims: [1], data: new Uint32Array(1) as never })).toThrow(/for idx.data but received Uint32Array/);
    expect(() => encodeIdx({ dims: [], data: new Uint8Array(0) })).toThrow(/idx.dims/);
  });
});

describe('writeFashionMnist', () => {
  it('writes the four files loadFashionMnist reads back unchanged', () => {
    const images = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256);
    const labels = Uint8Array.from([0, 9, 3, 3, 1]);
    writeFashionMnist(dir, 'train', { images, labels, count: 5, height: 4, width: 3, channels: 1 });
    writeFashionMnist(dir, 'test', { images: images.subarray(0, 24), labels: labels.subarray(0, 2), count: 2, height: 4, width: 3, channels: 1 });
    expect(readdirSync(dir).sort()).toEqual(['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte']);
    const train = loadFashionMnist({ dir, split: 'train' });
    expect([train.count, train.height, train.width, train.channels]).toEqual([5, 4, 3, 1]);
    expect(Array.from(train.images)).toEqual(Array.from(images));
    expect(Array.from(train.labels)).toEqual([0, 9, 3, 3, 1]);
    expect(loadFashionMnist({ dir, split: 'test' }).count).toBe(2);
    expect(() => writeFashionMnist(dir, 'train', { images, labels, count: 5, height: 4, width: 1, channels: 3 })).toThrow(/1 \(Fashion-MNIST files hold grayscale images\) for set.channels/);
  });
});
