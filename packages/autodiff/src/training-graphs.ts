/**
 * Forward graph + scalar loss → ORT training artifacts' graphs:
 *  - `trainingModel`: pruned forward (training-mode BatchNorm, LayerNorm/MaxPool with their saved outputs), reverse-mode
 *    gradient nodes, `<p>_grad.accumulation.buffer` inputs, `lazy_reset_grad`, InPlaceAccumulatorV2 per trainable
 *    parameter → `<p>_grad.accumulation.out`; outputs: loss first, then extra outputs, then the updated BN running
 *    statistics, then (optionally) each `<p>.gradient`.
 *  - `evalModel`: pruned inference graph (BN in inference mode on the running statistics), parameters as inputs.
 * See shared/design/ORT-TRAINING.md for the conventions.
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import {
  DataType, FROZEN_STATS, GraphBuilder, STOP_GRADIENT, attrFloat, cloneModel, formatShape, makeValueInfo, tensorTypes, tensorValues,
  topologicalNodes, toInt, type ModelProto, type NodeProto, type Shape, type Tensor, type TensorProto, type TensorType, type ValueInfoProto,
} from '@kqkd/onnx';
import { Emitter, MS, attr } from './emitter.js';
import { NON_DIFFERENTIABLE, ruleFor, type GradContext } from './gradients.js';

export const GRAD_SUFFIX = '_grad';
export const ACCUMULATION_BUFFER_SUFFIX = '_grad.accumulation.buffer';
export const ACCUMULATION_OUT_SUFFIX = '_grad.accumulation.out';
export const LAZY_RESET_GRAD = 'lazy_reset_grad';
/** Suffix of the optional per-step gradient outputs (`<p>.gradient`). */
export const GRADIENT_OUTPUT_SUFFIX = '.gradient';
/** Suffix of the training model outputs carrying a BN running statistic after the step (`<bn>.running_mean.updated`). */
export const UPDATED_STAT_SUFFIX = '.updated';

export interface TrainingGraphsOptions {
  /** The forward graph: a GraphBuilder (parameters and trainability come with it) or a ModelProto. */
  model: GraphBuilder | ModelProto;
  /** The scalar loss tensor (a tensor of the forward graph). */
  loss: Tensor | string;
  /** Trainable parameter names. Default: the builder's trainable parameters (required for a ModelProto). */
  trainable?: string[];
  /** Frozen parameters (inputs without gradients). Default: the builder's frozen ones + every BN running statistic. */
  frozen?: string[];
  /** Extra training outputs after the loss (features, logits...). Names must not end in `_grad`. */
  extraOutputs?: (Tensor | string)[];
  /** Eval model outputs. Default: the loss, then the forward model's declared outputs. */
  evalOutputs?: (Tensor | string)[];
  /** Also output each trainable parameter's per-step gradient as `<p>.gradient`. */
  exposeGradients?: boolean;
  /** Values for symbolic dims in the training model (e.g. `{ N: 64 }`); the eval model keeps them symbolic. */
  staticDims?: Record<string, number>;
  /** Momentum for training-mode BN nodes without a momentum attribute (ONNX convention, default 0.9). */
  batchNormMomentum?: number;
  /**
   * Value of the loss-gradient seed `<loss>_grad` (default 1): every gradient (and `<p>.gradient` output) is the
   * gradient of `lossScale × loss`, while the loss output stays unscaled. Gradient accumulation over A micro-batches
   * uses 1/A, so the accumulated buffer is the MEAN of the micro-batch gradients (exact when A is a power of two).
   */
  lossScale?: number;
}

export interface TrainingParameter {
  name: string;
  dims: number[];
  data: Float32Array;
  trainable: boolean;
}

export interface BatchNormStatistic {
  /** The frozen parameter holding the running statistic. */
  parameter: string;
  /** The training model output with its value after the step. */
  output: string;
}

export interface TrainingGraphs {
  trainingModel: ModelProto;
  evalModel: ModelProto;
  /** Trainable parameters in training-model input order, then frozen ones (checkpoint order). */
  parameters: TrainingParameter[];
  /** User inputs the training model needs (besides parameters). */
  inputs: { name: string; type: TensorType }[];
  /** Caller-visible training outputs, loss first. */
  trainingOutputs: string[];
  evalOutputs: string[];
  batchNormStatistics: BatchNormStatistic[];
  /** Gradient outputs by parameter name (when exposeGradients). */
  gradientOutputs: Record<string, string>;
}

