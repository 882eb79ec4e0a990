/**
 * Generalized layers (METHOD.md §1) of any ONNX classifier, found from graph structure alone: a layer ends at a
 * non-linearity outside a residual block, at a residual block's output, at a transformer encoder block's output,
 * and at the Flatten before the classifier. Everything after that Flatten is the head.
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import { tensorTypes, topologicalNodes } from './io.js';
import { attrFloat, getAttribute, tensorValues, type ModelProto, type NodeProto } from './proto.js';
import type { Shape } from './shapes.js';

export type GeneralizedLayerKind = 'activation' | 'residual' | 'transformer-block' | 'flatten' | 'named';

export interface GeneralizedLayer {
  /** Position among the generalized layers, from 0. */
  index: number;
  /** The tensor after this layer: "the features of layer `index`". */
  tensor: string;
  /** Operator that produces `tensor` (Relu, Clip, Add, LayerNormalization, Flatten, ...). */
  opType: string;
  kind: GeneralizedLayerKind;
  /** From value_info or forward inference; null when it cannot be known without running the model. */
  shape: Shape | null;
}

export interface GeneralizedLayers {
  layers: GeneralizedLayer[];
  /** Index of the last backbone layer; the classification head is everything after it. */
  headStartsAfter: number;
}

export interface FindLayersOptions {
  /** Explicit tensor names instead of structural detection; returned in graph order. */
  names?: string[];
}

const ACTIVATIONS = new Set(['Relu', 'LeakyRelu', 'Clip']);
const PASS_THROUGH = new Set(['Identity', 'Dropout', 'Cast']);

interface Residual {
  node: number;
  fork: string;
  region: Set<number>;
  attention: boolean;
}

class GraphIndex {
  readonly nodes: NodeProto[];
  readonly producer = new Map<string, number>();
  readonly consumers = new Map<string, number[]>();
  readonly dynamic = new Set<string>();
  readonly constants = new Map<string, number[] | null>();
  private readonly ancestorCache = new Map<string, Set<string>>();

  constructor(model: ModelProto) {
    const graph = model.graph ?? {};
    this.nodes = topologicalNodes(model);
    const inits = new Set<string>();
    for (const t of graph.initializer ?? []) {
      if (!t.name) continue;
      inits.add(t.name);
      if ((t.dims ?? []).length <= 1) this.constants.set(t.name, tensorValues(t));
    }
    for (const vi of graph.input ?? []) if (vi.name && !inits.has(vi.name)) this.dynamic.add(vi.name);
    this.nodes.forEach((n, i) => {
      const ins = (n.input ?? []).filter((x) => x);
      for (const x of ins) this.consumers.set(x, [...(this.consumers.get(x) ?? []), i]);
      const isDynamic = n.opType !== 'Constant' && ins.some((x) => this.dynamic.has(x));
      for (const o of n.output ?? []) {
        if (!o) continue;
        this.producer.set(o, i);
        if (isDynamic) this.dynamic.add(o);
      }
      if (n.opType === 'Constant' && n.output?.[0]) {
        const t = getAttribute(n, 'value')?.t;
        this.constants.set(n.output[0], t ? tensorValues(t) : null);
      }
    });
  }

