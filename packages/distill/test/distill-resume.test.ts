/**
 * Exact resume of a distillation run: `train()` with an fkd-kq spec, the teacher's features read from a teacher
 * cache (built here with `buildTeacherCache` on the committed tiny CNN fixture), 3 epochs uninterrupted vs stopped
 * after epoch 1 (`stopAfterEpochs: 1`) and resumed: parameters (projectors included), BatchNorm statistics,
 * optimizer moments, RNG state and metrics are bit-identical. Tiny model and data: seconds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetFromImages, type ImageDataset } from '@kqkd/data';
import { buildTinyCnn, encodeModel } from '@kqkd/onnx';
import { buildTeacherCache, teacherModelSha256, type TeacherCache } from '../src/teacher-cache.js';
import { teacherLayerInput } from '../src/distill-graph.js';
import { loadRunState, train, type RunState, type TrainOptions, type TrainProgress } from '@kqkd/train';
import { distillObjective, type DistillTeacher } from '../src/objective.js';
import type { DistillSpec } from '../src/spec.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-distill-resume-'));

/** 10 classes of 1×28×28 images: a bright vertical stripe at column 2c + 4 and a horizontal one at row 22 − 2c, over seeded noise. */
function stripes(count: number, seed: number): ImageDataset {
  let s = seed >>> 0;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s >>> 24; };
  const side = 28;
  const images = new Uint8Array(count * side * side);
  const labels = Uint8Array.from({ length: count }, (_, n) => (n * 3) % 10);
  for (let n = 0; n < count; n++) {
    const c = labels[n];
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) images[(n * side + y) * side + x] = Math.min(255, (x === 2 * c + 4 || y === 22 - 2 * c ? 170 : 20) + (rand() >> 2));
    }
  }
  return { images, labels, count, height: side, width: side, channels: 1, classes: 10, classNames: [...'0123456789'] };
}

const imageReads: number[][] = [];
const trainSet = datasetFromImages(stripes(200, 11), { name: 'fashion-mnist', split: 'train' });
/** The training split, recording which samples each image read asks for (one read per batch). */
const data = {
  train: { ...trainSet, readImages: (indices: ArrayLike<number>, out?: Uint8Array) => { imageReads.push(Array.from(indices)); return trainSet.readImages(indices, out); } },
  test: stripes(100, 12),
};
const teacherBytes = encodeModel(buildTinyCnn(3));
// Teacher layers (generalized-layer index → tensor of the tiny CNN): relu1 [16, 28, 28], relu4 [32, 14, 14].
const TEACHER = [{ index: 0, tensor: 'relu1', shape: [16, 28, 28] }, { index: 3, tensor: 'relu4', shape: [32, 14, 14] }];
let cache: TeacherCache;
const feedCalls: number[][] = [];

beforeAll(async () => {
  cache = await buildTeacherCache({
    model: teacherBytes, layers: TEACHER.map((t) => t.tensor), batchSize: 100, dir: join(root, 'cache'), threads: 1,
    dataset: trainSet,
  });
}, 60_000);
afterAll(() => {
  cache?.close();
  rmSync(root, { recursive: true, force: true });
});

/** The teacher rows of a batch of training-sample indices, by graph input name, from the cache. */
const teacher: DistillTeacher = {
  feeds(indices) {
    feedCalls.push([...indices]);
    return Object.fromEntries(TEACHER.map((t) => [teacherLayerInput(t.index), cache.read(t.tensor, indices)]));
  },
};

const options = (runDir: string): TrainOptions => ({
  // small-cnn [4, 8] on 28×28: layer 0 = block0.relu [4, 28, 28], layer 1 = block1.relu [8, 14, 14], layer 2 = flatten
  modelSpec: { name: 'small-cnn', widths: [4, 8] },
  dataset: { name: 'fashion-mnist' },
  epochs: 3, batchSize: 32, evalBatchSize: 50,
  optimizer: { type: 'adamw', lr: 0.01 }, schedule: 'one-cycle', seed: 5, runDir,
  objective: distillObjective(SPEC(), teacher),
  data,
});
const SPEC = () => ({
  method: 'fkd-kq', teacherSha256: teacherModelSha256(teacherBytes), teacherClasses: 10,
  pairs: TEACHER.map((t, i) => ({ student: i, teacher: t.index, teacherShape: t.shape })),
});

