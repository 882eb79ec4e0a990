/**
 * `kqkd distill` as a user runs it, in a child process, with the committed teacher on Fashion-MNIST (a tiny budget):
 * - student.onnx is the checkpoint of the best validation epoch, with the dataset's class names and normalisation in
 *   its metadata, and `kqkd eval` of the file (an independent run of the exported model on the test split) gives the
 *   test top-1 the report states; the report's table carries the same figures;
 * - killed with SIGKILL in the middle of the student's training and run again, it ends with the same student.onnx
 *   (byte for byte) and the same accuracies as a run never killed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kqkd, repo } from './support/kqkd-process.js';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '@kqkd/data';
import { decodeModel, readImageMetadata } from '@kqkd/onnx';

const root = mkdtempSync(join(tmpdir(), 'kqkd-distill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const teacher = join(repo, 'models', 'fashion-mnist-resnet34-w025.onnx');
const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) || existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte'));


const DISTILL = (out: string) => ['distill', '--teacher', teacher, '--data', 'fashion-mnist', '--student', 'resnet9', '--width', '0.0625',
  '--train-limit', '640', '--validation', '128', '--epochs', '3', '--batch-size', '64', '--kq-samples', '60', '--compare', 'ce', '--threads', '1', '--out', out];
const report = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'), (k, v) => (k === 'latencyMs' || k === 'seconds' ? 0 : v));

describe.runIf(haveData)('kqkd distill (needs Debian\'s dataset-fashion-mnist)', () => {
  const clean = join(root, 'clean');

  it('writes student.onnx (best validation epoch, class names and normalisation in its metadata) whose kqkd eval top-1 is the report\'s', async () => {
    const r = await kqkd(DISTILL(clean));
    expect(r.code, r.out).toBe(0);
    const rep = report(clean);
    const bytes = readFileSync(join(clean, 'student.onnx'));
    const meta = readImageMetadata(decodeModel(bytes, 'student.onnx'));
    expect(meta?.classNames).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    expect(meta?.normalization.mean[0]).toBeCloseTo(0.286, 3);
    expect(meta?.normalization.std[0]).toBeCloseTo(0.353, 3);
    expect([meta?.channels, ...(meta?.imageSize ?? [])]).toEqual([1, 28, 28]);
    // the checkpoint is the best validation epoch of the distilled run
    const history = readFileSync(join(clean, 'experiment', 'results.json'), 'utf8');
    const ours = JSON.parse(history).methods['fkd-kq'].runs[0] as { bestEpoch: number; history: { epoch: number; testTop1: number }[] };
    expect(rep.student.epoch).toBe(ours.bestEpoch);
    expect(rep.student.validationTop1).toBe(Math.max(...ours.history.map((h) => h.testTop1)));
    // an independent evaluation of the written file on the 10 000 test images
    const ev = await kqkd(['eval', '--model', join(clean, 'student.onnx'), '--data', 'fashion-mnist', '--quiet']);
    expect(ev.code, ev.out).toBe(0);
    const top1 = Number(/top-1 ([0-9.]+) %/.exec(ev.out)![1]);
    expect(top1).toBeCloseTo(rep.student.testTop1, 2);
    expect(rep.dataset.testImages).toBe(10000);
    const md = readFileSync(join(clean, 'report.md'), 'utf8');
    expect(md).toContain(`**${rep.student.testTop1.toFixed(2)} %**`);
    expect(md).toContain(`**${rep.teacher.testTop1.toFixed(2)} %**`);
    expect(md).toContain(`**${rep.alone.testTop1.toFixed(2)} %**`);
    for (const p of ['kq-curves.png', 'training-curves.png', 'confusion.png']) expect(existsSync(join(clean, p)), p).toBe(true);
    // the committed teacher on the test split: models/README.md's figure
    expect(rep.teacher.testTop1).toBeCloseTo(93.97, 2);
  }, 900_000);

  it('killed with SIGKILL during the student\'s training and run again: the same student.onnx and report as a run never killed', async () => {
    const dir = join(root, 'killed');
    const r = await kqkd(DISTILL(dir), (child, out) => {
      if (!/run 1\/2 fkd-kq seed 0 epoch 1:/.test(out)) return false;
      child.kill('SIGKILL');
      return true;
    });
    expect(r.signal, r.out).toBe('SIGKILL');
    expect(existsSync(join(dir, 'student.onnx'))).toBe(false);
    const again = await kqkd(DISTILL(dir));
    expect(again.code, again.out).toBe(0);
    expect(readFileSync(join(dir, 'student.onnx')).equals(readFileSync(join(clean, 'student.onnx')))).toBe(true);
    const a = report(dir);
    const b = report(clean);
    for (const x of [a, b]) for (const k of ['student', 'files']) for (const f of ['file', 'student', 'report', 'json', 'pictures']) delete x[k]?.[f];
    expect(a).toEqual(b);
  }, 900_000);
});
