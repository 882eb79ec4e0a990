/**
 * Everything the student runs of an experiment share, prepared once in the experiment folder: the teacher (imported —
 * a copy is kept in the folder — or trained here), the Knowledge Quality of its layers (`kq.json`), the teacher layers
 * of every selection rule, the distillation spec of every method, and the disk-backed cache of the teacher's
 * features. `prepareExperiment` computes what is missing (a local run, or the coordinator of a queued one);
 * `openExperiment` only reads it back (a worker on another machine, the folder on a shared file system).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { checkOutputFolder, KqkdError, writeFileAtomic } from '@kqkd/common';
import type { Dataset } from '@kqkd/data';
import {
  buildTeacherCache, distillationInputs, getMethod, needsTeacher, openTeacherCache, pairing, parseDistillSpec, predictorTerm, selectTeacherLayers,
  layerRuleOf, SELECTION_RULE_KEYS, type DistillSpec, type DistillSpecInput, type ScoredLayer, type SelectionContext, type TeacherCache,
} from '@kqkd/distill';
import { reportToJson, scoreModel, type ModelKqReport } from '@kqkd/kq';
import { buildZooModel } from '@kqkd/models';
import { checkClassifier, decodeModel, findGeneralizedLayers, GraphBuilder, readModelFile, withGeneralizedLayers, type ModelProto, countParameters } from '@kqkd/onnx';
import { evaluateModel, evaluationSplit, onnxStudent, openSplits, train, MODEL_ONNX, type ExtraFeeds, type ModelSpec, type TrainConfigInput, type TrainProgress } from '@kqkd/train';
import { experimentHash, type ExperimentConfig } from './config.js';
import { PAPER_STUDENT_LAYERS } from './presets.js';

export const KQ_FILE = 'kq.json';
export const EXPERIMENT_JSON = 'experiment.json';
/** The imported teacher's copy in the experiment folder (so workers elsewhere read the same model). */
export const IMPORTED_TEACHER = 'teacher.onnx';
export const TEACHER_CACHE_DIR = 'teacher-cache';

export type ExperimentProgress =
  | { kind: 'stage'; stage: string; detail?: string }
  | { kind: 'train'; who: string; index: number; total: number; event: TrainProgress }
  | { kind: 'progress'; stage: string; done: number; total: number }
  /** A queued experiment (@kqkd/queue): how its runs stand, and who runs what. */
  | { kind: 'queue'; total: number; waiting: number; active: number; done: number; failed: number; running: { who: string; worker: string; epoch: number; epochs: number }[] };

type StoredKq = ModelKqReport & { teacherSha256?: string };

export interface PreparedExperiment {
  out: string;
  config: ExperimentConfig;
  hash: string;
  trainSet: Dataset;
  /** What the final runs and the teacher are evaluated on (`evaluatedOn`). */
  evalSet: Dataset;
  evaluatedOn: 'test' | 'validation';
  /** The dataset block of the final runs (tuning runs: `tuningDataset`). */
  finalDataset: ExperimentConfig['dataset'];
  /** Held-out images the tuning runs are scored on (null without a tuning block). */
  validationCount: number | null;
  teacher: {
    model: ModelProto; sha256: string; logitsTensor: string;
    /** Evaluation top-1 (null when the experiment was opened by a worker, which does not evaluate it). */
    top1: number | null; top1Best: number | null; parameters: number | null;
  };
  kq: StoredKq;
  /** Teacher layers by every rule; `oursRule` picks Ours' (fkd-kq). */
  selections: Record<string, number[]>;
  oursRule: string;
  studentLayers: number[];
  studentParameters: number;
  /** The distillation spec of each method (undefined: the student alone). */
  specs: Map<string, DistillSpec | undefined>;
  /** Graph input name → teacher tensor, for every input any method reads. */
  cachedTensors: Map<string, string>;
  cache?: TeacherCache;
  /** The rows of these graph inputs for a batch of training-sample indices, from the cache. */
  feeds(names: readonly string[]): (indices: readonly number[]) => ExtraFeeds;
  /** Closes the cache. */
  close(): void;
}

export interface PrepareOptions {
  config: ExperimentConfig;
  out: string;
  preset?: string;
  /** Datasets instead of loading `config.dataset` (tests); limits still apply. */
  data?: { train: Dataset; test: Dataset };
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (e: ExperimentProgress) => void;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * An ONNX student (model { name: "onnx", file }) as the student's build is used here: its name (the file's), the
 * replayed inference model carrying the importer's generalized layers, and its parameter count.
 */
