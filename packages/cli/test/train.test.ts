import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadFashionMnist, toFloatBatch } from '@kqkd/data';
import { createInferenceSession } from '@kqkd/runtime';
import { main } from '../src/main.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-train-'));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => { stdout += String(c); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { stderr += String(c); return true; });
  const code = await main(['node', 'kqkd', ...args]);
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}
afterEach(() => vi.restoreAllMocks());

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
      [['--train-limit', '10', '--batch-size', '32'], /config\.batchSize/],
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
});
