/**
 * Generalized layers (METHOD.md §1) of any ONNX classifier. In order of precedence: explicit tensor names; the
 * list a kqkd export declares in its metadata (`kqkd.generalized_layers`, see `withGeneralizedLayers`) when every
 * tensor it names is still in the graph; otherwise graph structure: a layer ends at a non-linearity outside a
 * block, at a residual block's output, at a skip-less inverted-residual block's linear projection, at a
 * transformer encoder block's output, and at the Flatten (or token/spatial reduction) before the classifier.
 * Everything after that Flatten is the head, but the non-linearities of an MLP head are generalized layers too.
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import { tensorTypes, topologicalNodes } from './io.js';
import { attrFloat, attrInt, getAttribute, tensorValues, type ModelProto, type NodeProto } from './proto.js';
import type { FindLayersOptions, GeneralizedLayer, GeneralizedLayerKind, GeneralizedLayers } from './layer-types.js';
import { closestNames } from './closest-names.js';

export {
  LAYER_KIND_REASONS, type GeneralizedLayer, type GeneralizedLayers, type GeneralizedLayerKind, type FindLayersOptions,
} from './layer-types.js';
export { closestNames } from './closest-names.js';

const ACTIVATIONS = new Set(['Relu', 'LeakyRelu', 'Clip', 'HardSwish', 'Gelu', 'Elu', 'Selu', 'Celu', 'Mish', 'PRelu', 'Softplus']);
const PASS_THROUGH = new Set(['Identity', 'Dropout', 'Cast']);
/** Gates of x · gate(·): on x itself an activation (SiLU, HardSwish); on a pooled branch a squeeze-excitation gate. */
const GATES = new Set(['Sigmoid', 'HardSigmoid']);
/** Ops that reduce a feature map to one value per channel (the squeeze of squeeze-excitation). */
const GLOBAL_POOLS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'ReduceMax']);

/** An activation exporters write as several nodes: its last node → the tensor it is applied to, and its other nodes. */
interface CompositeActivation {
  input: string;
  inner: number[];
}

