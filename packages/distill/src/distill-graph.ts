/**
 * Turns a student model and a distillation method (methods.ts) into the student's training graph: teacher features
 * and logits arrive as graph inputs (from the teacher cache, one row per training sample), the method's loss terms
 * are added on top of the student's generalized layers, and for FKD the classifier head is cut off the backbone by a
 * stop-gradient, so CE trains only the head and the backbone learns from L_F alone (METHOD.md §3).
 */
import { KqkdError } from '@kqkd/common';
import { importSubgraph, type GraphBuilder, type ModelProto, type Tensor } from '@kqkd/onnx';
import type { ZooModel } from '@kqkd/models';
import type { DistillSpec } from './config.js';
import { featureLoss, kdLoss, semckdLoss, simkd, spLoss } from './losses/index.js';
import { getMethod } from './methods.js';

export const TEACHER_LOGITS_INPUT = 'teacher.logits';

/** Graph input carrying the cached features of teacher layer `index`. */
export function teacherLayerInput(index: number): string {
  return `teacher.layer${index}`;
}

/**
 * The pairs whose features the method's loss reads: SP (Tung & Mori) matches the last feature map only, the deepest
 * pair; every other feature term reads all pairs. The training graph has an input for exactly these teacher layers
 * (an input no node reads is pruned from the training model, and a backend feeding it would fail).
 */
function pairsRead<P>(d: { method: string; pairs: readonly P[] }): readonly P[] {
  return getMethod(d.method).features === 'sp' ? d.pairs.slice(-1) : d.pairs;
}

/** The per-sample inputs a distillation graph reads besides the images and labels, in feed order. */
export function distillationInputs(d: DistillSpec): { name: string; layer: number | 'logits'; shape: number[] }[] {
  const m = getMethod(d.method);
  const out: { name: string; layer: number | 'logits'; shape: number[] }[] = [];
  const seen = new Set<number>();
  const layer = (index: number, shape: number[]) => {
    if (seen.has(index)) return;
    seen.add(index);
    out.push({ name: teacherLayerInput(index), layer: index, shape });
  };
  for (const p of pairsRead(d)) layer(p.teacher, p.teacherShape);
  if (d.simkd) layer(d.simkd.teacherLayer, d.simkd.teacherShape);
  if (m.kd) out.push({ name: TEACHER_LOGITS_INPUT, layer: 'logits', shape: [d.teacherClasses] });
  return out;
}

export interface DistillationGraphOptions {
  spec: DistillSpec;
  /** The teacher model: needed by SimKD, whose student predicts through the teacher's (frozen) classifier. */
  teacherModel?: ModelProto;
}

function layerTensor(g: GraphBuilder, model: Pick<ZooModel, 'layers'>, index: number, who: string): Tensor {
  const l = model.layers.find((x) => x.index === index);
  if (!l) {
    throw new KqkdError(`${who} layer ${index}`, `a generalized layer of the student (0…${model.layers.length - 1})`, String(index));
  }
  return { name: l.tensor, shape: g.typeOf(l.tensor).shape! };
}

/** Freezes every trainable parameter no node on the way to `targets` reads (SimKD's unused student head). */
function freezeUnreachable(g: GraphBuilder, targets: readonly string[]): void {
  const nodes = g.build({ requireOutputs: false }).graph!.node ?? [];
  const needed = new Set(targets);
  for (let k = nodes.length - 1; k >= 0; k--) {
    if ((nodes[k].output ?? []).some((o) => needed.has(o))) for (const i of nodes[k].input ?? []) needed.add(i);
  }
  g.freeze((name) => !needed.has(name));
}

/**
 * Adds the method's pieces to a built student. Returns the logits the student predicts with (SimKD: the teacher's
 * classifier on the projected features) and, with `labels`, the training loss (the sum of the method's terms).
 */
