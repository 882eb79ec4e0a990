/**
 * `kqkd experiment`: teacher (imported ONNX or trained here) → Knowledge Quality of every teacher layer → layer
 * selections (rules of @kqkd/distill) → a disk-backed cache of the teacher's features and logits on the training set →
 * every method × seed as an ordinary resumable training run in `runs/<config hash>/` → `results.json`, `results.md`
 * and pictures.
 *
 * Every stage is resumable and skipped when done: the teacher run resumes/returns like any run, `kq.json` is reused
 * when it was computed for the same teacher and sample, the cache is reused when its manifest matches, and finished
 * student runs are read back, partial ones resumed. This module opens no ONNX Runtime session itself: training and
 * evaluation are @kqkd/train's, scoring @kqkd/kq's, the cache @kqkd/distill's.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import { checkOutputFolder, claimFolder, KqkdError, makeDirs, ownFolder, RunFailedError, writeFileAtomic } from '@kqkd/common';
import type { Dataset } from '@kqkd/data';
import {
  buildTeacherCache, distillationInputs, distillObjective, getMethod, needsTeacher, pairing, parseDistillSpec, predictorTerm, selectTeacherLayers,
  BASELINE_METHODS, OURS_METHOD, REFERENCE_METHOD, SELECTION_RULE_KEYS,
  type DistillSpec, type DistillSpecInput, type ScoredLayer, type SelectionContext, type TeacherCache,
} from '@kqkd/distill';
import { reportToJson, scoreModel, type ModelKqReport } from '@kqkd/kq';
import { buildZooModel } from '@kqkd/models';
import { decodeModel, readModelFile, type ModelProto } from '@kqkd/onnx';
import {
  configHash, evaluateModel, evaluationSplit, openSplits, parseTrainConfig, train, MODEL_ONNX, METRICS_JSONL, RUN_FILES,
  type ModelSpec, type TrainConfigInput, type TrainProgress, type TrainResults,
} from '@kqkd/train';
import { experimentHash, type ExperimentConfig } from './config.js';
import { methodLearningRate } from './lr-policy.js';
import { PAPER_STUDENT_LAYERS } from './presets.js';
import { computeAri, computeEfficiency, meanCurve, renderResultsMarkdown, statisticOrNone, writeExperimentPictures } from './report.js';
import {
  EXPERIMENT_RESULTS_FORMAT, EXPERIMENT_RESULTS_VERSION,
  type EpochPoint, type ExperimentResults, type KqLayerResult, type MethodResult, type MethodRun,
} from './types.js';

export const RESULTS_FILE = 'results.json';
export const RESULTS_MD = 'results.md';
export const KQ_FILE = 'kq.json';

export type ExperimentProgress =
  | { kind: 'stage'; stage: string; detail?: string }
  | { kind: 'train'; who: string; index: number; total: number; event: TrainProgress }
  | { kind: 'progress'; stage: string; done: number; total: number };

export interface RunExperimentOptions {
  config: ExperimentConfig;
  /** The experiment folder. */
  out: string;
  preset?: string;
  onProgress?: (e: ExperimentProgress) => void;
  /** Datasets instead of loading `config.dataset` (tests); limits still apply. */
  data?: { train: Dataset; test: Dataset };
  /** Intra-op threads of every ONNX Runtime session (teacher cache, KQ, training). */
  threads?: number;
  /** Stops between runs and between batches; the runs stay resumable. */
  signal?: AbortSignal;
  /** Use `out` even if it holds files kqkd did not write, or another experiment. */
  force?: boolean;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const modelTitle = (m: ModelSpec | { name: string; width?: number }) => `${m.name}${m.width && m.width !== 1 ? ` ×${m.width} width` : ''}`;

function readHistory(runDir: string): EpochPoint[] {
  const p = join(runDir, METRICS_JSONL);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => {
    const m = JSON.parse(l) as { epoch: number; testTop1: number; trainLoss: number };
    return { epoch: m.epoch, testTop1: m.testTop1, trainLoss: m.trainLoss };
  });
}