/** A gate on the main path (squeeze-excitation): main · gate(branch(main)); the branch is not a layer. */
interface Gate {
  main: string;
  branch: Set<number>;
}

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
  /** Dims of every initializer (conv weights tell depthwise and pointwise convs apart). */
  readonly initDims = new Map<string, number[]>();
  /** HardSwish as HardSigmoid·Mul, SiLU as Sigmoid·Mul, GELU in its Erf form: last node → its parts. */
  readonly composites = new Map<number, CompositeActivation>();
  /** Squeeze-excitation gates: the Mul → the gated main-path input and the gate branch's nodes. */
  readonly gates = new Map<number, Gate>();
  private readonly ancestorCache = new Map<string, Set<string>>();

  constructor(model: ModelProto) {
    const graph = model.graph ?? {};
    this.nodes = topologicalNodes(model);
    const inits = new Set<string>();
    for (const t of graph.initializer ?? []) {
      if (!t.name) continue;
      inits.add(t.name);
      this.initDims.set(t.name, (t.dims ?? []).map(Number));
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
    this.nodes.forEach((n, i) => {
      if (n.opType === 'Mul') this.indexGatedProduct(i);
      else if (n.opType === 'Erf') this.indexErfGelu(i);
    });
  }

  private isConstant(t: string | undefined): boolean {
    return t !== undefined && t !== '' && !this.dynamic.has(t);
  }

  /** x · Sigmoid(x) / x · HardSigmoid(x): an activation; x · σ(pooled branch of x): a squeeze-excitation gate. */
  private indexGatedProduct(i: number): void {
    const ins = this.nodes[i].input ?? [];
    if (ins.length !== 2 || !ins.every((x) => this.dynamic.has(x))) return;
    for (const [x, s] of [[ins[0], ins[1]], [ins[1], ins[0]]]) {
      const p = this.producer.get(s);
      if (p === undefined || !GATES.has(this.nodes[p].opType ?? '')) continue;
      if (this.nodes[p].input?.[0] === x) {
        this.composites.set(i, { input: x, inner: [p] });
        return;
      }
      if (!this.ancestors(s).has(x)) continue;
      const outside = this.ancestorNodes(x);
      const branch = new Set([...this.ancestorNodes(s)].filter((q) => !outside.has(q)));
      if ([...branch].some((q) => GLOBAL_POOLS.has(this.nodes[q].opType ?? ''))) {
        this.gates.set(i, { main: x, branch });
        return;
      }
    }
  }

  /** GELU as exporters write it: x · (Erf(x / √2) + 1) (· 0.5, before or after). The last Mul is the activation. */
  private indexErfGelu(erf: number): void {
    const div = this.producer.get(this.nodes[erf].input?.[0] ?? '');
    if (div === undefined || !['Div', 'Mul'].includes(this.nodes[div].opType ?? '')) return;
    const x = (this.nodes[div].input ?? []).find((t) => this.dynamic.has(t));
    if (x === undefined || !(this.nodes[div].input ?? []).some((t) => this.isConstant(t))) return;
    const add = this.soleConsumer(this.nodes[erf].output?.[0] ?? '');
    if (add === undefined || this.nodes[add].opType !== 'Add' || !(this.nodes[add].input ?? []).some((t) => this.isConstant(t))) return;
    let end = this.soleConsumer(this.nodes[add].output?.[0] ?? '');
    if (end === undefined || this.nodes[end].opType !== 'Mul') return;
    const inner = [div, erf, add];
    // x · 0.5 first, then times (erf + 1): the half is part of the activation
    const other = (this.nodes[end].input ?? []).find((t) => t !== this.nodes[add].output?.[0]) ?? '';
    const half = this.producer.get(other);
    if (other !== x) {
      if (half === undefined || this.nodes[half].opType !== 'Mul' || !(this.nodes[half].input ?? []).includes(x)) return;
      inner.push(half);
    } else {
      const scale = this.soleConsumer(this.nodes[end].output?.[0] ?? '');
      if (scale !== undefined && this.nodes[scale].opType === 'Mul' && (this.nodes[scale].input ?? []).some((t) => this.isConstant(t))) {
        inner.push(end);
        end = scale;
      }
    }
    this.composites.set(end, { input: x, inner });
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

  /**
   * Relu, LeakyRelu, Clip with a lower bound of 0 (ReLU6 and other bounded ReLUs), HardSwish, Gelu and the other
   * one-node activations, and the last node of a composite one (HardSigmoid·Mul, Sigmoid·Mul, Erf-GELU).
   */
  isActivation(i: number): boolean {
    const n = this.nodes[i];
    if (this.composites.has(i)) return true;
    if (!ACTIVATIONS.has(n.opType ?? '')) return false;
    if (n.opType !== 'Clip') return true;
    const minInput = n.input?.[1];
    if (minInput) return this.constants.get(minInput)?.[0] === 0;
    return getAttribute(n, 'min') !== undefined && attrFloat(n, 'min', NaN) === 0;
  }

  /** x[:, k]: a Gather of one constant index along axis 1 (a transformer's class token, read by the head). */
  isTokenSelect(i: number): boolean {
    const n = this.nodes[i];
    if (n.opType !== 'Gather' || attrInt(n, 'axis', 0) !== 1) return false;
    const index = this.constants.get(n.input?.[1] ?? '');
    return Array.isArray(index) && index.length === 1 && this.initDims.get(n.input?.[1] ?? '')?.length !== 1;
  }

  /** The tensor activation `i` is applied to. */
  activationInput(i: number): string {
    return this.composites.get(i)?.input ?? this.nodes[i].input?.[0] ?? '';
  }

  /** The activation applied to `t` when `t` feeds nothing else (its nodes are t's only consumers). */
  activationOn(t: string): number | undefined {
    const consumers = this.consumers.get(t) ?? [];
    const a = consumers.find((c) => this.isActivation(c) && this.activationInput(c) === t);
    if (a === undefined) return undefined;
    const parts = new Set([a, ...(this.composites.get(a)?.inner ?? [])]);
    return consumers.every((c) => parts.has(c)) ? a : undefined;
  }

  /** The Conv that produces `t`, directly or through a BatchNormalization it alone feeds (exporters may fold BN). */
  convBehind(t: string): number | undefined {
    let p = this.producer.get(t);
    if (p !== undefined && this.nodes[p].opType === 'BatchNormalization') {
      const x = this.nodes[p].input?.[0] ?? '';
      p = this.soleConsumer(x) === p ? this.producer.get(x) : undefined;
    }
    return p !== undefined && this.nodes[p].opType === 'Conv' ? p : undefined;
  }

  private convWeight(i: number): number[] | undefined {
    return this.initDims.get(this.nodes[i].input?.[1] ?? '');
  }

  /** A depthwise conv: more than one group and one input channel per group (weight [C_out, 1, k, k]). */
  isDepthwise(i: number): boolean {
    return attrInt(this.nodes[i], 'group', 1) > 1 && this.convWeight(i)?.[1] === 1;
  }

  /** A pointwise conv: 1×1 kernel, one group. */
  isPointwise(i: number): boolean {
    const w = this.convWeight(i);
    return attrInt(this.nodes[i], 'group', 1) === 1 && w !== undefined && w.length > 2 && w.slice(2).every((d) => d === 1);
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
 * Ops that can end the backbone by turning its feature map or token sequence into ONE vector per sample, the
 * classifier's input: Flatten, a Reshape to 2-D, or a reduction to 2-D over the spatial / token axes (a ViT's
 * token average, a global pool written as ReduceMean/ReduceMax with keepdims=0). METHOD.md §1 calls this "the
 * Flatten before the classifier"; §7's ViTs end their backbone with the token average in this role.
 */
const FLATTEN_LIKE = new Set(['Flatten', 'Reshape', 'ReduceMean', 'ReduceMax']);

interface Head {
  /** The flatten-kind node ending the backbone, when the walk back from the classifier reaches one. */
  flatten: number | null;
  /** First node of the head: nothing from here on is backbone. */
  headStart: number;
  /** Non-linearities between the flatten-kind node and the classifier (an MLP head's hidden activations). */
  activations: number[];
  /** What ends the backbone: pooled / flattened features, or a transformer's class token. */
  kind?: 'flatten' | 'class-token';
}

/**
 * The Flatten / token average feeding the classifier, and the node where the head begins. The classifier is the
 * last Gemm/MatMul against a constant weight; walking back from it through an MLP head (more linear layers,
 * activations, dropout) reaches the Flatten that ends the backbone.
 */
function findHead(g: GraphIndex, model: ModelProto): Head {
  const types = tensorTypes(model);
  const linear = (i: number) => {
    const n = g.nodes[i];
    const ins = (n.input ?? []).slice(0, 2);
    return (n.opType === 'Gemm' || n.opType === 'MatMul') && ins.some((x) => !g.dynamic.has(x)) && ins.some((x) => g.dynamic.has(x));
  };
  let classifier = -1;
  for (let i = g.nodes.length - 1; i >= 0 && classifier < 0; i--) if (linear(i)) classifier = i;
  if (classifier < 0) return { flatten: null, headStart: g.nodes.length, activations: [] };
  let headStart = classifier;
  const seen: number[] = [];
  // Activations that come before the first linear layer of the head belong to the backbone (picked there).
  const done = (flatten: number | null): Head => ({ flatten, headStart, activations: seen.filter((a) => a > headStart).reverse() });
  let p: number | undefined = classifier;
  for (;;) {
    const data: string | undefined = g.isActivation(p) ? g.activationInput(p) : (g.nodes[p].input ?? []).find((x) => g.dynamic.has(x));
    p = data === undefined ? undefined : g.producer.get(data);
    if (p === undefined) return done(null);
    const n = g.nodes[p];
    const op = n.opType ?? '';
    if (FLATTEN_LIKE.has(op) && (op === 'Flatten' || types.get(n.output?.[0] ?? '')?.shape?.length === 2)) {
      headStart = p;
      return done(p);
    }
    if (g.isTokenSelect(p)) {
      headStart = p;
      return { ...done(p), kind: 'class-token' };
    }
    if (linear(p)) headStart = p;
    else if (g.isActivation(p)) seen.push(p);
    else if (!(PASS_THROUGH.has(op) || (op === 'Add' && (n.input ?? []).some((x) => !g.dynamic.has(x))))) return done(null);
  }
}

/**
 * Inverted-residual blocks WITHOUT a skip connection (MobileNetV2 blocks that change stride or width): the block
 * is [1×1 expansion conv → BN → activation] → depthwise conv → BN → activation → 1×1 projection conv → BN, and
 * the projection is LINEAR (no activation after it — the "linear bottleneck"). With a skip, the residual Add marks
 * the block; without one, that linear projection after a depthwise conv is the structural marker: a 1×1 conv
 * whose output reaches no non-linearity cannot end an ordinary conv layer, so it closes a block, and the
 * activations of its depthwise and expansion convs are inside that block (one layer, as METHOD.md §1 counts
 * MobileNetV2). Returns the projection's output node (BN, or the conv when BN was folded) → the activations it
 * absorbs. The expansion's activation is absorbed only when its conv is pointwise: a stem conv (3×3) feeding a
 * t=1 block (depthwise first) stays a layer of its own.
 */
function findBottlenecks(g: GraphIndex, interior: Set<number>, headStart: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  // The activation feeding `conv` alone, also across a squeeze-excitation gate between them (MobileNetV3,
  // EfficientNet: depthwise → activation → SE → projection).
  const activationBehind = (conv: number): number | undefined => {
    let x = g.nodes[conv].input?.[0] ?? '';
    let users = new Set([conv]);
    const p = g.producer.get(x);
    const gate = p === undefined ? undefined : g.gates.get(p);
    if (gate && g.soleConsumer(x) === conv) {
      x = gate.main;
      users = new Set([p!, ...gate.branch]);
    }
    const a = g.producer.get(x);
    return a !== undefined && g.isActivation(a) && (g.consumers.get(x) ?? []).every((c) => users.has(c)) ? a : undefined;
  };
  for (let i = 0; i < headStart; i++) {
    if (g.nodes[i].opType !== 'Conv' || interior.has(i) || !g.isPointwise(i)) continue;
    let end = i;
    const next = g.soleConsumer(g.nodes[i].output?.[0] ?? '');
    if (next !== undefined && g.nodes[next].opType === 'BatchNormalization') end = next;
    const y = g.nodes[end].output?.[0] ?? '';
    if ((g.consumers.get(y) ?? []).some((c) => g.isActivation(c))) continue; // not linear: an ordinary conv layer
    const a1 = activationBehind(i);
    const dw = a1 === undefined ? undefined : g.convBehind(g.activationInput(a1));
    if (dw === undefined || !g.isDepthwise(dw)) continue;
    const absorbed = [a1!];
    const a0 = activationBehind(dw);
    const expand = a0 === undefined ? undefined : g.convBehind(g.activationInput(a0));
    if (expand !== undefined && g.isPointwise(expand)) absorbed.push(a0!);
    out.set(end, absorbed);
  }
  return out;
}

/**
 * The tensor a block starts from: a residual's fork, or the input of a skip-less block's first conv (its expansion,
 * else its depthwise conv). `end` is the picked node (the Add, the activation after it, or the projection's output).
 */
function blockStart(g: GraphIndex, end: number, residuals: Map<number, Residual>): string | undefined {
  const r = residuals.get(end) ?? residuals.get(g.producer.get(g.activationInput(end)) ?? -1);
  if (r) return r.fork;
  const region = g.ancestorNodes(g.nodes[end].output?.[0] ?? '');
  const convs = [...region].filter((p) => g.nodes[p].opType === 'Conv').sort((a, b) => a - b);
  return convs.length > 0 ? g.nodes[convs[0]].input?.[0] : undefined;
}

/** Per-sample generalized layers from graph structure (the rules of `findGeneralizedLayers`). */
function structuralLayers(model: ModelProto, g: GraphIndex): GeneralizedLayers {
  const { flatten, headStart, activations: headActivations, kind: headKind } = findHead(g, model);
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
  // Squeeze-excitation branches gate the main path: their activations are attention weights, not representations.
  for (const gate of g.gates.values()) for (const p of gate.branch) interior.add(p);
  const bottlenecks = findBottlenecks(g, interior, headStart);
  for (const absorbed of bottlenecks.values()) for (const a of absorbed) interior.add(a);
  const forks = new Set([...residuals.values()].map((r) => r.fork));
  const hasAttention = [...residuals.values()].some((r) => r.attention);

  const picks: { node: number; kind: GeneralizedLayerKind }[] = [];
  for (let i = 0; i < headStart; i++) {
    const n = g.nodes[i];
    const out = n.output?.[0] ?? '';
    if (g.isActivation(i) && !interior.has(i)) {
      const p = g.producer.get(g.activationInput(i));
      picks.push({ node: i, kind: p !== undefined && residuals.has(p) ? 'residual' : 'activation' });
      continue;
    }
    if (bottlenecks.has(i)) {
      picks.push({ node: i, kind: 'bottleneck' });
      continue;
    }
    const r = residuals.get(i);
    if (!r) continue;
    if (g.activationOn(out) !== undefined) continue; // reported at that activation
    const next = g.soleConsumer(out);
    // In a model with attention sub-layers, every residual belongs to an encoder block (post-norm MLP sub-layers
    // contain no LayerNormalization of their own, so the region alone cannot tell). A block with a LayerNorm and
    // no convolution is one too; ConvNeXt's blocks (depthwise conv, LayerNorm, MLP) are convolutional.
    const transformer = hasAttention
      || ([...r.region].some((p) => g.nodes[p].opType === 'LayerNormalization') && ![...r.region].some((p) => g.nodes[p].opType === 'Conv'));
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
  // The stem's output when no activation ends the stem (ConvNeXt: conv → LayerNorm): the tensor the first block
  // starts from. Transformers are left as they are: their blocks start from the patch embedding.
  const first = picks[0];
  if (first && !hasAttention && (first.kind === 'residual' || first.kind === 'bottleneck' || first.kind === 'transformer-block')) {
    const start = blockStart(g, first.node, residuals);
    const p = start === undefined ? undefined : g.producer.get(start);
    if (p !== undefined) picks.unshift({ node: p, kind: 'stem' });
  }
  if (flatten !== null) picks.push({ node: flatten, kind: headKind ?? 'flatten' });
  const headStartsAfter = picks.length - 1;
  // METHOD.md §1: every non-linearity ends a generalized layer, the head's too (VGG's two classifier ReLUs are
  // its last layers), but they do not move the head start: the backbone still ends at the Flatten.
  for (const a of headActivations) picks.push({ node: a, kind: 'activation' });

  const types = tensorTypes(model);
  const layers = picks.map(({ node, kind }, index): GeneralizedLayer => {
    const tensor = g.nodes[node].output![0];
    return { index, tensor, opType: g.nodes[node].opType ?? '', kind, shape: types.get(tensor)?.shape ?? null };
  });
  return { layers, headStartsAfter, source: 'structure' };
}

/** ONNX `metadata_props` key under which kqkd exports declare their generalized layers. */
export const GENERALIZED_LAYERS_METADATA_KEY = 'kqkd.generalized_layers';

/** What `withGeneralizedLayers` stores (JSON) under `kqkd.generalized_layers`. */
export interface GeneralizedLayersMetadata {
  layers: { index: number; tensor: string }[];
  headStartsAfter: number;
}

/**
 * `model` with its generalized layers declared in ONNX `metadata_props` (key `kqkd.generalized_layers`, JSON
 * `{layers: [{index, tensor}], headStartsAfter}`), replacing an earlier declaration. Any consumer then gets the
 * model's own layer indices (the paper's, for the zoo) even where structure alone is ambiguous. Returns a shallow
 * copy: the graph is shared with `model`, which is not modified. Indices must be 0, 1, 2, ... in order.
 */
export function withGeneralizedLayers(
  model: ModelProto,
  declared: { layers: readonly { index: number; tensor: string }[]; headStartsAfter: number },
): ModelProto {
  if (!model?.graph) invalidArgument('model', 'an ONNX ModelProto with a graph', model);
  const layers = declared?.layers;
  if (!Array.isArray(layers) || layers.length === 0) invalidArgument('layers', 'a non-empty array of { index, tensor }', layers);
  const seen = new Set<string>();
  const entries = layers.map((l, i) => {
    if (l?.index !== i) invalidArgument(`layers[${i}].index`, `${i} (indices count from 0 in order)`, l?.index);
    if (typeof l.tensor !== 'string' || l.tensor === '' || seen.has(l.tensor)) {
      invalidArgument(`layers[${i}].tensor`, 'a tensor name, each once', l.tensor);
    }
    seen.add(l.tensor);
    return { index: i, tensor: l.tensor };
  });
  const h = declared.headStartsAfter;
  if (!Number.isInteger(h) || h < 0 || h >= layers.length) invalidArgument('headStartsAfter', `a layer index in 0..${layers.length - 1}`, h);
  const value: GeneralizedLayersMetadata = { layers: entries, headStartsAfter: h };
  const others = (model.metadataProps ?? []).filter((p) => p.key !== GENERALIZED_LAYERS_METADATA_KEY);
  return { ...model, metadataProps: [...others, { key: GENERALIZED_LAYERS_METADATA_KEY, value: JSON.stringify(value) }] };
}

/**
 * The declaration of `kqkd.generalized_layers`, or null when absent, malformed, or stale (a tensor it names is
 * no longer computed by the graph: the model was edited or renamed after export). Null means: use structure.
 */
export function readGeneralizedLayersMetadata(model: ModelProto, known?: ReadonlySet<string>): GeneralizedLayersMetadata | null {
  const entry = (model.metadataProps ?? []).find((p) => p.key === GENERALIZED_LAYERS_METADATA_KEY);
  if (!entry?.value) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry.value);
  } catch {
    return null;
  }
  const m = parsed as Partial<GeneralizedLayersMetadata> | null;
  if (!m || !Array.isArray(m.layers) || m.layers.length === 0) return null;
  const ok = m.layers.every((l, i) => l?.index === i && typeof l.tensor === 'string' && (known === undefined || known.has(l.tensor)))
    && new Set(m.layers.map((l) => l.tensor)).size === m.layers.length
    && Number.isInteger(m.headStartsAfter) && m.headStartsAfter! >= 0 && m.headStartsAfter! < m.layers.length;
  return ok ? { layers: m.layers.map((l) => ({ index: l.index, tensor: l.tensor })), headStartsAfter: m.headStartsAfter! } : null;
}

/**
 * The generalized layers of an ONNX classifier, in the model's layer order. Precedence:
 * 1. `names`: those tensors (validated; a typo gets the closest real names in the error), in graph order.
 * 2. The model's `kqkd.generalized_layers` metadata (`withGeneralizedLayers`), when every tensor it names is
 *    computed by the graph; kinds come from the structural rules where they mark the same tensor, else 'named'.
 * 3. Structure:
 *    - Relu / LeakyRelu / Clip-with-min-0 outputs that are not inside a block;
 *    - residual Adds (an Add of two tensors with a common ancestor), reported at the activation right after them
 *      when there is one;
 *    - skip-less inverted-residual blocks, at their linear projection (see `findBottlenecks`);
 *    - for transformer blocks, only the Add that closes the MLP sub-layer (the attention sub-layer's Add is inside
 *      the block), or the LayerNormalization after it in post-norm models;
 *    - the Flatten (or Reshape / ReduceMean / ReduceMax to [N, features], e.g. a ViT's token average) before the
 *      classifier — `headStartsAfter` is its index;
 *    - then the activations of an MLP head between that Flatten and the classifier (VGG's classifier ReLUs).
 */
export function findGeneralizedLayers(model: ModelProto, options: FindLayersOptions = {}): GeneralizedLayers {
  if (!model?.graph) invalidArgument('model', 'an ONNX ModelProto with a graph', model);
  const g = new GraphIndex(model);
  if (options.names !== undefined) return { ...namedLayers(model, g, options.names), source: 'names' };
  const structural = structuralLayers(model, g);
  const declared = readGeneralizedLayersMetadata(model, g.dynamic);
  if (declared === null) return structural;
  const types = tensorTypes(model);
  const kinds = new Map(structural.layers.map((l) => [l.tensor, l.kind]));
  const layers = declared.layers.map(({ index, tensor }): GeneralizedLayer => {
    const p = g.producer.get(tensor);
    return {
      index, tensor, opType: p === undefined ? 'Input' : g.nodes[p].opType ?? '', kind: kinds.get(tensor) ?? 'named',
      shape: types.get(tensor)?.shape ?? null,
    };
  });
  return { layers, headStartsAfter: declared.headStartsAfter, source: 'metadata' };
}
