/**
 * `predict` and `evaluate` on image folders with a classifier built here whose logits are a known linear function of
 * the mean normalised pixel z: logits = z·w + b. The expected class and softmax probability are computed in float64
 * from the pixels written into the PNG files (an independent reference); the folder evaluation is also checked
 * against the same images evaluated as an in-memory dataset (@kqkd/train evaluateModel) and against a confusion
 * matrix computed here.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetFromImages } from '@kqkd/data';
import { encodeModel, GraphBuilder, withImageMetadata } from '@kqkd/onnx';
import { evaluateModel } from '@kqkd/train';
import { evaluate, predict } from '../src/index.js';

const made: string[] = [];
const temp = () => { const d = mkdtempSync(join(tmpdir(), 'kqkd-predict-')); made.push(d); return d; };
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

// Sorted folder names: bright = 0, dark = 1, mid = 2.
const CLASSES = ['bright', 'dark', 'mid'];
const W = [4, -4, 0];
const B = [0, 0, 1];
const NORM = { mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.3] };
const SIDE = 8;

function linearModel(meta: boolean): Uint8Array {
  const g = new GraphBuilder({ seed: 0 });
  const x = g.input('x', ['N', 3, SIDE, SIDE]);
  const z = g.reshape(g.reduceMean(x, [1, 2, 3], false), [-1, 1]);
  const logits = g.add(g.matMul(z, g.constant('w', [1, 3], W)), g.constant('b', [3], B));
  g.output(logits, 'logits');
  const model = g.build();
  return encodeModel(meta ? withImageMetadata(model, { classNames: CLASSES, normalization: NORM, imageSize: [SIDE, SIDE], channels: 3, resize: 'shorter-side-center-crop' }) : model);
}

/** Float64 reference: z, logits, softmax of an RGB colour image (every pixel the same). */
function expected(rgb: number[], norm = NORM): { cls: number; p: number[] } {
  const z = rgb.reduce((a, v, c) => a + (v / 255 - norm.mean[c]) / norm.std[c], 0) / 3;
  const logits = W.map((w, k) => z * w + B[k]);
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / s);
  return { cls: p.indexOf(Math.max(...p)), p };
}

