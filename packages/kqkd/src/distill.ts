/**
 * `distill`: one distilled student, end to end, for a user who has a teacher and data and wants a small model out.
 * Teacher Knowledge Quality → teacher layers (`kq-last` by default) → Ours (FKD-KQ: feature losses only into the
 * backbone, CE on the detached head) with the `quick` job's settings scaled to the data → the checkpoint of the best
 * epoch on a validation split held out of the training images → `student.onnx` (class names and normalisation in its
 * metadata) and `report.md` with the teacher's and the student's test top-1, sizes, latencies and pictures.
 *
 * It is an experiment of one method and one seed (@kqkd/experiment) in `out/experiment/`, so it resumes like every
 * run (also after kill -9); `compare: ['ce']` adds the student trained alone, under the same budget and split.
 * Several teachers: they are ranked by Knowledge Quality first (`teacher-choice.ts`, into `out/teachers/`; or by their
 * validation top-1, `rankBy`) and the top-ranked one is distilled from, exactly as a single teacher.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { expectInteger, expectOneOf, KqkdError, makeDirs, ownFolder, RunFailedError, writeFileAtomic } from '@kqkd/common';
import { DATASET_NAMES, loadDataset, type Dataset, type DatasetName, type LoadDatasetOptions } from '@kqkd/data';
import { DEFAULT_SELECTION_RULE, SELECTION_RULE_KEYS } from '@kqkd/distill';
import {
  experimentHash, parseExperimentConfig, QUICK_TUNED_LR, runExperiment, type ExperimentConfig, type ExperimentConfigInput,
  type ExperimentProgress, type ExperimentResults,
} from '@kqkd/experiment';
import { isOnnxModelPath, ZOO_NAMES } from '@kqkd/models';
import { decodeModel, graphInputs, readModelFile } from '@kqkd/onnx';
import { confusionMatrixSpec, writeChart } from '@kqkd/plots';
import { createInferenceSession } from '@kqkd/runtime';
import { BEST_MODEL_ONNX, evaluateModel, type Evaluation } from '@kqkd/train';
import { throwIfAborted } from './output-folder.js';
import { defaultValidation, imageGeometryOf } from './score-teachers.js';
import { chooseTeacher, teacherChoiceMarkdown, type TeacherChoice } from './teacher-choice.js';
import { RANK_BY, type RankBy } from './teacher-ranking.js';

export { defaultValidation };

/** Methods `compare` may add beside Ours. */
export const DISTILL_COMPARE = ['ce'] as const;
export type DistillCompare = (typeof DISTILL_COMPARE)[number];

export interface DistillOptions {
  /**
   * The teacher: an ONNX classifier taking the dataset's normalised [N, C, H, W] images. Several: they are ranked by
   * Knowledge Quality (`scoreTeachers`, into `out/teachers/`) and the top-ranked one is distilled from.
   */
  teacher: string | readonly string[];
  /**
   * Several teachers: what ranks them (default `kq`, the KQ summary; `validation-top1`, their own top-1 on the
   * validation images, what docs/RESULTS.md §7 found to predict the best teacher across architectures). Refused with one.
   */
  rankBy?: RankBy;
  /** The dataset (`image-folder` for a folder of class folders). */
  data: DatasetName;
  /** Required except for fashion-mnist (Debian's folder). */
  dataDir?: string;
  /** Dataset options beyond the folder (image-folder: imageSize, channels, skipBad, cacheDir, testFraction). */
  dataOptions?: Record<string, unknown>;
  /** A zoo model name (`kqkd models`), or the path of an ONNX student (e.g. exported by torch.onnx.export). */
  student: string;
  /** Width multiplier of a zoo student (default 1/8 for resnet9, as `quick`). */
  width?: number;
  /** Epochs (default: about 50 000 training images shown, 5 to 100 epochs: `defaultEpochs`). */
  epochs?: number;
  /** Peak learning rate of the distilled student (default 0.1, `quick`'s tuned rate for Ours). */
  lr?: number;
  /** Training batch (default 128, at most a quarter of the training images). */
  batchSize?: number;
  /** The last N training images, held out to choose the checkpoint on (default 10 %, at most 5 000). */
  validation?: number;
  /** Train on only the first N training images (the validation images, the last of the split, are never among them). */
  trainLimit?: number;
  /** Teacher-layer rule (default `kq-last`). */
  selection?: string;
  /** Teacher images scored for Knowledge Quality (default 2 000, class-balanced). */
  kqSamples?: number;
  /** Also train these for the report: `ce` = the student alone, same budget. */
  compare?: readonly DistillCompare[];
  seed?: number;
  /** The output folder: student.onnx, report.md, report.json, pictures, and experiment/ (the runs). */
  out: string;
  threads?: number;
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (e: DistillProgress) => void;
}

