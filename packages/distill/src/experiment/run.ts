/**
 * `kqkd experiment`: teacher (imported ONNX or trained here) → Knowledge Quality of every teacher layer → layer
 * selections (top-k by Q, and by S / sqrt(I·E) / I / E for the ablations; evenly spread for the baselines) → a
 * disk-backed cache of the teacher's features and logits on the training set → every method × seed as an ordinary
 * resumable training run in `runs/<config hash>/` → `results.json`, `results.md` and pictures.
 *
 * Every stage is resumable and skipped when done: the teacher run resumes/returns like any run, `kq.json` is reused
 * when it was computed for the same teacher and sample, the cache is reused when its manifest matches, and finished
 * student runs are read back, partial ones resumed.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import { KqkdError, writeFileAtomic } from '@kqkd/common';
import { batches, NORMALIZATION, type Dataset } from '@kqkd/data';
import { reportToJson, scoreModel, selectTopK, type LayerScore, type ModelKqReport } from '@kqkd/kq';
import { countParameters } from '@kqkd/models';
import { decodeModel, graphInputs, type ModelProto } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { configHash, parseTrainConfig, type DistillSpecInput, type TrainConfigInput } from '../config.js';
import { buildForward } from '../ort-backend.js';
import { distillationInputs } from '../distill-graph.js';
import { BASELINE_METHODS, getMethod, needsTeacher, OURS_METHOD, REFERENCE_METHOD } from '../methods.js';
import { buildTeacherCache, type TeacherCache } from '../teacher-cache.js';
import { openSplits, scoreLogits, train, MODEL_ONNX, METRICS_JSONL, type TrainProgress, type TrainResults } from '../train.js';
import { experimentHash, type ExperimentConfig } from './config.js';
import { PAPER_STUDENT_LAYERS } from './presets.js';
import { computeAri, computeEfficiency, meanCurve, renderResultsMarkdown, statistic, writeExperimentPictures } from './report.js';
import {
  EXPERIMENT_RESULTS_FORMAT, EXPERIMENT_RESULTS_VERSION,
  type EpochPoint, type ExperimentResults, type KqLayerResult, type LayerSelectionRule, type MethodResult, type MethodRun,
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
  /** Intra-op threads for inference sessions (teacher cache, KQ). */
  threads?: number;
}

/** Top-k layer indices by a metric over the candidate layers (ties → deeper, as for Q). */
export function selectLayers(layers: readonly Pick<LayerScore, 'index' | 'S' | 'I' | 'E' | 'Q'>[], rule: Exclude<LayerSelectionRule, 'baseline'>, k: number): number[] {
  const metric = (l: Pick<LayerScore, 'S' | 'I' | 'E' | 'Q'>): number => {
    switch (rule) {
      case 'kq': return l.Q;
      case 's': return l.S;
      case 'ie': return Math.sqrt(l.I * l.E);
      case 'i': return l.I;
      case 'e': return l.E;
    }
  };
  return selectTopK(layers.map((l) => ({ index: l.index, Q: metric(l) })), k);
}

/**
 * k of `candidates` evenly spread, the deepest included: the ends of k equal slices (position round((j+1)·n/k) − 1),
 * distinct since n ≥ k. Over ResNet34's 17 backbone layers: 3, 8, 12, 16 (the paper's choice: 3, 7, 13, 16).
 */
