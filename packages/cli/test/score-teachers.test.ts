/**
 * `kqkd score --model A --model B …` (a ranking of candidate teachers) and `kqkd distill --teacher A,B`: the flags reach
 * the ranking (sample, seed, held-out images, rule, k), one --model keeps the single-model layout, and candidates that
 * do not fit are refused with exit code 2 naming the flag and the file, leaving no folder. --rank-by validation-top1
 * orders them by their own top-1 and says so; --rank-by with one model or teacher, or an unknown value, is refused.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '@kqkd/data';
import { buildTinyCnn, saveModel } from '@kqkd/onnx';
import { runCli } from './run-cli.js';
import { writeSmallClassifier } from '../../../test/support/small-classifier.js';

const repo = resolve(__dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-teachers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) || existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte'));

const TINY = join(dir, 'tiny.onnx');
const TINY_SEED1 = join(dir, 'tiny-seed1.onnx');
copyFileSync(join(repo, 'models', 'tiny-cnn.onnx'), TINY);
saveModel(buildTinyCnn(1), TINY_SEED1);
const RGB32 = writeSmallClassifier(join(dir, 'rgb32.onnx'), { channels: 3, side: 32, classes: 10 });
const FIVE = writeSmallClassifier(join(dir, 'five.onnx'), { channels: 1, side: 28, classes: 5 });

describe.runIf(haveData)('kqkd score with several --model', () => {
  it('ranks them: the flags reach the ranking, the table is printed, ranking.json/md, the picture and one kq.json per teacher are written', async () => {
    const out = join(dir, 'ranked');
    const r = await runCli(['score', '--model', TINY, '--model', TINY_SEED1, '--data', 'fashion-mnist', '--samples', '100', '--seed', '4',
      '--validation', '200', '--top-k', '3', '--selection', 'kq', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const ranking = JSON.parse(readFileSync(join(out, 'ranking.json'), 'utf8'));
    expect(ranking.data).toMatchObject({ name: 'fashion-mnist', trainImages: 60000, kqImages: 59800, samples: 100, seed: 4, validation: { images: 200, first: 59800 } });
    expect(ranking.selection).toMatchObject({ rule: 'kq', k: 3 });
    expect(ranking.teachers.map((t: { name: string }) => t.name).sort()).toEqual(['tiny', 'tiny-seed1']);
    for (const t of ranking.teachers) {
      expect(t.layers).toHaveLength(3);
      // rule "kq" = the top 3 by Q among the layers up to the Flatten, read back from the teacher's kq.json
      const kq = JSON.parse(readFileSync(join(out, t.name, 'kq.json'), 'utf8'));
      const top = kq.layers.filter((l: { index: number }) => l.index <= kq.model.headStartsAfter)
        .sort((a: { Q: number; index: number }, b: { Q: number; index: number }) => b.Q - a.Q || b.index - a.index).slice(0, 3).map((l: { index: number }) => l.index);
      expect(t.layers).toEqual(top.sort((a: number, b: number) => a - b));
      expect(kq.dataset).toMatchObject({ samples: 100, sampleSeed: 4, size: 59800 });
    }
    // the printed table: one line per teacher in rank order, its summary as in ranking.json
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^rank\s+teacher\s+KQ summary/);
    ranking.teachers.forEach((t: { rank: number; name: string; kqSummary: number }, i: number) => {
      expect(lines[2 + i]).toMatch(new RegExp(`^\\s*${t.rank}\\s+${t.name}\\s+${t.kqSummary.toFixed(4)}\\s`));
    });
    expect(r.stdout).toMatch(/has seen them/);
    for (const f of ['ranking.md', 'teachers-kq.svg', 'teachers-kq.png', 'tiny/kq.json', 'tiny-seed1/kq-curves.png']) expect(existsSync(join(out, f)), f).toBe(true);
  }, 120_000);

  it('--rank-by validation-top1: ordered by validation top-1 (ties by summary, then name), the criterion in ranking.json and the table', async () => {
    const out = join(dir, 'ranked-top1');
    const r = await runCli(['score', '--model', TINY, '--model', TINY_SEED1, '--data', 'fashion-mnist', '--samples', '100', '--validation', '200',
      '--rank-by', 'validation-top1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const ranking = JSON.parse(readFileSync(join(out, 'ranking.json'), 'utf8'));
    expect(ranking.rankBy).toBe('validation-top1');
    type T = { rank: number; name: string; kqSummary: number; validationTop1: number };
    const expected = [...ranking.teachers as T[]].sort((a, b) => (b.validationTop1 - a.validationTop1) || (b.kqSummary - a.kqSummary) || (a.name < b.name ? -1 : 1));
    expect(ranking.teachers.map((t: T) => t.name)).toEqual(expected.map((t) => t.name));
    const lines = r.stdout.split('\n');
    ranking.teachers.forEach((t: T, i: number) => {
      expect(lines[2 + i]).toMatch(new RegExp(`^\\s*${t.rank}\\s+${t.name}\\s+${t.kqSummary.toFixed(4)}\\s.*\\s${t.validationTop1.toFixed(2)} %$`));
    });
    expect(r.stdout).toMatch(/^ranked by: validation-top1\. Ranked by validation top-1, /m);
  }, 120_000);

  it('one --model keeps the single-model output: kq.json and its curves in OUT, the layer table, no ranking', async () => {
    const out = join(dir, 'single');
    const r = await runCli(['score', '--model', TINY, '--data', 'fashion-mnist', '--samples', '100', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^layer\s+name\s+shape\s+S\s+I\s+E\s+Q\s+rank\s+selected/);
    const kq = JSON.parse(readFileSync(join(out, 'kq.json'), 'utf8'));
    expect(kq.dataset).toMatchObject({ size: 60000, samples: 100 });
    expect(kq.meta.source).toBe('tiny.onnx');
    for (const f of ['kq-curves.svg', 'kq-curves.png']) expect(existsSync(join(out, f))).toBe(true);
    for (const f of ['ranking.json', 'tiny']) expect(existsSync(join(out, f))).toBe(false);
  }, 60_000);

  const refusals: [string, string[], RegExp][] = [
    ['a candidate of another input shape', ['--model', TINY, '--model', RGB32],
      /Expected the input shape of the other candidates, \[N, 1, 28, 28\] \(".*tiny\.onnx"\) for --model but received \[N, 3, 32, 32\] in ".*rgb32\.onnx"/],
    ['a candidate with another number of classes', ['--model', TINY, '--model', FIVE],
      /Expected logits for the 10 classes of fashion-mnist \(as every candidate\) for --model but received 5 classes in ".*five\.onnx"/],
    ['--validation with one --model', ['--model', TINY, '--validation', '100'], /Expected several --model \(a teacher ranking\) for --validation but received "100" with one --model/],
    ['--rank-by with one --model', ['--model', TINY, '--rank-by', 'validation-top1'],
      /Expected several --model \(a teacher ranking\) for --rank-by but received "validation-top1" with one --model/],
    ['--rank-by with a value that is not a criterion', ['--model', TINY, '--model', TINY_SEED1, '--rank-by', 'accuracy'],
      /Expected one of "kq", "validation-top1" for --rank-by but received .*accuracy/],
    ['--layers with several --model', ['--model', TINY, '--model', TINY_SEED1, '--layers', 'relu1'], /Expected nothing with several --model .* for --layers/],
  ];
  for (const [what, args, message] of refusals) {
    it(`refuses ${what}: exit 2, the flag and the file named, no folder`, async () => {
      const out = join(dir, what.replace(/\W+/g, '-'));
      const r = await runCli(['score', ...args, '--data', 'fashion-mnist', '--samples', '40', '--out', out, '--quiet']);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    }, 60_000);
  }
});

describe.runIf(haveData)('kqkd distill with several --teacher', () => {
  it('a teacher list with a candidate of another class count: exit 2 naming --teacher and the file, no folder', async () => {
    const out = join(dir, 'distill-refused');
    const r = await runCli(['distill', '--teacher', `${TINY},${FIVE}`, '--data', 'fashion-mnist', '--student', 'resnet9', '--train-limit', '200',
      '--validation', '100', '--kq-samples', '40', '--epochs', '1', '--out', out, '--quiet']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/Expected logits for the 10 classes of fashion-mnist \(as every candidate\) for --teacher but received 5 classes in ".*five\.onnx"/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  const rankByRefusals: [string, string, RegExp][] = [
    ['one teacher', TINY, /Expected several teachers \(a ranking to choose from\) for --rank-by but received "validation-top1" with one teacher/],
    ['a value that is not a criterion', `${TINY},${TINY_SEED1}`, /Expected one of "kq", "validation-top1" for --rank-by but received .*top5/],
  ];
  for (const [what, teacher, message] of rankByRefusals) {
    it(`--rank-by with ${what}: exit 2 naming --rank-by, no folder`, async () => {
      const out = join(dir, `distill-rank-by-${what.replace(/\W+/g, '-')}`);
      const r = await runCli(['distill', '--teacher', teacher, '--data', 'fashion-mnist', '--student', 'resnet9', '--train-limit', '200',
        '--rank-by', what === 'one teacher' ? 'validation-top1' : 'top5', '--epochs', '1', '--out', out, '--quiet']);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }, 60_000);
  }
});