/** The training-run config of a training block of the experiment file (everything but the model and the seed). */
function runConfig(c: ExperimentConfig, t: ExperimentConfig['training'] | NonNullable<ExperimentConfig['teacher']['training']>, lr: number):
  Omit<TrainConfigInput, 'modelSpec' | 'seed' | 'runDir'> {
  return {
    dataset: c.dataset, epochs: t.epochs, batchSize: t.batchSize, evalBatchSize: t.evalBatchSize,
    optimizer: { ...t.optimizer, lr }, schedule: t.schedule, milestones: t.milestones, gamma: t.gamma,
    ...(t.oneCycle ? { oneCycle: t.oneCycle } : {}), ...(t.augment ? { augment: t.augment } : {}),
    ...(c.backend ? { backend: c.backend } : {}),
  };
}

/** Runs (or resumes, or just reports) a whole experiment. */
export async function runExperiment(o: RunExperimentOptions): Promise<ExperimentResults> {
  const c = o.config;
  const out = resolve(o.out);
  const emit = o.onProgress ?? (() => {});
  const threads = o.threads !== undefined ? { threads: o.threads } : {};
  const checkAbort = () => { if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted'); };
  const t0 = performance.now();
  const hash = experimentHash(c);
  // Inputs first (an imported teacher must be a readable ONNX model), then the folder: a refusal writes nothing.
  const imported = c.teacher.onnx ? readTeacher(c.teacher.onnx) : undefined;
  const { train: trainSet, test: evalSet } = await openSplits({ dataset: c.dataset }, o.data);
  const folder = ownFolder(out, 'out', {
    kind: 'experiment', configHash: hash, ownFiles: EXPERIMENT_FILES, ...(o.force ? { force: o.force } : {}),
    adopt: () => experimentJsonHash(out) === hash,
  });
  try {
    const results = await inFolder(o, c, out, hash, t0, imported, trainSet, evalSet, emit, threads, checkAbort);
    folder.release();
    return results;
  } catch (err) {
    if (err instanceof KqkdError && !(err instanceof RunFailedError) && !existsSync(join(out, 'experiment.json'))) folder.rollback();
    else folder.release();
    throw err;
  }
}

/** Files and folders an experiment writes in its folder. */
const EXPERIMENT_FILES = ['experiment.json', KQ_FILE, 'kq-work', 'teacher', 'teacher-cache', 'runs', RESULTS_FILE, RESULTS_MD,
  ...['kq-curves', 'training-curves', 'methods'].flatMap((n) => [`${n}.svg`, `${n}.png`])];

function experimentJsonHash(out: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8')) as { hash?: string }).hash;
  } catch {
    return undefined;
  }
}

/** An imported teacher's bytes, checked to be an ONNX model before anything is written. */
function readTeacher(path: string): Uint8Array {
  return readModelFile(path, 'teacher.onnx').bytes;
}