const nameOf = (t: Tensor | string) => (typeof t === 'string' ? t : t.name);

function floatData(t: TensorProto): Float32Array {
  const v = tensorValues(t);
  if (!v) throw new KqkdError(`initializer "${t.name}"`, 'float data', `data type ${t.dataType}`);
  return Float32Array.from(v);
}

/** Unified view of the forward graph. */
interface Forward {
  model: ModelProto;
  nodes: NodeProto[];
  inits: Map<string, TensorProto>;
  types: Map<string, TensorType>;
  producer: Map<string, NodeProto>;
  trainable: string[];
  frozen: string[];
}

function readForward(o: TrainingGraphsOptions): Forward {
  const isBuilder = o.model instanceof GraphBuilder;
  const model = isBuilder ? (o.model as GraphBuilder).build({ requireOutputs: false }) : cloneModel(o.model as ModelProto);
  const nodes = topologicalNodes(model);
  const inits = new Map((model.graph!.initializer ?? []).map((t) => [t.name!, t]));
  const types = tensorTypes(model);
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const out of n.output ?? []) if (out) producer.set(out, n);
  const stats = new Set<string>();
  for (const n of nodes) if (n.opType === 'BatchNormalization') for (const i of [3, 4]) if (n.input![i]) stats.add(n.input![i]);
  let trainable: string[];
  let frozen: string[];
  if (isBuilder) {
    const params = (o.model as GraphBuilder).parameters();
    trainable = o.trainable ?? params.filter((p) => p.trainable).map((p) => p.name);
    frozen = o.frozen ?? params.filter((p) => !trainable.includes(p.name)).map((p) => p.name);
  } else {
    if (!o.trainable) invalidArgument('trainable', 'the trainable parameter names (required for a ModelProto)', o.trainable);
    trainable = o.trainable;
    frozen = [...new Set([...(o.frozen ?? []), ...stats])].filter((n) => !trainable.includes(n));
  }
  frozen = frozen.filter((n) => !trainable.includes(n));
  for (const [what, list] of [['trainable', trainable], ['frozen', frozen]] as const) {
    for (const p of list) {
      const t = inits.get(p);
      if (!t) throw new KqkdError(what, 'names of initializers of the forward graph', `"${p}"`);
      if ((t.dataType ?? 1) !== DataType.FLOAT) throw new KqkdError(`${what} parameter "${p}"`, 'a float initializer', `data type ${t.dataType}`);
    }
  }
  const sd = o.staticDims ?? {};
  for (const [k, t] of types) {
    if (t.shape?.some((d) => typeof d === 'string')) types.set(k, { ...t, shape: t.shape.map((d) => (typeof d === 'string' && d in sd ? sd[d] : d)) });
  }
  return { model, nodes, inits, types, producer, trainable, frozen };
}

/** Nodes needed to compute `targets`, in topological order. */
function needed(f: Forward, targets: string[]): NodeProto[] {
  const keep = new Set<NodeProto>();
  const stack = [...targets];
  const seen = new Set<string>();
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    const p = f.producer.get(t);
    if (!p || keep.has(p)) continue;
    keep.add(p);
    for (const i of p.input ?? []) if (i) stack.push(i);
  }
  return f.nodes.filter((n) => keep.has(n));
}

function checkTargets(f: Forward, names: string[], what: string): void {
  for (const n of names) {
    if (!f.types.has(n) && !f.producer.has(n)) throw new KqkdError(what, 'tensors of the forward graph', `"${n}"`);
  }
}

function staticShape(f: Forward, name: string, why: string): number[] {
  const s = f.types.get(name)?.shape;
  if (!s || s.some((d) => typeof d !== 'number')) {
    throw new KqkdError(`tensor "${name}"`, `a static shape (${why}; pass staticDims such as { N: 64 })`, formatShape(s ?? null));
  }
  return s as number[];
}

