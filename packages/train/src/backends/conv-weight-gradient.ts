/**
 * The addon's `convWeightGradient` as the native backend calls it (its host weight gradients), checked here first: every
 * rule the addon checks (native/src/binding/args.h) is a KqkdError naming the argument before the call, so the C++ side
 * only ever receives clean data and its own checks stay a second line for direct callers.
 */
import { expectInteger, invalidArgument, invalidArgumentText } from '@kqkd/common';
import type { ConvWeightGradientShape, NativeAddon } from '@kqkd/native';

const INT32_MAX = 2 ** 31 - 1;
/** Every shape field: a positive integer below 2^31, the pads from 0 (the addon's and the core's rule). */
const SHAPE_FIELDS: readonly (readonly [keyof ConvWeightGradientShape, number])[] = [
  ['batch', 1], ['inChannels', 1], ['inHeight', 1], ['inWidth', 1], ['outChannels', 1], ['outHeight', 1], ['outWidth', 1],
  ['kernelHeight', 1], ['kernelWidth', 1], ['strideHeight', 1], ['strideWidth', 1], ['padTop', 0], ['padLeft', 0],
  ['dilationHeight', 1], ['dilationWidth', 1],
];

/** Whether two typed arrays share a byte (views of one buffer whose ranges meet). */
export function viewsOverlap(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteLength > 0 && b.byteLength > 0 &&
    a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** A Float32Array of exactly `length` values (`sizes` says where the length comes from). */
function expectFloat32Array(argument: string, value: unknown, length: number, sizes: string): Float32Array {
  if (!(value instanceof Float32Array)) invalidArgument(argument, 'a Float32Array', value);
  if (value.length !== length) invalidArgumentText(argument, `a Float32Array of ${length} values (${sizes})`, `${value.length} values`);
  return value;
}

/** The shape, each field checked, and the products the core's BLAS calls need below 2^31. */
export function checkConvWeightGradientShape(shape: unknown): ConvWeightGradientShape {
  if (typeof shape !== 'object' || shape === null || Array.isArray(shape)) invalidArgument('shape', 'an object', shape);
  const s = shape as Record<string, unknown>;
  for (const [key, min] of SHAPE_FIELDS) expectInteger(`shape.${key}`, s[key], min, INT32_MAX);
  const g = shape as ConvWeightGradientShape;
  const dwSize = g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth;
  if (dwSize > INT32_MAX) invalidArgumentText('shape', 'outChannels · inChannels · kernelHeight · kernelWidth below 2^31 (dW\'s BLAS size)', `${dwSize}`);
  if (g.outHeight * g.outWidth > Math.floor(INT32_MAX / 2)) invalidArgumentText('shape', 'outHeight · outWidth below 2^30', `${g.outHeight * g.outWidth}`);
  return g;
}

/**
 * Checks every argument of `convWeightGradient` as the addon would, with KqkdErrors naming it: x [N, C, H, W], dy
 * [N, M, Ho, Wo] and dw [M, C, kh, kw] Float32Arrays of exactly those sizes, dw overlapping neither, threads in
 * [0, 1024].
 */
export function checkConvWeightGradient(x: unknown, dy: unknown, dw: unknown, shape: unknown, threads: unknown): void {
  const g = checkConvWeightGradientShape(shape);
  const xs = expectFloat32Array('x', x, g.batch * g.inChannels * g.inHeight * g.inWidth, 'batch · inChannels · inHeight · inWidth');
  const dys = expectFloat32Array('dy', dy, g.batch * g.outChannels * g.outHeight * g.outWidth, 'batch · outChannels · outHeight · outWidth');
  const dws = expectFloat32Array('dw', dw, g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth, 'outChannels · inChannels · kernelHeight · kernelWidth');
  if (viewsOverlap(dws, xs)) invalidArgumentText('dw', 'an array that does not overlap x', 'a view sharing memory with x');
  if (viewsOverlap(dws, dys)) invalidArgumentText('dw', 'an array that does not overlap dy', 'a view sharing memory with dy');
  expectInteger('threads', threads, 0, 1024);
}

/** dW into `dw` by the addon, after `checkConvWeightGradient` (a bad argument never reaches the addon). */
export function convWeightGradient(addon: Pick<NativeAddon, 'convWeightGradient'>, x: Float32Array, dy: Float32Array, dw: Float32Array,
  shape: ConvWeightGradientShape, threads: number): void {
  checkConvWeightGradient(x, dy, dw, shape, threads);
  addon.convWeightGradient(x, dy, dw, shape, threads);
}
