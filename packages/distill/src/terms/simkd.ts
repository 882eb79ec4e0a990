/**
 * SimKD (Chen et al. 2022): the student's map before its classifier goes through a three-layer projector to the
 * teacher's last map, and the student predicts through the teacher's frozen classifier (imported from the teacher
 * ONNX); the loss is the MSE to the teacher's map, × weights.simkd. No cross-entropy.
 */
import { KqkdError } from '@kqkd/common';
import { importSubgraph, type GraphBuilder, type Tensor } from '@kqkd/onnx';
import { simkd } from '../losses/index.js';
import type { LossTerm } from './types.js';

/** Freezes every trainable parameter no node on the way to `targets` reads (SimKD's unused student head). */
function freezeUnreachable(g: GraphBuilder, targets: readonly string[]): void {
  const nodes = g.build({ requireOutputs: false }).graph!.node ?? [];
  const needed = new Set(targets);
  for (let k = nodes.length - 1; k >= 0; k--) {
    if ((nodes[k].output ?? []).some((o) => needed.has(o))) for (const i of nodes[k].input ?? []) needed.add(i);
  }
  g.freeze((name) => !needed.has(name));
}

export const SIMKD: LossTerm = {
  key: 'simkd',
  title: 'MSE between the projected student map and the teacher\'s last map; predictions through the teacher\'s classifier',
  pairing: 'none',
  readsTeacherLogits: false,
  build: ({ g, spec, predictedLoss: loss }) => {
    if (!loss) throw new KqkdError('SimKD term', 'its predictor built first with a teacher layer input (training)', 'no SimKD loss in this graph');
    return spec.weights.simkd === 1 ? loss : g.mulScalar(loss, spec.weights.simkd, 'simkd_weighted');
  },
  predictor: {
    teacherLayers: (spec) => (spec.simkd ? [{ index: spec.simkd.teacherLayer, shape: spec.simkd.teacherShape }] : []),
    predict: ({ g, spec, student, teacherModel, teacherLayer }) => {
      const s = spec.simkd;
      if (!s) throw new KqkdError('config.distill.simkd', 'the SimKD teacher layer block', 'nothing');
      if (!teacherModel) throw new KqkdError('SimKD teacher model', 'the teacher ONNX model (its classifier is reused)', 'none');
      const mapIndex = student.headStartsAfter - 1;
      const layer = student.layers.find((l) => l.index === mapIndex);
      if (!layer) throw new KqkdError('student (SimKD: the map before its classifier)', `a generalized layer ${mapIndex}`, 'none');
      const studentMap: Tensor = { name: layer.tensor, shape: g.typeOf(layer.tensor).shape! };
      // The projector and teacher head are built for inference too; the MSE only when training.
      const teacherFeature = teacherLayer(s.teacherLayer, s.teacherShape);
      const r = simkd(g, studentMap, teacherFeature ?? { name: '', shape: ['N', ...s.teacherShape] },
        (x) => importSubgraph(g, teacherModel, { from: s.teacherTensor, to: s.teacherLogitsTensor, input: x, prefix: 'teacher_head' }),
        { factor: s.factor, name: 'simkd', withLoss: teacherFeature !== undefined });
      freezeUnreachable(g, [r.logits.name, ...(r.loss ? [r.loss.name] : [])]);
      return r;
    },
  },
};
