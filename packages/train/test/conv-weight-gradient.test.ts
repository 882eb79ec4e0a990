/**
 * The addon's convWeightGradient as JavaScript calls it (the native backend's host weight gradients, KQKD_HOST_DW=1):
 * a small strided, padded, dilated case against the definition summed in float64, and every bad argument refused
 * with a TypeError or RangeError naming it — never a crash.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '@kqkd/common';
import { loadAddon } from '@kqkd/native';

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

  it('refuses bad arguments by name', () => {
    const s = shape();
    const x = new Float32Array(2 * 3 * 7 * 6), dy = new Float32Array(2 * 4 * 4 * 3), dw = new Float32Array(4 * 3 * 9);
    const call = (...a: unknown[]) => () => (addon.convWeightGradient as unknown as (...b: unknown[]) => void)(...a);
    expect(call(new Float64Array(x.length), dy, dw, s, 1)).toThrow(TypeError);
    expect(call(x, dy, dw, null, 1)).toThrow(/object for shape/);
    expect(call(x, dy, dw, { ...s, batch: '2' }, 1)).toThrow(/shape\.batch/);
    expect(call(x, dy, dw, { ...s, strideWidth: 1.5 }, 1)).toThrow(/shape\.strideWidth/);
    expect(call(x, dy, dw, { ...s, batch: 0 }, 1)).toThrow(/shape\.batch/);
    expect(call(x, dy, dw, shape({ batch: 3 }), 1)).toThrow(RangeError); // x holds 2 samples
    expect(call(x, dy, new Float32Array(5), s, 1)).toThrow(/floats for dw/);
    expect(call(x, dy, dw, s, -1)).toThrow(/threads/);
    expect(call(x, dy, new Float32Array(x.buffer, 0, 4 * 3 * 9), s, 1)).toThrow(/overlap/);
  });
});
