/**
 * `distill` with two teachers (two untrained tiny CNNs, a tiny budget: 300 training images, 1 epoch): it ranks them
 * into OUT/teachers/ and distils from the top-ranked one — the teacher whose kq-last summary, recomputed here from the
 * two kq.json files, is the higher — on the very sample the distillation's own KQ uses (the experiment's kq.json equals
 * the chosen teacher's), says so in report.json and report.md, and run again it reuses the ranking and resumes into
 * the same student. With rankBy 'validation-top1' it distils from the teacher with the higher validation top-1 (on this
 * fixture not the KQ summary's choice), says so, and folds the criterion into the folder's config hash only with
 * several teachers; rankBy with one teacher is refused.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { FASHION_MNIST_DIR } from '@kqkd/data';
import { experimentHash } from '@kqkd/experiment';
import { createHash } from 'node:crypto';
import { buildTinyCnn, saveModel } from '@kqkd/onnx';
import { kqLast, kqLastMean, type StoredKq } from '../../../test/support/kq-last.js';
import { distill, distillExperiment, type DistillProgress, type DistillResult } from '../src/index.js';
import { distillFolderHash } from '../src/distill.js';

const repo = resolve(__dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kqkd-teacher-choice-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) || existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte'));

const SEED1 = join(dir, 'seed1.onnx');
const SEED0 = join(dir, 'seed0.onnx');
saveModel(buildTinyCnn(1), SEED1);
copyFileSync(join(repo, 'models', 'tiny-cnn.onnx'), SEED0);

describe.runIf(haveData)('distill with two teachers', () => {
  const out = join(dir, 'out');
  const options = {
    teacher: [SEED1, SEED0], data: 'fashion-mnist' as const, student: 'resnet9', width: 0.0625, trainLimit: 300, validation: 100,
    epochs: 1, batchSize: 50, kqSamples: 100, threads: 1, out,
  };

  let byKq: DistillResult;
  it('chooses the top-ranked teacher (recomputed from its kq.json), says why, and distils from it on the same KQ sample', async () => {
    const events: DistillProgress[] = [];
    const r = byKq = await distill({ ...options, onProgress: (e) => events.push(e) });
    const kq = (name: string) => JSON.parse(readFileSync(join(out, 'teachers', name, 'kq.json'), 'utf8')) as StoredKq;
    const summaries = { seed1: kqLastMean(kq('seed1'), 4), seed0: kqLastMean(kq('seed0'), 4) };
    expect(summaries.seed0).not.toBe(summaries.seed1);
    const best = summaries.seed0 > summaries.seed1 ? 'seed0' : 'seed1';
    const file = join(dir, `${best}.onnx`);
    expect(r.teacher.file).toBe(file);
    expect(r.teacherChoice?.file).toBe(file);
    expect(r.teacherChoice?.ranking.map((t) => t.name)).toEqual(best === 'seed0' ? ['seed0', 'seed1'] : ['seed1', 'seed0']);
    expect(r.teacherChoice?.ranking[0].kqSummary).toBeCloseTo(summaries[best], 12);
    // the experiment scored the chosen teacher on the very sample of the ranking, so it picked the same layers
    const own = JSON.parse(readFileSync(join(out, 'experiment', 'kq.json'), 'utf8')) as StoredKq;
    expect(own.layers.map((l) => l.Q)).toEqual(kq(best).layers.map((l) => l.Q));
    expect(r.teacherLayers.indices).toEqual(kqLast(kq(best), 4));
    expect(JSON.parse(readFileSync(join(out, 'experiment', 'experiment.json'), 'utf8')).config.teacher.onnx).toBe(file);
    // said in the log, report.json and report.md
    const said = events.find((e) => e.kind === 'distill' && e.stage === 'teacher');
    expect(said && 'detail' in said ? said.detail : '').toMatch(new RegExp(`${best} ranks first of 2 candidates by the KQ summary`));
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).teacherChoice.file).toBe(file);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Teacher choice');
    expect(md).toContain(`| 1 | ${best} | ${summaries[best].toFixed(4)} |`);
    expect(md).toMatch(new RegExp(`^# kqkd distill: ${best}\\.onnx → resnet9`));
    expect(existsSync(join(out, 'teachers', 'teachers-kq.png'))).toBe(true);
    expect(existsSync(join(out, 'student.onnx'))).toBe(true);
  }, 300_000);

  it('run again: the ranking is reused, the same teacher chosen, the run resumed into the same student', async () => {
    const before = readFileSync(join(out, 'student.onnx'));
    const ranking = readFileSync(join(out, 'teachers', 'ranking.json'));
    const r = await distill(options);
    expect(r.teacherChoice?.reused).toBe(true);
    expect(readFileSync(join(out, 'teachers', 'ranking.json'))).toEqual(ranking);
    expect(readFileSync(join(out, 'student.onnx'))).toEqual(before);
  }, 300_000);

  it('rankBy validation-top1: distils from the teacher with the higher validation top-1 and says so', async () => {
    const events: DistillProgress[] = [];
    const top1Out = join(dir, 'by-top1');
    const r = await distill({ ...options, out: top1Out, rankBy: 'validation-top1', onProgress: (e) => events.push(e) });
    // the same scores as the kq run's ranking; the higher top-1 wins (this fixture's two top-1 differ, and the KQ summary picks the other)
    const [x, y] = byKq.teacherChoice!.ranking;
    expect(x.validationTop1).not.toBe(y.validationTop1);
    const best = x.validationTop1 > y.validationTop1 ? x : y;
    expect(best.name).not.toBe(byKq.teacherChoice!.name);
    expect(r.teacher.file).toBe(best.file);
    expect(r.teacherChoice).toMatchObject({ file: best.file, rankBy: 'validation-top1' });
    expect(r.teacherChoice!.ranking.map((t) => [t.name, t.validationTop1, t.kqSummary]))
      .toEqual([...byKq.teacherChoice!.ranking].sort((a, b) => b.validationTop1 - a.validationTop1).map((t) => [t.name, t.validationTop1, t.kqSummary]));
    const said = events.find((e) => e.kind === 'distill' && e.stage === 'teacher');
    expect(said && 'detail' in said ? said.detail : '').toMatch(new RegExp(`${best.name} ranks first of 2 candidates by validation top-1 .*: ${best.validationTop1.toFixed(2)} %`));
    expect(JSON.parse(readFileSync(join(top1Out, 'report.json'), 'utf8')).teacherChoice).toMatchObject({ file: best.file, rankBy: 'validation-top1' });
    expect(readFileSync(join(top1Out, 'report.md'), 'utf8')).toMatch(/by validation top-1 .*`rankBy: validation-top1`.* ties go to the higher KQ summary/);
    expect(JSON.parse(readFileSync(join(top1Out, 'teachers', 'ranking.json'), 'utf8')).rankBy).toBe('validation-top1');
    expect(JSON.parse(readFileSync(join(out, 'teachers', 'ranking.json'), 'utf8')).rankBy).toBe('kq');
  }, 300_000);
});

describe('distill rankBy: checked, and in the folder hash only with several teachers', () => {
  const base = { data: 'fashion-mnist' as const, student: 'resnet9', out: join(dir, 'unused') };
  it('refused with one teacher and with a value that is not a criterion, naming rankBy', async () => {
    const one = await distill({ ...base, teacher: SEED0, rankBy: 'validation-top1' }).then(() => undefined, (e: unknown) => e);
    expect(one).toBeInstanceOf(KqkdError);
    expect(one).toMatchObject({ argument: 'rankBy', expected: 'several teachers (a ranking to choose from)', received: '"validation-top1" with one teacher' });
    const bad = await distill({ ...base, teacher: [SEED0, SEED1], rankBy: 'top5' as never }).then(() => undefined, (e: unknown) => e);
    expect(bad).toMatchObject({ argument: 'rankBy', expected: 'one of "kq", "validation-top1"' });
    expect((bad as KqkdError).received).toMatch(/top5/);
    expect(existsSync(base.out)).toBe(false);
  });
  it('one teacher: the experiment\'s hash; several: kq keeps the earlier hash, validation-top1 another', () => {
    const config = distillExperiment({ ...base, teacher: SEED0 }, { count: 60000, classes: 10 });
    expect(distillFolderHash(config, [SEED0])).toBe(experimentHash(config));
    const before = createHash('sha256').update(JSON.stringify({ teachers: [SEED0, SEED1], experiment: experimentHash(config) })).digest('hex').slice(0, 16);
    expect(distillFolderHash(config, [SEED0, SEED1], 'kq')).toBe(before);
    expect(distillFolderHash(config, [SEED0, SEED1], 'validation-top1')).not.toBe(before);
  });
});
