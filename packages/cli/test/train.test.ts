import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { batches, FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadDataset, loadFashionMnist, toFloatBatch } from '@kqkd/data';
import { createInferenceSession } from '@kqkd/runtime';
import { findGeneralizedLayers, loadModel } from '@kqkd/onnx';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-train-'));

const run = runCli;
afterEach(() => vi.restoreAllMocks());

/**
 * A CIFAR-10 folder in the official binary format (`cifar-10-batches-bin/data_batch_1..5.bin`, `test_batch.bin`:
 * records of 1 label byte + 3072 CHW pixel bytes), `train` records spread over the five files. Pixels are seeded
 * noise plus a label-dependent colour, so there is something to learn.
 */
function writeCifar10(root: string, train: number, test: number): string {
  const dir = join(root, 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  let s = 12345;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s >>> 24; };
  const records = (n: number, first: number) => {
    const out = new Uint8Array(n * 3073);
    for (let r = 0; r < n; r++) {
      const label = (first + r) % 10;
      out[r * 3073] = label;
      for (let c = 0; c < 3; c++) {
        const base = 25 * ((label + 3 * c) % 10);
        for (let p = 0; p < 1024; p++) out[r * 3073 + 1 + c * 1024 + p] = (base + (rand() >> 2)) & 255;
      }
    }
    return out;
  };
  const per = Math.ceil(train / 5);
  for (let f = 0; f < 5; f++) {
    const first = f * per;
    writeFileSync(join(dir, `data_batch_${f + 1}.bin`), records(Math.max(0, Math.min(per, train - first)), first));
  }
  writeFileSync(join(dir, 'test_batch.bin'), records(test, 7));
  return root;
}

const small = ['--widths', '4,8', '--train-limit', '300', '--test-limit', '200', '--batch-size', '32', '--epochs', '2', '--lr', '0.01', '--seed', '3'];