/** Builds the training and eval graphs. */
export function buildTrainingGraphs(o: TrainingGraphsOptions): TrainingGraphs {
  const f = readForward(o);
  const { loss, extra, lossScale, ls } = checkOutputs(o, f);
  const trainable = new Set(f.trainable);
  const frozen = new Set(f.frozen);
  const { fwd, em, stats } = trainingForward(o, f, [loss, ...extra], trainable, frozen);
  const { needsGrad, fromParam } = gradientPaths(fwd, trainable, loss);
  saveForwardOutputs(fwd, needsGrad, em);
  const paramGrads = reversePass(f, fwd, em, { loss, ls, lossScale, trainable, needsGrad, fromParam });
  const { gradientOutputs, accOuts } = exposeAndAccumulate(o, f, em, paramGrads);
  const t = assembleTrainingModel(f, fwd, em, { loss, extra, stats, gradientOutputs, accOuts, trainable, frozen });
  const e = evalModelOf(o, f, loss, trainable, frozen);
  const parameters: TrainingParameter[] = [...new Set([...t.paramInputs, ...e.evalParams])].map((p) => ({
    name: p, dims: (f.inits.get(p)!.dims ?? []).map((d) => toInt(d)), data: floatData(f.inits.get(p)!), trainable: trainable.has(p),
  }));
  return {
    trainingModel: t.trainingModel, evalModel: e.evalModel, parameters, inputs: t.userInputs, trainingOutputs: t.trainOutputs,
    evalOutputs: e.evalOutputs, batchNormStatistics: stats, gradientOutputs,
  };
}

const typeVI = (name: string, type: TensorType | undefined): ValueInfoProto => makeValueInfo(name, type ?? { elemType: DataType.FLOAT, shape: null });

/** Phase 1: the loss (a scalar) and the extra outputs exist and are well named; the loss-gradient seed is valid. */
function checkOutputs(o: TrainingGraphsOptions, f: Forward) {
  const loss = nameOf(o.loss);
  const extra = (o.extraOutputs ?? []).map(nameOf);
  checkTargets(f, [loss], 'loss');
  checkTargets(f, extra, 'extraOutputs');
  for (const e of [loss, ...extra]) {
    if (e.endsWith(GRAD_SUFFIX)) throw new KqkdError('training output name', `a name not ending in "${GRAD_SUFFIX}" (the runtime hides those)`, `"${e}"`);
  }
  const lossScale = o.lossScale ?? 1;
  if (typeof lossScale !== 'number' || !Number.isFinite(lossScale) || lossScale <= 0) {
    throw new KqkdError('lossScale', 'a finite number > 0 (the loss-gradient seed)', String(o.lossScale));
  }
  const ls = staticShape(f, loss, 'the loss');
  if (ls.reduce((p, d) => p * d, 1) !== 1) throw new KqkdError(`loss "${loss}"`, 'a scalar tensor', formatShape(ls));
  return { loss, extra, lossScale, ls };
}

/** Phase 2: the training forward — pruned to the outputs, BatchNormalization in training mode (BatchNormInternal). */
function trainingForward(o: TrainingGraphsOptions, f: Forward, targets: string[], trainable: Set<string>, frozen: Set<string>) {
  const fwd = needed(f, targets).map((n) => ({ ...n, input: n.input!.slice(), output: n.output!.slice(), attribute: (n.attribute ?? []).slice() }));
  const em = new Emitter([...f.types.keys(), ...f.inits.keys(), ...fwd.flatMap((n) => [...n.output!, n.name ?? ''])]);
  const stats: BatchNormStatistic[] = [];
  const momentum = o.batchNormMomentum ?? 0.9;
  for (const n of fwd) {
    if (n.opType !== 'BatchNormalization') continue;
    const trainMode = n.docString !== FROZEN_STATS && trainable.has(n.input![1]);
    if (!trainMode) continue;
    for (const i of [3, 4]) {
      if (!f.inits.has(n.input![i])) throw new KqkdError(`BatchNormalization node "${n.name}" input ${i}`, 'a running statistic initializer', `"${n.input![i]}"`);
      frozen.add(n.input![i]);
    }
    const [rm, rv] = [em.reserve(`${n.input![3]}${UPDATED_STAT_SUFFIX}`), em.reserve(`${n.input![4]}${UPDATED_STAT_SUFFIX}`)];
    stats.push({ parameter: n.input![3], output: rm }, { parameter: n.input![4], output: rv });
    n.opType = 'BatchNormInternal';
    n.domain = MS;
    n.output = [n.output![0], rm, rv, em.fresh(`${n.name}.saved_mean`), em.fresh(`${n.name}.saved_inv_std`)];
    n.attribute = [attr('epsilon', { float: attrFloat(n, 'epsilon', 1e-5) }), attr('momentum', { float: attrFloat(n, 'momentum', momentum) })];
    delete n.docString;
    const c = staticShape(f, n.input![1], 'BatchNorm scale');
    em.shape(rm, c);
    em.shape(rv, c);
  }
  return { fwd, em, stats };
}

