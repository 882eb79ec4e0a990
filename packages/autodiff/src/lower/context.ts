/**
 * What every rewrite rule of the lowering works with: the node being rewritten and its emitter (`Ctx`), and the
 * small emitting helpers the rules share.
 */
import { KqkdError } from '@kqkd/common';
import { attrInts, attrString, type NodeProto } from '@kqkd/onnx';
import { Emitter, int64Tensor, type AttrValue } from '../emitter.js';
import { type HostConvWeightGradient } from './host-weight-gradients.js';
import type { LowerOptions } from './options.js';

export interface Ctx {
  node: NodeProto;
  em: Emitter;
  opset: number;
  site: string;
  /** Static shape of a tensor (throws when unknown or symbolic). */
  shape(name: string): number[];
  elemType(name: string): number | undefined;
  constant(name: string): number[] | null;
  /** The parameter whose whole gradient tensor `name` is (it feeds only that parameter's accumulator), if any. */
  wholeGradientOf(name: string): string | undefined;
  isGraphInput(name: string): boolean;
  /** Host weight gradients collected for the metadata (hostConvWeightGradient). */
  host: HostConvWeightGradient[];
}

export const In = (c: Ctx, i: number) => c.node.input?.[i] ?? '';
export const Out = (c: Ctx, i: number) => c.node.output?.[i] ?? '';
export const numel = (s: number[]) => s.reduce((p, d) => p * d, 1);
export const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a) }, (_, k) => a + k);

/** A scalar float constant. */
export function f32(c: Ctx, tag: string, v: number): string {
  return c.em.constF(`${c.node.name ?? 'lower'}.${tag}`, [], [v]);
}
export function i64(c: Ctx, tag: string, values: number[]): string {
  return c.em.constI64(`${c.node.name ?? 'lower'}.${tag}`, values);
}
export function i64Scalar(c: Ctx, tag: string, v: number): string {
  const name = c.em.fresh(`${c.node.name ?? 'lower'}.${tag}`);
  c.em.initializers.push(int64Tensor(name, [v], []));
  return name;
}
/** One-output node; `out` names the result (an original output) or a fresh base. */
export function op(c: Ctx, type: string, inputs: string[], tag: string, attrs: Record<string, AttrValue> = {}, out?: string): string {
  if (out) {
    c.em.node(type, inputs, [out], attrs);
    return out;
  }
  return c.em.op(type, inputs, `${c.node.name ?? 'lower'}.${tag}`, attrs);
}
export function reduceSum(c: Ctx, x: string, axes: number[], keepdims: boolean, tag: string, out?: string): string {
  if (axes.length === 0) return op(c, 'Identity', [x], tag, {}, out);
  return op(c, 'ReduceSum', [x, i64(c, `${tag}.axes`, axes)], tag, { keepdims: keepdims ? 1 : 0 }, out);
}
export function reduceMean(c: Ctx, x: string, axes: number[], keepdims: boolean, tag: string, out?: string): string {
  if (c.opset >= 18) return op(c, 'ReduceMean', [x, i64(c, `${tag}.axes`, axes)], tag, { keepdims: keepdims ? 1 : 0 }, out);
  return op(c, 'ReduceMean', [x], tag, { axes, keepdims: keepdims ? 1 : 0 }, out);
}
export function reshape(c: Ctx, x: string, shape: number[], tag: string, out?: string): string {
  return op(c, 'Reshape', [x, i64(c, `${tag}.shape`, shape)], tag, {}, out);
}
export function zeros(c: Ctx, shape: number[], tag: string): string {
  // ConstantOfShape without a value attribute is float32 zeros.
  return op(c, 'ConstantOfShape', [i64(c, `${tag}.shape`, shape)], tag);
}
/** Writes `src` into output `i` of the lowered node (an Identity unless src is already that name). */
export function emitOut(c: Ctx, i: number, src: string): void {
  const o = Out(c, i);
  if (o && o !== src) c.em.node('Identity', [src], [o]);
}

/** A convolution's or pool's geometry: spatial rank, kernel, strides, dilations, pads at the start and the end. */
export interface ConvGeometry { spatial: number; k: number[]; s: number[]; d: number[]; pb: number[]; pe: number[] }

/** The geometry of the rewritten node from its attributes (explicit pads only). */
export function geometry(c: Ctx, spatial: number, kernel: number[] | null): ConvGeometry {
  const autoPad = (attrString(c.node, 'auto_pad') ?? 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') {
    throw new KqkdError(`${c.site} attribute auto_pad`, 'NOTSET or VALID (explicit pads; the lowering needs them)', `"${autoPad}"`);
  }
  const k = attrInts(c.node, 'kernel_shape') ?? kernel;
  if (!k) throw new KqkdError(`${c.site} attribute kernel_shape`, 'the kernel shape', 'none');
  const ones = Array(spatial).fill(1);
  const pads = autoPad === 'VALID' ? Array(2 * spatial).fill(0) : attrInts(c.node, 'pads') ?? Array(2 * spatial).fill(0);
  return {
    spatial, k, s: attrInts(c.node, 'strides') ?? ones, d: attrInts(c.node, 'dilations') ?? ones,
    pb: pads.slice(0, spatial), pe: pads.slice(spatial),
  };
}


/** A rewrite rule: emits the standard ops that replace `c.node`. */
export type Rule = (c: Ctx, o: LowerOptions) => void;
