/**
 * Strict, build-time shape inference for the ops the GraphBuilder offers. Every function either returns the output
 * shape or throws a KqkdError naming the op, the node, the offending input and the shapes involved — so a model that
 * builds is a model whose shapes line up.
 */
import { KqkdError } from '@kqkd/common';
import { formatShape, type Dim, type Shape } from './shapes.js';

/** Where in the graph: `Add "block1.add0"`. */
export interface OpSite {
  op: string;
  node: string;
}

const at = (s: OpSite, input: string) => `${s.op} "${s.node}" ${input}`;

/** Throws the standard shape error: names op, node, input, what was expected and the shape received. */
export function shapeError(site: OpSite, input: string, expected: string, received: Shape | string): never {
  throw new KqkdError(at(site, input), expected, typeof received === 'string' ? received : formatShape(received));
}

export const numel = (shape: Shape): Dim => shape.reduce<Dim>((p, d) => (typeof p === 'number' && typeof d === 'number' ? p * d : null), 1);

export function normAxis(site: OpSite, input: string, axis: number, rank: number, shape: Shape, allowEnd = false): number {
  const hi = allowEnd ? rank : rank - 1;
  if (!Number.isInteger(axis) || axis < -rank || axis > hi) {
    shapeError(site, input, `an axis in [${-rank}, ${hi}] (axis ${axis} given)`, shape);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Numpy broadcasting of two shapes; names both inputs and both shapes when they do not broadcast. */
export function broadcastShapes(site: OpSite, a: Shape, b: Shape, aName = 'A', bName = 'B'): Shape {
  const rank = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let k = 0; k < rank; k++) {
    const da = k - (rank - a.length) >= 0 ? a[k - (rank - a.length)] : 1;
    const db = k - (rank - b.length) >= 0 ? b[k - (rank - b.length)] : 1;
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else shapeError(site, `input ${bName}`, `a shape broadcastable with input ${aName} ${formatShape(a)}`, b);
  }
  return out;
}

/** Axes of `full` that were broadcast from `part` (for reducing a gradient back to `part`'s shape). */
export function broadcastAxes(part: Shape, full: Shape): number[] {
  const lead = full.length - part.length;
  const axes: number[] = [];
  for (let k = 0; k < full.length; k++) {
    if (k < lead) axes.push(k);
    else if (part[k - lead] === 1 && full[k] !== 1) axes.push(k);
  }
  return axes;
}

export interface SpatialAttrs {
  kernel: number[];
  strides: number[];
  /** [begin..., end...] as ONNX writes them. */
  pads: number[];
  dilations: number[];
  ceil?: boolean;
}

export function spatialOutput(site: OpSite, x: Shape, channels: Dim, a: SpatialAttrs): Shape {
  const spatial = x.length - 2;
  if (spatial < 1) shapeError(site, 'input X', 'an [N, C, spatial...] tensor of rank >= 3', x);
  for (const [what, v, n] of [['kernel_shape', a.kernel, spatial], ['strides', a.strides, spatial],
    ['dilations', a.dilations, spatial], ['pads', a.pads, 2 * spatial]] as const) {
    if (v.length !== n || v.some((d) => !Number.isInteger(d) || (what === 'pads' ? d < 0 : d < 1))) {
      shapeError(site, `attribute ${what}`, `${n} ${what === 'pads' ? 'non-negative' : 'positive'} integers for input X ${formatShape(x)}`, `[${v.join(', ')}]`);
    }
  }
  const out: Shape = [x[0], channels];
  for (let k = 0; k < spatial; k++) {
    const size = x[k + 2];
    if (typeof size !== 'number') { out.push(null); continue; }
    const span = a.dilations[k] * (a.kernel[k] - 1) + 1;
    const q = (size + a.pads[k] + a.pads[k + spatial] - span) / a.strides[k];
    const o = (a.ceil ? Math.ceil(q) : Math.floor(q)) + 1;
    if (o < 1) {
      shapeError(site, 'input X', `spatial size >= ${span - a.pads[k] - a.pads[k + spatial]} on axis ${k + 2} for kernel ${a.kernel[k]}, dilation ${a.dilations[k]}, pads ${a.pads[k]}/${a.pads[k + spatial]}`, x);
    }
    out.push(o);
  }
  return out;
}

export function convShape(site: OpSite, x: Shape, w: Shape, group: number, a: SpatialAttrs, bias?: Shape): Shape {
  if (w.length !== x.length) shapeError(site, 'input W', `a weight of rank ${x.length} like input X ${formatShape(x)}`, w);
  const c = x[1];
  const m = w[0];
  if (typeof c === 'number' && (c % group !== 0 || w[1] !== c / group)) {
    shapeError(site, 'input W', `[M, ${c / group}, ...] (input X ${formatShape(x)} has ${c} channels, group ${group})`, w);
  }
  if (typeof m === 'number' && m % group !== 0) shapeError(site, 'input W', `an output channel count divisible by group ${group}`, w);
  const k = w.slice(2);
  if (k.some((d, i) => d !== a.kernel[i])) shapeError(site, 'input W', `kernel dims [${a.kernel.join(', ')}]`, w);
  if (bias && (bias.length !== 1 || bias[0] !== m)) shapeError(site, 'input B', `[${m}] (one bias per output channel of W ${formatShape(w)})`, bias);
  return spatialOutput(site, x, m, a);
}

export function matMulShape(site: OpSite, a: Shape, b: Shape): Shape {
  if (a.length < 2) shapeError(site, 'input A', 'a tensor of rank >= 2', a);
  if (b.length < 2) shapeError(site, 'input B', 'a tensor of rank >= 2', b);
  const k1 = a[a.length - 1];
  const k2 = b[b.length - 2];
  if (k1 !== k2) shapeError(site, 'input B', `[..., ${k1}, *] to match the last dim of input A ${formatShape(a)}`, b);
  const batch = broadcastShapes(site, a.slice(0, -2), b.slice(0, -2), 'A (batch dims)', 'B (batch dims)');
  return [...batch, a[a.length - 2], b[b.length - 1]];
}

export function gemmShape(site: OpSite, a: Shape, b: Shape, transA: boolean, transB: boolean, c?: Shape): Shape {
  if (a.length !== 2) shapeError(site, 'input A', 'a matrix (rank 2)', a);
  if (b.length !== 2) shapeError(site, 'input B', 'a matrix (rank 2)', b);
  const [m, k1] = transA ? [a[1], a[0]] : [a[0], a[1]];
  const [k2, n] = transB ? [b[1], b[0]] : [b[0], b[1]];
  if (k1 !== k2) {
    shapeError(site, 'input B', `an inner dimension ${k1} to match input A ${formatShape(a)} (transA=${+transA}, transB=${+transB})`, b);
  }
  const out: Shape = [m, n];
  if (c) {
    const bc = broadcastShapes(site, out, c, 'A·B', 'C');
    if (bc.some((d, i) => d !== out[i])) shapeError(site, 'input C', `a shape broadcastable to ${formatShape(out)}`, c);
  }
  return out;
}

/**
 * numel(x) / numel(kept) when the symbolic dims of `kept` (copied from x by 0 entries, e.g. the batch "N") cancel
 * against those of x, leaving numbers: [N, 16, 1, 1] reshaped to [0, -1] gives 16. Null when they do not.
 */
function cancelledQuotient(x: Shape, kept: Dim[]): Dim {
  const symbols = x.filter((d) => typeof d === 'string') as string[];
  let num = 1;
  for (const d of x) {
    if (typeof d === 'number') num *= d;
    else if (d === null) return null;
  }
  let den = 1;
  for (const d of kept) {
    if (typeof d === 'number') den *= d;
    else if (typeof d === 'string' && symbols.includes(d)) symbols.splice(symbols.indexOf(d), 1);
    else return null;
  }
  return symbols.length === 0 && den > 0 && num % den === 0 ? num / den : null;
}

export function reshapeShape(site: OpSite, x: Shape, target: number[]): Shape {
  const out: Dim[] = target.map((d, i) => (d === 0 ? x[i] : d));
  const minus = target.filter((d) => d === -1).length;
  if (minus > 1 || target.some((d) => d < -1)) shapeError(site, 'input shape', 'at most one -1 and no other negative dims', `[${target.join(', ')}]`);
  const total = numel(x);
  if (minus === 1) {
    const known = numel(out.filter((d) => d !== -1));
    if (typeof total === 'number' && typeof known === 'number') {
      if (known === 0 || total % known !== 0) shapeError(site, 'input shape', `a shape with ${total} elements like input X ${formatShape(x)}`, `[${target.join(', ')}]`);
      out[out.indexOf(-1)] = total / known;
    } else {
      // symbolic batch: -1 stands for the symbolic leading dim when the rest matches
      const rest = numel(x.slice(1));
      if (typeof rest === 'number' && rest === known && target[0] === -1) out[0] = x[0];
      else out[out.indexOf(-1)] = cancelledQuotient(x, out.filter((d) => d !== -1));
    }
  } else if (typeof total === 'number' && numel(out) !== total) {
    shapeError(site, 'input shape', `a shape with ${total} elements like input X ${formatShape(x)}`, `[${target.join(', ')}]`);
  }
  return out;
}

export function concatShape(site: OpSite, shapes: Shape[], axis: number): Shape {
  const first = shapes[0];
  const ax = normAxis(site, 'attribute axis', axis, first.length, first);
  let sum: Dim = 0;
  shapes.forEach((s, i) => {
    if (s.length !== first.length || s.some((d, k) => k !== ax && d !== first[k])) {
      shapeError(site, `input ${i}`, `all dims but axis ${ax} equal to input 0 ${formatShape(first)}`, s);
    }
    sum = typeof sum === 'number' && typeof s[ax] === 'number' ? sum + (s[ax] as number) : null;
  });
  return first.map((d, k) => (k === ax ? sum : d));
}

export function sliceShape(site: OpSite, x: Shape, starts: number[], ends: number[], axes: number[], steps: number[]): Shape {
  const n = starts.length;
  if (ends.length !== n || axes.length !== n || steps.length !== n) {
    shapeError(site, 'inputs starts/ends/axes/steps', `${n} values each`, `${ends.length}/${axes.length}/${steps.length}`);
  }
  const out = x.slice();
  axes.forEach((a0, i) => {
    const a = normAxis(site, 'input axes', a0, x.length, x);
    const dim = x[a];
    if (typeof dim !== 'number') shapeError(site, 'input data', `a known size on sliced axis ${a}`, x);
    const step = steps[i];
    if (step === 0) shapeError(site, 'input steps', 'non-zero steps', `[${steps.join(', ')}]`);
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let s = starts[i] < 0 ? starts[i] + dim : starts[i];
    let e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) { s = clamp(s, 0, dim); e = clamp(e, 0, dim); } else { s = clamp(s, 0, dim - 1); e = clamp(e, -1, dim - 1); }
    const len = Math.max(0, Math.ceil((e - s) / step));
    if (len === 0) shapeError(site, 'input data', `a non-empty slice [${starts[i]}:${ends[i]}:${step}] of axis ${a}`, x);
    out[a] = len;
  });
  return out;
}

export function gatherShape(site: OpSite, data: Shape, indices: Shape, axis: number): Shape {
  const a = normAxis(site, 'attribute axis', axis, data.length, data);
  return [...data.slice(0, a), ...indices, ...data.slice(a + 1)];
}

export function reduceShape(site: OpSite, x: Shape, axes: number[] | undefined, keepdims: boolean): Shape {
  const all = axes === undefined || axes.length === 0;
  const norm = all ? x.map((_, i) => i) : axes.map((a) => normAxis(site, 'axes', a, x.length, x));
  const out: Shape = [];
  x.forEach((d, i) => {
    if (!norm.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

export function transposeShape(site: OpSite, x: Shape, perm: number[]): Shape {
  const sorted = perm.slice().sort((p, q) => p - q);
  if (perm.length !== x.length || sorted.some((p, i) => p !== i)) {
    shapeError(site, 'attribute perm', `a permutation of 0..${x.length - 1} for input X ${formatShape(x)}`, `[${perm.join(', ')}]`);
  }
  return perm.map((p) => x[p]);
}