export function evenlySpread(candidates: readonly number[], k: number): number[] {
  const n = candidates.length;
  if (k > n) throw new KqkdError('distill.k', `at most the ${n} candidate layers`, String(k));
  return Array.from({ length: k }, (_, j) => candidates[Math.round(((j + 1) * n) / k) - 1]);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Test top-1 (percent) of an ONNX classifier through onnxruntime-node. */
async function evaluateOnnx(model: Uint8Array, test: Dataset, threads?: number): Promise<number> {
  const proto = decodeModel(model);
  const input = graphInputs(proto)[0].name;
  const output = proto.graph!.output![0].name!;
  const session = await createInferenceSession(model, threads !== undefined ? { threads } : {});
  try {
    let correct = 0;
    for await (const batch of batches(test, { batchSize: 500, normalization: NORMALIZATION[test.name as keyof typeof NORMALIZATION] })) {
      const n = batch.labels.length;
      const out = await session.run({ [input]: { data: batch.data, shape: [n, test.channels, test.height, test.width] } }, [output]);
      correct += scoreLogits(out[output].data, batch.labels, n, test.classes).correct;
    }
    return (100 * correct) / test.count;
  } finally {
    await session.release();
  }
}

function readHistory(runDir: string): EpochPoint[] {
  const p = join(runDir, METRICS_JSONL);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => {
    const m = JSON.parse(l) as { epoch: number; testTop1: number; trainLoss: number };
    return { epoch: m.epoch, testTop1: m.testTop1, trainLoss: m.trainLoss };
  });
}