  /** Dynamic tensors `t` depends on, itself included. */
  ancestors(t: string): Set<string> {
    const cached = this.ancestorCache.get(t);
    if (cached) return cached;
    const seen = new Set<string>();
    const stack = [t];
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (seen.has(x) || !this.dynamic.has(x)) continue;
      seen.add(x);
      const p = this.producer.get(x);
      if (p !== undefined) for (const i of this.nodes[p].input ?? []) if (i && !seen.has(i)) stack.push(i);
    }
    this.ancestorCache.set(t, seen);
    return seen;
  }

  ancestorNodes(t: string): Set<number> {
    const out = new Set<number>();
    for (const x of this.ancestors(t)) {
      const p = this.producer.get(x);
      if (p !== undefined) out.add(p);
    }
    return out;
  }

  position(t: string): number {
    return this.producer.get(t) ?? -1;
  }

  soleConsumer(t: string): number | undefined {
    const c = this.consumers.get(t) ?? [];
    return c.length === 1 ? c[0] : undefined;
  }

  /** Relu, LeakyRelu, and Clip with a lower bound of 0 (ReLU6 and other bounded ReLUs). */
  isActivation(i: number): boolean {
    const n = this.nodes[i];
    if (!ACTIVATIONS.has(n.opType ?? '')) return false;
    if (n.opType !== 'Clip') return true;
    const minInput = n.input?.[1];
    if (minInput) return this.constants.get(minInput)?.[0] === 0;
    return getAttribute(n, 'min') !== undefined && attrFloat(n, 'min', NaN) === 0;
  }

  /** A residual join: an Add of two dynamic tensors that share an ancestor (the block input, `fork`). */
  residual(i: number): Residual | null {
    const n = this.nodes[i];
    if (n.opType !== 'Add' || (n.input ?? []).length !== 2) return null;
    const [a, b] = n.input as string[];
    if (!this.dynamic.has(a) || !this.dynamic.has(b)) return null;
    const ancA = this.ancestors(a);
    let fork: string | null = null;
    for (const t of this.ancestors(b)) {
      if (ancA.has(t) && (fork === null || this.position(t) > this.position(fork))) fork = t;
    }
    if (fork === null) return null;
    const outside = this.ancestorNodes(fork);
    const region = new Set<number>();
    for (const x of [a, b]) for (const p of this.ancestorNodes(x)) if (!outside.has(p)) region.add(p);
    const attention = [...region].some((p) => this.nodes[p].opType === 'Softmax');
    return { node: i, fork, region, attention };
  }
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Up to `k` names closest to `name` (edit distance, substring matches first). */
export function closestNames(name: string, candidates: Iterable<string>, k = 3): string[] {
  const lower = name.toLowerCase();
  return [...candidates]
    .map((c) => ({ c, d: levenshtein(lower, c.toLowerCase()) - (c.toLowerCase().includes(lower) ? 100 : 0) }))
    .sort((x, y) => x.d - y.d || (x.c < y.c ? -1 : 1))
    .slice(0, k)
    .map((x) => x.c);
}

function namedLayers(model: ModelProto, g: GraphIndex, names: string[]): GeneralizedLayers {
  if (!Array.isArray(names) || names.length === 0) invalidArgument('names', 'a non-empty array of tensor names', names);
  const known = new Set<string>([...g.dynamic]);
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (typeof name !== 'string') invalidArgument(`names[${i}]`, 'a tensor name (string)', name);
    if (!known.has(name)) {
      const close = closestNames(name, known);
      throw new KqkdError(`names[${i}]`, 'the name of a tensor computed by the model', `"${name}"`,
        `closest matches: ${close.map((c) => `"${c}"`).join(', ')}`);
    }
    if (seen.has(name)) invalidArgument(`names[${i}]`, 'each tensor name once', name);
    seen.add(name);
  });
  const types = tensorTypes(model);
  const sorted = names.slice().sort((x, y) => g.position(x) - g.position(y));
  const layers = sorted.map((tensor, index): GeneralizedLayer => {
    const p = g.producer.get(tensor);
    return { index, tensor, opType: p === undefined ? 'Input' : g.nodes[p].opType ?? '', kind: 'named', shape: types.get(tensor)?.shape ?? null };
  });
  return { layers, headStartsAfter: layers.length - 1 };
}

/**
 * The Flatten / Reshape-to-2D feeding the classifier, and the node where the head begins. The classifier is the
 * last Gemm/MatMul against a constant weight; walking back from it through an MLP head (more linear layers,
 * activations, dropout) reaches the Flatten that ends the backbone.
 */
function findHead(g: GraphIndex, model: ModelProto): { flatten: number | null; headStart: number } {
  const types = tensorTypes(model);
  const linear = (i: number) => {
    const n = g.nodes[i];
    const ins = (n.input ?? []).slice(0, 2);
    return (n.opType === 'Gemm' || n.opType === 'MatMul') && ins.some((x) => !g.dynamic.has(x)) && ins.some((x) => g.dynamic.has(x));
  };
  let classifier = -1;
  for (let i = g.nodes.length - 1; i >= 0 && classifier < 0; i--) if (linear(i)) classifier = i;
  if (classifier < 0) return { flatten: null, headStart: g.nodes.length };
  let headStart = classifier;
  let p: number | undefined = classifier;
  for (;;) {
    const data: string | undefined = (g.nodes[p].input ?? []).find((x) => g.dynamic.has(x));
    p = data === undefined ? undefined : g.producer.get(data);
    if (p === undefined) return { flatten: null, headStart };
    const n = g.nodes[p];
    const op = n.opType ?? '';
    if (op === 'Flatten' || (op === 'Reshape' && types.get(n.output?.[0] ?? '')?.shape?.length === 2)) return { flatten: p, headStart: p };
    if (linear(p)) headStart = p;
    else if (!(PASS_THROUGH.has(op) || g.isActivation(p) || (op === 'Add' && (n.input ?? []).some((x) => !g.dynamic.has(x))))) {
      return { flatten: null, headStart };
    }
  }
}

