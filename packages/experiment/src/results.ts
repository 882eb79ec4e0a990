/**
 * The experiment's outcome from its prepared parts and its student runs: results.json, results.md and the pictures.
 * A local run and a queue's coordinator both end here, so they write the same files.
 */
import { join } from 'node:path';
import { RunFailedError, writeFileAtomic } from '@kqkd/common';
import { getMethod, layerRuleOf, BASELINE_METHODS, OURS_METHOD, REFERENCE_METHOD } from '@kqkd/distill';
import { experimentHash } from './config.js';
import type { PreparedExperiment } from './prepare.js';
import { computeAri, computeEfficiency, meanCurve, renderResultsMarkdown, statisticOrNone, writeExperimentPictures } from './report.js';
import { peakLearningRateWithSource } from './student-run.js';
import {
  EXPERIMENT_RESULTS_FORMAT, EXPERIMENT_RESULTS_VERSION, type ExperimentResults, type KqLayerResult, type MethodResult, type MethodRun,
  type MethodTuning, type TuningSummary,
} from './types.js';

export const RESULTS_FILE = 'results.json';
export const RESULTS_MD = 'results.md';

const modelTitle = (m: { name: string; width?: number }) => `${m.name}${m.width && m.width !== 1 ? ` ×${m.width} width` : ''}`;

/** One method's summary over its seeds (failed runs are listed and left out of the statistics). */
export function methodResult(prep: PreparedExperiment, key: string, runs: MethodRun[], tuning?: MethodTuning): MethodResult {
  const spec = prep.specs.get(key);
  const finished = runs.filter((r) => !r.failed);
  const lr = tuning ? { lr: tuning.lr, source: 'tuning' as const } : peakLearningRateWithSource(prep, key);
  return {
    key, title: getMethod(key).title, peakLr: lr.lr, lrSource: lr.source, ...(tuning ? { tuning } : {}),
    layerRule: spec?.pairs.length ? layerRuleOf(key, prep.oursRule)! : null,
    teacherLayers: spec?.pairs.length ? spec.pairs.map((p) => p.teacher) : spec?.simkd ? [spec.simkd.teacherLayer] : null,
    studentLayers: spec?.pairs.length ? spec.pairs.map((p) => p.student) : null,
    top1Best: statisticOrNone(finished.map((r) => r.top1Best!)), top1Last: statisticOrNone(finished.map((r) => r.top1Last!)), runs,
    curve: meanCurve(finished),
  };
}

/** The results of the experiment from every method's runs. */
export function experimentResults(prep: PreparedExperiment, runsByMethod: Map<string, MethodRun[]>,
  o: { preset?: string; seconds: number; tuning?: { methods: Record<string, MethodTuning>; summary: TuningSummary } }): ExperimentResults {
  const c = prep.config;
  const ours = prep.selections[prep.oursRule];
  const methods: Record<string, MethodResult> = {};
  for (const key of c.methods) methods[key] = methodResult(prep, key, runsByMethod.get(key) ?? [], o.tuning?.methods[key]);
  const kqLayers: KqLayerResult[] = prep.kq.layers.map((l) => ({
    index: l.index, name: l.name, shape: l.sampleShape, S: l.S ?? null, I: l.I ?? null, E: l.E ?? null, Q: l.Q ?? null, selected: ours.includes(l.index),
  }));
  return {
    format: EXPERIMENT_RESULTS_FORMAT, version: EXPERIMENT_RESULTS_VERSION, preset: o.preset ?? null, configHash: experimentHash(c),
    dataset: { name: c.dataset.name, trainCount: prep.trainSet.count, testCount: prep.evalSet.count, classes: prep.trainSet.classes, evaluatedOn: prep.evaluatedOn },
    teacher: {
      model: c.teacher.onnx ?? modelTitle(c.teacher.model!),
      source: c.teacher.onnx ? 'imported' : 'trained', top1: prep.teacher.top1 ?? NaN, top1Best: prep.teacher.top1Best, parameters: prep.teacher.parameters,
    },
    student: { model: modelTitle(c.student.model), parameters: prep.studentParameters },
    selectedTeacherLayers: ours, selectionRule: prep.oursRule, layerSelections: prep.selections, studentLayers: prep.studentLayers,
    kq: { topK: c.distill.k, samples: prep.kq.samples, layers: kqLayers },
    lrPolicy: c.tuning ? 'tuning' : c.training.lrPolicy,
    ...(c.training.lrSource !== undefined ? { lrSource: c.training.lrSource } : {}),
    ...(o.tuning ? { tuning: o.tuning.summary } : {}),
    methods,
    ari: computeAri(methods, { ours: OURS_METHOD, reference: REFERENCE_METHOD, baselines: BASELINE_METHODS }),
    efficiency: computeEfficiency(methods, { ours: OURS_METHOD, baselines: BASELINE_METHODS }),
    pictures: {},
    accuracy: `${prep.evaluatedOn === 'test' ? 'test' : 'validation (held-out training images)'} top-1 in percent; top1Best = best epoch of a run, top1Last = its last epoch; mean ± sample std (n − 1) over seeds`,
    seconds: o.seconds,
    ...(c.teacher.paperLayers ? { paperTeacherLayers: c.teacher.paperLayers } : {}),
  };
}

/**
 * Writes results.json, results.md and the pictures in the experiment folder; then, when runs failed, throws a
 * RunFailedError naming them (the files report them too).
 */
export async function writeExperimentResults(prep: PreparedExperiment, results: ExperimentResults): Promise<ExperimentResults> {
  results.pictures = await writeExperimentPictures(results, prep.out);
  writeFileAtomic(join(prep.out, RESULTS_FILE), `${JSON.stringify(results, null, 2)}\n`);
  writeFileAtomic(join(prep.out, RESULTS_MD), renderResultsMarkdown(results));
  const failed = Object.values(results.methods).flatMap((m) => m.runs.filter((r) => r.failed).map((r) => `${m.key} seed ${r.seed}`));
  if (failed.length > 0) {
    throw new RunFailedError('experiment runs', 'every run to finish', `${failed.length} failed: ${failed.join(', ')}`,
      `the other runs finished; ${RESULTS_FILE} and ${RESULTS_MD} report the failures (runs/<hash>/log.txt says why)`);
  }
  return results;
}
