/**
 * Lowering of a training model (from `buildTrainingGraphs`) for onnxruntime-node's CPU INFERENCE build: every
 * ORT-training-only op the autodiff emits becomes standard ONNX ops (see README "Lowering for onnxruntime-node"),
 * and the accumulation machinery (InPlaceAccumulatorV2, `<p>_grad.accumulation.buffer`, `lazy_reset_grad`,
 * `<p>_grad.accumulation.out`) is removed: one inference session computes loss, extra outputs, BN statistics and
 * `<p>.gradient` per step, and the host accumulates.
 */
import { KqkdError } from '@kqkd/common';
import {
  DataType, cloneModel, makeValueInfo, tensorTypes, tensorValues, toInt,
  type ModelProto, type NodeProto, type TensorProto, type TensorType,
} from '@kqkd/onnx';
import { Emitter, MS } from '../emitter.js';
import { emitNchwcForwardConv, staticShapes, NCHWC_DOMAIN } from './nchwc.js';
import { HOST_CONV_WEIGHT_GRADIENTS_KEY, type HostConvWeightGradient } from './host-weight-gradients.js';
import { ACCUMULATION_BUFFER_SUFFIX, ACCUMULATION_OUT_SUFFIX, GRADIENT_OUTPUT_SUFFIX, LAZY_RESET_GRAD } from '../training-graphs.js';
import { LOWERED_OPS, type LowerOptions } from './options.js';
import type { Ctx, Rule } from './context.js';
import { ACTIVATIONS_RULES } from './rules/activations.js';
import { CONV_RULES } from './rules/conv.js';
import { POOL_RULES } from './rules/pool.js';
import { NORMALIZATION_RULES } from './rules/normalization.js';
import { LOSS_RULES } from './rules/loss.js';
import { INDEXING_RULES } from './rules/indexing.js';

export { LOWERED_OPS, KEPT_MICROSOFT_OPS, type LowerOptions } from './options.js';

/** The rewrite rules by op type, one module per op family (./rules/). */
const RULES: Record<string, Rule> = {
  ...ACTIVATIONS_RULES, ...CONV_RULES, ...POOL_RULES, ...NORMALIZATION_RULES, ...LOSS_RULES, ...INDEXING_RULES,
};

/** The model being lowered: its copy, graph, opset, known tensor types and initializers, and the emitter. */
interface Source {
  model: ModelProto;
  graph: NonNullable<ModelProto['graph']>;
  opsetVersion: number;
  types: Map<string, TensorType>;
  inits: Map<string, TensorProto>;
  em: Emitter;
  staticShape: (name: string) => number[] | null;
}

/** What the accumulators said: each parameter's gradient tensor, and which gradients are a parameter's whole one. */
interface Accumulation {
  accumulated: { param: string; grad: string; out: string }[];
  kept: NodeProto[];
  droppedOutputs: Set<string>;
  readers: Map<string, number>;
  identityOut: Map<string, string>;
  wholeGradient: Map<string, string>;
}

/**
 * Rewrites a training model from `buildTrainingGraphs` into a model that onnxruntime-node's CPU inference build runs:
 * inputs are the user inputs and the parameters (trainable first, then frozen, by their names); outputs are the
 * loss, the extra outputs, the `<stat>.updated` BN statistics and `<p>.gradient` per trainable parameter.
 */
export function lowerTrainingGraph(trainingModel: ModelProto, options: LowerOptions = {}): ModelProto {
  const o: LowerOptions = { exposeGradients: true, lowerGelu: false, convWeightGradient: 'auto', convInputGradient: 'auto', ...options };
  const src = readSource(trainingModel);
  const acc = dropAccumulators(src);
  const host: HostConvWeightGradient[] = [];
  const out = rewriteNodes(src, acc, o, host);
  const outputs = finalOutputs(src, acc, o, out);
  exposeHostInputs(src.model, outputs, host);
  writeGraph(src, acc, out, outputs);
  return src.model;
}

