/**
 * `scoreTeachers`: several candidate teachers scored by Knowledge Quality on one class-balanced sample of training
 * images (the same seed, the same images for every candidate), and ranked by their KQ summary — the mean Q of the
 * layers the selection rule of `kqkd distill` (`kq-last` by default) would pick — or, with `rankBy: 'validation-top1'`,
 * by their own top-1 on held-out training images; with the summary's S, I, E parts, the teacher's size and that top-1. Writes `OUT/<teacher>/kq.json` (+ its curves) per
 * candidate, `OUT/ranking.json`, `OUT/ranking.md` and `OUT/teachers-kq.svg|png` (every candidate's Q on a
 * relative-depth axis). Candidates that cannot be compared — another input shape or class count than each other or
 * than the data — are refused before anything is scored.
 *
 * Like `score`, it loads ONNX Runtime (and the ONNX reader, the selection rules, the evaluation) only when called, so
 * `kqkd score --features`, which imports this module through @kqkd/kqkd/score, starts without them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { expectInteger, expectOneOf, KqkdError, writeFileAtomic } from '@kqkd/common';
import { DATASET_NAMES, DATASETS, loadDataset, sliceDataset, type Dataset, type DatasetName, type LoadDatasetOptions } from '@kqkd/data';
import type { BackendChoice } from '@kqkd/geometry';
import type { ModelKqReport, ScoreModelOptions } from '@kqkd/kq';
import type { ModelProto } from '@kqkd/onnx';
import { preloadRenderers, teachersKqSpec, writeChart } from '@kqkd/plots';
import { writeKqFiles } from './kq-files.js';
import { inOutputFolder, throwIfAborted } from './output-folder.js';
import {
  kqSummary, orderText, RANK_BY, rankingMarkdown, rankingToJson, rankTeachers, type RankBy, type RankedTeacher, type TeacherRanking,
} from './teacher-ranking.js';

export interface ScoreTeachersOptions {
  /** The candidate teachers: ONNX classifiers taking the dataset's normalised [N, C, H, W] images (at least one). */
  models: readonly string[];
  /** The dataset whose training split is sampled. */
  data: DatasetName;
  /** Required except for fashion-mnist (Debian's /usr/share/datasets/fashion-mnist). */
  dataDir?: string;
  /** image-folder: imageSize, channels, testFraction, splitSeed, cacheDir, skipBad (default: the first candidate's input). */
  dataOptions?: ScoreModelOptions['dataOptions'];
  /** Class-balanced training images every candidate is scored on (default 6000). */
  samples?: number;
  /** Inference batch size (default 250). */
  batchSize?: number;
  /** Seed of the sample and of the subsets M and P (default 0). */
  seed?: number;
  /** k: the layers the selection rule picks (default 4, as `kqkd distill`). */
  topK?: number;
  /** The selection rule whose layers the KQ summary averages (default `kq-last`, the rule of `kqkd distill`). */
  selection?: string;
  /**
   * What orders the candidates (default `kq`, the KQ summary): `validation-top1` orders them by their own top-1 on the
   * held-out images (ties by KQ summary, then name) — what docs/RESULTS.md §7 found to predict the best teacher across
   * architectures. A ranking.json of the other criterion is not reused: the candidates are scored again.
   */
  rankBy?: RankBy;
  /** The last N training images, held out: the teachers' own top-1 is measured there, the KQ sample never comes from them (default 10 %, at most 5 000). */
  validation?: number;
  /** Draw the KQ sample from the first N training images only (of those before the held-out ones), as `distill` trains on. */
  trainLimit?: number;
  /** Geometry backend and threads; intra-op threads of the ONNX Runtime sessions. */
  backend?: BackendChoice;
  threads?: number;
  inferenceThreads?: number;
  /** KQ-SPEC §5: drop all-zero rows of M instead of failing. */
  dropZeroNormRows?: boolean;
  /** The output folder (required). A re-run with the same candidates (sha256) and options reuses its ranking.json. */
  out: string;
  /** Write into `out` even if it holds files kqkd did not write. */
  force?: boolean;
  onProgress?: (event: ScoreTeachersProgress) => void;
  /** Stops between batches and layers with the signal's reason. */
  signal?: AbortSignal;
}

