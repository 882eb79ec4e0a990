// End to end: `kqkd score --model` on the committed tiny-cnn fixture and the Debian Fashion-MNIST dataset.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { main } from '@kqkd/cli';
import { createRng, injectWriteFault } from '@kqkd/common';
import { classBalancedIndices, FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadFashionMnist, toFloatBatch } from '@kqkd/data';
import { drawSubsets } from '@kqkd/kq';
import { encodeModel, exposeOutputs, loadModel } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { referenceKq } from './reference/kq-reference.js';

const MODEL = fileURLToPath(new URL('../models/tiny-cnn.onnx', import.meta.url));
const FASHION = '/usr/share/datasets/fashion-mnist';

async function kqkd(args: string[]) {
  let stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { stderr += String(c); return true; });
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return { code: await main(['node', 'kqkd', ...args]), stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

describe.runIf(existsSync(FASHION))('kqkd score --model (tiny-cnn on Fashion-MNIST)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kqkd-e2e-'));

  it('a full disk during feature extraction: the file named in words, its temp folder removed; the same command then works', async () => {
    const out = join(dir, 'full-disk');
    let writes = 0;
    injectWriteFault((p) => (p.endsWith('layer-1.f32') && ++writes === 2 ? Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) : undefined));
    let r: Awaited<ReturnType<typeof kqkd>>;
    try {
      r = await kqkd(['score', '--model', MODEL, '--data', 'fashion-mnist', '--samples', '1000', '--out', out]);
    } finally {
      injectWriteFault(undefined);
    }
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Expected room and permission to write the features of layer 1 .* for file ".*layer-1\.f32" but received no space left on the device \(free some space there/);
    expect(r.stderr).not.toMatch(/ENOSPC/);
    expect(existsSync(join(out, '.features'))).toBe(false);
    expect((await kqkd(['score', '--model', MODEL, '--data', 'fashion-mnist', '--samples', '1000', '--out', out])).code).toBe(0);
  });

  it('scores every generalized layer, writes kq.json and pictures, cleans up, and is deterministic', async () => {
    const runs = [join(dir, 'a'), join(dir, 'b')];
    for (const out of runs) {
      const r = await kqkd(['score', '--model', MODEL, '--data', 'fashion-mnist', '--samples', '1000', '--seed', '3', '--out', out]);
      expect(r.stderr).toMatch(/extracting features 4\/4/);
      expect(r.stderr).toMatch(/scoring layers 5\/5/);
      expect(r.code).toBe(0);
    }
    const [a, b] = runs.map((out) => JSON.parse(readFileSync(join(out, 'kq.json'), 'utf8')));
    expect(a.layers.map((l: { name: string }) => l.name)).toEqual(['relu1', 'block1.relu', 'relu3', 'relu4', 'flatten']);
    expect(a.model.layers.map((l: { kind: string }) => l.kind)).toEqual(['activation', 'residual', 'activation', 'activation', 'flatten']);
    expect(a.dataset).toMatchObject({ name: 'fashion-mnist', size: 60000, samples: 1000 });
    expect(a.layers[0].sampleShape).toEqual([16, 28, 28]);
    expect(a.subsets).toMatchObject({ main: 1000, class: 1000 });
    expect(a.selected).toHaveLength(4);
    expect(b.layers.map((l: { Q: number }) => l.Q)).toEqual(a.layers.map((l: { Q: number }) => l.Q));

    // Independently: the same 1 000 class-balanced training images through onnxruntime-node with the five tensors
    // exposed (no streaming, no work files), then the float64 reference (test/reference) on the subsets seed 3 draws.
    const train = loadFashionMnist({ split: 'train' });
    const indices = classBalancedIndices(train.labels, 100, createRng(3), 10);
    const names = ['relu1', 'block1.relu', 'relu3', 'relu4', 'flatten'];
    const session = await createInferenceSession(encodeModel(exposeOutputs(loadModel(MODEL), names)), { threads: 1 });
    const feats = names.map(() => [] as number[]);
    for (let start = 0; start < indices.length; start += 250) {
      const idx = indices.slice(start, start + 250);
      const { data } = toFloatBatch(train, idx, { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD });
      const out = await session.run({ input: { data, shape: [idx.length, 1, 28, 28] } }, names);
      names.forEach((n, k) => { for (const v of out[n].data) feats[k].push(v); });
    }
    await session.release();
    const labels = indices.map((i) => train.labels[i]);
    const subsets = drawSubsets(labels, 3);
    names.forEach((n, k) => {
      const ref = referenceKq({
        features: Float32Array.from(feats[k]), shape: [indices.length, feats[k].length / indices.length], labels,
        mainIndices: subsets.mainIndices, classIndices: subsets.classIndices, datasetSize: 60000,
      });
      for (const q of ['S', 'I', 'E', 'Q'] as const) {
        const got = a.layers[k][q] as number;
        expect(Math.abs(got - ref[q]) <= 1e-6 || Math.abs(got - ref[q]) <= 1e-4 * Math.abs(ref[q]), `${n}.${q}: ${got} vs reference ${ref[q]}`).toBe(true);
      }
    });
    expect(existsSync(join(runs[0], 'kq-curves.png'))).toBe(true);
    expect(existsSync(join(runs[0], '.features'))).toBe(false);
  });

  it('explicit --layers, with a clear error for a name that is not in the graph', async () => {
    const out = join(dir, 'named');
    const ok = await kqkd(['score', '--model', MODEL, '--data', 'fashion-mnist', '--samples', '200', '--layers', 'relu3,flatten', '--top-k', '1', '--out', out, '--quiet']);
    expect(ok.code).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'kq.json'), 'utf8'));
    expect(report.layers.map((l: { name: string }) => l.name)).toEqual(['relu3', 'flatten']);
    const bad = await kqkd(['score', '--model', MODEL, '--data', 'fashion-mnist', '--layers', 'relu33', '--out', out, '--quiet']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/relu33/);
    expect(bad.stderr).toMatch(/relu3/);
  });
});