/** Phase 3: which tensors carry gradient — reachable from a trainable parameter AND reaching the loss. */
function gradientPaths(fwd: NodeProto[], trainable: Set<string>, loss: string) {
  const fromParam = new Map<string, string>(); // tensor -> one trainable parameter it depends on
  for (const p of trainable) fromParam.set(p, p);
  for (const n of fwd) {
    if (n.opType === 'Identity' && n.docString === STOP_GRADIENT) continue;
    const src = n.input!.map((i) => fromParam.get(i)).find((p) => p);
    if (src) for (const out of n.output!) if (out) fromParam.set(out, src);
  }
  const toLoss = new Set<string>([loss]);
  for (let k = fwd.length - 1; k >= 0; k--) {
    const n = fwd[k];
    if (n.opType === 'Identity' && n.docString === STOP_GRADIENT) continue;
    if (n.output!.some((out) => toLoss.has(out))) for (const i of n.input!) if (i) toLoss.add(i);
  }
  for (const p of trainable) {
    if (!toLoss.has(p)) {
      throw new KqkdError(`trainable parameter "${p}"`, `a differentiable path to the loss "${loss}"`,
        'no path (it is unused, pruned, or behind a stop-gradient); freeze it instead');
    }
  }
  const needsGrad = (t: string) => !!t && fromParam.has(t) && toLoss.has(t);
  return { needsGrad, fromParam };
}

/** Phase 4: forward rewrites the gradient rules rely on (saved outputs of LayerNormalization and MaxPool). */
function saveForwardOutputs(fwd: NodeProto[], needsGrad: (t: string) => boolean, em: Emitter): void {
  for (const n of fwd) {
    if (!n.output!.some(needsGrad) || !n.input!.some(needsGrad)) continue;
    if (n.opType === 'LayerNormalization' && n.output!.length < 3) {
      while (n.output!.length < 3) n.output!.push('');
      n.output![1] = n.output![1] || em.fresh(`${n.output![0]}.mean`);
      n.output![2] = n.output![2] || em.fresh(`${n.output![0]}.inv_std_dev`);
    }
    if (n.opType === 'MaxPool' && (n.output!.length < 2 || !n.output![1])) {
      n.output![1] = em.fresh(`${n.output![0]}.indices`);
    }
  }
}