/** A stage of one candidate's scoring: `done` of `total` (batches run, layers scored, validation images classified). */
export interface ScoreTeachersProgress {
  teacher: string;
  /** 0-based position of the candidate, of `teachers`. */
  teacherIndex: number;
  teachers: number;
  stage: string;
  done: number;
  total: number;
  detail?: string;
}

export interface ScoreTeachersResult {
  ranking: TeacherRanking;
  /** Whether an earlier run's ranking.json (same candidates and options) was reused: nothing was scored. */
  reused: boolean;
  /** Wall time of this call. */
  seconds: number;
  files: { ranking: string; markdown: string; svg: string; png: string; kq: Record<string, string> };
}

/** Held-out images when none are given: 10 % of the training images, at most 5 000, at least 10. */
export function defaultValidation(trainImages: number): number {
  return Math.min(5000, Math.max(10, Math.round(trainImages / 10)));
}

/** `channels` and `imageSize` of a static [N, C, H, H] input (what it can tell; nothing for other shapes). */
export function imageGeometryOf(dims: readonly unknown[]): { channels?: 1 | 3; imageSize?: number } {
  const [c, h, w] = [dims[1], dims[2], dims[3]];
  return { ...(c === 1 || c === 3 ? { channels: c } : {}), ...(typeof h === 'number' && h === w ? { imageSize: h } : {}) };
}

const RANKING_FILES = ['ranking.json', 'ranking.md', 'teachers-kq.svg', 'teachers-kq.png', '.features'];

/** Folder names of the candidates: the file's basename without .onnx, `-2`, `-3` … appended where two collide. */
export function teacherNames(files: readonly string[]): string[] {
  const taken = new Set(RANKING_FILES);
  return files.map((f) => {
    const stem = basename(f).replace(/\.onnx$/i, '') || 'teacher';
    let name = stem;
    for (let i = 2; taken.has(name); i++) name = `${stem}-${i}`;
    taken.add(name);
    return name;
  });
}

/** What is loaded only when teachers are scored (ONNX Runtime among it). */
async function loadScoring() {
  const [onnx, kq, distill, train] = await Promise.all([import('@kqkd/onnx'), import('@kqkd/kq'), import('@kqkd/distill'), import('@kqkd/train')]);
  return { onnx, scoreModel: kq.scoreModel, distill, evaluateModel: train.evaluateModel };
}
type Scoring = Awaited<ReturnType<typeof loadScoring>>;

interface Candidate {
  file: string; name: string; bytes: Uint8Array; sha256: string; parameters: number; input: readonly unknown[];
  /** The decoded model, read once (the class check looks at its output). */
  model: ModelProto;
}

function readCandidates(models: unknown, s: Scoring): Candidate[] {
  if (!Array.isArray(models) || models.length === 0 || models.some((m) => typeof m !== 'string' || m.length === 0)) {
    throw new KqkdError('models', 'one or more paths of ONNX teachers', JSON.stringify(models));
  }
  const names = teacherNames(models);
  return models.map((file: string, i) => {
    const { bytes, model } = s.onnx.readModelFile(file, 'model');
    const inputs = s.onnx.graphInputs(model);
    if (inputs.length !== 1) throw new KqkdError('model', 'a classifier with one image input [N, C, H, W]', `${inputs.length} inputs in "${file}"`);
    return {
      file: resolve(file), name: names[i], bytes, sha256: createHash('sha256').update(bytes).digest('hex'),
      parameters: s.onnx.countParameters(model), input: inputs[0].shape ?? [], model,
    };
  });
}

const dimsText = (dims: readonly unknown[]) => `[${dims.map((d) => (typeof d === 'number' ? d : 'N')).join(', ')}]`;