describe('kqkd train', () => {
  it('writes every output; model.onnx in onnxruntime-node gives the eval step\'s accuracy', async () => {
    const out = join(dir, 'run');
    const r = await run(['train', '--model', 'small-cnn', '--data', 'fashion-mnist', ...small, '--out', out]);
    expect(r.stderr.includes('Error') ? r.stderr : '').toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/last 12 image\(s\) of each shuffled epoch dropped/);
    expect(r.stdout).toMatch(/epoch 2: train loss [\d.]+, test loss [\d.]+, test top-1 [\d.]+%/);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([1, 2]);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.epochs).toHaveLength(2);
    expect(metrics.last).toEqual({ epoch: 2, testTop1: lines[1].testTop1 });
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    for (const k of ['top1Best', 'bestEpoch', 'top1Last', 'epochs', 'seconds', 'imagesPerSecond']) expect(typeof results[k], k).toBe('number');
    expect(results.top1Last).toBe(lines[1].testTop1);
    expect(existsSync(join(out, 'checkpoint', 'checkpoint.ortckpt'))).toBe(true);

    // The exported inference model, in onnxruntime-node, on the same 200 test images.
    const test = loadFashionMnist({ split: 'test' });
    const idx = Array.from({ length: 200 }, (_, i) => i);
    const x = toFloatBatch(test, idx, { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD });
    const session = await createInferenceSession(join(out, 'model.onnx'));
    const logits = (await session.run({ input: { data: x.data, shape: x.shape } }, ['logits'])).logits;
    await session.release();
    let correct = 0;
    for (let i = 0; i < 200; i++) {
      const row = Array.from(logits.data.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
    }
    expect(correct).toBe(lines[1].testCorrect);
  });

  it('running the same command again does not recompute a finished run', async () => {
    const out = join(dir, 'run');
    const r = await run(['train', ...small, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already finished/);
  });

  it('--accumulate N: N micro-batches of --batch-size per optimizer step, recorded in results.json', async () => {
    const out = join(dir, 'acc');
    const args = ['--widths', '4,8', '--train-limit', '300', '--test-limit', '100', '--batch-size', '16', '--accumulate', '2', '--epochs', '1', '--seed', '3'];
    const r = await run(['train', ...args, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    // ⌊300 / 32⌋ = 9 optimizer steps; the 12 images that do not fill a step are dropped
    expect(r.stdout).toMatch(/batch 16 × 2 accumulated micro-batches \(effective batch 32\) \(9 steps\/epoch, last 12 image\(s\) of each shuffled epoch dropped\)/);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ batchSize: 16, accumulationSteps: 2, droppedPerEpoch: 12, config: { accumulationSteps: 2 } });
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0].step).toBe(9);
  });

  it('bad flags: exit code 2, a message naming the flag, no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['--epochs', '0'], /--epochs/],
      [['--lr', 'fast'], /a number for --lr but received "fast"/],
      [['--batch-size', '10', '--batch', '20'], /--batch\/--batch-size/],
      [['--train-limit', '10', '--batch-size', '32'], /at most the training set size 10 for --batch-size but received 32/],
      [['--accumulate', '0'], /--accumulate/],
      [['--accumulate', 'two'], /--accumulate/],
      [['--train-limit', '100', '--batch-size', '32', '--accumulate', '4'], /config\.batchSize × config\.accumulationSteps .* received 32 × 4 = 128/],
    ];
    for (const [args, re] of cases) {
      const r = await run(['train', '--out', join(dir, 'bad'), ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('--model resnet9 --data cifar10 --data-dir DIR: a CIFAR-10 folder in the official format, every output, model.onnx = eval step', async () => {
    const data = writeCifar10(mkdtempSync(join(tmpdir(), 'kqkd-cli-cifar-')), 250, 60);
    const out = join(dir, 'cifar');
    const r = await run(['train', '--model', 'resnet9', '--width', '0.0625', '--data', 'cifar10', '--data-dir', data, '--epochs', '1',
      '--batch-size', '16', '--train-limit', '64', '--lr', '0.01', '--seed', '1', '--out', out]);
    expect(r.stderr.includes('Error') ? r.stderr : '', r.stderr).toBe('');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/training: 64 training images, batch 16 \(4 steps\/epoch, last 0 image\(s\) of each shuffled epoch dropped\), 60 test images/);
    for (const f of ['metrics.jsonl', 'metrics.json', 'model.onnx', 'results.json', join('checkpoint', 'checkpoint.ortckpt')]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ epoch: 1, step: 4, testCount: 60 });
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({
      dataset: 'cifar10', modelName: 'resnet9', trainCount: 64, testCount: 60, completedEpochs: 1, model: 'model.onnx',
      config: { modelSpec: { name: 'resnet9', width: 0.0625 }, dataset: { name: 'cifar10', dir: data, trainLimit: 64 } },
      input: { shape: ['N', 3, 32, 32], classes: 10, normalization: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] } },
    });

    // The exported model in onnxruntime-node on the test split, normalised with the CIFAR-10 constants.
    const test = await loadDataset('cifar10', { dir: data, split: 'test' });
    const session = await createInferenceSession(join(out, 'model.onnx'));
    let correct = 0;
    for await (const b of batches(test, { batchSize: 60 })) {
      const logits = (await session.run({ input: { data: b.data, shape: b.shape } }, ['logits'])).logits;
      expect(logits.shape).toEqual([b.labels.length, 10]);
      for (let i = 0; i < b.labels.length; i++) {
        const row = Array.from(logits.data.subarray(i * 10, i * 10 + 10));
        if (row.indexOf(Math.max(...row)) === b.labels[i]) correct++;
      }
    }
    await session.release();
    expect(correct).toBe(lines[0].testCorrect);
    // The export carries the zoo's generalized layers (paper indices) for `kqkd score --model`.
    const found = findGeneralizedLayers(loadModel(join(out, 'model.onnx')));
    expect(found.source).toBe('metadata');
    expect(found.layers).toHaveLength(6);
    expect(found.headStartsAfter).toBe(5);
  });

  it('config errors: unknown model or dataset (listing the valid names), --data-dir missing for cifar10', async () => {
    const out = join(dir, 'bad-data');
    const cases: [string[], RegExp][] = [
      [['--model', 'resnet18'], /Expected a model of the zoo \(resnet9, resnet34, vgg11, vgg19, mobilenetv2, vit_b, vit_et, vit_ett, small-cnn\) or the path of an ONNX student \(\*\.onnx\) for --model but received "resnet18"/],
      [['--data', 'mnist'], /argument 'mnist' is invalid\. Allowed choices are fashion-mnist, cifar10, cifar100, tiny-imagenet, image-folder/],
      [['--model', 'resnet9', '--data', 'cifar10'], /Expected the CIFAR-10 folder .*--data-dir DIR\) for --data-dir but received nothing/],
      [['--model', 'resnet9', '--data', 'cifar10', '--data-dir', join(dir, 'nowhere')], /cifar/i],
      [['--model', 'resnet9', '--widths', '4,8', '--data', 'cifar10', '--data-dir', dir], /config\.modelSpec\.widths/],
      [['--width', 'wide'], /a number for --width but received "wide"/],
      [['--width', '0'], /Expected a number > 0 for --width but received 0/],
    ];
    for (const [args, re] of cases) {
      const r = await run(['train', '--out', out, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(out, 'checkpoint'))).toBe(false);
  });

  it('--help lists the zoo and the datasets', async () => {
    const r = await run(['train', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const name of ['resnet9', 'resnet34', 'vgg11', 'vgg19', 'mobilenetv2', 'vit_b', 'vit_et', 'vit_ett', 'small-cnn',
      'fashion-mnist', 'cifar10', 'cifar100', 'tiny-imagenet', '--data-dir', '--width']) expect(help).toContain(name);
  });
});