function onnxStudentListing(spec: ModelSpec, classes: number, input: readonly number[]): { name: string; model: ModelProto; params: number } {
  const s = onnxStudent(spec);
  const g = new GraphBuilder({ name: 'onnx_student' });
  const built = s.build(g, g.input('input', ['N', ...input]), { classes });
  g.output(built.logits, 'logits');
  return { name: s.name, model: withGeneralizedLayers(g.build(), { layers: built.layers, headStartsAfter: built.headStartsAfter }), params: s.info.params };
}
const modelTitle = (m: { name: string; width?: number }) => `${m.name}${m.width && m.width !== 1 ? ` ×${m.width} width` : ''}`;
const nullable = (v: number | null | undefined): number => (v === null || v === undefined ? NaN : v);

/** The training-run config of a training block of the experiment file (everything but the model and the seed). */
export function runConfig(c: ExperimentConfig, t: ExperimentConfig['training'] | NonNullable<ExperimentConfig['teacher']['training']>, lr: number):
  Omit<TrainConfigInput, 'modelSpec' | 'seed' | 'runDir'> {
  return {
    dataset: c.dataset, epochs: t.epochs, batchSize: t.batchSize, evalBatchSize: t.evalBatchSize,
    optimizer: { ...t.optimizer, lr }, schedule: t.schedule, milestones: t.milestones, gamma: t.gamma,
    ...(t.oneCycle ? { oneCycle: t.oneCycle } : {}), ...(t.augment ? { augment: t.augment } : {}),
    ...(c.backend ? { backend: c.backend } : {}),
  };
}

/**
 * The dataset block of a tuning run: the experiment's, trained on its training part and evaluated on its validation
 * images (a test limit is for the final runs).
 */
export function tuningDataset(c: ExperimentConfig): ExperimentConfig['dataset'] {
  const { testLimit: _t, ...d } = c.dataset;
  return d;
}

/** The final runs of a tuned experiment: the same training images as the tuning runs, evaluated on the test split. */
function finalDatasetOf(c: ExperimentConfig, trainCount: number): ExperimentConfig['dataset'] {
  const { validation: _v, ...d } = c.dataset;
  return { ...d, trainLimit: trainCount };
}

/** An imported teacher's bytes, checked to be an ONNX model before anything is written. */
export function readTeacher(path: string): Uint8Array {
  return readModelFile(path, 'teacher.onnx').bytes;
}

/**
 * Computes (or reuses) the shared parts in `out`, which the caller owns (locked, claimed): writes experiment.json,
 * the teacher, kq.json and the teacher cache. `imported` is the imported teacher's bytes when there is one.
 */
export async function prepareExperiment(o: PrepareOptions, imported?: Uint8Array): Promise<PreparedExperiment> {
  return prepare(o, 'build', imported);
}

/**
 * Reads back what `prepareExperiment` wrote in `out` (a worker): nothing is computed or written; a missing or stale part
 * is an error naming it.
 */
export async function openExperiment(o: PrepareOptions): Promise<PreparedExperiment> {
  return prepare(o, 'open');
}