/** Phase 1: copy the model, check its opset, read its tensor types and initializers, start the emitter. */
function readSource(trainingModel: ModelProto): Source {
  const model = cloneModel(trainingModel);
  const graph = model.graph;
  if (!graph) throw new KqkdError('trainingModel', 'a ModelProto with a graph', 'none');
  const opset = (model.opsetImport ?? []).find((x) => !x.domain || x.domain === 'ai.onnx');
  const opsetVersion = toInt(opset?.version as number, 0);
  if (opsetVersion < 16) {
    throw new KqkdError('trainingModel opset_import (ai.onnx)', 'version 16 or later (ScatterElements/ScatterND reduction)', String(opsetVersion));
  }
  let types: Map<string, TensorType>;
  try {
    types = tensorTypes(model);
  } catch {
    types = new Map();
  }
  const inits = new Map<string, TensorProto>((graph.initializer ?? []).map((t) => [t.name!, t]));
  const nodes = graph.node ?? [];
  const used = new Set<string>([...types.keys(), ...inits.keys(), ...(graph.input ?? []).map((v) => v.name!),
    ...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? []), n.name ?? ''])]);
  return { model, graph, opsetVersion, types, inits, em: new Emitter(used), staticShape: staticShapes(types, inits) };
}

/** Phase 2: drop the accumulators, remember which gradient each parameter's buffer received and who reads it. */
function dropAccumulators(src: Source): Accumulation {
  const accumulated: { param: string; grad: string; out: string }[] = [];
  const kept: NodeProto[] = [];
  for (const n of src.graph.node ?? []) {
    if (n.opType === 'InPlaceAccumulatorV2') {
      const buffer = n.input![0];
      const param = buffer.endsWith(ACCUMULATION_BUFFER_SUFFIX) ? buffer.slice(0, -ACCUMULATION_BUFFER_SUFFIX.length) : buffer;
      accumulated.push({ param, grad: n.input![1], out: n.output![0] });
    } else {
      kept.push(n);
    }
  }
  const droppedOutputs = new Set(accumulated.map((a) => a.out));
  // A gradient tensor is its parameter's whole gradient when nothing but the (removed) accumulator reads it.
  // (an Identity exposing it as `<p>.gradient` reads the same values, so it does not count).
  const readers = new Map<string, number>();
  const exposesGradient = (n: NodeProto) => n.opType === 'Identity' && (n.output?.[0] ?? '').endsWith(GRADIENT_OUTPUT_SUFFIX);
  for (const n of kept) if (!exposesGradient(n)) for (const i of n.input ?? []) readers.set(i, (readers.get(i) ?? 0) + 1);
  const identityOut = new Map(kept.filter((n) => n.opType === 'Identity' && !exposesGradient(n) && n.input?.length === 1)
    .map((n) => [n.input![0], n.output![0]]));
  const graphOutputs = new Set((src.graph.output ?? []).map((v) => v.name!));
  const wholeGradient = new Map(accumulated.filter((a) => !readers.has(a.grad) && !graphOutputs.has(a.grad)).map((a) => [a.grad, a.param]));
  return { accumulated, kept, droppedOutputs, readers, identityOut, wholeGradient };
}

/** Phase 3: every kept node through its rule (a training-only op) or as it is (a standard op; NCHWc where asked). */
function rewriteNodes(src: Source, acc: Accumulation, o: LowerOptions, host: HostConvWeightGradient[]): NodeProto[] {
  const { em } = src;
  const graphInputs = new Set((src.graph.input ?? []).map((v) => v.name!));
  const out: NodeProto[] = [];
  for (const n of acc.kept) {
    const domain = n.domain ?? '';
    const type = n.opType ?? '';
    const isMs = domain === MS;
    const rule = Object.prototype.hasOwnProperty.call(RULES, type) ? RULES[type] : undefined;
    const lower = rule !== undefined && (isMs || type === 'MaxPoolGrad' || type === 'AveragePoolGrad') && (type !== 'Gelu' || isMs);
    const start = em.nodes.length;
    if (!lower) {
      if (isMs) {
        throw new KqkdError(`${type} node "${n.name}"`, `an op the lowering for onnxruntime-node knows (${LOWERED_OPS.join(', ')}, Gelu)`,
          `com.microsoft ${type}`);
      }
      if (o.nchwcBlockSize && emitNchwcForwardConv(n, em, src.types, src.staticShape, o.nchwcBlockSize)) {
        out.push(...em.nodes.slice(start));
      } else {
        out.push(n);
      }
      continue;
    }
    rule(ruleContext(src, acc, n, graphInputs, host), o);
    out.push(...em.nodes.slice(start));
  }
  return out;
}