export type DistillProgress =
  | ExperimentProgress
  | { kind: 'distill'; stage: 'teacher' | 'evaluate' | 'report' | 'warning'; detail: string };

/** Options with the one teacher distilled from (the chosen one, when several were given). */
type OneTeacher = Omit<DistillOptions, 'teacher'> & { teacher: string };

export interface DistilledModel {
  /** Parameters (float weights; BN running statistics not counted), null when unknown. */
  parameters: number | null;
  /** Top-1 (percent) of the chosen checkpoint on the validation images, and on the test split. */
  validationTop1: number | null;
  testTop1: number;
  /** Milliseconds per image at batch 1 and at batch 64 (onnxruntime-node, CPU, median of timed runs). */
  latencyMs: { batch1: number; batch64: number };
}

export interface DistillResult {
  teacher: DistilledModel & { file: string };
  student: DistilledModel & {
    file: string;
    /** The student's description (zoo model and width, or the ONNX file). */
    model: string;
    /** Epoch whose checkpoint was kept (best validation top-1), of `epochs`. */
    epoch: number;
    epochs: number;
    validationTop1Last: number;
    lr: number;
    seconds: number;
  };
  /** The student trained alone (`compare: ['ce']`). */
  alone?: DistilledModel & { epoch: number; validationTop1Last: number; lr: number };
  teacherLayers: { rule: string; indices: number[]; names: string[] };
  studentLayers: number[];
  dataset: { name: string; trainImages: number; validationImages: number; testImages: number; classNames: string[]; normalization: { mean: number[]; std: number[] } };
  testConfusion: number[][];
  /** What the user should check (a teacher near chance on the data). */
  warnings: string[];
  /** With several teachers: the ranking by Knowledge Quality and why `teacher` was chosen. */
  teacherChoice?: TeacherChoice;
  files: { student: string; report: string; json: string; pictures: string[] };
}

export const DISTILL_FILES = ['student.onnx', 'report.md', 'report.json', 'experiment', 'teachers', 'kq-curves.svg', 'kq-curves.png',
  'training-curves.svg', 'training-curves.png', 'confusion.svg', 'confusion.png'];
const EXPERIMENT_DIR = 'experiment';

/** Epochs when none are given: about 50 000 training images shown (`quick`: 10 000 × 5), at least 5, at most 100. */
export function defaultEpochs(trainImages: number): number {
  return Math.min(100, Math.max(5, Math.ceil(50_000 / trainImages)));
}

function studentSpec(o: Pick<DistillOptions, 'student' | 'width'>): { spec: Record<string, unknown>; title: string } {
  if (typeof o.student !== 'string' || o.student.length === 0) {
    throw new KqkdError('student', `a zoo model (${ZOO_NAMES.join(', ')}) or the path of an ONNX student`, JSON.stringify(o.student));
  }
  if (isOnnxModelPath(o.student)) {
    if (o.width !== undefined) throw new KqkdError('width', 'no width for an ONNX student (its file fixes its size)', String(o.width));
    const file = resolve(o.student);
    readModelFile(file, 'student'); // a missing or unreadable file is refused here, naming it
    return { spec: { name: 'onnx', file }, title: basename(file) };
  }
  if (!(ZOO_NAMES as readonly string[]).includes(o.student)) {
    throw new KqkdError('student', `a zoo model (${ZOO_NAMES.join(', ')}) or the path of an ONNX student (*.onnx)`, JSON.stringify(o.student));
  }
  const width = o.width ?? (o.student === 'resnet9' ? 0.125 : 1);
  return { spec: { name: o.student, width }, title: `${o.student} ×${width}` };
}