async function prepare(o: PrepareOptions, mode: 'build' | 'open', imported?: Uint8Array): Promise<PreparedExperiment> {
  const c = o.config;
  const out = o.out;
  const hash = experimentHash(c);
  const { splits, trainSet, finalDataset, evalSet, evaluatedOn } = await experimentData(o);
  const ctx: PrepareContext = {
    o, c, out, mode, emit: o.onProgress ?? (() => {}), threads: o.threads !== undefined ? { threads: o.threads } : {},
    trainSet, evalSet, inputShape: [trainSet.channels, trainSet.height, trainSet.width],
  };

  // ---- 0. the student's layers first: a student that cannot be paired is refused before the teacher is trained
  const { student, studentLayers } = studentOf(ctx);
  // ---- pre-flight: everything that can be refused is refused before anything is written (run.ts rolls the folder
  // back): the imported teacher's signature and weights, batch sizes against the training set
  if (mode === 'build') preflight(c, trainSet, imported);
  // Written once the inputs are known good: a refusal before this leaves the folder as it was (run.ts).
  // An imported teacher is evaluated first (NaN or Infinity logits are refused there, leaving nothing); a teacher
  // trained here needs the file before its long run, so that a resumed experiment adopts its own folder.
  const writeExperimentJson = () => writeFileAtomic(join(out, EXPERIMENT_JSON), `${JSON.stringify({ preset: o.preset ?? null, hash, config: c }, null, 2)}\n`);
  if (mode === 'build' && !c.teacher.onnx) writeExperimentJson();

  // ---- 1. teacher
  const got = c.teacher.onnx ? await importedTeacher(ctx, writeExperimentJson, imported) : await trainedTeacher(ctx);
  const teacherBytes = got.bytes;
  const teacherSha = sha256(teacherBytes);
  const teacherModel = decodeModel(teacherBytes, c.teacher.onnx ? `teacher.onnx "${c.teacher.onnx}"` : 'teacher model');
  const parameters = got.parameters ?? countParameters(teacherModel);
  const logitsTensor = teacherModel.graph!.output![0].name!;
  if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');

  // ---- 2. Knowledge Quality of every teacher layer (reused when computed for this teacher and sample)
  const scored = await teacherKq(ctx, teacherBytes, teacherSha);

  // ---- 3. the teacher layers of every rule, the student's layers
  const oursRule = c.distill.selection;
  const selections = selectionsOf(c, scored);
  const teacherLayer = teacherLayerOf(scored);
  if (mode === 'build') {
    emit(ctx, { kind: 'stage', stage: 'selection', detail: `${oursRule} selects teacher layers ${selections[oursRule].join(', ')} (baselines: ${selections.baseline.join(', ')})` });
  }
  // ---- 4. the distillation spec of every method
  const specOf = distillSpecOf({ c, trainSet, scored, selections, studentLayers, teacherSha, logitsTensor, teacherLayer });
  const specs = new Map(c.methods.map((key) => [key, specOf(key)]));

  // ---- 5. teacher cache: every teacher layer any method reads, and the logits
  const cachedTensors = new Map<string, string>();
  for (const spec of specs.values()) {
    if (!spec) continue;
    for (const input of distillationInputs(spec)) cachedTensors.set(input.name, input.layer === 'logits' ? logitsTensor : teacherLayer(input.layer).name);
  }
  const cache = await teacherCacheOf(ctx, cachedTensors, scored, teacherBytes, teacherSha);

  return {
    out, config: c, hash, trainSet, evalSet, evaluatedOn, finalDataset, validationCount: c.tuning ? splits.test.count : null,
    teacher: { model: teacherModel, sha256: teacherSha, logitsTensor, top1: got.top1, top1Best: got.top1Best, parameters },
    kq: scored, selections, oursRule, studentLayers, studentParameters: student.params, specs, cachedTensors,
    ...(cache ? { cache } : {}), feeds: cacheFeeds(cachedTensors, cache), close: () => cache?.close(),
  };
}

/** What every phase of `prepare` reads. */
interface PrepareContext {
  o: PrepareOptions;
  c: ExperimentConfig;
  out: string;
  mode: 'build' | 'open';
  emit: (e: ExperimentProgress) => void;
  threads: { threads?: number };
  trainSet: Dataset;
  evalSet: Dataset;
  inputShape: number[];
}

const emit = (ctx: PrepareContext, e: ExperimentProgress) => ctx.emit(e);
const signalOf = (o: PrepareOptions) => (o.signal ? { signal: o.signal } : {});

/** A part a worker expects the coordinator to have prepared, missing. */
const missing = (out: string, what: string) => new KqkdError(`experiment folder "${out}"`, `${what}, prepared by the coordinator`, 'nothing',
  'start the experiment with --queue first; workers only run students');

/**
 * The training set and the evaluation set. A tuned experiment trains on the training part, chooses its rates on the
 * validation images and reports its final runs on the test split; the others evaluate where their dataset block says.
 */
async function experimentData(o: PrepareOptions) {
  const c = o.config;
  const splits = await openSplits({ dataset: c.dataset }, o.data);
  const trainSet = splits.train;
  const finalDataset = c.tuning ? finalDatasetOf(c, trainSet.count) : c.dataset;
  const evalSet = c.tuning ? (await openSplits({ dataset: finalDataset }, o.data)).test : splits.test;
  const evaluatedOn = evaluationSplit({ dataset: finalDataset });
  return { splits, trainSet, finalDataset, evalSet, evaluatedOn };
}

