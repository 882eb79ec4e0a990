/**
 * Float64 references shared by the loss tests: NCHW maps in row-major order, a direct-loop convolution and the
 * inference-mode BatchNorm + ReLU at identity statistics.
 */
export interface Map64 { data: Float64Array; n: number; c: number; h: number; w: number }
export const map = (data: ArrayLike<number>, n: number, c: number, h: number, w: number): Map64 => ({ data: Float64Array.from(data), n, c, h, w });
export const at = (m: Map64, n: number, c: number, y: number, x: number) => m.data[((n * m.c + c) * m.h + y) * m.w + x];
/** Conv, stride 1, symmetric pad, no bias; weights [O, C, k, k]. */
export function conv64(x: Map64, w: ArrayLike<number>, out: number, k: number, pad: number): Map64 {
  const r = map(new Float64Array(x.n * out * x.h * x.w), x.n, out, x.h, x.w);
  for (let n = 0; n < x.n; n++) for (let o = 0; o < out; o++) for (let y = 0; y < x.h; y++) for (let xx = 0; xx < x.w; xx++) {
    let s = 0;
    for (let c = 0; c < x.c; c++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      const yy = y + i - pad;
      const xj = xx + j - pad;
      if (yy < 0 || yy >= x.h || xj < 0 || xj >= x.w) continue;
      s += w[((o * x.c + c) * k + i) * k + j] * at(x, n, c, yy, xj);
    }
    r.data[((n * out + o) * x.h + y) * x.w + xx] = s;
  }
  return r;
}
/** Inference-mode BN at identity statistics (scale 1, bias 0, mean 0, var 1, eps 1e-5), then ReLU. */
export const bnRelu64 = (x: Map64): Map64 => ({ ...x, data: x.data.map((v) => Math.max(0, v / Math.sqrt(1 + 1e-5))) });
/** Average pooling with kernel = stride = (rh, rw). */
export function avgPool64(x: Map64, rh: number, rw: number): Map64 {
  const h = x.h / rh;
  const w = x.w / rw;
  const r = map(new Float64Array(x.n * x.c * h * w), x.n, x.c, h, w);
  for (let n = 0; n < x.n; n++) for (let c = 0; c < x.c; c++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) {
    let s = 0;
    for (let i = 0; i < rh; i++) for (let j = 0; j < rw; j++) s += at(x, n, c, y * rh + i, xx * rw + j);
    r.data[((n * x.c + c) * h + y) * w + xx] = s / (rh * rw);
  }
  return r;
}
/** Token features [B, T, C] → map [B, C, T, 1]. */
export function tokens64(data: ArrayLike<number>, n: number, t: number, c: number): Map64 {
  const r = map(new Float64Array(n * c * t), n, c, t, 1);
  for (let b = 0; b < n; b++) for (let i = 0; i < t; i++) for (let k = 0; k < c; k++) r.data[(b * c + k) * t + i] = data[(b * t + i) * c + k];
  return r;
}
