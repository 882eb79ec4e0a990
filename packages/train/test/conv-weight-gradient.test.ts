/**
 * The addon's convWeightGradient as JavaScript calls it (the native backend's host weight gradients, KQKD_HOST_DW=1):
 * a small strided, padded, dilated case against the definition summed in float64, and every bad argument refused
 * with the addon's one error (a TypeError, code KQKD_INVALID_ARGUMENT, naming it) — never a crash; and the native
 * backend's wrapper refusing the same arguments first with a KqkdError, the addon never called.
 */
import { describe, expect, it, vi } from 'vitest';
import { createRng, KqkdError } from '@kqkd/common';
import { loadAddon } from '@kqkd/native';
import { convWeightGradient } from '../src/backends/conv-weight-gradient.js';

const addon = loadAddon();
const shape = (o: Partial<Record<string, number>> = {}) => ({
  batch: 2, inChannels: 3, inHeight: 7, inWidth: 6, outChannels: 4, outHeight: 4, outWidth: 3, kernelHeight: 3, kernelWidth: 3,
  strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, dilationHeight: 1, dilationWidth: 1, ...o,
});

describe('convWeightGradient (addon)', () => {
  it('equals the definition in float64 (stride 2, pad 1) and at stride 1 with dilation 2 (the windows path)', () => {
    const rng = createRng(5);
    for (const s of [shape(), shape({ strideHeight: 1, strideWidth: 1, dilationHeight: 2, dilationWidth: 2, padTop: 2, padLeft: 2, outHeight: 7, outWidth: 6 })]) {
      const x = Float32Array.from({ length: s.batch * s.inChannels * s.inHeight * s.inWidth }, () => rng.nextNormal());
      const dy = Float32Array.from({ length: s.batch * s.outChannels * s.outHeight * s.outWidth }, () => rng.nextNormal());
      const dw = new Float32Array(s.outChannels * s.inChannels * 9).fill(7);
      addon.convWeightGradient(x, dy, dw, s, 2);
      let k = 0;
      for (let m = 0; m < s.outChannels; m++) for (let c = 0; c < s.inChannels; c++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++, k++) {
        let ref = 0;
        for (let n = 0; n < s.batch; n++) for (let oh = 0; oh < s.outHeight; oh++) for (let ow = 0; ow < s.outWidth; ow++) {
          const ih = oh * s.strideHeight + i * s.dilationHeight - s.padTop;
          const iw = ow * s.strideWidth + j * s.dilationWidth - s.padLeft;
          if (ih < 0 || ih >= s.inHeight || iw < 0 || iw >= s.inWidth) continue;
          ref += dy[((n * s.outChannels + m) * s.outHeight + oh) * s.outWidth + ow] * x[((n * s.inChannels + c) * s.inHeight + ih) * s.inWidth + iw];
        }
        expect(Math.abs(dw[k] - ref)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref)));
      }
    }
  });

  it('refuses bad arguments by name with its one error', () => {
    const s = shape();
    const x = new Float32Array(2 * 3 * 7 * 6), dy = new Float32Array(2 * 4 * 4 * 3), dw = new Float32Array(4 * 3 * 9);
    /** The addon's error for these arguments: class, code, argument, message. */
    const thrown = (...a: unknown[]) => {
      try {
        (addon.convWeightGradient as unknown as (...b: unknown[]) => void)(...a);
      } catch (e) {
        const err = e as TypeError & { code?: string; argument?: string };
        return { type: err.constructor.name, code: err.code, argument: err.argument, message: err.message };
      }
      return undefined;
    };
    const refused = (argument: string, message: string) => ({ type: 'TypeError', code: 'KQKD_INVALID_ARGUMENT', argument, message });
    expect(thrown(new Float64Array(x.length), dy, dw, s, 1)).toEqual(refused('x', 'Expected a Float32Array for x but received Float64Array(252)'));
    expect(thrown(x, dy, dw, null, 1)).toEqual(refused('shape', 'Expected an object for shape but received null'));
    expect(thrown(x, dy, dw, { ...s, batch: '2' }, 1))
      .toEqual(refused('shape.batch', 'Expected an integer in [1, 2147483647] for shape.batch but received "2" of type string'));
    expect(thrown(x, dy, dw, { ...s, strideWidth: 1.5 }, 1))
      .toEqual(refused('shape.strideWidth', 'Expected an integer in [1, 2147483647] for shape.strideWidth but received 1.5 of type number'));
    expect(thrown(x, dy, dw, { ...s, batch: 0 }, 1))
      .toEqual(refused('shape.batch', 'Expected an integer in [1, 2147483647] for shape.batch but received 0 of type number'));
    expect(thrown(x, dy, dw, { ...s, padTop: -1 }, 1))
      .toEqual(refused('shape.padTop', 'Expected an integer in [0, 2147483647] for shape.padTop but received -1 of type number'));
    expect(thrown(x, dy, dw, shape({ batch: 3 }), 1)) // x holds 2 samples
      .toEqual(refused('x', 'Expected a Float32Array of 378 values for x but received Float32Array(252)'));
    expect(thrown(x, dy, new Float32Array(5), s, 1)).toEqual(refused('dw', 'Expected a Float32Array of 108 values for dw but received Float32Array(5)'));
    expect(thrown(x, dy, dw, shape({ outChannels: 2 ** 16, inChannels: 2 ** 16 }), 1)) // dW of 2^32 · 9 elements
      .toEqual(refused('shape', 'Expected outChannels · inChannels · kernelHeight · kernelWidth below 2^31 (dW\'s BLAS size) for shape but received 38654705664'));
    expect(thrown(x, dy, dw, shape({ outChannels: 2 ** 31 - 1, inChannels: 2 ** 31 - 1, batch: 2 ** 31 - 1 }), 1)) // products that wrap an int64
      .toMatchObject({ type: 'TypeError', argument: 'shape' });
    expect(thrown(x, dy, dw, s, -1)).toEqual(refused('threads', 'Expected an integer in [0, 1024] for threads but received -1 of type number'));
    expect(thrown(x, dy, new Float32Array(x.buffer, 0, 4 * 3 * 9), s, 1))
      .toEqual(refused('dw', 'Expected an array that does not overlap x for dw but received a view sharing memory with x'));
  });
});