async function writeUniform(path: string, rgb: number[], w = SIDE, h = SIDE): Promise<Uint8Array> {
  mkdirSync(join(path, '..'), { recursive: true });
  const px = Uint8Array.from({ length: w * h * 3 }, (_, i) => rgb[i % 3]);
  writeFileSync(path, await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
  return px;
}

describe('predict (reference: float64 softmax of the known linear logits)', () => {
  it('gives the class and probability of each image from the model\'s metadata; top-k in order', async () => {
    const dir = temp();
    const modelPath = join(dir, 'm.onnx');
    writeFileSync(modelPath, linearModel(true));
    const colours = [[240, 230, 250], [10, 30, 5], [128, 100, 80]];
    const files: string[] = [];
    for (const [i, c] of colours.entries()) {
      files.push(join(dir, `img${i}.png`));
      await writeUniform(files[i], c, i === 2 ? 20 : SIDE, i === 2 ? 12 : SIDE); // a non-square one too (uniform stays uniform)
    }
    const r = await predict({ model: modelPath, images: files, top: 3 });
    expect(r.preprocessing).toMatchObject({ imageSize: SIDE, channels: 3, normalization: NORM, source: 'metadata' });
    colours.forEach((c, i) => {
      const want = expected(c);
      const got = r.predictions[i];
      expect(got.image).toBe(files[i]);
      expect(got.top[0]).toMatchObject({ class: want.cls, name: CLASSES[want.cls] });
      expect(got.top.map((t) => t.class)).toEqual([0, 1, 2].sort((a, b) => want.p[b] - want.p[a]));
      got.top.forEach((t) => expect(t.probability).toBeCloseTo(want.p[t.class], 5));
    });
    expect(r.predictions.map((p) => p.top[0].name)).toEqual(['bright', 'dark', 'mid']);
  });

  it('a model without kqkd metadata is refused by name unless the preprocessing is given', async () => {
    const dir = temp();
    const modelPath = join(dir, 'plain.onnx');
    writeFileSync(modelPath, linearModel(false));
    const img = join(dir, 'a.png');
    await writeUniform(img, [200, 210, 220]);
    await expect(predict({ model: modelPath, images: [img] }))
      .rejects.toThrow(/Expected an ONNX classifier with kqkd image metadata .* for model but received ONNX file ".*plain\.onnx" without it/);
    const norm = { mean: [0.2, 0.2, 0.2], std: [0.5, 0.5, 0.5] };
    const r = await predict({ model: modelPath, images: [img], mean: norm.mean, std: norm.std, top: 1 });
    const want = expected([200, 210, 220], norm);
    expect(r.predictions[0].top[0]).toMatchObject({ class: want.cls, name: `class ${want.cls}` });
    expect(r.predictions[0].top[0].probability).toBeCloseTo(want.p[want.cls], 5);
    expect(r.preprocessing.source).toBe('options');
  });
});

describe('evaluate on an image folder (references: a confusion matrix computed here, and the in-memory evaluation)', () => {
  it('split val: top-1, per-class accuracy with class names and the confusion matrix, using the model\'s metadata', async () => {
    const dir = temp();
    // val images whose true folder and colour disagree sometimes, so the confusion matrix is not diagonal
    const val: [string, number[]][] = [
      ['bright', [250, 250, 250]], ['bright', [200, 180, 150]], ['bright', [20, 20, 20]],
      ['dark', [5, 5, 5]], ['dark', [130, 100, 90]],
      ['mid', [128, 100, 80]], ['mid', [140, 110, 90]], ['mid', [250, 240, 230]],
    ];
    const pixels: Uint8Array[] = [];
    const count: Record<string, number> = {};
    for (const [cls, rgb] of val) {
      const i = count[cls] = (count[cls] ?? -1) + 1;
      pixels.push(await writeUniform(join(dir, 'val', cls, `v${i}.png`), rgb));
    }
    for (const cls of CLASSES) await writeUniform(join(dir, 'train', cls, 't0.png'), [1, 2, 3]);
    const modelPath = join(dir, 'm.onnx');
    writeFileSync(modelPath, linearModel(true));
    const r = await evaluate({ model: modelPath, data: 'image-folder', dataDir: dir, split: 'val' });
    expect(r.classNames).toEqual(CLASSES);
    expect(r.preprocessing).toMatchObject({ imageSize: SIDE, channels: 3, normalization: NORM, source: 'metadata' });
    const confusion = CLASSES.map(() => CLASSES.map(() => 0));
    for (const [cls, rgb] of val) confusion[CLASSES.indexOf(cls)][expected(rgb).cls]++;
    expect(r.confusion).toEqual(confusion);
    const perClass = confusion.map((row, c) => (100 * row[c]) / row.reduce((a, b) => a + b, 0));
    r.perClass.forEach((v, c) => expect(v).toBeCloseTo(perClass[c], 10));
    expect(r.correct).toBe(confusion.reduce((a, row, c) => a + row[c], 0));
    // the same images as an in-memory dataset (val order: class, then file name)
    const images = new Uint8Array(pixels.length * SIDE * SIDE * 3);
    pixels.forEach((p, i) => images.set(p, i * p.length));
    const labels = Uint8Array.from(val, ([cls]) => CLASSES.indexOf(cls));
    const memory = datasetFromImages({ images, labels, count: val.length, height: SIDE, width: SIDE, channels: 3, classes: 3, classNames: CLASSES },
      { name: 'image-folder', split: 'test', normalization: NORM });
    const m = await evaluateModel({ model: linearModel(true), dataset: memory });
    expect(r.confusion).toEqual(m.confusion);
    expect(r.perClass).toEqual(m.perClass);
    expect(r.top1).toBe(m.top1);
  });

  it('refuses a model whose class names are not the folder\'s', async () => {
    const dir = temp();
    for (const cls of ['x', 'y', 'z']) {
      await writeUniform(join(dir, 'train', cls, 'a.png'), [1, 2, 3]);
      await writeUniform(join(dir, 'test', cls, 'a.png'), [1, 2, 3]);
    }
    const modelPath = join(dir, 'm.onnx');
    writeFileSync(modelPath, linearModel(true));
    await expect(evaluate({ model: modelPath, data: 'image-folder', dataDir: dir }))
      .rejects.toThrow(/Expected the folder's classes \(x, y, z\) for ONNX file ".*m\.onnx" metadata kqkd\.class_names but received bright, dark, mid/);
  });
});