/** The experiment a distill call runs, validated (refusals name the option). */
export function distillExperiment(o: OneTeacher, train: Pick<Dataset, 'count' | 'classes'>): ExperimentConfig {
  const compare = (o.compare ?? []).map((m, i) => expectOneOf(`compare[${i}]`, m, DISTILL_COMPARE));
  const seed = o.seed === undefined ? 0 : expectInteger('seed', o.seed, 0, 0xffffff);
  // The validation images are the LAST of the training split; the images trained on are the ones before them (the
  // first `trainLimit` of those), so the two never overlap.
  const validation = o.validation === undefined ? defaultValidation(train.count) : expectInteger('validation', o.validation, 1, Math.max(1, train.count - 1));
  const part = Math.min(train.count - validation, o.trainLimit === undefined ? Infinity : expectInteger('trainLimit', o.trainLimit, 1));
  if (part < 2 * train.classes) {
    throw new KqkdError(o.trainLimit !== undefined ? 'trainLimit' : 'data', `at least ${2 * train.classes} training images to train on (2 per class) besides the ${validation} validation images`,
      `${part} (${train.count} in the training split)`);
  }
  const epochs = o.epochs === undefined ? defaultEpochs(part) : expectInteger('epochs', o.epochs, 1, 10_000);
  const batchSize = o.batchSize === undefined ? Math.max(1, Math.min(128, Math.floor(part / 4))) : expectInteger('batchSize', o.batchSize, 1, part);
  const selection = o.selection === undefined ? DEFAULT_SELECTION_RULE : expectOneOf('selection', o.selection, SELECTION_RULE_KEYS as readonly string[]);
  const kqSamples = o.kqSamples === undefined ? Math.max(20, Math.min(2000, part)) : expectInteger('kqSamples', o.kqSamples, 20, part);
  if (o.lr !== undefined && !(typeof o.lr === 'number' && o.lr > 0 && o.lr <= 10)) throw new KqkdError('lr', 'a learning rate in (0, 10]', String(o.lr));
  const { spec } = studentSpec(o);
  const input: ExperimentConfigInput = {
    version: 1,
    name: `distill: ${basename(o.teacher)} → ${o.student} on ${o.data}`,
    dataset: {
      name: o.data, ...(o.dataDir !== undefined ? { dir: resolve(o.dataDir) } : {}), ...(o.dataOptions ?? {}),
      ...(o.trainLimit !== undefined ? { trainLimit: part } : {}), validation,
    } as ExperimentConfigInput['dataset'],
    teacher: { onnx: resolve(o.teacher) },
    student: { model: spec as ExperimentConfigInput['student']['model'] },
    methods: ['fkd-kq', ...compare],
    seeds: 1,
    seed0: seed,
    training: {
      epochs, batchSize, optimizer: { type: 'adamw', lr: o.lr ?? QUICK_TUNED_LR['fkd-kq'], weightDecay: 0.01 }, schedule: 'one-cycle', lrPolicy: 'tuned',
      methodLr: { 'fkd-kq': o.lr ?? QUICK_TUNED_LR['fkd-kq'], ce: QUICK_TUNED_LR.ce },
      lrSource: o.lr !== undefined ? 'distill: --lr for Ours; CE at quick-tune\'s rate' : 'quick-tune (Fashion-MNIST, ResNet34/4 → ResNet9/8): best mean validation top-1 at the last epoch',
    },
    distill: { selection },
    kq: { samples: kqSamples, seed: 0 },
  };
  return parseExperimentConfig(input, 'distill');
}

/** Median milliseconds per image of `model` at batch `n` (warm-up runs first; at least 5 timed runs or 0.5 s). */
async function latency(model: Uint8Array, input: string, shape: number[], n: number, threads?: number): Promise<number> {
  const session = await createInferenceSession(model, threads !== undefined ? { threads } : {});
  try {
    const data = new Float32Array(n * shape.reduce((a, b) => a * b, 1));
    const feeds = { [input]: { data, shape: [n, ...shape] } };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    const times: number[] = [];
    const t0 = performance.now();
    while (times.length < 5 || (performance.now() - t0 < 500 && times.length < 200)) {
      const t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)] / n;
  } finally {
    await session.release();
  }
}