async function inFolder(o: RunExperimentOptions, c: ExperimentConfig, out: string, hash: string, t0: number, imported: Uint8Array | undefined,
  trainSet: Dataset, evalSet: Dataset, emit: (e: ExperimentProgress) => void, threads: { threads?: number }, checkAbort: () => void): Promise<ExperimentResults> {
  writeFileAtomic(join(out, 'experiment.json'), `${JSON.stringify({ preset: o.preset ?? null, hash, config: c }, null, 2)}\n`);
  const k = c.distill.k;
  const evaluatedOn = evaluationSplit({ dataset: c.dataset });
  const inputShape = [trainSet.channels, trainSet.height, trainSet.width];

  // ---- 1. teacher
  let teacherBytes: Uint8Array;
  let teacherTop1: number;
  let teacherTop1Best: number | null = null;
  let teacherParams: number | null = null;
  if (c.teacher.onnx && imported) {
    emit({ kind: 'stage', stage: 'teacher', detail: `importing ${c.teacher.onnx}` });
    teacherBytes = imported;
    teacherTop1 = (await evaluateModel({ model: teacherBytes, modelName: c.teacher.onnx, dataset: evalSet, ...threads, ...(o.signal ? { signal: o.signal } : {}) })).top1;
  } else {
    const tt = c.teacher.training ?? c.training;
    const teacherModel = c.teacher.model!;
    emit({ kind: 'stage', stage: 'teacher', detail: `training ${modelTitle(teacherModel)} (${tt.epochs} epochs)` });
    const r = await train({
      ...runConfig(c, tt, tt.optimizer.lr), modelSpec: teacherModel, seed: c.seed0, runDir: join(out, 'teacher'),
      ...(o.data ? { data: o.data } : {}), ...threads, ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (event) => emit({ kind: 'train', who: 'teacher', index: 0, total: 1, event }),
    });
    teacherBytes = readFileSync(join(out, 'teacher', MODEL_ONNX));
    teacherTop1 = r.top1Last;
    teacherTop1Best = r.top1Best;
    teacherParams = buildZooModel(teacherModel.name, { ...teacherModel, classes: trainSet.classes, input: inputShape, initialize: false }).params;
  }
  const teacherSha = sha256(teacherBytes);
  const teacherModel: ModelProto = decodeModel(teacherBytes, c.teacher.onnx ? `teacher.onnx "${c.teacher.onnx}"` : 'teacher model');
  const teacherLogitsTensor = teacherModel.graph!.output![0].name!;
  checkAbort();

  // ---- 2. Knowledge Quality of every teacher layer (reused when computed for this teacher and sample)
  const kqPath = join(out, KQ_FILE);
  type StoredKq = ModelKqReport & { teacherSha256?: string };
  let kq: StoredKq | undefined;
  if (existsSync(kqPath)) {
    const old = JSON.parse(readFileSync(kqPath, 'utf8')) as StoredKq;
    if (old.teacherSha256 === teacherSha && old.samples === c.kq.samples && old.subsets?.seed === c.kq.seed && old.topK === k) kq = old;
  }
  if (!kq) {
    emit({ kind: 'stage', stage: 'kq', detail: `scoring the teacher's layers on ${c.kq.samples} class-balanced training samples` });
    const report = await scoreModel({
      model: teacherBytes, dataset: trainSet, samples: c.kq.samples, seed: c.kq.seed, topK: k, workDir: join(out, 'kq-work'),
      ...(c.teacher.layerNames ? { layers: c.teacher.layerNames } : {}), ...(o.threads !== undefined ? { inferenceThreads: o.threads } : {}),
      onProgress: (e) => emit({ kind: 'progress', stage: `kq: ${e.stage}`, done: e.done, total: e.total }),
    });
    rmSync(join(out, 'kq-work'), { recursive: true, force: true });
    const json = reportToJson(report);
    writeFileAtomic(kqPath, `${JSON.stringify({ ...JSON.parse(json), teacherSha256: teacherSha }, null, 2)}\n`);
    // The report as it is stored (NaN as null), so a fresh run and a reused kq.json select the very same layers.
    kq = { ...JSON.parse(json), teacherSha256: teacherSha } as StoredKq;
  }
  const headStartsAfter = kq.model.headStartsAfter;
  const nullable = (v: number | null | undefined): number => (v === null || v === undefined ? NaN : v);
  // Candidates: the backbone's layers, the Flatten included (the paper's VGG19 Tiny ImageNet choice is its Flatten).
  const candidates: ScoredLayer[] = kq.layers.filter((l) => l.index <= headStartsAfter)
    .map((l) => ({ index: l.index, S: nullable(l.S), I: nullable(l.I), E: nullable(l.E), Q: nullable(l.Q) }));
  const context: SelectionContext = {
    layers: candidates, headStartsAfter, k,
    configured: {
      ...(c.teacher.baselineLayers ? { baseline: c.teacher.baselineLayers } : {}), ...(c.teacher.paperLayers ? { paper: c.teacher.paperLayers } : {}),
    },
  };
  const oursRule = c.distill.selection ?? 'kq';
  const ruleOf = (method: string): string | undefined => (method === OURS_METHOD ? oursRule : getMethod(method).layers);
  const selections: Record<string, number[]> = {};
  for (const rule of SELECTION_RULE_KEYS) {
    if (rule === 'paper' && !c.teacher.paperLayers) continue;
    selections[rule] = selectTeacherLayers(rule, context);
  }
  const teacherLayer = (index: number) => {
    const l = kq!.layers.find((x) => x.index === index);
    if (!l) throw new KqkdError('teacher layer', `one of the teacher's generalized layers 0…${kq!.layers.length - 1}`, String(index));
    return l;
  };
  emit({ kind: 'stage', stage: 'selection', detail: `${oursRule} selects teacher layers ${selections[oursRule].join(', ')} (baselines: ${selections.baseline.join(', ')})` });

  // ---- 3. student layers (a zero-initialised build: shapes and taps only)
  const student = buildZooModel(c.student.model.name, { ...c.student.model, classes: trainSet.classes, input: inputShape, initialize: false });
  const studentLayers = c.student.layers ?? (PAPER_STUDENT_LAYERS[student.name] ? [...PAPER_STUDENT_LAYERS[student.name]]
    : selectTeacherLayers('baseline', { layers: student.layers.map((l) => ({ index: l.index, S: NaN, I: NaN, E: NaN, Q: NaN })), headStartsAfter: student.headStartsAfter, k }));
  for (const s of studentLayers) {
    if (!student.layers.some((l) => l.index === s)) {
      throw new KqkdError('student.layers', `generalized layers of ${student.name} (0…${student.layers.length - 1})`, String(s));
    }
  }

  // ---- 4. the distillation spec of every method
  const simkdLayer = headStartsAfter - 1;
  const specOf = (key: string): DistillSpec | undefined => {
    const m = getMethod(key);
    if (!needsTeacher(m)) return undefined;
    const base = {
      method: key, teacherSha256: teacherSha, teacherClasses: trainSet.classes, projector: c.distill.projector,
      temperature: c.distill.temperature, weights: c.distill.weights,
    };
    let spec: DistillSpecInput = base;
    if (predictorTerm(m)) {
      // SimKD: the teacher's map before its classifier, whose classifier the student reuses.
      const l = teacherLayer(simkdLayer);
      spec = { ...base, simkd: { teacherLayer: simkdLayer, teacherShape: l.sampleShape, teacherTensor: l.name, teacherLogitsTensor, factor: 2 } };
    } else if (pairing(m) !== 'none') {
      const layers = selections[ruleOf(key)!];
      // One pair per student layer, in depth order (SemCKD's attention still lets each student layer look at every
      // teacher layer; SP reads only the deepest pair, distill-graph.ts).
      const pairs = studentLayers.map((s, i) => {
        const t = layers[i] ?? layers[layers.length - 1];
        return { student: s, teacher: t, teacherShape: teacherLayer(t).sampleShape };
      });
      // The spec carries only the pairs the terms read, so the teacher inputs fed are the ones the graph reads and
      // results.json reports the layers actually used.
      spec = { ...base, pairs: pairing(m) === 'deepest' ? pairs.slice(-1) : pairs };
    }
    return parseDistillSpec(spec, `experiment method ${key}`);
  };
  const specs = new Map(c.methods.map((key) => [key, specOf(key)]));

  // ---- 5. teacher cache: every teacher layer any method reads, and the logits
  const cachedTensors = new Map<string, string>(); // graph input name → teacher tensor
  for (const spec of specs.values()) {
    if (!spec) continue;
    for (const input of distillationInputs(spec)) {
      cachedTensors.set(input.name, input.layer === 'logits' ? teacherLogitsTensor : teacherLayer(input.layer).name);
    }
  }
  let cache: TeacherCache | undefined;
  if (cachedTensors.size > 0) {
    // Room for the cache before it is built (a full disk found halfway wastes the forward pass).
    const floats = [...new Set(cachedTensors.values())].reduce((sum, tensor) => {
      const l = kq!.layers.find((x) => x.name === tensor);
      return sum + (l ? l.sampleShape.reduce((p, d) => p * d, 1) : trainSet.classes);
    }, 0);
    if (!existsSync(join(out, 'teacher-cache', 'manifest.json'))) checkOutputFolder(out, 'out', { needBytes: floats * 4 * trainSet.count });
    emit({ kind: 'stage', stage: 'teacher cache', detail: `${cachedTensors.size} teacher tensors × ${trainSet.count} training samples` });
    cache = await buildTeacherCache({
      model: teacherBytes, layers: [...new Set(cachedTensors.values())], dataset: trainSet, batchSize: 250, dir: join(out, 'teacher-cache'),
      ...threads, onProgress: (p) => emit({ kind: 'progress', stage: 'teacher cache', done: p.done, total: p.total }),
    });
  }
  const buffers = new Map<string, Float32Array>();
  const feeds = (names: readonly string[]) => (indices: readonly number[]) => Object.fromEntries(names.map((name) => {
    const tensor = cachedTensors.get(name)!;
    const layer = cache!.layers.find((l) => l.name === tensor)!;
    let buf = buffers.get(name);
    if (!buf || buf.length < indices.length * layer.rowFloats) {
      buf = new Float32Array(indices.length * layer.rowFloats);
      buffers.set(name, buf);
    }
    return [name, cache!.read(tensor, indices, buf)];
  }));

  // ---- 6. students: methods × seeds
  const runsDir = join(out, 'runs');
  makeDirs(runsDir, 'out');
  const total = c.methods.length * c.seeds;
  const methods: Record<string, MethodResult> = {};
  let index = 0;
  try {
    for (const key of c.methods) {
      const m = getMethod(key);
      const spec = specs.get(key);
      const peakLr = methodLearningRate({
        method: key, student: c.student.model.name, sharedLr: c.training.optimizer.lr, policy: c.training.lrPolicy, ...(c.training.methodLr ? { methodLr: c.training.methodLr } : {}),
      });
      const objective = spec
        ? distillObjective(spec, { feeds: feeds(distillationInputs(spec).map((i) => i.name)), model: teacherModel })
        : undefined;
      const runs: MethodRun[] = [];
      for (let s = 0; s < c.seeds; s++) {
        checkAbort();
        const seed = c.seed0 + s;
        const base: TrainConfigInput = { ...runConfig(c, c.training, peakLr), modelSpec: c.student.model, seed, runDir: '.' };
        const parsed = parseTrainConfig(base);
        const hash = configHash(parsed, objective);
        const runDir = join(runsDir, hash);
        // The run folder is the training run's (kind train, this hash), claimed before run.json goes in.
        makeDirs(runDir, 'out');
        claimFolder(runDir, 'out', { kind: 'train', configHash: hash, ownFiles: RUN_FILES, adopt: () => existsSync(join(runDir, 'run.json')) });
        writeFileAtomic(join(runDir, 'run.json'), `${JSON.stringify({ method: key, seed, configHash: hash, config: { ...parsed, runDir, ...(spec ? { distill: spec } : {}) } }, null, 2)}\n`);
        const who = `${key} seed ${seed}`;
        const log = join(runDir, 'log.txt');
        let r: TrainResults;
        try {
          r = await train({
          ...base, runDir, ...(o.data ? { data: o.data } : {}), ...(objective ? { objective } : {}), ...threads,
          ...(o.signal ? { signal: o.signal } : {}),
          onProgress: (event) => {
            if (event.kind === 'epoch') {
              appendFileSync(log, `${new Date().toISOString()} epoch ${event.metrics.epoch}: train loss ${event.metrics.trainLoss.toFixed(4)}, ${evaluatedOn} top-1 ${event.metrics.testTop1.toFixed(2)}%\n`);
            } else if (event.kind === 'start') {
              appendFileSync(log, `${new Date().toISOString()} ${event.resumed ? `resumed at epoch ${event.fromEpoch}` : 'started'} (${who})\n`);
            }
            emit({ kind: 'train', who, index, total, event });
          },
          });
        } catch (err) {
          // A run that failed (diverged) is recorded and the others go on; anything else stops the experiment.
          if (!(err instanceof RunFailedError)) throw err;
          appendFileSync(log, `${new Date().toISOString()} failed: ${err.message}\n`);
          emit({ kind: 'stage', stage: 'run failed', detail: `${who}: ${err.message}` });
          index++;
          runs.push({ seed, runDir: relative(out, runDir), configHash: hash, failed: err.message, history: readHistory(runDir) });
          continue;
        }
        index++;
        runs.push({
          seed, runDir: relative(out, runDir), configHash: hash, top1Best: r.top1Best, bestEpoch: r.bestEpoch, top1Last: r.top1Last,
          seconds: r.seconds, history: readHistory(runDir),
        });
      }
      const finished = runs.filter((r) => !r.failed);
      methods[key] = {
        key, title: m.title, peakLr,
        layerRule: spec?.pairs.length ? ruleOf(key)! : null,
        teacherLayers: spec?.pairs.length ? spec.pairs.map((p) => p.teacher) : spec?.simkd ? [spec.simkd.teacherLayer] : null,
        studentLayers: spec?.pairs.length ? spec.pairs.map((p) => p.student) : null,
        top1Best: statisticOrNone(finished.map((r) => r.top1Best!)), top1Last: statisticOrNone(finished.map((r) => r.top1Last!)), runs, curve: meanCurve(finished),
      };
    }
  } finally {
    cache?.close();
  }

  // ---- 7. results, report, pictures
  const kqLayers: KqLayerResult[] = kq.layers.map((l) => ({
    index: l.index, name: l.name, shape: l.sampleShape, S: l.S ?? null, I: l.I ?? null, E: l.E ?? null, Q: l.Q ?? null,
    selected: selections[oursRule].includes(l.index),
  }));
  const results: ExperimentResults = {
    format: EXPERIMENT_RESULTS_FORMAT, version: EXPERIMENT_RESULTS_VERSION, preset: o.preset ?? null, configHash: experimentHash(c),
    dataset: { name: c.dataset.name, trainCount: trainSet.count, testCount: evalSet.count, classes: trainSet.classes, evaluatedOn },
    teacher: {
      model: c.teacher.onnx ?? modelTitle(c.teacher.model!),
      source: c.teacher.onnx ? 'imported' : 'trained', top1: teacherTop1, top1Best: teacherTop1Best, parameters: teacherParams,
    },
    student: { model: modelTitle(c.student.model), parameters: student.params },
    selectedTeacherLayers: selections[oursRule], selectionRule: oursRule, layerSelections: selections, studentLayers,
    kq: { topK: k, samples: kq.samples, layers: kqLayers },
    lrPolicy: c.training.lrPolicy,
    methods,
    ari: computeAri(methods, { ours: OURS_METHOD, reference: REFERENCE_METHOD, baselines: BASELINE_METHODS }),
    efficiency: computeEfficiency(methods, { ours: OURS_METHOD, baselines: BASELINE_METHODS }),
    pictures: {},
    accuracy: `${evaluatedOn === 'test' ? 'test' : 'validation (held-out training images)'} top-1 in percent; top1Best = best epoch of a run, top1Last = its last epoch; mean ± sample std (n − 1) over seeds`,
    seconds: (performance.now() - t0) / 1000,
    ...(c.teacher.paperLayers ? { paperTeacherLayers: c.teacher.paperLayers } : {}),
  };
  emit({ kind: 'stage', stage: 'report', detail: 'results.json, results.md, pictures' });
  results.pictures = await writeExperimentPictures(results, out);
  writeFileAtomic(join(out, RESULTS_FILE), `${JSON.stringify(results, null, 2)}\n`);
  writeFileAtomic(join(out, RESULTS_MD), renderResultsMarkdown(results));
  const failed = Object.values(methods).flatMap((m) => m.runs.filter((r) => r.failed).map((r) => `${m.key} seed ${r.seed}`));
  if (failed.length > 0) {
    throw new RunFailedError('experiment runs', 'every run to finish', `${failed.length} failed: ${failed.join(', ')}`,
      `the other runs finished; ${RESULTS_FILE} and ${RESULTS_MD} report the failures (runs/<hash>/log.txt says why)`);
  }
  return results;
}