/** Phase 5: the reverse pass — each node's gradient rule, contributions summed per tensor; the parameters' gradients. */
function reversePass(f: Forward, fwd: NodeProto[], em: Emitter, c: {
  loss: string; ls: number[]; lossScale: number; trainable: Set<string>; needsGrad: (t: string) => boolean; fromParam: Map<string, string>;
}): string[] {
  const { loss, ls, lossScale, trainable, needsGrad, fromParam } = c;
  const contributions = new Map<string, string[]>();
  const add = (t: string, g: string) => contributions.set(t, [...(contributions.get(t) ?? []), g]);
  const seed = `${loss}${GRAD_SUFFIX}`;
  em.reserve(seed);
  em.initializers.push({ name: seed, dims: ls, dataType: DataType.FLOAT, rawData: new Uint8Array(new Float32Array(Math.max(1, ls.length ? ls.reduce((p, d) => p * d, 1) : 1)).fill(lossScale).buffer) });
  add(loss, seed);
  const finalGrad = new Map<string, string>();
  const finalize = (t: string): string | null => {
    if (finalGrad.has(t)) return finalGrad.get(t)!;
    const parts = contributions.get(t);
    if (!parts || parts.length === 0) return null;
    let g: string;
    if (trainable.has(t)) {
      g = em.reserve(`${t}${GRAD_SUFFIX}`);
      em.node(parts.length === 1 ? 'Identity' : 'Sum', parts, [g]);
      em.shape(g, staticShape(f, t, 'a parameter gradient'));
    } else if (parts.length === 1) {
      g = parts[0];
    } else {
      g = em.op('Sum', parts, `${t}${GRAD_SUFFIX}`, {}, '', staticShape(f, t, 'gradient accumulation'));
    }
    finalGrad.set(t, g);
    return g;
  };
  const constants = (name: string): number[] | null => {
    const t = f.inits.get(name);
    return t && (t.dims ?? []).reduce<number>((p, d) => p * toInt(d), 1) <= 4096 ? tensorValues(t) : null;
  };
  for (let k = fwd.length - 1; k >= 0; k--) {
    const n = fwd[k];
    if (!n.output!.some(needsGrad)) continue;
    const wanted = n.input!.map((i) => needsGrad(i));
    if (!wanted.some(Boolean)) continue;
    if (n.opType === 'Identity' && n.docString === STOP_GRADIENT) continue;
    const dys = n.output!.map((out) => (out && needsGrad(out) ? finalize(out) : null));
    if (dys.every((d) => d === null)) continue;
    const site = `${n.opType} node "${n.name}"`;
    if (NON_DIFFERENTIABLE.has(n.opType ?? '')) {
      const i = wanted.indexOf(true);
      throw new KqkdError(`parameter "${fromParam.get(n.input![i])}"`, `a differentiable path to the loss "${loss}"`, `a path through ${site} (${n.opType} has no gradient)`);
    }
    const rule = ruleFor(n);
    if (!rule) throw new KqkdError(site, `an op autodiff can differentiate (see @kqkd/autodiff README)`, `unknown op "${n.opType}"${n.domain ? ` in domain ${n.domain}` : ''}`);
    wanted.forEach((w, i) => {
      if (w && rule.nonDiff?.includes(i)) {
        throw new KqkdError(`parameter "${fromParam.get(n.input![i])}"`, `a differentiable path to the loss "${loss}"`, `a path through input ${i} ("${n.input![i]}") of ${site}, which has no gradient`);
      }
    });
    const ctx: GradContext = {
      node: n, em,
      shape: (name) => staticShape(f, name, `gradient of ${site}`),
      constant: constants,
      dY: (i) => dys[i] ?? null,
      needs: (i) => wanted[i] && !(rule.nonDiff ?? []).includes(i),
      give: (i, g) => add(n.input![i], g),
      base: `${n.name || n.output![0]}${GRAD_SUFFIX}`,
    };
    rule.emit(ctx);
  }
  const paramGrads = f.trainable.map((p) => {
    const g = finalize(p);
    if (!g) throw new KqkdError(`trainable parameter "${p}"`, `a gradient from the loss "${loss}"`, 'none (no differentiable path)');
    return g;
  });
  return paramGrads;
}

/** Phase 6: `<p>.gradient` outputs (exposeGradients) and one InPlaceAccumulatorV2 per trainable parameter. */
function exposeAndAccumulate(o: TrainingGraphsOptions, f: Forward, em: Emitter, paramGrads: string[]) {
  const gradientOutputs: Record<string, string> = {};
  if (o.exposeGradients) {
    f.trainable.forEach((p, k) => {
      const out = em.reserve(`${p}${GRADIENT_OUTPUT_SUFFIX}`);
      em.node('Identity', [paramGrads[k]], [out]);
      gradientOutputs[p] = out;
    });
  }
  const accOuts = f.trainable.map((p, k) => {
    const out = em.reserve(`${p}${ACCUMULATION_OUT_SUFFIX}`);
    em.node('InPlaceAccumulatorV2', [`${p}${ACCUMULATION_BUFFER_SUFFIX}`, paramGrads[k], LAZY_RESET_GRAD], [out], {}, MS);
    return out;
  });
  return { gradientOutputs, accOuts };
}