/** The number of classes a candidate's first output gives: declared, inferred, or (neither) from one image run. */
async function classesOf(c: Candidate, data: Dataset, s: Scoring): Promise<number | string> {
  const model = c.model;
  const output = s.onnx.graphOutputs(model)[0];
  if (!output) return 'no output';
  const shape = output.shape ?? s.onnx.tensorTypes(model).get(output.name)?.shape ?? null;
  const last = shape && shape.length > 0 ? shape[shape.length - 1] : undefined;
  if (shape && shape.length !== 2) return `an output "${output.name}" of shape ${dimsText(shape)}`;
  if (typeof last === 'number') return last;
  const { createInferenceSession } = await import('@kqkd/runtime');
  const session = await createInferenceSession(c.bytes, { name: c.file });
  try {
    const name = s.onnx.graphInputs(model)[0].name;
    const out = await session.run({ [name]: { data: new Float32Array(data.channels * data.height * data.width), shape: [1, data.channels, data.height, data.width] } }, [output.name]);
    return out[output.name].data.length;
  } finally {
    await session.release();
  }
}

/**
 * Refuses, before anything is scored, candidates that cannot be compared: an input [C, H, W] other than the first
 * candidate's or the data's images, or another number of classes than the data's.
 */
async function checkCandidates(candidates: Candidate[], data: Dataset, s: Scoring): Promise<void> {
  const expected = [data.channels, data.height, data.width];
  const first = candidates[0];
  for (const c of candidates) {
    const dims = c.input.slice(1);
    if (c.input.length !== 4) throw new KqkdError('model', `an input [N, ${expected.join(', ')}] (${data.name} images)`, `an input of shape ${dimsText(c.input)} in "${c.file}"`);
    const clash = (ref: readonly unknown[]) => dims.some((d, i) => typeof d === 'number' && typeof ref[i] === 'number' && d !== ref[i]);
    if (c !== first && clash(first.input.slice(1))) {
      throw new KqkdError('model', `the input shape of the other candidates, ${dimsText(first.input)} ("${first.file}")`, `${dimsText(c.input)} in "${c.file}"`);
    }
    if (clash(expected)) throw new KqkdError('model', `an input [N, ${expected.join(', ')}] (${data.name} images)`, `${dimsText(c.input)} in "${c.file}"`);
    const classes = await classesOf(c, data, s);
    if (classes !== data.classes) {
      throw new KqkdError('model', `logits for the ${data.classes} classes of ${data.name} (as every candidate)`,
        `${typeof classes === 'number' ? `${classes} classes` : classes} in "${c.file}"`);
    }
  }
}

async function openTrainSplit(o: ScoreTeachersOptions, first: Candidate): Promise<{ train: Dataset; dataOptions: Record<string, unknown> }> {
  const data = expectOneOf('data', o.data, DATASET_NAMES);
  if (o.dataDir === undefined && data !== 'fashion-mnist') {
    throw new KqkdError('dataDir', `the ${DATASETS[data].title} folder (only fashion-mnist has a default)`, 'nothing');
  }
  // An image folder is decoded to the first candidate's input (greyscale or RGB, its side) unless told otherwise.
  const dataOptions = { ...(data === 'image-folder' ? imageGeometryOf(first.input) : {}), ...(o.dataOptions ?? {}) };
  const train = await loadDataset(data, { ...dataOptions, split: 'train', ...(o.dataDir !== undefined ? { dir: o.dataDir } : {}) } as LoadDatasetOptions);
  return { train, dataOptions };
}

/** The KQ sample's images (before the held-out ones, within trainLimit) and the held-out images. */
function splitsOf(train: Dataset, o: ScoreTeachersOptions) {
  const validation = o.validation === undefined ? defaultValidation(train.count) : expectInteger('validation', o.validation, 1, train.count - 1);
  const first = train.count - validation;
  const before = sliceDataset(train, 0, first);
  const kqSet = o.trainLimit === undefined ? before : sliceDataset(before, 0, Math.min(first, expectInteger('trainLimit', o.trainLimit, 1)));
  const valSet: Dataset = { ...sliceDataset(train, first, train.count), split: 'train' };
  return { kqSet, valSet, validation, first };
}

