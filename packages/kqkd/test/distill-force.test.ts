/**
 * `force` reaches the experiment inside OUT: a distillation run again into the same folder with other settings is
 * refused without `force` (naming `out`) and, with it, writes over the earlier one — its experiment/ included, which
 * was refused before ("holds experiment outputs of config …") although the user had passed --force. The student that
 * comes out is the new settings' one: its report names the new seed and its experiment.json the new config.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '@kqkd/data';
import { distill } from '../src/index.js';

const repo = resolve(__dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kqkd-distill-force-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) || existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte'));

describe.runIf(haveData)('distill --force', () => {
  const out = join(dir, 'out');
  const options = {
    teacher: join(repo, 'models', 'tiny-cnn.onnx'), data: 'fashion-mnist' as const, student: 'resnet9', width: 0.0625, trainLimit: 300,
    validation: 100, epochs: 1, batchSize: 50, kqSamples: 100, threads: 1, out,
  };
  const experimentSeed = () => JSON.parse(readFileSync(join(out, 'experiment', 'experiment.json'), 'utf8')).config.seed0 as number;

  it('other settings into the same folder: refused without force, written over (experiment included) with it', async () => {
    await distill({ ...options, seed: 0 });
    expect(experimentSeed()).toBe(0);
    await expect(distill({ ...options, seed: 1 })).rejects.toMatchObject({ argument: 'out' });
    const r = await distill({ ...options, seed: 1, force: true });
    expect(existsSync(r.student.file)).toBe(true);
    expect(experimentSeed()).toBe(1);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).student.validationTop1).toBe(r.student.validationTop1);
  }, 300_000);
});