/** What a rule sees of the graph around node `n`. */
function ruleContext(src: Source, acc: Accumulation, n: NodeProto, graphInputs: Set<string>, host: HostConvWeightGradient[]): Ctx {
  const { types, inits, staticShape } = src;
  const site = `${n.opType ?? ''} node "${n.name}"`;
  return {
    node: n, em: src.em, opset: src.opsetVersion, site,
    shape(name) {
      const s = staticShape(name);
      if (!s) {
        const found = types.get(name)?.shape;
        throw new KqkdError(`tensor "${name}" of ${site}`, 'a static shape (build the training graph with staticDims)', found ? `[${found.join(', ')}]` : 'no shape');
      }
      return s;
    },
    elemType: (name) => types.get(name)?.elemType ?? inits.get(name)?.dataType ?? undefined,
    constant(name) {
      const t = inits.get(name);
      return t ? tensorValues(t) : null;
    },
    wholeGradientOf(name) {
      // through Identity renames (autodiff writes `<p>_grad` as an Identity of the op's output)
      for (let t: string | undefined = name; t !== undefined; t = acc.readers.get(t) === 1 ? acc.identityOut.get(t) : undefined) {
        if (acc.wholeGradient.has(t)) return acc.wholeGradient.get(t);
      }
      return undefined;
    },
    isGraphInput: (name) => graphInputs.has(name) || inits.has(name),
    host,
  };
}

/** Phase 4: the outputs less the accumulators' ones, plus `<p>.gradient` where missing (exposeGradients). */
function finalOutputs(src: Source, acc: Accumulation, o: LowerOptions, out: NodeProto[]): NonNullable<NonNullable<ModelProto['graph']>['output']> {
  const outputs = (src.graph.output ?? []).filter((v) => !acc.droppedOutputs.has(v.name!));
  if (!o.exposeGradients) return outputs;
  const have = new Set(outputs.map((v) => v.name!));
  for (const a of acc.accumulated) {
    const name = `${a.param}${GRADIENT_OUTPUT_SUFFIX}`;
    if (have.has(name)) continue;
    out.push({ name: `${name}.node`, opType: 'Identity', input: [a.grad], output: [name], attribute: [] });
    const pt = src.types.get(a.param);
    outputs.push(makeValueInfo(name, { elemType: DataType.FLOAT, shape: pt?.shape ?? null }));
  }
  return outputs;
}

/** Phase 5: host weight gradients — X and dY become outputs (by their own names: no copy in the graph), listed in metadata. */
function exposeHostInputs(model: ModelProto, outputs: ReturnType<typeof finalOutputs>, host: HostConvWeightGradient[]): void {
  if (!host.length) return;
  const have = new Set(outputs.map((v) => v.name!));
  for (const h of host) {
    for (const [name, shape] of [[h.x, h.xShape], [h.dy, h.dyShape]] as const) {
      if (have.has(name)) continue;
      have.add(name);
      outputs.push(makeValueInfo(name, { elemType: DataType.FLOAT, shape: [...shape] }));
    }
  }
  model.metadataProps = [...(model.metadataProps ?? []).filter((m) => m.key !== HOST_CONV_WEIGHT_GRADIENTS_KEY),
    { key: HOST_CONV_WEIGHT_GRADIENTS_KEY, value: JSON.stringify(host) }];
}

/** Phase 6: the new nodes, outputs, inputs (no accumulation buffers), initializers and opset imports. */
function writeGraph(src: Source, acc: Accumulation, out: NodeProto[], outputs: ReturnType<typeof finalOutputs>): void {
  const { model, graph, em } = src;
  graph.node = out;
  graph.output = outputs;
  graph.input = (graph.input ?? []).filter((v) => v.name !== LAZY_RESET_GRAD && !v.name!.endsWith(ACCUMULATION_BUFFER_SUFFIX));
  graph.initializer = [...(graph.initializer ?? []), ...em.initializers];
  graph.valueInfo = [...(graph.valueInfo ?? []).filter((v) => !acc.droppedOutputs.has(v.name!)), ...em.valueInfo];
  const keepMs = out.some((n) => n.domain === MS);
  model.opsetImport = (model.opsetImport ?? []).filter((x) => x.domain !== MS || keepMs);
  if (keepMs && !model.opsetImport.some((x) => x.domain === MS)) model.opsetImport.push({ domain: MS, version: 1 });
  if (out.some((n) => n.domain === NCHWC_DOMAIN)) model.opsetImport.push({ domain: NCHWC_DOMAIN, version: 1 });
  model.producerName = 'kqkd-autodiff-lower';
  void ACCUMULATION_OUT_SUFFIX;
}