describe('convWeightGradient (the native backend\'s wrapper): checked in TypeScript first', () => {
  const s = shape();
  const x = new Float32Array(2 * 3 * 7 * 6), dy = new Float32Array(2 * 4 * 4 * 3), dw = new Float32Array(4 * 3 * 9);
  /** The KqkdError of the wrapper (argument, message) and whether the addon was reached. */
  const refusal = (xa: Float32Array, dya: Float32Array, dwa: Float32Array, sh: unknown, threads: unknown) => {
    const fake = { convWeightGradient: vi.fn() };
    try {
      convWeightGradient(fake, xa, dya, dwa, sh as ReturnType<typeof shape>, threads as number);
      return { reached: fake.convWeightGradient.mock.calls.length };
    } catch (e) {
      expect(e).toBeInstanceOf(KqkdError);
      return { argument: (e as KqkdError).argument, message: (e as KqkdError).message, reached: fake.convWeightGradient.mock.calls.length };
    }
  };

  it('good arguments reach the addon unchanged, and give the addon\'s result', () => {
    expect(refusal(x, dy, dw, s, 2)).toEqual({ reached: 1 });
    const rng = createRng(8);
    const xr = Float32Array.from(x, () => rng.nextNormal()), dyr = Float32Array.from(dy, () => rng.nextNormal());
    const viaWrapper = new Float32Array(dw.length), direct = new Float32Array(dw.length);
    convWeightGradient(addon, xr, dyr, viaWrapper, s, 1);
    addon.convWeightGradient(xr, dyr, direct, s, 1);
    expect(Array.from(viaWrapper)).toEqual(Array.from(direct));
    expect(Math.max(...viaWrapper.map(Math.abs))).toBeGreaterThan(0);
  });

  it('a bad shape field, threads, length, type or overlap: a KqkdError naming it, the addon never called', () => {
    expect(refusal(x, dy, dw, { ...s, batch: 0 }, 1))
      .toEqual({ argument: 'shape.batch', message: 'Expected integer between 1 and 2147483647 for shape.batch but received 0 of type number', reached: 0 });
    expect(refusal(x, dy, dw, { ...s, strideWidth: 1.5 }, 1))
      .toEqual({ argument: 'shape.strideWidth', message: 'Expected integer between 1 and 2147483647 for shape.strideWidth but received 1.5 of type number', reached: 0 });
    expect(refusal(x, dy, dw, { ...s, padLeft: -1 }, 1))
      .toEqual({ argument: 'shape.padLeft', message: 'Expected integer between 0 and 2147483647 for shape.padLeft but received -1 of type number', reached: 0 });
    const { dilationWidth: _, ...noDilation } = s;
    expect(refusal(x, dy, dw, noDilation, 1))
      .toEqual({ argument: 'shape.dilationWidth', message: 'Expected integer between 1 and 2147483647 for shape.dilationWidth but received undefined', reached: 0 });
    expect(refusal(x, dy, dw, null, 1)).toEqual({ argument: 'shape', message: 'Expected an object for shape but received null', reached: 0 });
    expect(refusal(x, dy, dw, shape({ outChannels: 2 ** 16, inChannels: 2 ** 16 }), 1)).toEqual({
      argument: 'shape', reached: 0,
      message: 'Expected outChannels · inChannels · kernelHeight · kernelWidth below 2^31 (dW\'s BLAS size) for shape but received 38654705664',
    });
    expect(refusal(x, dy, dw, shape({ outHeight: 2 ** 16, outWidth: 2 ** 16 }), 1)).toMatchObject({ argument: 'shape', reached: 0 });
    expect(refusal(x, dy, dw, s, -1)).toEqual({ argument: 'threads', message: 'Expected integer between 0 and 1024 for threads but received -1 of type number', reached: 0 });
    expect(refusal(x, dy, dw, s, 2000)).toMatchObject({ argument: 'threads', reached: 0 });
    expect(refusal(x, dy, dw, shape({ batch: 3 }), 1)).toEqual({
      argument: 'x', reached: 0,
      message: 'Expected a Float32Array of 378 values (batch · inChannels · inHeight · inWidth) for x but received 252 values',
    });
    expect(refusal(x, new Float32Array(5), dw, s, 1)).toMatchObject({ argument: 'dy', reached: 0 });
    expect(refusal(x, dy, new Float32Array(5), s, 1)).toEqual({
      argument: 'dw', reached: 0,
      message: 'Expected a Float32Array of 108 values (outChannels · inChannels · kernelHeight · kernelWidth) for dw but received 5 values',
    });
    expect(refusal(new Float64Array(x.length) as unknown as Float32Array, dy, dw, s, 1))
      .toEqual({ argument: 'x', message: 'Expected a Float32Array for x but received Float64Array(252)', reached: 0 });
    expect(refusal(x, dy, new Float32Array(x.buffer, 4, dw.length), s, 1))
      .toEqual({ argument: 'dw', message: 'Expected an array that does not overlap x for dw but received a view sharing memory with x', reached: 0 });
    const both = new Float32Array(dy.length + dw.length);
    expect(refusal(x, both.subarray(0, dy.length), both.subarray(dy.length - 1, dy.length - 1 + dw.length), s, 1))
      .toMatchObject({ argument: 'dw', reached: 0 });
    expect(refusal(x, both.subarray(0, dy.length), both.subarray(dy.length), s, 1)).toEqual({ reached: 1 }); // adjacent, not overlapping
  });
});
