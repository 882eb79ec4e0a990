/**
 * `scoreTeachers`: several candidate teachers on one class-balanced sample of Fashion-MNIST training images.
 * - Deterministic: two runs into two folders write the same ranking.json, byte for byte.
 * - Each teacher's KQ summary is recomputed here from its kq.json (the rule kq-last written out again: the last block
 *   before the Flatten plus the top-(k−1) by Q before it, ties to the deeper layer), its validation top-1 by running
 *   the model over the last N training images with onnxruntime, its parameters counted by hand; the order follows
 *   from those values and the tie rules (a copy of the same teacher ties on everything but its name).
 * - The committed, trained ResNet34 ranks above untrained tiny CNNs (a hand-built case).
 * - rankBy 'validation-top1': the same scores ordered by validation top-1 (ties by summary, then name), the criterion
 *   named in ranking.json and ranking.md; a kq ranking in the folder is not reused for it, its own is.
 * - Candidates that expect another input shape or class count than each other or the data are refused before any
 *   scoring, naming the option and the file, and nothing is written.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { FASHION_MNIST_DIR, FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadFashionMnist } from '@kqkd/data';
import { buildTinyCnn, saveModel } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { kqLast, kqLastMean, type StoredKq } from '../../../test/support/kq-last.js';
import { writeSmallClassifier } from '../../../test/support/small-classifier.js';
import { scoreTeachers, type ScoreTeachersProgress, type TeacherRanking } from '../src/index.js';
import { compareTeachers, rankTeachers, type RankedTeacher } from '../src/teacher-ranking.js';

/** The order under rankBy 'validation-top1', recomputed: top-1 descending, ties by summary (none last), then name. */
const byTop1 = (a: Omit<RankedTeacher, 'rank'>, b: Omit<RankedTeacher, 'rank'>) => (b.validationTop1 - a.validationTop1)
  || ((b.kqSummary ?? -Infinity) - (a.kqSummary ?? -Infinity) || 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const repo = resolve(__dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kqkd-teachers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) || existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte'));

const RESNET34 = join(repo, 'models', 'fashion-mnist-resnet34-w025.onnx');
// the committed tiny CNN twice (two folders, one file name: "tiny-cnn" and "tiny-cnn-2"), and another seed of it
mkdirSync(join(dir, 'x'));
mkdirSync(join(dir, 'y'));
const TINY = join(dir, 'x', 'tiny-cnn.onnx');
const TINY_COPY = join(dir, 'y', 'tiny-cnn.onnx');
const TINY_SEED1 = join(dir, 'tiny-seed1.onnx');
copyFileSync(join(repo, 'models', 'tiny-cnn.onnx'), TINY);
copyFileSync(join(repo, 'models', 'tiny-cnn.onnx'), TINY_COPY);
saveModel(buildTinyCnn(1), TINY_SEED1);

const SAMPLES = 200;
const VALIDATION = 300;
const options = (out: string) => ({
  models: [TINY, RESNET34, TINY_SEED1, TINY_COPY], data: 'fashion-mnist' as const, samples: SAMPLES, validation: VALIDATION, seed: 2, out,
});

/** Top-1 (%) of a model over the last `n` Fashion-MNIST training images, run here with onnxruntime. */
async function heldOutTop1(file: string, n: number): Promise<number> {
  const train = loadFashionMnist({ split: 'train' });
  const session = await createInferenceSession(readFileSync(file), { threads: 1 });
  let correct = 0;
  try {
    const first = train.count - n;
    const data = new Float32Array(n * 784);
    for (let i = 0; i < n * 784; i++) data[i] = (train.images[first * 784 + i] / 255 - FASHION_MNIST_MEAN[0]) / FASHION_MNIST_STD[0];
    const out = await session.run({ input: { data, shape: [n, 1, 28, 28] } });
    const logits = Object.values(out)[0].data;
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === train.labels[first + i]) correct++;
    }
  } finally {
    await session.release();
  }
  return (100 * correct) / n;
}