/**
 * The generalized layers of an ONNX classifier, in topological order. With `names`, those tensors instead
 * (validated; a typo gets the closest real names in the error).
 *
 * Structural rules: Relu / LeakyRelu / Clip-with-min-0 outputs that are not inside a residual block; residual Adds
 * (an Add of two tensors with a common ancestor), reported at the activation right after them when there is one;
 * for transformer blocks, only the Add that closes the MLP sub-layer (the attention sub-layer's Add is inside the
 * block), or the LayerNormalization after it in post-norm models; and the Flatten before the classifier.
 * Inverted-residual blocks without a skip connection have no structural marker, so their ReLU6s count singly;
 * pass `names` when a different cut is wanted.
 */
export function findGeneralizedLayers(model: ModelProto, options: FindLayersOptions = {}): GeneralizedLayers {
  if (!model?.graph) invalidArgument('model', 'an ONNX ModelProto with a graph', model);
  const g = new GraphIndex(model);
  if (options.names !== undefined) return namedLayers(model, g, options.names);

  const { flatten, headStart } = findHead(g, model);
  const residuals = new Map<number, Residual>();
  for (let i = 0; i < headStart; i++) {
    const r = g.residual(i);
    if (r) residuals.set(i, r);
  }
  // Residual joins nested inside a larger residual region are internal structure, not block ends.
  for (const [i] of residuals) {
    for (const [j, other] of residuals) if (j !== i && other.region.has(i)) residuals.delete(i);
  }
  const interior = new Set<number>();
  for (const r of residuals.values()) for (const p of r.region) interior.add(p);
  const forks = new Set([...residuals.values()].map((r) => r.fork));
  const hasAttention = [...residuals.values()].some((r) => r.attention);

  const picks: { node: number; kind: GeneralizedLayerKind }[] = [];
  for (let i = 0; i < headStart; i++) {
    const n = g.nodes[i];
    const out = n.output?.[0] ?? '';
    if (g.isActivation(i) && !interior.has(i)) {
      const p = g.producer.get(n.input?.[0] ?? '');
      picks.push({ node: i, kind: p !== undefined && residuals.has(p) ? 'residual' : 'activation' });
      continue;
    }
    const r = residuals.get(i);
    if (!r) continue;
    const next = g.soleConsumer(out);
    if (next !== undefined && g.isActivation(next)) continue; // reported at that activation
    // In a model with attention sub-layers, every residual belongs to an encoder block (post-norm MLP sub-layers
    // contain no LayerNormalization of their own, so the region alone cannot tell).
    const transformer = hasAttention || [...r.region].some((p) => g.nodes[p].opType === 'LayerNormalization');
    if (!transformer) {
      picks.push({ node: i, kind: 'residual' });
      continue;
    }
    const postNorm = next !== undefined && g.nodes[next].opType === 'LayerNormalization'
      && (forks.has(g.nodes[next].output?.[0] ?? '') || g.nodes[g.producer.get(r.fork) ?? -1]?.opType === 'LayerNormalization');
    const blockOut = postNorm ? g.nodes[next!].output![0] : out;
    // The attention sub-layer ends inside its block when an MLP sub-layer's residual starts from its output.
    if (r.attention && [...residuals.values()].some((o) => o.fork === blockOut && !o.attention)) continue;
    picks.push({ node: postNorm ? next! : i, kind: 'transformer-block' });
  }
  if (flatten !== null) picks.push({ node: flatten, kind: 'flatten' });

  const types = tensorTypes(model);
  const layers = picks.map(({ node, kind }, index): GeneralizedLayer => {
    const tensor = g.nodes[node].output![0];
    return { index, tensor, opType: g.nodes[node].opType ?? '', kind, shape: types.get(tensor)?.shape ?? null };
  });
  return { layers, headStartsAfter: layers.length - 1 };
}