/** The student (a zero-initialised build: shapes and taps only) and its distilled layers, checked to exist. */
function studentOf({ c, trainSet, inputShape }: PrepareContext): { student: { name: string; model: ModelProto; params: number }; studentLayers: number[] } {
  const k = c.distill.k;
  const student = c.student.model.name === 'onnx' ? onnxStudentListing(c.student.model, trainSet.classes, inputShape)
    : buildZooModel(c.student.model.name, { ...c.student.model, classes: trainSet.classes, input: inputShape, initialize: false });
  // The student's generalized layers come from the same finder as the teacher's (@kqkd/onnx: the model's declared
  // list first, then structure), so a student from anywhere pairs by the same rule; for the zoo it returns the
  // paper's lists (packages/models/test/zoo.test.ts).
  const studentFound = findGeneralizedLayers(student.model);
  const studentLayers = c.student.layers ?? (PAPER_STUDENT_LAYERS[student.name] ? [...PAPER_STUDENT_LAYERS[student.name]]
    : selectTeacherLayers('baseline', { layers: studentFound.layers.map((l) => ({ index: l.index, S: NaN, I: NaN, E: NaN, Q: NaN })), headStartsAfter: studentFound.headStartsAfter, k }));
  for (const s of studentLayers) {
    if (!studentFound.layers.some((l) => l.index === s)) {
      throw new KqkdError('student.layers', `generalized layers of ${student.name} (0…${studentFound.layers.length - 1})`, String(s));
    }
  }
  return { student, studentLayers };
}

/** Refuses, before anything is written, an imported teacher that is not a classifier of the data and batch sizes larger than the training set. */
function preflight(c: ExperimentConfig, trainSet: Dataset, imported: Uint8Array | undefined): void {
  const data = { name: trainSet.name, channels: trainSet.channels, height: trainSet.height, width: trainSet.width, classes: trainSet.classes };
  if (c.teacher.onnx) checkClassifier(decodeModel(imported ?? readTeacher(c.teacher.onnx), `teacher.onnx "${c.teacher.onnx}"`), `teacher.onnx "${c.teacher.onnx}"`, data);
  const batches: [string, number][] = [['experiment.training.batchSize', c.training.batchSize]];
  if (!c.teacher.onnx) batches.push(['experiment.teacher.training.batchSize', (c.teacher.training ?? c.training).batchSize]);
  for (const [field, b] of batches) {
    if (b > trainSet.count) {
      throw new KqkdError(field, `at most the ${trainSet.count} training images (${c.dataset.name}${c.dataset.trainLimit !== undefined ? `, trainLimit ${c.dataset.trainLimit}` : ''}${c.dataset.validation !== undefined ? `, ${c.dataset.validation} held out` : ''})`, String(b));
    }
  }
}

interface TeacherGot { bytes: Uint8Array; top1: number | null; top1Best: number | null; parameters: number | null }

/** An imported teacher: evaluated and copied into the folder (build), or read back from its copy (open). */
async function importedTeacher(ctx: PrepareContext, writeExperimentJson: () => void, imported: Uint8Array | undefined): Promise<TeacherGot> {
  const { c, o, out } = ctx;
  const copy = join(out, IMPORTED_TEACHER);
  if (ctx.mode === 'open') {
    if (!existsSync(copy)) throw missing(out, `the imported teacher's copy ${IMPORTED_TEACHER}`);
    return { bytes: readFileSync(copy), top1: null, top1Best: null, parameters: null };
  }
  emit(ctx, { kind: 'stage', stage: 'teacher', detail: `importing ${c.teacher.onnx}` });
  const bytes = imported ?? readTeacher(c.teacher.onnx!);
  const top1 = (await evaluateModel({ model: bytes, modelName: `teacher.onnx "${c.teacher.onnx}"`, dataset: ctx.evalSet, ...ctx.threads, ...signalOf(o) })).top1;
  writeExperimentJson();
  if (!existsSync(copy) || sha256(readFileSync(copy)) !== sha256(bytes)) writeFileAtomic(copy, bytes);
  return { bytes, top1, top1Best: null, parameters: null };
}