/** `channels` and `imageSize` of a teacher's static [N, C, H, H] input (what it can tell; nothing for other shapes). */
function teacherGeometry(bytes: Uint8Array, file: string): { channels?: number; imageSize?: number } {
  return imageGeometryOf(graphInputs(decodeModel(bytes, `teacher "${file}"`))[0]?.shape ?? []);
}

/** The teacher files: one path, or a non-empty list of them (each read, so a missing or bad file is named first). */
function teacherFiles(teacher: unknown): { files: string[]; bytes: Uint8Array[] } {
  const files = typeof teacher === 'string' ? [teacher] : teacher;
  if (!Array.isArray(files) || files.length === 0 || files.some((t) => typeof t !== 'string' || t.length === 0)) {
    throw new KqkdError('teacher', 'the path of an ONNX teacher, or a list of them to choose from', JSON.stringify(teacher));
  }
  return { files, bytes: files.map((f: string) => readModelFile(f, 'teacher').bytes) };
}

/**
 * The folder's config: the experiment's, and with several teachers the list it chooses from and the criterion (only
 * when not the default `kq`, so folders written before it could be chosen keep their hash).
 */
export function distillFolderHash(config: ExperimentConfig, teachers: readonly string[], rankBy: RankBy = 'kq'): string {
  if (teachers.length === 1) return experimentHash(config);
  const chosen = { teachers: teachers.map((t) => resolve(t)), experiment: experimentHash(config), ...(rankBy !== 'kq' ? { rankBy } : {}) };
  return createHash('sha256').update(JSON.stringify(chosen)).digest('hex').slice(0, 16);
}

/** `rankBy`, checked: one of RANK_BY, and only with several teachers (one has nothing to rank). */
function rankByOf(rankBy: unknown, teachers: number): RankBy {
  if (rankBy === undefined) return 'kq';
  const value = expectOneOf('rankBy', rankBy, RANK_BY);
  if (teachers === 1) throw new KqkdError('rankBy', 'several teachers (a ranking to choose from)', `"${value}" with one teacher`);
  return value;
}

function inputNameOf(model: Uint8Array, what: string): string {
  const inputs = graphInputs(decodeModel(model, what));
  if (inputs.length !== 1) throw new KqkdError(what, 'a classifier with one image input', `${inputs.length} inputs`);
  return inputs[0].name;
}