export function composeDistillation(g: GraphBuilder, student: ZooModel, o: DistillationGraphOptions,
  training?: { labels: Tensor; batchSize: number }): { logits: Tensor; loss?: Tensor } {
  const d = o.spec;
  const m = getMethod(d.method);
  const w = d.weights;
  let logits = student.logits;
  const pairs = pairsRead({ method: d.method, pairs: d.pairs.map((p) => ({ ...p, tensor: layerTensor(g, student, p.student, 'student') })) });

  // FKD: CE through the head must not reach the backbone. The head = everything after the deepest distilled layer.
  if (m.ce === 'head') {
    const deepest = pairs.reduce((a, p) => (p.student > a.student ? p : a), pairs[0]);
    g.detachConsumers(deepest.tensor, 'head_input.detached');
  }

  if (m.features === 'simkd') {
    const s = d.simkd!;
    if (!o.teacherModel) throw new KqkdError('SimKD teacher model', 'the teacher ONNX model (its classifier is reused)', 'none');
    const studentMap = layerTensor(g, student, student.headStartsAfter - 1, 'student (SimKD: the map before its classifier)');
    // The projector and teacher head are built here for inference too; the MSE term is added below when training.
    const teacherFeature = training
      ? g.input(teacherLayerInput(s.teacherLayer), ['N', ...s.teacherShape])
      : undefined;
    const built = simkd(g, studentMap, teacherFeature ?? { name: '', shape: ['N', ...s.teacherShape] },
      (x) => importSubgraph(g, o.teacherModel!, { from: s.teacherTensor, to: s.teacherLogitsTensor, input: x, prefix: 'teacher_head' }),
      { factor: s.factor, name: 'simkd', withLoss: training !== undefined });
    logits = built.logits;
    freezeUnreachable(g, [logits.name, ...(built.loss ? [built.loss.name] : [])]);
    if (!training) return { logits };
    const loss = w.simkd === 1 ? built.loss! : g.mulScalar(built.loss!, w.simkd, 'simkd_weighted');
    return { logits, loss: g.identity(loss, 'loss') };
  }
  if (!training) return { logits };

  const teacherInputs = new Map<number, Tensor>();
  const teacherFeature = (index: number, shape: number[]) => {
    let t = teacherInputs.get(index);
    if (!t) {
      t = g.input(teacherLayerInput(index), ['N', ...shape]);
      teacherInputs.set(index, t);
    }
    return t;
  };
  const featurePairs = pairs.map((p) => ({ student: p.tensor, teacher: teacherFeature(p.teacher, p.teacherShape) }));
  const terms: Tensor[] = [];
  const weighted = (t: Tensor, weight: number, name: string) => (weight === 1 ? t : g.mulScalar(t, weight, name));

  if (m.ce !== 'none') terms.push(g.softmaxCrossEntropy(logits, training.labels, { name: m.ce === 'head' ? 'ce_head' : 'ce' }));
  if (m.kd) {
    const teacherLogits = g.input(TEACHER_LOGITS_INPUT, ['N', d.teacherClasses]);
    terms.push(kdLoss(g, logits, teacherLogits, { temperature: d.temperature, weight: w.kd, standardize: m.kd.standardize, name: 'kd' }));
  }
  if (m.features === 'mse') {
    terms.push(weighted(featureLoss(g, featurePairs, { projector: d.projector, name: 'feature_loss' }), w.feature, 'feature_loss_weighted'));
  } else if (m.features === 'sp') {
    // Tung & Mori match the last feature map: the deepest pair (the only one `pairsRead` keeps).
    terms.push(spLoss(g, featurePairs, { weight: w.sp, name: 'sp' }));
  } else if (m.features === 'semckd') {
    const teachers = [...teacherInputs.values()];
    const students = [...new Map(featurePairs.map((p) => [p.student.name, p.student])).values()];
    terms.push(weighted(semckdLoss(g, students, teachers, { batchSize: training.batchSize, name: 'semckd' }), w.semckd, 'semckd_weighted'));
  }
  const total = terms.slice(1).reduce((acc, t, i) => g.add(acc, t, `loss_sum${i + 1}`), terms[0]);
  return { logits, loss: g.identity(total, 'loss') };
}