/** Everything one scoring needs beyond the candidate. */
interface Run {
  o: ScoreTeachersOptions; s: Scoring; out: string; kqSet: Dataset; valSet: Dataset; samples: number; seed: number; k: number; rule: string;
  n: number;
}

async function scoreCandidate(c: Candidate, i: number, r: Run): Promise<{ entry: Omit<RankedTeacher, 'rank'>; report: ModelKqReport }> {
  const { o, s } = r;
  const emit = (stage: string, done: number, total: number, detail?: string) => {
    throwIfAborted(o.signal);
    o.onProgress?.({ teacher: c.name, teacherIndex: i, teachers: r.n, stage, done, total, ...(detail !== undefined ? { detail } : {}) });
  };
  const report = await s.scoreModel({
    model: c.file, dataset: r.kqSet, samples: r.samples, seed: r.seed, topK: r.k, workDir: join(r.out, '.features'),
    backend: o.backend ?? 'cpu', threads: o.threads ?? 0, zeroNormRows: o.dropZeroNormRows ? 'drop' : 'error',
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}), ...(o.inferenceThreads !== undefined ? { inferenceThreads: o.inferenceThreads } : {}),
    onProgress: (e) => emit(e.stage, e.done, e.total, e.detail),
  });
  await writeKqFiles(report, join(r.out, c.name), { source: basename(c.file), model: c.file, data: o.data, teacher: c.name });
  const evaluation = await s.evaluateModel({
    model: c.bytes, modelName: `model "${c.file}"`, dataset: r.valSet, ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.inferenceThreads !== undefined ? { threads: o.inferenceThreads } : {}), ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (done, total) => emit('validation top-1', done, total),
  });
  const pick = (ctx: Parameters<typeof s.distill.selectTeacherLayers>[1]) => s.distill.selectTeacherLayers(r.rule, ctx);
  const stored = JSON.parse(JSON.stringify(report.layers, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
  return {
    report,
    entry: {
      name: c.name, file: c.file, sha256: c.sha256, parameters: c.parameters, ...kqSummary(stored, report.model.headStartsAfter, r.k, pick),
      generalizedLayers: report.layers.length, validationTop1: evaluation.top1, kq: `${c.name}/kq.json`,
    },
  };
}

/** An earlier run's ranking in `out` when it was computed from these very inputs and its files are all there. */
function reusable(out: string, inputs: Record<string, unknown>): TeacherRanking | undefined {
  const path = join(out, 'ranking.json');
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as TeacherRanking;
    if (r.format !== 'kqkd-teacher-ranking' || JSON.stringify(r.inputs) !== JSON.stringify(inputs)) return undefined;
    const files = ['ranking.md', 'teachers-kq.svg', 'teachers-kq.png', ...r.teachers.map((t) => t.kq)];
    // a ranking written before the criterion could be chosen was ranked by the KQ summary
    return files.every((f) => existsSync(join(out, f))) ? { ...r, rankBy: r.rankBy ?? 'kq' } : undefined;
  } catch {
    return undefined;
  }
}

async function writeRanking(out: string, ranking: TeacherRanking, reports: Map<string, ModelKqReport>): Promise<{ svg: string; png: string }> {
  writeFileAtomic(join(out, 'ranking.json'), rankingToJson(ranking));
  writeFileAtomic(join(out, 'ranking.md'), rankingMarkdown(ranking));
  const curves = ranking.teachers.map((t) => ({
    teacher: t.name,
    layers: reports.get(t.name)!.layers.map((l) => ({ index: l.index, name: l.name, Q: l.Q, picked: t.layers.includes(l.index) })),
  }));
  return writeChart(teachersKqSpec(curves, `Knowledge Quality of ${ranking.teachers.length} candidate teachers on ${ranking.data.name}`), join(out, 'teachers-kq'));
}

