import { describe, expect, it } from 'vitest';
import { createRng } from '@kqkd/common';
import { classBalancedIndices, toFloatBatch } from '../src/index.js';

describe('toFloatBatch', () => {
  it('normalises HWC bytes into NCHW floats', () => {
    // 2 images, 1×2 pixels, 2 channels: pixel p channel c = 10*p + c + 100*image
    const images = Uint8Array.from([0, 1, 10, 11, 100, 101, 110, 111]);
    const ds = { images, count: 2, height: 1, width: 2, channels: 2 };
    const { data, shape } = toFloatBatch(ds, [1, 0], { mean: [0, 0.5], std: [1, 0.5] });
    expect(shape).toEqual([2, 2, 1, 2]);
    const expected = [100, 110, 101, 111, 0, 10, 1, 11].map((v, i) => (Math.floor(i / 2) % 2 === 0 ? v / 255 : (v / 255 - 0.5) / 0.5));
    data.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
  });

  it('reuses an output buffer and validates arguments', () => {
    const ds = { images: new Uint8Array(4).fill(255), count: 4, height: 1, width: 1, channels: 1 };
    const out = new Float32Array(10);
    const { data } = toFloatBatch(ds, [0, 3], { mean: [0.5], std: [0.5], out });
    expect(data.buffer).toBe(out.buffer);
    expect(Array.from(data)).toEqual([1, 1]);
    expect(() => toFloatBatch(ds, [4], { mean: [0], std: [1] })).toThrow(/index in \[0, 4\) for indices\[0\] but received 4/);
    expect(() => toFloatBatch(ds, [0], { mean: [0, 0], std: [1] })).toThrow(/mean/);
    expect(() => toFloatBatch(ds, [0], { mean: [0], std: [0] })).toThrow(/std\[0\]/);
    expect(() => toFloatBatch(ds, [0, 1], { mean: [0], std: [1], out: new Float32Array(1) })).toThrow(/out/);
  });
});

describe('classBalancedIndices', () => {
  const labels = Uint8Array.from({ length: 100 }, (_, i) => i % 4);

  it('draws perClass of every class, ascending, deterministically per seed', () => {
    const a = classBalancedIndices(labels, 5, createRng(7));
    expect(a).toHaveLength(20);
    expect(a).toEqual(a.slice().sort((x, y) => x - y));
    expect(new Set(a).size).toBe(20);
    const counts = [0, 0, 0, 0];
    for (const i of a) counts[labels[i]]++;
    expect(counts).toEqual([5, 5, 5, 5]);
    expect(classBalancedIndices(labels, 5, createRng(7))).toEqual(a);
    expect(classBalancedIndices(labels, 5, createRng(8))).not.toEqual(a);
  });

  it('errors when a class has too few examples or arguments are bad', () => {
    expect(() => classBalancedIndices(labels, 26, createRng(1))).toThrow(/at most 25 \(the images of class 0\) for perClass but received 26/);
    expect(() => classBalancedIndices(labels, 1, createRng(1), 5)).toThrow(/class 4/);
    expect(() => classBalancedIndices(labels, 0, createRng(1))).toThrow(/perClass/);
    expect(() => classBalancedIndices([0, -1], 1, createRng(1))).toThrow(/labels\[1\]/);
  });
});