/** Metrics without the wall-clock fields. */
const stable = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => { const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l); return rest; });

const tensorBytes = (s: RunState) => [...s.trainable, ...s.frozen, ...s.moments.flatMap((m) => m.momentums.map((t) => ({ ...t, name: `${m.paramName}/${t.name}` })))]
  .map((t) => [t.name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')]);

describe('train: exact resume of a distillation run (fkd-kq, teacher cache feeds)', () => {
  const full = join(root, 'full');
  let fullState: RunState;

  it('runs 3 epochs uninterrupted; the teacher rows fed are those of the batch\'s images', async () => {
    feedCalls.length = 0;
    imageReads.length = 0;
    const r = await train(options(full));
    expect(r.completedEpochs).toBe(3);
    expect(r.partial).toBeUndefined();
    fullState = loadRunState(full)!;
    expect(fullState).toMatchObject({ epoch: 3, step: 18 });
    // the recorded config keeps the parsed spec under the objective's key (`RecordedConfig` types it `unknown`)
    expect((fullState.config.distill as DistillSpec | undefined)?.method).toBe('fkd-kq');
    // the projectors are parameters of the run
    expect(fullState.trainable.some((t) => t.name.includes('feature_loss'))).toBe(true);
    // 6 batches of 32 per epoch, each a permutation slice of the 200 samples
    expect(feedCalls).toHaveLength(18);
    expect(feedCalls).toEqual(imageReads);
    for (let e = 0; e < 3; e++) {
      const epoch = feedCalls.slice(6 * e, 6 * e + 6).flat();
      expect(new Set(epoch).size).toBe(192);
      expect(epoch.every((i) => Number.isInteger(i) && i >= 0 && i < 200)).toBe(true);
    }
    expect(feedCalls[0]).not.toEqual(feedCalls[6]); // reshuffled every epoch
    expect(stable(full)).toHaveLength(3);
    for (const m of stable(full)) expect(Number.isFinite(m.trainLoss)).toBe(true);
  }, 60_000);

  it('stopped after epoch 1 and resumed: bit-identical state and metrics', async () => {
    const dir = join(root, 'resumed');
    const partial = await train({ ...options(dir), stopAfterEpochs: 1 });
    expect(partial.partial).toBe(true);
    expect(partial.completedEpochs).toBe(1);
    expect(loadRunState(dir)).toMatchObject({ epoch: 1, step: 6 });
    const events: TrainProgress[] = [];
    await train({ ...options(dir), onProgress: (e) => { if (e.kind === 'start' || e.kind === 'epoch') events.push(e); } });
    expect(events[0]).toMatchObject({ kind: 'start', fromEpoch: 1, resumed: true });
    expect(events.filter((e) => e.kind === 'epoch')).toHaveLength(2);
    const state = loadRunState(dir)!;
    expect(state.epoch).toBe(fullState.epoch);
    expect(state.step).toBe(fullState.step);
    expect(state.rngState).toEqual(fullState.rngState);
    expect(tensorBytes(state)).toEqual(tensorBytes(fullState));
    expect(stable(dir)).toEqual(stable(full));
  }, 60_000);

  it('a distillation objective without the teacher\'s rows is refused, naming teacher.feeds; augmenting a cached-teacher run is refused; a distill block in the training config itself is an unknown key', async () => {
    expect(() => distillObjective(SPEC(), {} as DistillTeacher)).toThrow(/for teacher\.feeds but received undefined/);
    await expect(train({ ...options(join(root, 'augmented')), augment: { flip: true } }))
      .rejects.toThrow(/Expected nothing for this run: teacher features come from a cache of the unaugmented training images for config\.augment but received \{"flip":true\}/);
    const { objective: _o, ...plain } = options(join(root, 'no-objective'));
    await expect(train({ ...plain, distill: SPEC() } as never)).rejects.toThrow(/unknown key\(s\) "distill"/);
  });
});