export async function distill(o: DistillOptions): Promise<DistillResult> {
  throwIfAborted(o?.signal);
  if (!o || typeof o !== 'object') throw new KqkdError('options', 'an object', String(o));
  if (typeof o.out !== 'string' || o.out.length === 0) throw new KqkdError('out', 'an output folder', JSON.stringify(o.out));
  const teachers = teacherFiles(o.teacher);
  const rankBy = rankByOf(o.rankBy, teachers.files.length);
  expectOneOf('data', o.data, DATASET_NAMES);
  const threads = o.threads !== undefined ? { threads: expectInteger('threads', o.threads, 1, 1024) } : {};
  const emit = o.onProgress ?? (() => {});
  // Images of a folder are decoded to the (first) teacher's input (greyscale or RGB, its side) unless told otherwise.
  const dataOptions = o.data === 'image-folder' ? { ...teacherGeometry(teachers.bytes[0], teachers.files[0]), ...(o.dataOptions ?? {}) } : o.dataOptions;
  let options: OneTeacher = { ...o, teacher: teachers.files[0], ...(dataOptions ? { dataOptions } : {}) };
  const open = (split: 'train' | 'test') => loadDataset(o.data, {
    split, ...(o.dataDir !== undefined ? { dir: o.dataDir } : {}), ...(dataOptions ?? {}),
    // an image folder is decoded once into its cache (a bar), and says what it skipped
    ...(o.data === 'image-folder' ? {
      onProgress: (done: number, total: number, label?: string) => emit({ kind: 'progress', stage: label ?? `decoding ${split} images`, done, total }),
      log: (line: string) => emit({ kind: 'stage', stage: 'data', detail: line }),
    } : {}),
  } as LoadDatasetOptions);
  const trainSet = await open('train');
  // Every option is checked here, before any teacher is scored or anything is written.
  let config = distillExperiment(options, trainSet);
  const out = resolve(o.out);
  const folder = ownFolder(out, 'out', { kind: 'distill', configHash: distillFolderHash(config, teachers.files, rankBy), ownFiles: DISTILL_FILES, ...(o.force ? { force: true } : {}) });
  try {
    let teacherBytes = teachers.bytes[0];
    let choice: TeacherChoice | undefined;
    if (teachers.files.length > 1) {
      choice = await chooseTeacher({
        teachers: teachers.files, data: o.data, ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}), ...(dataOptions ? { dataOptions } : {}),
        config, rankBy, out, ...threads, ...(o.signal ? { signal: o.signal } : {}),
        onProgress: (e) => emit({ kind: 'progress', stage: `teachers: ${e.teacher} (${e.teacherIndex + 1}/${e.teachers}) ${e.stage}`, done: e.done, total: e.total }),
      });
      emit({ kind: 'distill', stage: 'teacher', detail: `${choice.file}: ${choice.reason}${choice.reused ? ' (the ranking of an earlier run, same candidates and options)' : ''}` });
      teacherBytes = teachers.bytes[teachers.files.findIndex((f) => resolve(f) === choice!.file)];
      options = { ...options, teacher: choice.file };
      config = distillExperiment(options, trainSet);
    }
    const result = await distillIn(options, config, out, trainSet, await open('test'), teacherBytes, threads, emit, choice);
    folder.release();
    return result;
  } catch (err) {
    if (err instanceof KqkdError && !(err instanceof RunFailedError) && !folder.resumed && !existsSync(join(out, EXPERIMENT_DIR, 'experiment.json'))) folder.rollback();
    else folder.release();
    throw err;
  }
}

/** A teacher near chance on the user's images distils nothing: most often its classes are in another order than the
 * folder's sorted names, or it expects another normalisation. Said loudly, in the log and in the report. */
function teacherWarnings(teacherTop1: number, data: Dataset): string[] {
  const chance = 100 / data.classes;
  if (teacherTop1 >= 2 * chance) return [];
  return [`the teacher scores ${teacherTop1.toFixed(2)} % on the validation images, near chance (${chance.toFixed(1)} %): check that its ` +
    `output classes are in the order of the dataset's classes (${data.classNames.slice(0, 4).join(', ')}, …) and that it expects this ` +
    `normalisation (mean ${data.normalization.mean.map((v) => v.toFixed(3)).join(', ')})`];
}

/** Test-split evaluation and latency of one model. */
async function measure(bytes: Uint8Array, name: string, testSet: Dataset, o: { threads?: number; signal?: AbortSignal }):
  Promise<{ evaluation: Evaluation; latencyMs: DistilledModel['latencyMs'] }> {
  const evaluation = await evaluateModel({
    model: bytes, modelName: name, dataset: testSet, ...(o.threads !== undefined ? { threads: o.threads } : {}), ...(o.signal ? { signal: o.signal } : {}),
  });
  const input = inputNameOf(bytes, name);
  const shape = [testSet.channels, testSet.height, testSet.width];
  return { evaluation, latencyMs: { batch1: await latency(bytes, input, shape, 1, o.threads), batch64: await latency(bytes, input, shape, 64, o.threads) } };
}

/** The experiment's KQ and training curves beside the report, and the student's test confusion matrix. */
async function writePictures(expDir: string, out: string, student: Evaluation): Promise<string[]> {
  const pictures: string[] = [];
  for (const name of ['kq-curves', 'training-curves']) {
    for (const ext of ['svg', 'png']) {
      const src = join(expDir, `${name}.${ext}`);
      if (existsSync(src)) { writeFileAtomic(join(out, `${name}.${ext}`), readFileSync(src)); if (ext === 'png') pictures.push(`${name}.png`); }
    }
  }
  await writeChart(confusionMatrixSpec(student.confusion, student.classNames,
    `distilled student on the test split: top-1 ${student.top1.toFixed(2)} %`), join(out, 'confusion'));
  return [...pictures, 'confusion.png'];
}