/** Scores every candidate on one sample of the training images and ranks them (see the module's comment). */
export async function scoreTeachers(o: ScoreTeachersOptions): Promise<ScoreTeachersResult> {
  const started = performance.now();
  if (o === null || typeof o !== 'object') throw new KqkdError('options', 'an object', String(o));
  if (typeof o.out !== 'string' || o.out.length === 0) throw new KqkdError('out', 'an output folder', JSON.stringify(o.out));
  throwIfAborted(o.signal);
  const s = await loadScoring();
  const candidates = readCandidates(o.models, s);
  const samples = expectInteger('samples', o.samples ?? 6000, 2);
  const seed = expectInteger('seed', o.seed ?? 0, 0);
  const k = expectInteger('topK', o.topK ?? 4, 1);
  const rule = expectOneOf('selection', o.selection ?? s.distill.DEFAULT_SELECTION_RULE, s.distill.SELECTION_RULE_KEYS as readonly string[]);
  const rankBy = expectOneOf('rankBy', o.rankBy ?? 'kq', RANK_BY);
  const { train, dataOptions } = await openTrainSplit(o, candidates[0]);
  const { kqSet, valSet, validation, first } = splitsOf(train, o);
  await checkCandidates(candidates, train, s);
  const inputs = {
    models: candidates.map((c) => ({ name: c.name, file: c.file, sha256: c.sha256 })), data: o.data, dataDir: o.dataDir === undefined ? null : resolve(o.dataDir),
    dataOptions: JSON.parse(JSON.stringify(dataOptions)), samples, seed, topK: k, selection: rule, validation, trainLimit: o.trainLimit ?? null,
    backend: o.backend ?? 'cpu', dropZeroNormRows: !!o.dropZeroNormRows,
    // the criterion decides reuse; absent for `kq`, so rankings written before it could be chosen are still reused
    ...(rankBy !== 'kq' ? { rankBy } : {}),
  };
  const out = resolve(o.out);
  const own = [...RANKING_FILES, ...candidates.map((c) => c.name)];
  return inOutputFolder(out, 'score-teachers', own, o.force, async () => {
    const files = (svg: string, png: string) => ({
      ranking: join(out, 'ranking.json'), markdown: join(out, 'ranking.md'), svg, png,
      kq: Object.fromEntries(candidates.map((c) => [c.name, join(out, c.name, 'kq.json')])),
    });
    const earlier = reusable(out, inputs);
    const seconds = () => (performance.now() - started) / 1000;
    if (earlier) return { ranking: earlier, reused: true, seconds: seconds(), files: files(join(out, 'teachers-kq.svg'), join(out, 'teachers-kq.png')) };
    preloadRenderers();
    const run: Run = { o, s, out, kqSet, valSet, samples, seed, k, rule, n: candidates.length };
    const scored: Awaited<ReturnType<typeof scoreCandidate>>[] = [];
    try {
      for (const [i, c] of candidates.entries()) scored.push(await scoreCandidate(c, i, run));
    } finally {
      rmSync(join(out, '.features'), { recursive: true, force: true });
    }
    const ranking: TeacherRanking = {
      format: 'kqkd-teacher-ranking', version: 1, rankBy, order: orderText(rankBy, rule, k),
      selection: { rule, title: s.distill.getSelectionRule(rule).title, k },
      data: {
        name: o.data, trainImages: train.count, kqImages: kqSet.count, samples, seed,
        validation: {
          images: validation, first,
          note: `top-1 on the last ${validation} training images (${first} … ${train.count - 1}), never in the KQ sample; a teacher trained on all ` +
            'training images has seen them (its figure is then a training accuracy).',
        },
      },
      inputs, teachers: rankTeachers(scored.map((x) => x.entry), rankBy),
    };
    const chart = await writeRanking(out, ranking, new Map(scored.map((x) => [x.entry.name, x.report])));
    return { ranking, reused: false, seconds: seconds(), files: files(chart.svg, chart.png) };
  });
}
