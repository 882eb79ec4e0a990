import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, readNpy, writeNpy, type NpyData, type NpyDtype } from '../src/index.js';

const fixtures = resolve(import.meta.dirname, 'fixtures');
const tmp = () => mkdtempSync(join(tmpdir(), 'kqkd-npy-'));

describe('.npy files written by NumPy 2.4', () => {
  it('float32 2×3', () => {
    const a = readNpy(join(fixtures, 'f4_2x3.npy'));
    expect(a).toEqual({ dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 0.25, 0.5, 0.75, 1, 1.25]) });
  });
  it('big-endian float64 is swapped to native', () => {
    expect(readNpy(join(fixtures, 'f8_be.npy')).data).toEqual(Float64Array.from([1.5, -2.25, 1e300]));
  });
  it('int64 rank 3 as BigInt64Array', () => {
    const a = readNpy(join(fixtures, 'i8_3d.npy'));
    expect(a.dtype).toBe('int64');
    expect(a.shape).toEqual([2, 3, 4]);
    expect(a.data[0]).toBe(-12n * 2n ** 40n);
    expect(a.data[23]).toBe(11n * 2n ** 40n);
  });
  it('bool as 0/1 bytes, uint8 scalar, version 2.0 header', () => {
    expect(readNpy(join(fixtures, 'bool.npy'))).toEqual({ dtype: 'bool', shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) });
    expect(readNpy(join(fixtures, 'u1_scalar.npy'))).toEqual({ dtype: 'uint8', shape: [], data: Uint8Array.from([7]) });
    expect(readNpy(join(fixtures, 'v2_i4.npy'))).toEqual({ dtype: 'int32', shape: [2, 2], data: Int32Array.from([1, -2, 3, 4]) });
  });
  it('Fortran order and unsupported dtypes are clear errors naming the file', () => {
    expect(() => readNpy(join(fixtures, 'fortran.npy'))).toThrow(/C-order.*fortran\.npy.*Fortran-order/);
    expect(() => readNpy(join(fixtures, 'i2.npy'))).toThrow(/i2\.npy.*'<i2'/);
  });
});

const cases: [NpyDtype, NpyData, number[]][] = [
  ['float32', Float32Array.from([1.5, -0, Infinity, NaN, 3e-40, 7]), [2, 3]],
  ['float64', Float64Array.from([Math.PI, -1e-300]), [2]],
  ['int32', Int32Array.from([-2147483648, 2147483647, 0, 5]), [1, 2, 2, 1]],
  ['int64', BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 42n]), [3]],
  ['uint8', Uint8Array.from([0, 255, 128]), [3, 1]],
  ['bool', Uint8Array.from([1, 0, 1, 1]), [2, 2]],
  ['float32', new Float32Array(0), [0, 5]],
  ['float32', Float32Array.from([9]), []],
];

describe('writeNpy → readNpy round trips', () => {
  it.each(cases.map(([d, a, s]) => [d, JSON.stringify(s), a, s] as const))('%s shape %s', (dtype, _label, data, shape) => {
    const path = join(tmp(), 'deep', 'a.npy');
    writeNpy(path, data, shape, { dtype });
    const back = readNpy(path);
    expect(back).toEqual({ dtype, shape, data });
    expect(decodeNpy(readFileSync(path))).toEqual(back);
    expect(readFileSync(path).readUInt16LE(8) + 10).toBe(readFileSync(path).length - data.byteLength); // 64-aligned header
    expect((readFileSync(path).length - data.byteLength) % 64).toBe(0);
  });

  it('writes a subarray view without its neighbours', () => {
    const path = join(tmp(), 'v.npy');
    const big = Float32Array.from([1, 2, 3, 4, 5]);
    writeNpy(path, big.subarray(1, 3), [2]);
    expect(readNpy(path).data).toEqual(Float32Array.from([2, 3]));
  });

  it('writes the same header bytes NumPy writes', () => {
    const path = join(tmp(), 'f.npy');
    writeNpy(path, Float32Array.from([0, 0.25, 0.5, 0.75, 1, 1.25]), [2, 3]);
    expect(Buffer.compare(readFileSync(path), readFileSync(join(fixtures, 'f4_2x3.npy')))).toBe(0);
  });
});

describe('npy errors', () => {
  it('rejects a shape that does not match, a wrong dtype and non-0/1 bools', () => {
    const path = join(tmp(), 'x.npy');
    expect(() => writeNpy(path, new Float32Array(6), [4, 2])).toThrow(/product is data\.length = 6 for shape but received \[4, 2\] \(product 8\)/);
    expect(() => writeNpy(path, new Float32Array(2), [2], { dtype: 'int32' })).toThrow(/options\.dtype/);
    expect(() => writeNpy(path, Uint8Array.from([2]), [1], { dtype: 'bool' })).toThrow(/bool values 0 or 1.*2 at flat index 0/);
    expect(() => writeNpy(path, [1, 2] as unknown as Float32Array, [2])).toThrow(/data/);
  });

  it('names the file for missing, truncated, trailing and non-npy input', () => {
    const dir = tmp();
    expect(() => readNpy(join(dir, 'missing.npy'))).toThrow(/readable file.*missing\.npy.*ENOENT/);
    const good = readFileSync(join(fixtures, 'f4_2x3.npy'));
    writeFileSync(join(dir, 'short.npy'), good.subarray(0, good.length - 3));
    expect(() => readNpy(join(dir, 'short.npy'))).toThrow(/152 bytes.*short\.npy.*149 bytes \(truncated\)/);
    writeFileSync(join(dir, 'long.npy'), Buffer.concat([good, Buffer.from([0])]));
    expect(() => readNpy(join(dir, 'long.npy'))).toThrow(/trailing data/);
    writeFileSync(join(dir, 'head.npy'), good.subarray(0, 40));
    expect(() => readNpy(join(dir, 'head.npy'))).toThrow(/header of 128 bytes.*head\.npy.*truncated/);
    writeFileSync(join(dir, 'text.npy'), 'hello world, not numpy');
    expect(() => readNpy(join(dir, 'text.npy'))).toThrow(/magic.*text\.npy/);
    expect(() => decodeNpy(good.subarray(0, 5))).toThrow(/npy bytes.*truncated/);
  });
});