/** A teacher trained here (build) or read back from its run folder (open). */
async function trainedTeacher(ctx: PrepareContext): Promise<TeacherGot> {
  const { c, o, out, mode } = ctx;
  const tt = c.teacher.training ?? c.training;
  const model = c.teacher.model!;
  const path = join(out, 'teacher', MODEL_ONNX);
  let top1: number | null = null;
  let top1Best: number | null = null;
  if (mode === 'build') {
    emit(ctx, { kind: 'stage', stage: 'teacher', detail: `training ${modelTitle(model)} (${tt.epochs} epochs)` });
    const r = await train({
      ...runConfig(c, tt, tt.optimizer.lr), modelSpec: model, seed: c.seed0, runDir: join(out, 'teacher'),
      ...(o.data ? { data: o.data } : {}), ...ctx.threads, ...signalOf(o),
      onProgress: (event) => emit(ctx, { kind: 'train', who: 'teacher', index: 0, total: 1, event }),
    });
    top1 = r.top1Last;
    top1Best = r.top1Best;
  } else if (!existsSync(path)) {
    throw missing(out, `the trained teacher ${join('teacher', MODEL_ONNX)}`);
  }
  const bytes = readFileSync(path);
  // Trained on the training part and evaluated on the validation images; a tuned experiment reports the test split.
  if (c.tuning && mode === 'build') {
    top1 = (await evaluateModel({ model: bytes, modelName: 'teacher', dataset: ctx.evalSet, ...ctx.threads, ...signalOf(o) })).top1;
    top1Best = null;
  }
  const parameters = buildZooModel(model.name, { ...model, classes: ctx.trainSet.classes, input: ctx.inputShape, initialize: false }).params;
  return { bytes, top1, top1Best, parameters };
}

/** kq.json: reused when computed for this teacher and sample, else scored (build) or refused (open). */
async function teacherKq(ctx: PrepareContext, teacherBytes: Uint8Array, teacherSha: string): Promise<StoredKq> {
  const { c, o, out } = ctx;
  const k = c.distill.k;
  const kqPath = join(out, KQ_FILE);
  if (existsSync(kqPath)) {
    const old = JSON.parse(readFileSync(kqPath, 'utf8')) as StoredKq;
    if (old.teacherSha256 === teacherSha && old.samples === c.kq.samples && old.subsets?.seed === c.kq.seed && old.topK === k) return old;
  }
  if (ctx.mode === 'open') throw missing(out, `the teacher's Knowledge Quality ${KQ_FILE} for this teacher`);
  emit(ctx, { kind: 'stage', stage: 'kq', detail: `scoring the teacher's layers on ${c.kq.samples} class-balanced training samples` });
  const report = await scoreModel({
    model: teacherBytes, dataset: ctx.trainSet, samples: c.kq.samples, seed: c.kq.seed, topK: k, workDir: join(out, 'kq-work'),
    ...(c.teacher.layerNames ? { layers: c.teacher.layerNames } : {}), ...(o.threads !== undefined ? { inferenceThreads: o.threads } : {}),
    onProgress: (e) => emit(ctx, { kind: 'progress', stage: `kq: ${e.stage}`, done: e.done, total: e.total }),
  });
  rmSync(join(out, 'kq-work'), { recursive: true, force: true });
  const json = reportToJson(report);
  writeFileAtomic(kqPath, `${JSON.stringify({ ...JSON.parse(json), teacherSha256: teacherSha }, null, 2)}\n`);
  // The report as it is stored (NaN as null), so a fresh run and a reused kq.json select the very same layers.
  return { ...JSON.parse(json), teacherSha256: teacherSha } as StoredKq;
}

/** The teacher layers of every selection rule ("paper" only where the config lists the paper's layers). */
function selectionsOf(c: ExperimentConfig, scored: StoredKq): Record<string, number[]> {
  const headStartsAfter = scored.model.headStartsAfter;
  // Candidates: the backbone's layers, the Flatten included (the paper's VGG19 Tiny ImageNet choice is its Flatten).
  const candidates: ScoredLayer[] = scored.layers.filter((l) => l.index <= headStartsAfter)
    .map((l) => ({ index: l.index, S: nullable(l.S), I: nullable(l.I), E: nullable(l.E), Q: nullable(l.Q) }));
  const context: SelectionContext = {
    layers: candidates, headStartsAfter, k: c.distill.k,
    configured: {
      ...(c.teacher.baselineLayers ? { baseline: c.teacher.baselineLayers } : {}), ...(c.teacher.paperLayers ? { paper: c.teacher.paperLayers } : {}),
    },
  };
  const selections: Record<string, number[]> = {};
  for (const rule of SELECTION_RULE_KEYS) {
    if (rule === 'paper' && !c.teacher.paperLayers) continue;
    selections[rule] = selectTeacherLayers(rule, context);
  }
  return selections;
}

type StoredLayer = StoredKq['layers'][number];