/** Phase 7: the training model — inputs (user, parameters, accumulation buffers, lazy reset), outputs, value infos. */
function assembleTrainingModel(f: Forward, fwd: NodeProto[], em: Emitter, c: {
  loss: string; extra: string[]; stats: BatchNormStatistic[]; gradientOutputs: Record<string, string>; accOuts: string[];
  trainable: Set<string>; frozen: Set<string>;
}) {
  const { loss, extra, stats, gradientOutputs, accOuts, trainable, frozen } = c;
  const allNodes = [...fwd, ...em.nodes];
  const usedNames = new Set(allNodes.flatMap((n) => n.input ?? []));
  const graphInputs = (f.model.graph!.input ?? []).filter((vi) => !f.inits.has(vi.name!) && usedNames.has(vi.name!));
  const paramInputs = [...f.trainable, ...[...frozen].filter((p) => usedNames.has(p) && !trainable.has(p))];
  const userInputs = graphInputs.map((vi) => ({ name: vi.name!, type: f.types.get(vi.name!)! }));
  const trainOutputs = [loss, ...extra, ...stats.map((s) => s.output), ...Object.values(gradientOutputs)];
  const outputTypes = new Map<string, TensorType>();
  for (const s of stats) outputTypes.set(s.output, { elemType: DataType.FLOAT, shape: staticShape(f, s.parameter, 'BN statistic') });
  for (const [p, out] of Object.entries(gradientOutputs)) outputTypes.set(out, { elemType: DataType.FLOAT, shape: staticShape(f, p, 'gradient') });
  const paramSet = new Set(paramInputs);
  const fwdNames = new Set(fwd.flatMap((n) => n.output!));
  const forwardVI = [...f.types.entries()]
    .filter(([name, t]) => fwdNames.has(name) && t.shape && !trainOutputs.includes(name) && !graphInputs.some((g) => g.name === name))
    .map(([name, t]) => makeValueInfo(name, t));
  const trainingModel: ModelProto = {
    irVersion: f.model.irVersion, producerName: 'kqkd-autodiff', producerVersion: '0.1.0',
    opsetImport: [...(f.model.opsetImport ?? []).filter((x) => x.domain !== MS), { domain: MS, version: 1 }],
    graph: {
      name: `${f.model.graph!.name ?? 'graph'}_training`,
      node: allNodes,
      initializer: [...[...f.inits.values()].filter((t) => usedNames.has(t.name!) && !paramSet.has(t.name!)), ...em.initializers],
      input: [
        ...userInputs.map((u) => typeVI(u.name, u.type)),
        ...paramInputs.map((p) => typeVI(p, f.types.get(p))),
        ...f.trainable.map((p) => typeVI(`${p}${ACCUMULATION_BUFFER_SUFFIX}`, f.types.get(p))),
        makeValueInfo(LAZY_RESET_GRAD, { elemType: DataType.BOOL, shape: [1] }),
      ],
      output: [
        ...trainOutputs.map((n) => typeVI(n, outputTypes.get(n) ?? f.types.get(n))),
        ...accOuts.map((n) => makeValueInfo(n, { elemType: DataType.BOOL, shape: [1] })),
      ],
      valueInfo: [...forwardVI, ...em.valueInfo.filter((vi) => !trainOutputs.includes(vi.name!))],
    },
  };
  return { trainingModel, paramInputs, userInputs, trainOutputs };
}

/** Phase 8: the eval model — the original (inference-mode) forward pruned to the eval outputs, parameters as inputs. */
function evalModelOf(o: TrainingGraphsOptions, f: Forward, loss: string, trainable: Set<string>, frozen: Set<string>) {
  const declaredOutputs = (f.model.graph!.output ?? []).map((vi) => vi.name!);
  const evalOutputs = (o.evalOutputs ?? [loss, ...declaredOutputs.filter((n) => n !== loss)]).map(nameOf);
  checkTargets(f, evalOutputs, 'evalOutputs');
  const evalNodes = needed(f, evalOutputs);
  const evalUsed = new Set(evalNodes.flatMap((n) => n.input ?? []));
  const evalParams = [...f.trainable, ...[...frozen].filter((p) => !trainable.has(p))].filter((p) => evalUsed.has(p));
  const evalParamSet = new Set(evalParams);
  const origTypes = tensorTypes(f.model);
  const evalModel: ModelProto = {
    irVersion: f.model.irVersion, producerName: 'kqkd-autodiff', producerVersion: '0.1.0',
    opsetImport: f.model.opsetImport,
    graph: {
      name: `${f.model.graph!.name ?? 'graph'}_eval`,
      node: evalNodes,
      initializer: [...f.inits.values()].filter((t) => evalUsed.has(t.name!) && !evalParamSet.has(t.name!)),
      input: [
        ...(f.model.graph!.input ?? []).filter((vi) => !f.inits.has(vi.name!) && evalUsed.has(vi.name!)),
        ...evalParams.map((p) => typeVI(p, origTypes.get(p))),
      ],
      output: evalOutputs.map((n) => typeVI(n, origTypes.get(n))),
    },
  };
  return { evalModel, evalOutputs, evalParams };
}

export type { Shape };