type RunOf = ExperimentResults['methods'][string]['runs'][number];
/** A run's chosen checkpoint as the report states it: validation top-1 at its best epoch and at its last. */
const chosenEpoch = (run: RunOf) => ({
  validationTop1: run.history.find((h) => h.epoch === run.bestEpoch)!.testTop1, epoch: run.bestEpoch!, validationTop1Last: run.top1Last!,
});

async function distillIn(o: OneTeacher, config: ExperimentConfig, out: string, trainSet: Dataset, testSet: Dataset, teacherBytes: Uint8Array,
  threads: { threads?: number }, emit: (e: DistillProgress) => void, choice?: TeacherChoice): Promise<DistillResult> {
  const expDir = join(out, EXPERIMENT_DIR);
  makeDirs(expDir, 'out');
  // --force covers the experiment inside OUT too: another distillation's runs there are written over, not refused
  const r = await runExperiment({
    config, out: expDir, ...threads, ...(o.force ? { force: true } : {}), ...(o.signal ? { signal: o.signal } : {}), onProgress: emit,
  });
  const warnings = teacherWarnings(r.teacher.top1, trainSet);
  for (const w of warnings) emit({ kind: 'distill', stage: 'warning', detail: w });
  const ours = r.methods['fkd-kq'];
  const oursRun = ours.runs[0];
  if (oursRun.failed) throw new RunFailedError('the distilled student\'s run', 'a run that finished', 'a failed run', oursRun.failed);
  const chosen = (run: RunOf) => readFileSync(join(expDir, run.runDir, BEST_MODEL_ONNX));
  // the run's export carries the class names, normalisation and input size in its metadata (@kqkd/train)
  const studentBytes = chosen(oursRun);
  const aloneRun = r.methods.ce?.runs[0];

  emit({ kind: 'distill', stage: 'evaluate', detail: `teacher and student on the ${testSet.count} test images, latency at batch 1 and 64` });
  const measured = { ...threads, ...(o.signal ? { signal: o.signal } : {}) };
  const teacher = await measure(teacherBytes, `teacher "${o.teacher}"`, testSet, measured);
  const student = await measure(studentBytes, 'the distilled student', testSet, measured);
  const alone = aloneRun && !aloneRun.failed ? await measure(chosen(aloneRun), 'the student trained alone', testSet, measured) : undefined;

  emit({ kind: 'distill', stage: 'report', detail: 'student.onnx, report.md, report.json, pictures' });
  writeFileAtomic(join(out, 'student.onnx'), studentBytes);
  const pictures = await writePictures(expDir, out, student.evaluation);
  const result: DistillResult = {
    teacher: { file: resolve(o.teacher), parameters: r.teacher.parameters, validationTop1: r.teacher.top1, testTop1: teacher.evaluation.top1, latencyMs: teacher.latencyMs },
    student: {
      file: join(out, 'student.onnx'), model: studentSpec(o).title, parameters: r.student.parameters, ...chosenEpoch(oursRun),
      testTop1: student.evaluation.top1, latencyMs: student.latencyMs, epochs: config.training.epochs, lr: ours.peakLr, seconds: oursRun.seconds ?? 0,
    },
    ...(aloneRun && alone ? {
      alone: { parameters: r.student.parameters, ...chosenEpoch(aloneRun), testTop1: alone.evaluation.top1, latencyMs: alone.latencyMs, lr: r.methods.ce.peakLr },
    } : {}),
    teacherLayers: {
      rule: r.selectionRule, indices: r.selectedTeacherLayers, names: r.kq.layers.filter((l) => r.selectedTeacherLayers.includes(l.index)).map((l) => l.name),
    },
    studentLayers: r.studentLayers,
    dataset: {
      name: o.data, trainImages: r.dataset.trainCount, validationImages: r.dataset.testCount, testImages: testSet.count,
      classNames: [...trainSet.classNames], normalization: { mean: [...trainSet.normalization.mean], std: [...trainSet.normalization.std] },
    },
    testConfusion: student.evaluation.confusion,
    warnings,
    ...(choice ? { teacherChoice: choice } : {}),
    files: { student: join(out, 'student.onnx'), report: join(out, 'report.md'), json: join(out, 'report.json'), pictures },
  };
  writeFileAtomic(join(out, 'report.json'), `${JSON.stringify({ format: 'kqkd-distill-report', version: 1, ...result }, null, 2)}\n`);
  writeFileAtomic(join(out, 'report.md'), distillReport(result, o));
  return result;
}