/** A teacher layer of kq.json by its index, refused when there is none. */
function teacherLayerOf(scored: StoredKq): (index: number) => StoredLayer {
  return (index) => {
    const l = scored.layers.find((x) => x.index === index);
    if (!l) throw new KqkdError('teacher layer', `one of the teacher's generalized layers 0…${scored.layers.length - 1}`, String(index));
    return l;
  };
}

/** The distillation spec of a method (undefined for a method without a teacher). */
function distillSpecOf(a: {
  c: ExperimentConfig; trainSet: Dataset; scored: StoredKq; selections: Record<string, number[]>; studentLayers: number[];
  teacherSha: string; logitsTensor: string; teacherLayer: (index: number) => StoredLayer;
}): (key: string) => DistillSpec | undefined {
  const { c, selections, studentLayers, teacherLayer } = a;
  const headStartsAfter = a.scored.model.headStartsAfter;
  const ruleOf = (method: string): string | undefined => layerRuleOf(method, c.distill.selection);
  return (key) => {
    const m = getMethod(key);
    if (!needsTeacher(m)) return undefined;
    const base = {
      method: key, teacherSha256: a.teacherSha, teacherClasses: a.trainSet.classes, projector: c.distill.projector,
      temperature: c.distill.temperature, weights: c.distill.weights,
    };
    let spec: DistillSpecInput = base;
    if (predictorTerm(m)) {
      // SimKD: the teacher's map before its classifier, whose classifier the student reuses.
      const l = teacherLayer(headStartsAfter - 1);
      spec = { ...base, simkd: { teacherLayer: headStartsAfter - 1, teacherShape: l.sampleShape, teacherTensor: l.name, teacherLogitsTensor: a.logitsTensor, factor: 2 } };
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
}

/** The teacher cache of these tensors: opened and checked (open), or built where there is room (build); none without tensors. */
async function teacherCacheOf(
  ctx: PrepareContext, cachedTensors: Map<string, string>, scored: StoredKq, teacherBytes: Uint8Array, teacherSha: string,
): Promise<TeacherCache | undefined> {
  const { out, trainSet } = ctx;
  const tensors = [...new Set(cachedTensors.values())];
  const cacheDir = join(out, TEACHER_CACHE_DIR);
  if (tensors.length === 0) return undefined;
  if (ctx.mode === 'open') {
    if (!existsSync(join(cacheDir, 'manifest.json'))) throw missing(out, 'the teacher cache');
    const cache = openTeacherCache(cacheDir, { modelSha256: teacherSha, count: trainSet.count });
    const absent = tensors.filter((t) => !cache.layers.some((l) => l.name === t));
    if (absent.length > 0) throw missing(out, `the teacher cache of ${absent.join(', ')}`);
    return cache;
  }
  // Room for the cache before it is built (a full disk found halfway wastes the forward pass).
  const floats = tensors.reduce((sum, t) => sum + (scored.layers.find((x) => x.name === t)?.sampleShape.reduce((p, d) => p * d, 1) ?? trainSet.classes), 0);
  if (!existsSync(join(cacheDir, 'manifest.json'))) checkOutputFolder(out, 'out', { needBytes: floats * 4 * trainSet.count });
  emit(ctx, { kind: 'stage', stage: 'teacher cache', detail: `${cachedTensors.size} teacher tensors × ${trainSet.count} training samples` });
  return buildTeacherCache({
    model: teacherBytes, layers: tensors, dataset: trainSet, batchSize: 250, dir: cacheDir,
    ...ctx.threads, onProgress: (p) => emit(ctx, { kind: 'progress', stage: 'teacher cache', done: p.done, total: p.total }),
  });
}

/** The rows of graph inputs for a batch of training-sample indices, read from the cache into reused buffers. */
function cacheFeeds(cachedTensors: Map<string, string>, cache: TeacherCache | undefined): PreparedExperiment['feeds'] {
  const buffers = new Map<string, Float32Array>();
  return (names: readonly string[]) => (indices: readonly number[]) => Object.fromEntries(names.map((name) => {
    const tensor = cachedTensors.get(name)!;
    const layer = cache!.layers.find((l) => l.name === tensor)!;
    let buf = buffers.get(name);
    if (!buf || buf.length < indices.length * layer.rowFloats) {
      buf = new Float32Array(indices.length * layer.rowFloats);
      buffers.set(name, buf);
    }
    return [name, cache!.read(tensor, indices, buf)];
  }));
}