/** Runs (or resumes, or just reports) a whole experiment. */
export async function runExperiment(o: RunExperimentOptions): Promise<ExperimentResults> {
  const c = o.config;
  const out = resolve(o.out);
  const emit = o.onProgress ?? (() => {});
  const t0 = performance.now();
  mkdirSync(out, { recursive: true });
  writeFileAtomic(join(out, 'experiment.json'), `${JSON.stringify({ preset: o.preset ?? null, hash: experimentHash(c), config: c }, null, 2)}\n`);
  const k = c.distill.k;
  const { train: trainSet, test: testSet } = await openSplits({ dataset: c.dataset }, o.data);

  // ---- 1. teacher
  let teacherBytes: Uint8Array;
  let teacherTop1: number;
  let teacherTop1Best: number | null = null;
  let teacherParams: number | null = null;
  if (c.teacher.onnx) {
    emit({ kind: 'stage', stage: 'teacher', detail: `importing ${c.teacher.onnx}` });
    try {
      teacherBytes = readFileSync(c.teacher.onnx);
    } catch (err) {
      throw new KqkdError('teacher.onnx', 'a readable .onnx file', `"${c.teacher.onnx}"`, (err as Error).message);
    }
    teacherTop1 = await evaluateOnnx(teacherBytes, testSet, o.threads);
  } else {
    const tt = c.teacher.training ?? c.training;
    const teacherConfig: TrainConfigInput = {
      modelSpec: c.teacher.model!, dataset: c.dataset, epochs: tt.epochs, batchSize: tt.batchSize, evalBatchSize: tt.evalBatchSize,
      optimizer: tt.optimizer, schedule: tt.schedule, milestones: tt.milestones, gamma: tt.gamma, seed: c.seed0, runDir: join(out, 'teacher'),
      ...(c.backend ? { backend: c.backend } : {}),
    };
    emit({ kind: 'stage', stage: 'teacher', detail: `training ${c.teacher.model!.name} (${tt.epochs} epochs)` });
    const r = await train({ ...teacherConfig, ...(o.data ? { data: o.data } : {}), onProgress: (event) => emit({ kind: 'train', who: 'teacher', index: 0, total: 1, event }) });
    teacherBytes = readFileSync(join(out, 'teacher', MODEL_ONNX));
    teacherTop1 = r.top1Last;
    teacherTop1Best = r.top1Best;
    const { g } = buildForward(parseTrainConfig(teacherConfig).modelSpec, [trainSet.channels, trainSet.height, trainSet.width], trainSet.classes, c.seed0, false);
    teacherParams = countParameters(g.parameters()).params;
  }
  const teacherSha = sha256(teacherBytes);
  const teacherModel: ModelProto = decodeModel(teacherBytes);
  const teacherLogitsTensor = teacherModel.graph!.output![0].name!;

  // ---- 2. Knowledge Quality of every teacher layer (reused when computed for this teacher and sample)
  const kqPath = join(out, KQ_FILE);
  let kq: (ModelKqReport & { teacherSha256?: string }) | undefined;
  if (existsSync(kqPath)) {
    const old = JSON.parse(readFileSync(kqPath, 'utf8')) as ModelKqReport & { teacherSha256?: string };
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
    kq = { ...JSON.parse(reportToJson(report)), teacherSha256: teacherSha } as ModelKqReport & { teacherSha256: string };
    writeFileAtomic(kqPath, `${JSON.stringify(kq, null, 2)}\n`);
  }
  const headStartsAfter = kq.model.headStartsAfter;
  const nullable = (v: number | null | undefined): number => (v === null || v === undefined ? NaN : v);
  const scored = kq.layers.map((l) => ({ ...l, S: nullable(l.S), I: nullable(l.I), E: nullable(l.E), Q: nullable(l.Q) }));
  // Candidates: the backbone's layers, the Flatten included (the paper's VGG19 Tiny ImageNet choice is its Flatten).
  const candidates = scored.filter((l) => l.index <= headStartsAfter);
  const selections: Record<LayerSelectionRule, number[]> = {
    kq: selectLayers(candidates, 'kq', k), s: selectLayers(candidates, 's', k), ie: selectLayers(candidates, 'ie', k),
    i: selectLayers(candidates, 'i', k), e: selectLayers(candidates, 'e', k),
    baseline: c.teacher.baselineLayers ?? evenlySpread(candidates.filter((l) => l.index < headStartsAfter).map((l) => l.index), k),
  };
  const teacherLayer = (index: number) => {
    const l = kq!.layers.find((x) => x.index === index);
    if (!l) throw new KqkdError('teacher layer', `one of the teacher's generalized layers 0…${kq!.layers.length - 1}`, String(index));
    return l;
  };
  emit({ kind: 'stage', stage: 'selection', detail: `KQ selects teacher layers ${selections.kq.join(', ')} (baselines: ${selections.baseline.join(', ')})` });

  // ---- 3. student layers
  const inputShape = [trainSet.channels, trainSet.height, trainSet.width];
  const studentSpec = parseTrainConfig({ modelSpec: c.student.model, dataset: c.dataset, epochs: 1, optimizer: c.training.optimizer, runDir: '.' }).modelSpec;
  const studentBuilt = buildForward(studentSpec, inputShape, trainSet.classes, c.seed0, false);
  const studentLayersAll = studentBuilt.taps!.layers;
  const studentLayers = c.student.layers ?? (PAPER_STUDENT_LAYERS[studentSpec.name] ? [...PAPER_STUDENT_LAYERS[studentSpec.name]]
    : evenlySpread(studentLayersAll.filter((l) => l.index < studentBuilt.taps!.headStartsAfter).map((l) => l.index), k));
  for (const s of studentLayers) {
    if (!studentLayersAll.some((l) => l.index === s)) {
      throw new KqkdError('student.layers', `generalized layers of ${studentSpec.name} (0…${studentLayersAll.length - 1})`, String(s));
    }
  }
  const studentParams = countParameters(studentBuilt.g.parameters()).params;

  // ---- 4. the distillation spec of every method
  const simkdLayer = headStartsAfter - 1;
  const specOf = (key: string): DistillSpecInput | undefined => {
    const m = getMethod(key);
    if (!needsTeacher(m)) return undefined;
    const base = {
      method: key, teacherSha256: teacherSha, teacherClasses: trainSet.classes, projector: c.distill.projector,
      temperature: c.distill.temperature, weights: c.distill.weights,
    };
    if (m.features === 'simkd') {
      const l = teacherLayer(simkdLayer);
      return { ...base, simkd: { teacherLayer: simkdLayer, teacherShape: l.sampleShape, teacherTensor: l.name, teacherLogitsTensor, factor: 2 } };
    }
    if (!m.layers) return base;
    const layers = selections[m.layers];
    if (m.features === 'semckd') {
      // SemCKD matches every student layer against every teacher layer (attention decides): pairs carry the lists.
      return { ...base, pairs: studentLayers.map((s, i) => ({ student: s, teacher: layers[i] ?? layers[layers.length - 1], teacherShape: teacherLayer(layers[i] ?? layers[layers.length - 1]).sampleShape })) };
    }
    const pairs = layers.map((t, i) => ({ student: studentLayers[i], teacher: t, teacherShape: teacherLayer(t).sampleShape }));
    // SP matches only the deepest pair (distill-graph.ts, Tung & Mori): the spec carries just that pair, so the teacher
    // inputs fed (distillationInputs) are the ones the graph reads, and results.json reports the layer actually used.
    return { ...base, pairs: m.features === 'sp' ? pairs.slice(-1) : pairs };
  };
  const specs = new Map(c.methods.map((key) => [key, specOf(key)]));

  // ---- 5. teacher cache: every teacher layer any method reads, and the logits
  const cachedTensors = new Map<string, string>(); // graph input name → teacher tensor
  for (const spec of specs.values()) {
    if (!spec) continue;
    const parsed = parseTrainConfig({ modelSpec: c.student.model, dataset: c.dataset, epochs: 1, optimizer: c.training.optimizer, runDir: '.', distill: spec }).distill!;
    for (const input of distillationInputs(parsed)) {
      cachedTensors.set(input.name, input.layer === 'logits' ? teacherLogitsTensor : teacherLayer(input.layer).name);
    }
  }
  let cache: TeacherCache | undefined;
  if (cachedTensors.size > 0) {
    emit({ kind: 'stage', stage: 'teacher cache', detail: `${cachedTensors.size} teacher tensors × ${trainSet.count} training samples` });
    cache = await buildTeacherCache({
      model: teacherBytes, layers: [...new Set(cachedTensors.values())], dataset: trainSet, batchSize: 250, dir: join(out, 'teacher-cache'),
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      onProgress: (p) => emit({ kind: 'progress', stage: 'teacher cache', done: p.done, total: p.total }),
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
  mkdirSync(runsDir, { recursive: true });
  const total = c.methods.length * c.seeds;
  const methods: Record<string, MethodResult> = {};
  let index = 0;
  try {
    for (const key of c.methods) {
      const m = getMethod(key);
      const spec = specs.get(key);
      const runs: MethodRun[] = [];
      for (let s = 0; s < c.seeds; s++) {
        const seed = c.seed0 + s;
        const base: TrainConfigInput = {
          modelSpec: c.student.model, dataset: c.dataset, epochs: c.training.epochs, batchSize: c.training.batchSize,
          evalBatchSize: c.training.evalBatchSize, optimizer: c.training.optimizer, schedule: c.training.schedule,
          milestones: c.training.milestones, gamma: c.training.gamma, seed, runDir: '.', ...(spec ? { distill: spec } : {}),
          ...(c.backend ? { backend: c.backend } : {}),
        };
        const hash = configHash(parseTrainConfig(base));
        const runDir = join(runsDir, hash);
        mkdirSync(runDir, { recursive: true });
        writeFileAtomic(join(runDir, 'run.json'), `${JSON.stringify({ method: key, seed, configHash: hash, config: parseTrainConfig({ ...base, runDir }) }, null, 2)}\n`);
        const who = `${key} seed ${seed}`;
        const log = join(runDir, 'log.txt');
        const names = spec ? distillationInputs(parseTrainConfig(base).distill!).map((i) => i.name) : [];
        const r: TrainResults = await train({
          ...base, runDir, ...(o.data ? { data: o.data } : {}),
          ...(spec ? { teacher: { feeds: feeds(names), model: teacherModel } } : {}),
          onProgress: (event) => {
            if (event.kind === 'epoch') {
              appendFileSync(log, `${new Date().toISOString()} epoch ${event.metrics.epoch}: train loss ${event.metrics.trainLoss.toFixed(4)}, test top-1 ${event.metrics.testTop1.toFixed(2)}%\n`);
            } else if (event.kind === 'start') {
              appendFileSync(log, `${new Date().toISOString()} ${event.resumed ? `resumed at epoch ${event.fromEpoch}` : 'started'} (${who})\n`);
            }
            emit({ kind: 'train', who, index, total, event });
          },
        });
        index++;
        runs.push({
          seed, runDir: relative(out, runDir), configHash: hash, top1Best: r.top1Best, bestEpoch: r.bestEpoch, top1Last: r.top1Last,
          seconds: r.seconds, history: readHistory(runDir),
        });
      }
      const parsed = spec ? parseTrainConfig({ ...{ modelSpec: c.student.model, dataset: c.dataset, epochs: 1, optimizer: c.training.optimizer, runDir: '.' }, distill: spec }).distill : undefined;
      methods[key] = {
        key, title: m.title,
        teacherLayers: parsed?.pairs.length ? parsed.pairs.map((p) => p.teacher) : parsed?.simkd ? [parsed.simkd.teacherLayer] : null,
        studentLayers: parsed?.pairs.length ? parsed.pairs.map((p) => p.student) : null,
        top1Best: statistic(runs.map((r) => r.top1Best)), top1Last: statistic(runs.map((r) => r.top1Last)), runs, curve: meanCurve(runs),
      };
    }
  } finally {
    cache?.close();
  }

  // ---- 7. results, report, pictures
  const kqLayers: KqLayerResult[] = kq.layers.map((l) => ({
    index: l.index, name: l.name, shape: l.sampleShape, S: l.S ?? null, I: l.I ?? null, E: l.E ?? null, Q: l.Q ?? null,
    selected: selections.kq.includes(l.index),
  }));
  const results: ExperimentResults = {
    format: EXPERIMENT_RESULTS_FORMAT, version: EXPERIMENT_RESULTS_VERSION, preset: o.preset ?? null, configHash: experimentHash(c),
    dataset: { name: c.dataset.name, trainCount: trainSet.count, testCount: testSet.count, classes: trainSet.classes },
    teacher: {
      model: c.teacher.onnx ?? `${c.teacher.model!.name}${c.teacher.model!.width && c.teacher.model!.width !== 1 ? ` ×${c.teacher.model!.width} width` : ''}`,
      source: c.teacher.onnx ? 'imported' : 'trained', top1: teacherTop1, top1Best: teacherTop1Best, parameters: teacherParams,
    },
    student: { model: `${studentSpec.name}${studentSpec.width && studentSpec.width !== 1 ? ` ×${studentSpec.width} width` : ''}`, parameters: studentParams },
    selectedTeacherLayers: selections.kq, layerSelections: selections, studentLayers,
    kq: { topK: k, samples: kq.samples, layers: kqLayers },
    methods,
    ari: computeAri(methods, { ours: OURS_METHOD, reference: REFERENCE_METHOD, baselines: BASELINE_METHODS }),
    efficiency: computeEfficiency(methods, { ours: OURS_METHOD, baselines: BASELINE_METHODS }),
    pictures: {},
    accuracy: 'test top-1 in percent; top1Best = best epoch of a run, top1Last = its last epoch; mean ± sample std (n − 1) over seeds',
    seconds: (performance.now() - t0) / 1000,
    ...(c.teacher.paperLayers ? { paperTeacherLayers: c.teacher.paperLayers } : {}),
  };
  emit({ kind: 'stage', stage: 'report', detail: 'results.json, results.md, pictures' });
  results.pictures = await writeExperimentPictures(results, out);
  writeFileAtomic(join(out, RESULTS_FILE), `${JSON.stringify(results, null, 2)}\n`);
  writeFileAtomic(join(out, RESULTS_MD), renderResultsMarkdown(results));
  return results;
}