const pct = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : `${v.toFixed(2)} %`);
const ms = (v: number) => (v >= 10 ? v.toFixed(1) : v.toPrecision(2));
const count = (v: number | null) => (v === null ? '—' : v.toLocaleString('en-US'));

/** report.md: what a user reads first. */
export function distillReport(r: DistillResult, o: Pick<OneTeacher, 'teacher' | 'data'>): string {
  const cols = ['teacher', 'student, distilled', ...(r.alone ? ['student alone (CE)'] : [])];
  const models = [r.teacher, r.student, ...(r.alone ? [r.alone] : [])];
  const row = (label: string, f: (m: DistilledModel) => string) => `| ${label} | ${models.map(f).join(' | ')} |`;
  return [
    `# kqkd distill: ${basename(o.teacher)} → ${r.student.model} on ${o.data}`,
    '',
    ...r.warnings.map((w) => `> **Warning:** ${w}.\n`),
    `The student's backbone learned only from the teacher's features at its layers ${r.teacherLayers.indices.join(', ')} ` +
      `(${r.teacherLayers.names.join(', ')}; rule \`${r.teacherLayers.rule}\` on Knowledge Quality), its classifier head by cross-entropy on ` +
      'detached features (Ours, FKD-KQ). `student.onnx` holds the checkpoint of its best epoch on the validation images; the test split ' +
      'was used for nothing but these figures.',
    '',
    `| | ${cols.join(' | ')} |`,
    `|---|${cols.map(() => '---').join('|')}|`,
    row('parameters', (m) => count(m.parameters)),
    row(`validation top-1 (${r.dataset.validationImages} held-out training images)`, (m) => pct(m.validationTop1)),
    row(`**test top-1** (${r.dataset.testImages} images)`, (m) => `**${pct(m.testTop1)}**`),
    row('latency, batch 1 (ms / image)', (m) => ms(m.latencyMs.batch1)),
    row('latency, batch 64 (ms / image)', (m) => ms(m.latencyMs.batch64)),
    '',
    `- Checkpoint: epoch ${r.student.epoch} of ${r.student.epochs}, the best validation top-1 (${pct(r.student.validationTop1)}; the last epoch: ` +
      `${pct(r.student.validationTop1Last)})${r.alone ? `; the student alone: epoch ${r.alone.epoch} (last epoch ${pct(r.alone.validationTop1Last)})` : ''}. ` +
      `Peak learning rate ${r.student.lr}${r.alone ? ` (alone: ${r.alone.lr})` : ''}; training took ${r.student.seconds.toFixed(0)} s.`,
    `- Data: ${r.dataset.trainImages} training images trained on, ${r.dataset.validationImages} other training images held out for validation ` +
      `(the teacher may have been trained on them: its validation figure is not a held-out one), ${r.dataset.testImages} test images; ` +
      `classes ${r.dataset.classNames.join(', ')}; normalisation mean ${r.dataset.normalization.mean.map((v) => v.toFixed(4)).join(', ')}, ` +
      `std ${r.dataset.normalization.std.map((v) => v.toFixed(4)).join(', ')} (in student.onnx's metadata).`,
    `- Student layers paired with the teacher's: ${r.studentLayers.join(', ')}.`,
    '- Latency: onnxruntime-node on this machine\'s CPU, median of timed runs after warm-up.',
    '',
    ...(r.teacherChoice ? teacherChoiceMarkdown(r.teacherChoice) : []),
    '## Pictures',
    '',
    ...r.files.pictures.map((p) => `![${p.replace('.png', '')}](${p})`),
    '',
    '## Use it',
    '',
    '```sh',
    'npx kqkd predict --model student.onnx image.png',
    `npx kqkd eval --model student.onnx --data ${o.data}${o.data === 'fashion-mnist' ? '' : ' --data-dir DIR'}`,
    '```',
    '',
  ].join('\n');
}