describe.runIf(haveData)('scoreTeachers (Fashion-MNIST)', () => {
  let ranking: TeacherRanking;
  const events: ScoreTeachersProgress[] = [];

  it('two runs write the same ranking.json, byte for byte; per-teacher kq.json, ranking.md and the picture', async () => {
    const a = await scoreTeachers({ ...options(join(dir, 'a')), onProgress: (e) => events.push(e) });
    const b = await scoreTeachers(options(join(dir, 'b')));
    expect(a.reused).toBe(false);
    expect(b.reused).toBe(false);
    expect(readFileSync(join(dir, 'b', 'ranking.json'))).toEqual(readFileSync(join(dir, 'a', 'ranking.json')));
    ranking = JSON.parse(readFileSync(join(dir, 'a', 'ranking.json'), 'utf8'));
    expect(a.ranking).toEqual(ranking);
    for (const t of ['tiny-cnn', 'tiny-cnn-2', 'tiny-seed1', 'fashion-mnist-resnet34-w025']) {
      for (const f of ['kq.json', 'kq-curves.png']) expect(existsSync(join(dir, 'a', t, f)), `${t}/${f}`).toBe(true);
    }
    for (const f of ['ranking.md', 'teachers-kq.svg', 'teachers-kq.png']) expect(existsSync(join(dir, 'a', f)), f).toBe(true);
    expect(existsSync(join(dir, 'a', '.features'))).toBe(false);
    expect(readFileSync(join(dir, 'a', 'teachers-kq.svg'), 'utf8')).toContain('tiny-seed1');
    // progress per teacher, in the order given
    expect([...new Set(events.map((e) => `${e.teacherIndex}/${e.teachers} ${e.teacher}`))])
      .toEqual(['0/4 tiny-cnn', '1/4 fashion-mnist-resnet34-w025', '2/4 tiny-seed1', '3/4 tiny-cnn-2']);
    // a third run into the first folder reuses its ranking (same sha256 and options) without scoring
    const again = await scoreTeachers(options(join(dir, 'a')));
    expect(again.reused).toBe(true);
    expect(again.ranking).toEqual(ranking);
  }, 240_000);

  it('every summary is the mean Q, S, I, E of the kq-last layers of its kq.json; the same sample for all; top-1 on the last N training images', async () => {
    const md = readFileSync(join(dir, 'a', 'ranking.md'), 'utf8');
    for (const t of ranking.teachers) {
      const kq = JSON.parse(readFileSync(join(dir, 'a', t.name, 'kq.json'), 'utf8')) as StoredKq;
      expect(t.layers, t.name).toEqual(kqLast(kq, 4));
      expect(t.kqSummary!).toBeCloseTo(kqLastMean(kq, 4, 'Q'), 12);
      expect(t.S!).toBeCloseTo(kqLastMean(kq, 4, 'S'), 12);
      expect(t.I!).toBeCloseTo(kqLastMean(kq, 4, 'I'), 12);
      expect(t.E!).toBeCloseTo(kqLastMean(kq, 4, 'E'), 12);
      expect(t.generalizedLayers).toBe(kq.layers.length);
      // one sample for every teacher, drawn from the training images before the held-out ones
      expect(kq.dataset).toMatchObject({ size: 60000 - VALIDATION, samples: SAMPLES, sampleSeed: 2 });
      expect(t.validationTop1, t.name).toBeCloseTo(await heldOutTop1(t.file, VALIDATION), 10);
      expect(md).toContain(`| ${t.rank} | ${t.name} | ${t.kqSummary!.toFixed(4)} |`);
    }
    // parameters counted by hand: the tiny CNN's convolutions (no bias), BatchNorm scale and shift, the classifier
    const tiny = 16 * 9 + 32 + 16 * 16 * 9 + 32 + 32 * 16 * 9 + 64 + 32 * 32 * 9 + 64 + 32 * 10 + 10;
    const byName = Object.fromEntries(ranking.teachers.map((t) => [t.name, t]));
    expect(byName['tiny-cnn'].parameters).toBe(tiny);
    expect(byName['tiny-seed1'].parameters).toBe(tiny);
    expect(byName['fashion-mnist-resnet34-w025'].parameters).toBe(1_334_330); // models/README.md
    expect(ranking.data.validation).toMatchObject({ images: VALIDATION, first: 60000 - VALIDATION });
    expect(ranking.data.validation.note).toMatch(/has seen them/);
  }, 120_000);

  it('the order: summary descending, ties by validation top-1 then name; the trained ResNet34 first, the two copies side by side', () => {
    const order = ranking.teachers.map((t) => t.name);
    const expected = [...ranking.teachers].sort((a, b) => (b.kqSummary! - a.kqSummary!) || (b.validationTop1 - a.validationTop1) || (a.name < b.name ? -1 : 1));
    expect(order).toEqual(expected.map((t) => t.name));
    expect(ranking.teachers.map((t) => t.rank)).toEqual([1, 2, 3, 4]);
    // hand-built: a trained teacher against untrained ones, and one file twice (equal in everything but the name)
    expect(order[0]).toBe('fashion-mnist-resnet34-w025');
    const i = order.indexOf('tiny-cnn');
    expect(order[i + 1]).toBe('tiny-cnn-2');
    expect(ranking.teachers[i].kqSummary).toBe(ranking.teachers[i + 1].kqSummary);
    expect(ranking.rankBy).toBe('kq');
  });

  it('rankBy validation-top1: the same scores ordered by validation top-1 (ties by summary, then name), named in ranking.json and .md; not reused from a kq ranking', async () => {
    const out = join(dir, 'by-top1');
    cpSync(join(dir, 'a'), out, { recursive: true }); // the kq ranking of the first test: not reused for another criterion
    const v = await scoreTeachers({ ...options(out), rankBy: 'validation-top1' });
    expect(v.reused).toBe(false);
    const json = JSON.parse(readFileSync(join(out, 'ranking.json'), 'utf8')) as TeacherRanking;
    expect(json).toEqual(v.ranking);
    expect(json.rankBy).toBe('validation-top1');
    expect(json.inputs.rankBy).toBe('validation-top1');
    expect(json.order).toMatch(/^Ranked by validation top-1, .* ties by the KQ summary/);
    // the same scores as the kq ranking, in the order recomputed here
    const scores = (r: TeacherRanking) => Object.fromEntries(r.teachers.map(({ rank: _rank, ...t }) => [t.name, t]));
    expect(scores(json)).toEqual(scores(ranking));
    expect(json.teachers.map((t) => t.name)).toEqual([...ranking.teachers].sort(byTop1).map((t) => t.name));
    expect(json.teachers.map((t) => t.rank)).toEqual([1, 2, 3, 4]);
    expect(readFileSync(join(out, 'ranking.md'), 'utf8')).toMatch(/^# Teacher ranking by validation top-1 on fashion-mnist\n\nRanked by validation top-1/);
    const again = await scoreTeachers({ ...options(out), rankBy: 'validation-top1' });
    expect(again.reused).toBe(true);
    expect(again.ranking).toEqual(json);
  }, 240_000);

  it('refuses a rankBy that is not a criterion, naming rankBy, before anything is written', async () => {
    const out = join(dir, 'bad-rank-by');
    const err = await scoreTeachers({ ...options(out), rankBy: 'accuracy' as never }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KqkdError);
    expect(err).toMatchObject({ argument: 'rankBy', expected: 'one of "kq", "validation-top1"' });
    expect((err as KqkdError).received).toMatch(/accuracy/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

describe('the ranking\'s order (hand-built entries)', () => {
  const entry = (name: string, kqSummary: number | null, validationTop1: number): Omit<RankedTeacher, 'rank'> => ({
    name, file: `/t/${name}.onnx`, sha256: name, parameters: 1, kqSummary, S: null, I: null, E: null, layers: [], layerNames: [], generalizedLayers: 5,
    validationTop1, kq: `${name}/kq.json`,
  });
  it('higher summary first; equal summaries: higher top-1 first, then the name; a teacher without a summary last', () => {
    const got = rankTeachers([entry('d', null, 99), entry('c', 1.5, 80), entry('b', 1.5, 90), entry('a', 1.2, 95), entry('e', 1.5, 90)]);
    expect(got.map((t) => `${t.rank}:${t.name}`)).toEqual(['1:b', '2:e', '3:c', '4:a', '5:d']);
    expect(compareTeachers(entry('x', 1, 50), entry('y', 1, 50))).toBeLessThan(0);
  });
  it('by validation-top1: higher top-1 first; equal top-1: higher summary first (none last), then the name', () => {
    // at 90 %: names in the opposite order to the summaries, so the summary must decide before the name
    const entries = [entry('d', null, 99), entry('c', 1.5, 80), entry('h', 1.5, 90), entry('a', 1.2, 95), entry('e', 1.5, 90), entry('b', null, 90),
      entry('f', 1.3, 90)];
    const got = rankTeachers(entries, 'validation-top1');
    expect(got.map((t) => `${t.rank}:${t.name}`)).toEqual(['1:d', '2:a', '3:e', '4:h', '5:f', '6:b', '7:c']);
    expect(got.map((t) => t.name)).toEqual([...entries].sort(byTop1).map((t) => t.name));
    // the default is the KQ summary
    expect(rankTeachers(entries).map((t) => t.name)).toEqual(['e', 'h', 'c', 'f', 'a', 'd', 'b']);
  });
});

describe.runIf(haveData)('scoreTeachers refuses candidates that cannot be compared, before any scoring', () => {
  const odd = (name: string, o: Parameters<typeof writeSmallClassifier>[1]) => writeSmallClassifier(join(dir, `${name}.onnx`), o);
  const cases: [string, () => string[], RegExp, RegExp][] = [
    ['another input size than the first candidate', () => [TINY, odd('rgb32', { channels: 3, side: 32, classes: 10 })],
      /^the input shape of the other candidates, \[N, 1, 28, 28\] \(".*tiny-cnn\.onnx"\)$/, /^\[N, 3, 32, 32\] in ".*rgb32\.onnx"$/],
    ['a first candidate whose input is not the data\'s', () => [odd('side32', { channels: 1, side: 32, classes: 10 }), TINY],
      /^an input \[N, 1, 28, 28\] \(fashion-mnist images\)$/, /^\[N, 1, 32, 32\] in ".*side32\.onnx"$/],
    ['another number of classes', () => [TINY, odd('five', { channels: 1, side: 28, classes: 5 })],
      /^logits for the 10 classes of fashion-mnist/, /^5 classes in ".*five\.onnx"$/],
    ['another number of classes, not declared in the output', () => [odd('seven', { channels: 1, side: 28, classes: 7, symbolicClasses: true }), TINY],
      /^logits for the 10 classes of fashion-mnist/, /^7 classes in ".*seven\.onnx"$/],
  ];
  for (const [what, models, expected, received] of cases) {
    it(what, async () => {
      const out = join(dir, `refused-${what.replace(/\W+/g, '-')}`);
      const events: ScoreTeachersProgress[] = [];
      const err = await scoreTeachers({ models: models(), data: 'fashion-mnist', samples: 40, out, onProgress: (e) => events.push(e) }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KqkdError);
      const k = err as KqkdError;
      expect(k.argument).toBe('model');
      expect(k.expected).toMatch(expected);
      expect(k.received).toMatch(received);
      expect(events).toEqual([]);
      expect(existsSync(out)).toBe(false);
    }, 60_000);
  }
});
