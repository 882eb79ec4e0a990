/**
 * Turns a student model and a distillation method (methods.ts) into the student's training graph, from the term
 * registry alone: teacher features and logits arrive as graph inputs (from the teacher cache, one row per training
 * sample), each of the method's terms adds its loss on top of the student's generalized layers, and with a detached
 * head the classifier is cut off the backbone by a stop-gradient, so CE trains only the head and the backbone learns
 * from the other terms alone (METHOD.md §3).
 */
import { KqkdError } from '@kqkd/common';
import type { GraphBuilder, ModelProto, Tensor } from '@kqkd/onnx';
import type { ZooModel } from '@kqkd/models';
import type { DistillSpec } from './spec.js';
import { getMethod, methodTerms, pairing, predictorTerm, readsTeacherLogits } from './methods.js';
import type { GraphPair } from './terms/index.js';

export const TEACHER_LOGITS_INPUT = 'teacher.logits';

/** Graph input carrying the cached features of teacher layer `index`. */
export function teacherLayerInput(index: number): string {
  return `teacher.layer${index}`;
}

/**
 * The pairs the method's terms read: every pair, or the deepest only (SP matches the last feature map). The training
 * graph has an input for exactly these teacher layers (an input no node reads is pruned from the training model, and
 * a backend feeding it would fail).
 */
function pairsRead<P>(d: { method: string; pairs: readonly P[] }): readonly P[] {
  const p = pairing(getMethod(d.method));
  return p === 'deepest' ? d.pairs.slice(-1) : p === 'all' ? d.pairs : [];
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
  for (const l of predictorTerm(m)?.predictor!.teacherLayers(d) ?? []) layer(l.index, l.shape);
  if (readsTeacherLogits(m)) out.push({ name: TEACHER_LOGITS_INPUT, layer: 'logits', shape: [d.teacherClasses] });
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

/**
 * Adds the method's pieces to a built student. Returns the logits the student predicts with (SimKD: the teacher's
 * classifier on the projected features) and, with `training`, the training loss (the sum of the method's terms).
 */
export function composeDistillation(g: GraphBuilder, student: ZooModel, o: DistillationGraphOptions,
  training?: { labels: Tensor; batchSize: number }): { logits: Tensor; loss?: Tensor } {
  const d = o.spec;
  const m = getMethod(d.method);
  const pairs = pairsRead({ method: d.method, pairs: d.pairs.map((p) => ({ ...p, tensor: layerTensor(g, student, p.student, 'student') })) });

  // Feature-exclusive training: CE through the head must not reach the backbone. The head = everything after the
  // deepest distilled layer.
  if (m.head === 'detached') {
    if (pairs.length === 0) throw new KqkdError(`method ${m.key}`, 'a distilled student layer to detach the head at', 'no pair');
    const deepest = pairs.reduce((a, p) => (p.student > a.student ? p : a), pairs[0]);
    g.detachConsumers(deepest.tensor, 'head_input.detached');
  }

  const teacherInputs = new Map<number, Tensor>();
  const teacherLayer = (index: number, shape: number[]) => {
    let t = teacherInputs.get(index);
    if (!t) {
      t = g.input(teacherLayerInput(index), ['N', ...shape]);
      teacherInputs.set(index, t);
    }
    return t;
  };

  let logits = student.logits;
  let predictedLoss: Tensor | undefined;
  const predictor = predictorTerm(m);
  if (predictor) {
    const r = predictor.predictor!.predict({
      g, spec: d, student, ...(o.teacherModel ? { teacherModel: o.teacherModel } : {}),
      teacherLayer: (index, shape) => (training ? teacherLayer(index, shape) : undefined),
    });
    logits = r.logits;
    predictedLoss = r.loss;
  }
  if (!training) return { logits };

  const graphPairs: GraphPair[] = pairs.map((p) => ({
    student: p.tensor, teacher: teacherLayer(p.teacher, p.teacherShape), studentIndex: p.student, teacherIndex: p.teacher,
  }));
  let teacherLogits: Tensor | undefined;
  const terms = methodTerms(m).map((term) => term.build({
    g, spec: d, student, logits, labels: training.labels, batchSize: training.batchSize, headDetached: m.head === 'detached',
    pairs: term.pairing === 'none' ? [] : graphPairs, ...(predictedLoss ? { predictedLoss } : {}),
    teacherLogits: () => (teacherLogits ??= g.input(TEACHER_LOGITS_INPUT, ['N', d.teacherClasses])),
  }));
  const total = terms.slice(1).reduce((acc, t, i) => g.add(acc, t, `loss_sum${i + 1}`), terms[0]);
  return { logits, loss: g.identity(total, 'loss') };
}
